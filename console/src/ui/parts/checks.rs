//! The pre-flight host × check matrix: one row per check, one column per host, each cell
//! coloured pass/warn/fail/skipped/ignored with its value (the threshold, the reason and the
//! remedy in its tooltip and in the problem list below). Ignored checks keep their row and
//! are marked, so an ignore is never silent. A row that `--fix` can remedy on some host (a
//! sysctl, module, swap, time sync that warned or failed) has a "Fix" button; a host key
//! pending acceptance shows as `pending`, never as passed.

use std::collections::BTreeMap;

use cairn_protocol::{PreflightCheck, PreflightFix};
use leptos::prelude::*;

/// Checks grouped as rows: check id → host → check.
fn rows(
    checks: &[PreflightCheck],
) -> (
    Vec<String>,
    BTreeMap<String, BTreeMap<String, PreflightCheck>>,
) {
    let mut hosts: Vec<String> = Vec::new();
    let mut by_id: BTreeMap<String, BTreeMap<String, PreflightCheck>> = BTreeMap::new();
    for c in checks {
        if !hosts.contains(&c.host) {
            hosts.push(c.host.clone());
        }
        by_id
            .entry(c.id.clone())
            .or_default()
            .insert(c.host.clone(), c.clone());
    }
    (hosts, by_id)
}

fn worst(cells: &BTreeMap<String, PreflightCheck>) -> u8 {
    cells
        .values()
        .map(|c| match &c.status[..] {
            "fail" | "pending" => 3,
            "warn" => 2,
            "ignored" => 1,
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// The matrix; `ignored` is the set of check ids the operator chose to ignore (toggled with
/// `on_ignore(id, ignore)`), `problems_only` hides rows where every host passed; `on_fix(id)`
/// asks for that check's safe remedy on the hosts where it warned or failed (`busy` disables
/// the buttons while a run is starting).
#[component]
pub fn ChecksMatrix(
    checks: Vec<PreflightCheck>,
    #[prop(into)] ignored: Signal<Vec<String>>,
    on_ignore: Callback<(String, bool)>,
    #[prop(into)] problems_only: Signal<bool>,
    #[prop(optional)] on_fix: Option<Callback<String>>,
    #[prop(into)] busy: Signal<bool>,
) -> impl IntoView {
    let (hosts, by_id) = rows(&checks);
    let summary = crate::model::checks::summary(&checks, hosts.len());
    let failing: Vec<PreflightCheck> = checks
        .iter()
        .filter(|c| matches!(c.status.as_str(), "fail" | "warn" | "ignored" | "pending"))
        .cloned()
        .collect();
    let hosts2 = hosts.clone();
    view! {
        <p id="checks-summary">{summary}</p>
        <div class="scroll" style="max-height:560px">
        <table id="checks" class="checks">
            <thead><tr>
                <th scope="col">"Check"</th>
                {hosts.iter().map(|h| view! { <th scope="col" class="center">{h.clone()}</th> }).collect_view()}
                {on_fix.is_some().then(|| view! { <th scope="col">"Fix"</th> })}
                <th scope="col">"Ignore"</th>
            </tr></thead>
            <tbody>
                {by_id.into_iter().map(|(id, cells)| {
                    let bad = worst(&cells);
                    let fixable = cells.values().any(|c| c.fixable);
                    let fix_id = id.clone();
                    let id2 = id.clone();
                    let id3 = id.clone();
                    let is_ignored = move || ignored.get().contains(&id2);
                    let checked = is_ignored.clone();
                    view! {
                        <tr data-check=id.clone()
                            style:display=move || if problems_only.get() && bad == 0 { "none" } else { "" }
                            class=("ignored-mark", is_ignored.clone())>
                            <th scope="row" class="mono">{id.clone()}</th>
                            {hosts2.iter().map(|h| match cells.get(h) {
                                None => view! { <td class="center muted">"–"</td> }.into_any(),
                                Some(c) => {
                                    let mut tip = format!("{}: {} {}", c.host, c.status, c.value);
                                    for (label, v) in [("needs", &c.threshold), ("why", &c.reason), ("remedy", &c.remedy)] {
                                        if let Some(v) = v {
                                            tip.push_str(&format!("\n{label}: {v}"));
                                        }
                                    }
                                    view! {
                                        <td class=format!("center {}", c.status) title=tip data-status=c.status.clone()>
                                            <span class="status">{c.status.clone()}</span>
                                            <div class="mono">{c.value.clone()}</div>
                                        </td>
                                    }.into_any()
                                }
                            }).collect_view()}
                            {on_fix.is_some().then(|| view! { <td class="center">
                                {on_fix.filter(|_| fixable).map(|on_fix| {
                                    let label = format!("Fix {fix_id}");
                                    let fid = fix_id.clone();
                                    view! {
                                        <button class="fix" data-fix=fix_id.clone() aria-label=label
                                            title="Apply the safe remedy (as cairn preflight --fix), then check again"
                                            disabled=move || busy.get()
                                            on:click=move |_| on_fix.run(fid.clone())>"Fix"</button>
                                    }
                                })}
                            </td> })}
                            <td class="center">
                                {(bad > 0).then(|| {
                                    let id4 = id3.clone();
                                    view! {
                                        <input type="checkbox" aria-label=format!("Ignore {id3}")
                                            prop:checked=checked.clone()
                                            on:change=move |ev| on_ignore.run((id4.clone(), event_target_checked(&ev)))/>
                                    }
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        </div>
        {(!failing.is_empty()).then(|| view! {
            <h2>"What to fix"</h2>
            <ul id="remedies">
                {failing.into_iter().map(|c| view! {
                    <li class=c.status.clone()>
                        <strong>{format!("{} on {}: {} ", c.id, c.host, c.status)}</strong>
                        {format!("({}{})", c.value, c.threshold.map(|t| format!(", needs {t}")).unwrap_or_default())}
                        {c.reason.map(|r| view! { <div>{r}</div> })}
                        {c.remedy.map(|r| view! { <div>"Remedy: " {r}</div> })}
                    </li>
                }).collect_view()}
            </ul>
        })}
    }
}

/// What the run's `--fix` did, per host and check (nothing when it had no fix).
pub fn fixes_view(fixes: Vec<PreflightFix>) -> impl IntoView {
    (!fixes.is_empty()).then(|| {
        view! {
            <h2>"What Fix did"</h2>
            <ul id="fixes">
                {fixes.into_iter().map(|f| {
                    let class = match f.outcome.as_str() {
                        "changed" => "changed",
                        "ok" => "ok",
                        "failed" => "fail",
                        _ => "skipped",
                    };
                    let (head, detail) = crate::model::checks::fix_line(&f);
                    view! {
                        <li class=class data-host=f.host.clone() data-check=f.id.clone() data-outcome=f.outcome.clone()>
                            <strong>{head}</strong>
                            {detail}
                        </li>
                    }
                }).collect_view()}
            </ul>
        }
    })
}
