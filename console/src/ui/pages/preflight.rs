//! `/preflight` (step 4): run the same checks as `cairn preflight` on every host (a run of kind
//! `preflight`, followed live until it ends), then the host × check matrix. Ignoring a check is
//! explicit (a ticked box per check, sent with the next run) and stays visible: the server
//! reports it as `ignored`, and the row keeps its mark. "Fix" (per check, or "Fix all safe")
//! runs pre-flight again with the CLI's `--fix-only ID` / `--fix` on the server: the safe
//! remedies on the hosts where the check warned or failed, then the checks again; the page
//! shows what was done (the run's fix record) above the new matrix.

use cairn_protocol::api::{PreflightRequest, RunRecord, RunStarted, WizardState};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::ui::api;
use crate::ui::parts::checks::{ChecksMatrix, fixes_view};
use crate::ui::parts::load::error_box;
use crate::ui::parts::nav::StepNav;
use crate::ui::parts::run_view::RunView;

#[component]
pub fn PreflightPage() -> impl IntoView {
    let run = RwSignal::new(None::<i64>);
    let record = RwSignal::new(None::<RunRecord>);
    let error = RwSignal::new(None::<api::Fail>);
    let ignored = RwSignal::new(Vec::<String>::new());
    let problems_only = RwSignal::new(false);
    let busy = RwSignal::new(false);

    // The record of `id`, polled until its run has finished (its checks are stored at the end).
    let fetch = move |id: i64| {
        spawn_local(async move {
            loop {
                match api::get::<RunRecord>(&format!("/api/runs/{id}")).await {
                    Ok(r) => {
                        let done = r.run.finished_ms.is_some();
                        if done {
                            ignored.set(
                                r.checks
                                    .iter()
                                    .filter(|c| c.status == "ignored")
                                    .map(|c| c.id.clone())
                                    .fold(Vec::new(), |mut v, id| {
                                        if !v.contains(&id) {
                                            v.push(id);
                                        }
                                        v
                                    }),
                            );
                        }
                        record.set(Some(r));
                        // Stop when the page is gone or shows another run.
                        if done || run.try_get_untracked() != Some(Some(id)) {
                            break;
                        }
                    }
                    Err(f) => {
                        error.set(Some(f));
                        break;
                    }
                }
                sleep_ms(1000).await;
            }
        });
    };
    spawn_local(async move {
        match api::get::<WizardState>("/api/wizard").await {
            Ok(w) => {
                if let Some(id) = w.preflight_run {
                    run.set(Some(id));
                    fetch(id);
                }
            }
            Err(f) => error.set(Some(f)),
        }
    });
    // A run: plain, with every safe remedy (`fix`), or with only some checks' (`only`).
    let launch = move |fix: bool, only: Vec<String>| {
        busy.set(true);
        let body = PreflightRequest {
            ignore: ignored.get_untracked(),
            fix: fix || !only.is_empty(),
            fix_only: only,
        };
        spawn_local(async move {
            match api::post::<_, RunStarted>("/api/preflight", &body).await {
                Ok(r) => {
                    error.set(None);
                    record.set(None);
                    run.set(Some(r.run));
                    fetch(r.run);
                }
                Err(f) => error.set(Some(f)),
            }
            busy.set(false);
        });
    };
    let start = move |_| launch(false, Vec::new());
    let fix_all = move |_| launch(true, Vec::new());
    let on_fix = Callback::new(move |id: String| launch(true, vec![id]));
    let on_ignore = Callback::new(move |(id, on): (String, bool)| {
        ignored.update(|v| {
            v.retain(|x| *x != id);
            if on {
                v.push(id);
            }
        });
    });
    view! {
        <h1 id="title">"4 · Pre-flight"</h1>
        <p>"Checks every host for what its roles need (OS, memory, disks, ports, time, repository reachable…). Nothing is changed on the hosts, unless you click Fix: then only the safe remedies (sysctls, kernel modules, swap off, time sync to the installer), and the checks run again."</p>
        <div class="actions">
            <button id="run-preflight" class="primary" on:click=start disabled=move || busy.get()>
                {move || if run.get().is_some() { "Run pre-flight again" } else { "Run pre-flight" }}
            </button>
            <label class="inline"><input type="checkbox" on:change=move |ev| problems_only.set(event_target_checked(&ev))/>"Only checks with problems"</label>
            {move || (!ignored.get().is_empty()).then(|| view! {
                <span class="badge warn" id="ignoring">{format!("Ignoring: {}", ignored.get().join(", "))}</span>
            })}
        </div>
        {move || error_box(error.get())}
        {move || match (run.get(), record.get()) {
            (None, _) => view! { <p class="muted">"Not run yet."</p> }.into_any(),
            (Some(id), Some(r)) if r.run.finished_ms.is_some() => {
                let any_fixable = r.checks.iter().any(|c| c.fixable);
                view! {
                <p>
                    <span id="preflight-status" class=format!("badge {}", r.run.status) data-status=r.run.status.clone()>{r.run.status.clone()}</span>
                    " " <a href=format!("/runs/{id}")>{format!("run #{id}")}</a>
                    {any_fixable.then(|| view! {
                        " " <button id="fix-all" on:click=fix_all disabled=move || busy.get()
                            title="Apply every safe remedy (as cairn preflight --fix), then check again">"Fix all safe"</button>
                    })}
                </p>
                {fixes_view(r.fixes.clone())}
                <ChecksMatrix checks=r.checks.clone() ignored=ignored on_ignore problems_only on_fix busy/>
                }.into_any()
            }
            (Some(id), _) => view! { <p>"Running…"</p> <RunView run=id/> }.into_any(),
        }}
        <StepNav back="/roles" next="/review"/>
    }
}

/// Waits `ms` milliseconds (a timer promise).
pub async fn sleep_ms(ms: i32) {
    let p = js_sys::Promise::new(&mut |resolve, _| {
        let _ = web_sys::window()
            .expect("a window")
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
}
