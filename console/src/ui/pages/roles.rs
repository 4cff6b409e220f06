//! `/roles` (step 3): a host × role grid of checkboxes. Every change is saved at once
//! (`PUT /api/roles`) and the server's validation (odd etcd count, at least one master, ...)
//! is shown live beside the grid: the server decides, so the CLI and the console agree.

use std::collections::BTreeMap;

use cairn_protocol::api::{HostView, RolesRequest, RolesView};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::ui::api;
use crate::ui::parts::load::{Loaded, error_box, load};
use crate::ui::parts::nav::StepNav;

/// The roles, as the API names them, with their labels.
pub const ROLES: &[(&str, &str)] = &[
    ("etcd", "etcd"),
    ("kube_master", "kube master"),
    ("kube_node", "kube node"),
    ("registry", "registry"),
    ("ci", "CI"),
    ("monitoring", "monitoring"),
];

#[component]
pub fn RolesPage() -> impl IntoView {
    let (hosts, _) = load::<Vec<HostView>>("/api/hosts".into());
    let (loaded, _) = load::<RolesView>("/api/roles".into());
    let view_ = RwSignal::new(None::<RolesView>);
    let error = RwSignal::new(None::<api::Fail>);
    Effect::new(move || {
        if let Loaded::Ready(v) = loaded.get() {
            view_.set(Some(v));
        }
    });
    // Saves are sent in order; a stale answer never overwrites a newer one.
    let generation = StoredValue::new(0u64);
    let toggle = move |role: &'static str, host: String, on: bool| {
        let mut roles = view_.get_untracked().map(|v| v.roles).unwrap_or_default();
        let list = roles.entry(role.to_owned()).or_default();
        list.retain(|h| *h != host);
        if on {
            list.push(host);
        }
        view_.update(|v| {
            if let Some(v) = v {
                v.roles = roles.clone();
            }
        });
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        spawn_local(async move {
            match api::put::<_, RolesView>("/api/roles", &RolesRequest { roles }).await {
                Ok(v) if generation.try_get_value() == Some(mine) => {
                    error.set(None);
                    view_.set(Some(v));
                }
                Ok(_) => {}
                Err(f) => error.set(Some(f)),
            }
        });
    };
    let has = move |role: &str, host: &str| {
        view_.with(|v| {
            v.as_ref()
                .and_then(|v| v.roles.get(role))
                .is_some_and(|l| l.iter().any(|h| h == host))
        })
    };
    view! {
        <h1 id="title">"3 · Roles"</h1>
        <p>"Tick what each host is. Changes are saved as you go."</p>
        {move || error_box(error.get())}
        {move || match hosts.get() {
            Loaded::Loading => view! { <p>"Loading…"</p> }.into_any(),
            Loaded::Failed(f) => error_box(Some(f)).into_any(),
            Loaded::Ready(hs) if hs.is_empty() => view! { <p>"No hosts yet: " <a href="/hosts">"add some"</a> "."</p> }.into_any(),
            Loaded::Ready(hs) => view! {
                <div class="scroll">
                <table id="roles">
                    <thead><tr>
                        <th scope="col">"Host"</th>
                        {ROLES.iter().map(|(_, label)| view! { <th scope="col" class="center">{*label}</th> }).collect_view()}
                    </tr></thead>
                    <tbody>
                        {hs.into_iter().map(|h| {
                            let id = h.id.clone();
                            view! {
                                <tr>
                                    <th scope="row">{h.id.clone()}<div class="muted mono">{h.address.clone()}</div></th>
                                    {ROLES.iter().map(|&(role, label)| {
                                        let (a, b) = (id.clone(), id.clone());
                                        view! {
                                            <td class="center">
                                                <input type="checkbox" data-role=role data-host=id.clone()
                                                    aria-label=format!("{} is {label}", id)
                                                    prop:checked=move || has(role, &a)
                                                    on:change=move |ev| toggle(role, b.clone(), event_target_checked(&ev))/>
                                            </td>
                                        }
                                    }).collect_view()}
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                </div>
            }.into_any(),
        }}
        <h2>"Validation"</h2>
        <div id="role-problems" aria-live="polite">
            {move || view_.get().map(|v| problems(v.roles, v.problems, v.valid))}
        </div>
        <StepNav back="/hosts" next="/preflight"/>
    }
}

fn problems(
    roles: BTreeMap<String, Vec<String>>,
    problems: Vec<cairn_protocol::api::RoleProblem>,
    valid: bool,
) -> impl IntoView {
    let counts = ROLES
        .iter()
        .map(|(r, label)| format!("{label}: {}", roles.get(*r).map_or(0, Vec::len)))
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <p class="muted">{counts}</p>
        {if valid && problems.is_empty() {
            view! { <p class="badge pass" id="roles-valid">"The assignment is valid."</p> }.into_any()
        } else {
            view! {
                {valid.then(|| view! { <p class="badge pass" id="roles-valid">"Valid, with warnings:"</p> })}
                <ul class="problems">
                    {problems.into_iter().map(|p| {
                        let class = if p.severity == "error" { "fail" } else { "warn" };
                        let role = if p.role.is_empty() { String::new() } else { format!("{}: ", p.role) };
                        view! { <li class=class>{format!("{role}{}", p.message)}</li> }
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
    }
}
