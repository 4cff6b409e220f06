//! `/install` (step 6): start the install (`cairn install` in the server's process, one per
//! cluster at a time) and watch it live; after a failure, retry the failed hosts or resume.
//! The run shown is the wizard's last install run, so a reload comes back to it.

use cairn_protocol::api::{InstallRequest, RunStarted, RunSummary, WizardState};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::ui::api;
use crate::ui::parts::load::error_box;
use crate::ui::parts::run_view::RunView;

#[component]
pub fn InstallPage() -> impl IntoView {
    let run = RwSignal::new(None::<i64>);
    let running = RwSignal::new(false);
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<api::Fail>);
    let ignore_preflight = RwSignal::new(false);
    spawn_local(async move {
        match api::get::<WizardState>("/api/wizard").await {
            Ok(w) => {
                if let Some(id) = w.install_run {
                    if let Ok(s) = api::get::<Vec<RunSummary>>("/api/runs?limit=200").await {
                        running.set(s.iter().any(|r| r.id == id && r.finished_ms.is_none()));
                    }
                    run.set(Some(id));
                }
            }
            Err(f) => error.set(Some(f)),
        }
        loaded.set(true);
    });
    let start = move |_| {
        let body = InstallRequest {
            ignore_preflight: ignore_preflight.get_untracked(),
        };
        running.set(true);
        spawn_local(async move {
            match api::post::<_, RunStarted>("/api/install", &body).await {
                Ok(r) => {
                    error.set(None);
                    run.set(Some(r.run));
                }
                Err(f) => {
                    running.set(false);
                    error.set(Some(f));
                }
            }
        });
    };
    view! {
        <h1 id="title">"6 · Install"</h1>
        <Show when=move || loaded.get() && !running.get()>
            <div class="panel">
                <p>"Installs the cluster as reviewed: the bundle is served from this machine, pre-flight runs first, then the playbooks."</p>
                <label class="inline">
                    <input id="ignore-preflight" type="checkbox" on:change=move |ev| ignore_preflight.set(event_target_checked(&ev))/>
                    "Go on even if pre-flight fails (the run records it as ignored)"
                </label>
                <div class="actions">
                    <button id="start-install" class="primary" on:click=start>
                        {move || if run.get().is_some() { "Install again" } else { "Install" }}
                    </button>
                </div>
            </div>
        </Show>
        {move || error_box(error.get())}
        // A new RunView (and stream) for each run id.
        {move || run.get().map(|id| view! { <h2>{format!("Run #{id}")}</h2> <RunView run=id/> })}
    }
}
