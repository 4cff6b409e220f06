//! `/login`: the admin token (printed once by `cairn serve` at its first start, or
//! `CAIRN_ADMIN_TOKEN`) for a session cookie; then back to the page that asked (`?next=`).

use cairn_protocol::api::{LoginRequest, Session};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::ui::api;

#[component]
pub fn LoginPage() -> impl IntoView {
    let token = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let query = use_query_map();
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let next = query
            .read()
            .get("next")
            .filter(|n| n.starts_with('/') && !n.starts_with("//") && n != "/login")
            .unwrap_or_else(|| "/bundle".into());
        let navigate = navigate.clone();
        busy.set(true);
        spawn_local(async move {
            let body = LoginRequest {
                token: token.get_untracked().trim().to_owned(),
            };
            match api::post::<_, Session>("/api/login", &body).await {
                Ok(_) => {
                    token.set(String::new());
                    navigate(&next, Default::default());
                }
                Err(f) if f.status == 401 => {
                    error.set(Some("That token is not the admin token. It was printed by `cairn serve` when it first started (or set with CAIRN_ADMIN_TOKEN).".into()))
                }
                Err(f) => error.set(Some(f.text())),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="login panel">
            <h1 id="title">"Log in to Cairn"</h1>
            <form on:submit=submit>
                <label for="token">"Admin token"</label>
                <input id="token" type="password" autocomplete="current-password" required
                    style="width:100%"
                    prop:value=move || token.get()
                    on:input=move |ev| token.set(event_target_value(&ev))/>
                <p class="muted">"Printed once by " <code>"cairn serve"</code> " when it first started."</p>
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <div class="actions">
                    <button id="login" class="primary" type="submit" disabled=move || busy.get()>"Log in"</button>
                </div>
            </form>
        </div>
    }
}
