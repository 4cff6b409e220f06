//! `/runs` (history, newest first, CLI and console runs alike) and `/runs/{id}` (any run with
//! its full record: the live view for plays and installs, the check matrix for pre-flights).

use cairn_protocol::api::{RunRecord, RunSummary};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::model::progress::duration_words;
use crate::ui::parts::checks::{ChecksMatrix, fixes_view};
use crate::ui::parts::load::{Loaded, error_box, load};
use crate::ui::parts::run_view::RunView;

#[component]
pub fn RunsPage() -> impl IntoView {
    let (runs, reload) = load::<Vec<RunSummary>>("/api/runs?limit=200".into());
    // New runs (a `cairn install` started in a shell included) appear without a reload: the
    // list is fetched again every second while this page is shown.
    let alive = StoredValue::new(());
    leptos::task::spawn_local(async move {
        loop {
            crate::ui::pages::preflight::sleep_ms(1000).await;
            if alive.try_get_value().is_none() {
                break;
            }
            reload();
        }
    });
    view! {
        <h1 id="title">"Runs"</h1>
        <p>"Every run started here or with the command line (" <code>"cairn install"</code> ", " <code>"cairn play"</code> ", " <code>"cairn preflight"</code> ")."
           " " <button on:click=move |_| reload()>"Refresh"</button></p>
        {move || match runs.get() {
            Loaded::Loading => view! { <p>"Loading…"</p> }.into_any(),
            Loaded::Failed(f) => error_box(Some(f)).into_any(),
            Loaded::Ready(rs) if rs.is_empty() => view! { <p class="muted">"No runs yet."</p> }.into_any(),
            Loaded::Ready(rs) => view! {
                <div class="scroll">
                <table id="runs">
                    <thead><tr><th>"Run"</th><th>"Kind"</th><th>"What"</th><th>"Started"</th><th>"Took"</th><th>"Status"</th><th>"Events"</th></tr></thead>
                    <tbody>
                        {rs.into_iter().map(|r| {
                            let started = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(r.started_ms as f64))
                                .to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED)
                                .as_string()
                                .unwrap_or_default();
                            let took = r.finished_ms.map(|f| duration_words((f - r.started_ms).max(0) as u64)).unwrap_or_else(|| "running".into());
                            view! {
                                <tr data-run=r.id.to_string() data-status=r.status.clone()>
                                    <td><a href=format!("/runs/{}", r.id)>{format!("#{}", r.id)}</a></td>
                                    <td>{r.kind.clone()}</td>
                                    <td class="mono">{r.title.clone()}</td>
                                    <td>{started}</td>
                                    <td>{took}</td>
                                    <td><span class=format!("badge {}", r.status)>{r.status.clone()}</span></td>
                                    <td>{r.events}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any(),
        }}
    }
}

#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    view! {
        {move || match id() {
            None => view! { <h1>"No such run"</h1> }.into_any(),
            Some(id) => view! { <h1 id="title">{format!("Run #{id}")}</h1> <RunDetail id/> }.into_any(),
        }}
        <p><a href="/runs">"All runs"</a></p>
    }
}

#[component]
fn RunDetail(id: i64) -> impl IntoView {
    let (rec, _) = load::<RunRecord>(format!("/api/runs/{id}"));
    let ignored = Signal::derive(Vec::new);
    let none = Callback::new(|_: (String, bool)| {});
    view! {
        {move || match rec.get() {
            Loaded::Loading => view! { <p>"Loading…"</p> }.into_any(),
            Loaded::Failed(f) => error_box(Some(f)).into_any(),
            Loaded::Ready(r) if !r.checks.is_empty() => view! {
                <p><span class=format!("badge {}", r.run.status)>{r.run.status.clone()}</span> " " {format!("{} · {}", r.run.kind, r.run.title)}</p>
                {fixes_view(r.fixes.clone())}
                <ChecksMatrix checks=r.checks.clone() ignored on_ignore=none problems_only=false busy=false/>
            }.into_any(),
            Loaded::Ready(_) => view! { <RunView run=id/> }.into_any(),
        }}
    }
}
