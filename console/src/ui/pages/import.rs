//! `/import`: paste or upload a cluster.yaml (the CLI's file) to fill the wizard in one go,
//! then go to the review. An invalid file is refused with its diagnostic (file:line:column).

use cairn_protocol::api::{ConfigImport, WizardState};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use wasm_bindgen::JsCast;

use crate::ui::api;
use crate::ui::parts::load::error_box;

#[component]
pub fn ImportPage() -> impl IntoView {
    let yaml = RwSignal::new(String::new());
    let error = RwSignal::new(None::<api::Fail>);
    let navigate = use_navigate();
    let on_file = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        spawn_local(async move {
            if let Ok(text) = wasm_bindgen_futures::JsFuture::from(file.text()).await {
                yaml.set(text.as_string().unwrap_or_default());
            }
        });
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = ConfigImport {
            yaml: yaml.get_untracked(),
        };
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::post::<_, WizardState>("/api/config", &body).await {
                Ok(_) => navigate("/review", Default::default()),
                Err(f) => error.set(Some(f)),
            }
        });
    };
    view! {
        <h1 id="title">"Import a cluster.yaml"</h1>
        <p>"Replaces the wizard's hosts, roles and settings with the file's. Secrets stay references (" <code>"password_env"</code> ", key files), resolved by the server as the command line does."</p>
        <form on:submit=submit>
            <label for="yaml-file">"Upload"</label>
            <input id="yaml-file" type="file" accept=".yaml,.yml,text/yaml" on:change=on_file/>
            <label for="yaml">"or paste"</label>
            <textarea id="yaml" rows="18" class="mono" prop:value=move || yaml.get() on:input=move |ev| yaml.set(event_target_value(&ev))></textarea>
            {move || error_box(error.get())}
            <div class="actions"><button id="import" class="primary" type="submit">"Import and review"</button></div>
        </form>
    }
}
