//! One run, live: the store's replay and then the live events arrive on one `EventSource`
//! (`/api/runs/{id}/events`), are applied to a [`RunModel`] as they come, and the page is
//! redrawn at most once per animation frame, so a burst of 50 000 events costs one parse
//! and one apply each, not one redraw each. Shows overall progress with an ETA, the phases
//! (plays), the host × task matrix, the chosen host's output, failed hosts with their errors,
//! and for installs "retry failed hosts" / "resume". Also measures how long applying the
//! stream took (shown in `#apply-stats`, which the browser test reads).

use cairn_protocol::Envelope;
use cairn_protocol::api::{RunStarted, RunSummary};
use leptos::prelude::*;
use leptos::task::spawn_local;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

use crate::model::html::escape;
use crate::model::progress::{RunModel, duration_words, progress};
use crate::ui::api;
use crate::ui::parts::load::error_box;
use crate::ui::parts::matrix::Matrix;

/// How long applying the stream took (first event to the `end` message), and how far behind
/// the live events were when they reached the page.
#[derive(Clone, Debug, Default, PartialEq)]
struct Measure {
    first_ms: Option<f64>,
    /// Time spent inside the handlers (parse + apply), excluding waiting for the network.
    busy_ms: f64,
    end_ms: Option<f64>,
    /// The emitting time (`Envelope::time_ms`) of the oldest live event not drawn yet.
    oldest_undrawn: Option<i64>,
    /// For each frame that drew live events: now − the oldest one's emitting time, in ms
    /// (the engine's event → store → SSE → parse → DOM). Replayed history is not counted.
    lags: Vec<i64>,
}

/// Events older than this when they arrive are history being replayed, not live.
const LIVE_MS: i64 = 60_000;

/// After a redraw: how late the oldest live event it drew reached the DOM.
fn note_lag(measure: StoredValue<Measure>, lag_tick: RwSignal<u64>) {
    let mut noted = false;
    measure.update_value(|m| {
        if let Some(t) = m.oldest_undrawn.take() {
            m.lags.push(api::unix_ms() - t);
            noted = true;
        }
    });
    if noted {
        lag_tick.update(|n| *n += 1);
    }
}

#[component]
pub fn RunView(run: i64) -> impl IntoView {
    let model = StoredValue::new(RunModel::new(run));
    let version = RwSignal::new(0u64);
    let summary = RwSignal::new(None::<RunSummary>);
    let expected = RwSignal::new(None::<u64>);
    let selected = RwSignal::new(None::<usize>);
    let stream_error = RwSignal::new(None::<String>);
    let action_error = RwSignal::new(None::<api::Fail>);
    let measure = StoredValue::new(Measure::default());
    let frame_pending = StoredValue::new(false);
    // Bumped when a frame's lag was noted (after its redraw), so the stats show it.
    let lag_tick = RwSignal::new(0u64);

    // The run as listed, and an estimate of its length: the last finished run of the same kind
    // and title (the engine does not announce how many tasks a run will have).
    spawn_local(async move {
        if let Ok(runs) = api::get::<Vec<RunSummary>>("/api/runs?limit=200").await {
            let me = runs.iter().find(|r| r.id == run).cloned();
            if let Some(me) = &me {
                let prev = runs.iter().find(|r| {
                    r.id < run && r.kind == me.kind && r.title == me.title && r.status == "ok"
                });
                expected.set(prev.map(|r| r.events as u64));
                // The view may be gone by now (the page moved on): `try_` never panics.
                if summary.try_get_untracked().is_some_and(|s| s.is_none()) {
                    summary.set(Some(me.clone()));
                }
            }
        }
    });

    // Redraw at most once per frame; then (a task queued after the redraw's own) note how
    // late the live events of that frame reached the DOM.
    let redraw = move || {
        if frame_pending.try_get_value() == Some(false) {
            frame_pending.set_value(true);
            request_animation_frame(move || {
                frame_pending.set_value(false);
                version.update(|v| *v += 1);
                spawn_local(async move { note_lag(measure, lag_tick) });
            });
        }
    };

    let url = format!("/api/runs/{run}/events?after=0");
    match EventSource::new(&url) {
        Err(e) => stream_error.set(Some(format!("Cannot open the event stream: {e:?}"))),
        Ok(es) => {
            let on_envelope = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                let t0 = api::now();
                let Some(data) = ev.data().as_string() else {
                    return;
                };
                match serde_json::from_str::<Envelope>(&data) {
                    Ok(env) => {
                        model.update_value(|m| m.apply(&env));
                        if api::unix_ms() - env.time_ms < LIVE_MS {
                            measure.update_value(|m| {
                                let t = m.oldest_undrawn.get_or_insert(env.time_ms);
                                *t = (*t).min(env.time_ms);
                            });
                        }
                    }
                    Err(e) => stream_error.set(Some(format!("An event could not be read: {e}"))),
                }
                measure.update_value(|m| {
                    m.first_ms.get_or_insert(t0);
                    m.busy_ms += api::now() - t0;
                });
                redraw();
            });
            let es2 = es.clone();
            let on_end = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
                // Finished and fully sent: stop the browser from reconnecting.
                es2.close();
                if let Some(s) = ev
                    .data()
                    .as_string()
                    .and_then(|d| serde_json::from_str::<RunSummary>(&d).ok())
                {
                    summary.set(Some(s));
                }
                measure.update_value(|m| m.end_ms = Some(api::now()));
                version.update(|v| *v += 1);
                // The last events may not have had their frame yet: note them now.
                spawn_local(async move { note_lag(measure, lag_tick) });
            });
            let es3 = es.clone();
            let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
                // The server's own `event: error` (an ApiError: the store failed) ends the stream.
                if let Some(d) = ev
                    .dyn_ref::<MessageEvent>()
                    .and_then(|m| m.data().as_string())
                {
                    es3.close();
                    let text = serde_json::from_str::<cairn_protocol::api::ApiError>(&d)
                        .map(|e| e.error)
                        .unwrap_or(d);
                    stream_error.set(Some(format!("The server stopped the stream: {text}")));
                    return;
                }
                // The browser reconnects by itself (sending Last-Event-ID); only a closed stream
                // (e.g. the session ended) needs the operator.
                if es3.ready_state() == EventSource::CLOSED
                    && measure.try_get_value().is_some_and(|m| m.end_ms.is_none())
                {
                    stream_error.set(Some(
                        "The live stream closed. Reload the page (you may need to log in again)."
                            .into(),
                    ));
                }
            });
            es.add_event_listener_with_callback("envelope", on_envelope.as_ref().unchecked_ref())
                .ok();
            es.add_event_listener_with_callback("end", on_end.as_ref().unchecked_ref())
                .ok();
            es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            let held = SendWrapper::new((es, on_envelope, on_end, on_error));
            on_cleanup(move || {
                let (es, ..) = &*held;
                es.close();
                drop(held);
            });
        }
    }

    let finished = move || summary.with(|s| s.as_ref().is_some_and(|s| s.finished_ms.is_some()));
    let kind = move || summary.with(|s| s.as_ref().map(|s| s.kind.clone()).unwrap_or_default());

    let progress_view = move || {
        version.track();
        let done = finished();
        let p = model.with_value(|m| progress(m, expected.get(), done, api::unix_ms()));
        let failed = model.with_value(|m| !m.failed_hosts().is_empty());
        let pct = p.fraction.map(|f| (f * 100.0).round() as u32);
        let label = match pct {
            Some(p) => format!("{p}%"),
            None => "running".to_string(),
        };
        let eta = if done {
            String::new()
        } else {
            match p.eta_ms {
                Some(ms) => format!("about {} left", duration_words(ms)),
                None => "time left unknown until a run of this playbook has finished once".into(),
            }
        };
        view! {
            <div class="row" style="align-items:center">
                <strong id="pct" aria-live="polite">{label.clone()}</strong>
                <span class="muted" id="eta">{eta}</span>
            </div>
            <div class={if failed { "progress failed" } else { "progress" }} role="progressbar"
                aria-valuemin="0" aria-valuemax="100" aria-valuenow=pct.map(|p| p.to_string())
                aria-label="Overall progress">
                <div style:width=format!("{}%", pct.unwrap_or(0))></div>
            </div>
        }
    };

    let stats_view = move || {
        version.track();
        model.with_value(|m| {
            let failed = m.hosts.iter().filter(|h| h.failed).count();
            let unreachable = m.hosts.iter().filter(|h| h.unreachable).count();
            let current = m.tasks.last().map(|t| t.name.clone()).unwrap_or_default();
            view! {
                <div class="stats">
                    <span>{format!("{} hosts", m.hosts.len())}</span>
                    <span>{format!("{} tasks started", m.tasks.len())}</span>
                    <span>{format!("{} results", m.results)}</span>
                    <span class={if failed > 0 { "fail badge" } else { "" }}>{format!("{failed} failed")}</span>
                    <span class={if unreachable > 0 { "fail badge" } else { "" }}>{format!("{unreachable} unreachable")}</span>
                    <span class="muted">{format!("now: {current}")}</span>
                </div>
                {m.stopped.clone().map(|r| view! { <p class="error">"Stopped: " {r}</p> })}
                {(m.gaps > 0).then(|| view! { <p class="error">{format!("{} events were missing from the stream: reload to fetch them again.", m.gaps)}</p> })}
            }
        })
    };

    let phases_view = move || {
        version.track();
        model.with_value(|m| {
            let n = m.phases.len();
            m.phases
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let state = if p.failed {
                        "failed"
                    } else if p.finished || i + 1 < n {
                        "ok"
                    } else {
                        "running"
                    };
                    view! { <li class=state><span class="badge">{state}</span> " " {p.name.clone()}</li> }
                })
                .collect_view()
        })
    };

    let failures_view = move || {
        version.track();
        model.with_value(|m| {
            let bad: Vec<(usize, String, String)> = m
                .hosts
                .iter()
                .enumerate()
                .filter(|(_, h)| h.failed || h.unreachable)
                .take(50)
                .map(|(i, h)| (i, h.name.clone(), h.error.clone().unwrap_or_default()))
                .collect();
            (!bad.is_empty()).then(|| {
                view! {
                    <h2>"Failed hosts"</h2>
                    <ul id="failures">
                        {bad.into_iter().map(|(i, name, err)| view! {
                            <li class="failed">
                                <button on:click=move |_| selected.set(Some(i))>{name}</button>
                                " " {err}
                            </li>
                        }).collect_view()}
                    </ul>
                }
            })
        })
    };

    let log_ref = NodeRef::<leptos::html::Pre>::new();
    let log_view = move || {
        version.track();
        let h = selected.get()?;
        let (name, html) = model.with_value(|m| {
            let row = m.hosts.get(h)?;
            let mut out = String::new();
            for l in &row.log {
                let item = l
                    .item
                    .as_deref()
                    .map(|i| format!(" ({})", escape(i)))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "<span class=\"{}\">[{}]</span> {}{} <span class=\"muted\">{} ms</span>\n",
                    l.cell.class(),
                    l.cell.class(),
                    escape(&l.task),
                    item,
                    l.duration_ms
                ));
                for line in l.text.lines() {
                    out.push_str("    ");
                    out.push_str(&escape(line));
                    out.push('\n');
                }
            }
            if out.is_empty() {
                out.push_str("(no output yet)\n");
            }
            Some((row.name.clone(), out))
        })?;
        Some(view! {
            <h2>{format!("Output of {name}")}</h2>
            <pre class="log" id="host-log" node_ref=log_ref data-host=name inner_html=html></pre>
        })
    };
    // Keep the output's tail in view as it grows.
    Effect::new(move || {
        version.track();
        selected.track();
        if let Some(pre) = log_ref.get() {
            pre.set_scroll_top(pre.scroll_height());
        }
    });

    let again = move |what: &'static str| {
        spawn_local(async move {
            match api::post::<_, RunStarted>(&format!("/api/runs/{run}/{what}"), &()).await {
                Ok(r) => {
                    let _ = web_sys::window()
                        .expect("a window")
                        .location()
                        .set_href(&format!("/runs/{}", r.run));
                }
                Err(f) => action_error.set(Some(f)),
            }
        });
    };
    let actions_view = move || {
        version.track();
        let show = finished() && kind() == "install";
        let failed = model.with_value(|m| !m.failed_hosts().is_empty());
        let ok = summary.with(|s| s.as_ref().is_some_and(|s| s.status == "ok"));
        show.then(|| view! {
            <div class="actions">
                {failed.then(|| view! { <button id="retry-failed" class="primary" on:click=move |_| again("retry-failed")>"Retry failed hosts"</button> })}
                {(!ok).then(|| view! { <button id="resume" on:click=move |_| again("resume")>"Resume"</button> })}
                {ok.then(|| view! { <a id="to-done" class="button primary" href="/done">"Done: see endpoints"</a> })}
            </div>
        })
    };

    let apply_stats = move || {
        version.track();
        lag_tick.track();
        let m = measure.get_value();
        let (applied, gaps) = model.with_value(|m| (m.applied, m.gaps));
        let total = m.end_ms.zip(m.first_ms).map(|(e, f)| e - f);
        let mut lags = m.lags.clone();
        lags.sort_unstable();
        let lag_median = lags
            .get(lags.len() / 2)
            .map(i64::to_string)
            .unwrap_or_default();
        let lag_max = lags.last().map(i64::to_string).unwrap_or_default();
        let lags_list = m
            .lags
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let lag_text = (!lags.is_empty()).then(|| {
            format!("; live events on the page {lag_median} ms after they happened (median)")
        });
        view! {
            <p id="apply-stats" class="muted" data-events=applied.to_string()
                data-gaps=gaps.to_string()
                data-busy-ms=format!("{:.0}", m.busy_ms)
                data-total-ms=total.map(|t| format!("{t:.0}")).unwrap_or_default()
                data-live-frames=lags.len().to_string()
                data-ended=if m.end_ms.is_some() { "1" } else { "0" }
                data-lag-median-ms=lag_median data-lag-max-ms=lag_max
                data-lags-ms=lags_list>
                {format!("{applied} events applied in {:.0} ms of work", m.busy_ms)}
                {total.map(|t| format!(" ({t:.0} ms from the first event to the end of the stream)"))}
                {lag_text}
            </p>
        }
    };

    view! {
        <section class="run" data-run=run.to_string()>
            <p>
                {move || summary.get().map(|s| view! {
                    <span id="run-status" class=format!("badge {}", s.status) data-status=s.status.clone()>{s.status.clone()}</span>
                    " " {format!("run #{} · {} · {}", s.id, s.kind, s.title)}
                })}
            </p>
            {progress_view}
            {stats_view}
            {move || stream_error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || error_box(action_error.get())}
            {actions_view}
            <div class="install-grid">
                <div>
                    <h2>"Phases"</h2>
                    <ol class="phases" id="phases">{phases_view}</ol>
                </div>
                <div>
                    <h2>"Hosts × tasks"</h2>
                    <Matrix model version selected/>
                </div>
            </div>
            {failures_view}
            {log_view}
            {apply_stats}
        </section>
    }
}
