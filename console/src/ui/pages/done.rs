//! `/done` (step 7): what was installed and how to reach it: the endpoints of each role as the
//! shipped playbooks configure them (their `defaults/`), the last install's per-host recap, and
//! the downloads the server offers (cluster.yaml, the cluster CA certificate, the admin
//! kubeconfig).

use cairn_protocol::api::{RunRecord, WizardState};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::ui::api;
use crate::ui::parts::load::error_box;

/// (role, what, URL pattern with `{addr}`): the shipped roles' defaults
/// (playbooks/roles/*/defaults/main.yml).
const ENDPOINTS: &[(&str, &str, &str)] = &[
    (
        "etcd",
        "etcd client (TLS, client certificate)",
        "https://{addr}:2379",
    ),
    ("monitoring", "Prometheus", "http://{addr}:9090"),
    (
        "",
        "node exporter (every host)",
        "http://{addr}:9100/metrics",
    ),
];

#[component]
pub fn DonePage() -> impl IntoView {
    let wizard = RwSignal::new(None::<WizardState>);
    let record = RwSignal::new(None::<RunRecord>);
    let error = RwSignal::new(None::<api::Fail>);
    spawn_local(async move {
        match api::get::<WizardState>("/api/wizard").await {
            Ok(w) => {
                if let Some(id) = w.install_run {
                    match api::get::<RunRecord>(&format!("/api/runs/{id}")).await {
                        Ok(r) => record.set(Some(r)),
                        Err(f) => error.set(Some(f)),
                    }
                }
                wizard.set(Some(w));
            }
            Err(f) => error.set(Some(f)),
        }
    });
    view! {
        <h1 id="title">"7 · Done"</h1>
        {move || error_box(error.get())}
        {move || record.get().map(|r| {
            let ok = r.run.status == "ok";
            view! {
                <p class={if ok { "notice" } else { "error" }}>
                    {if ok { format!("Install run #{} finished: ok.", r.run.id) } else { format!("Install run #{} ended: {}. ", r.run.id, r.run.status) }}
                    {(!ok).then(|| view! { <a href="/install">"Back to the install"</a> })}
                </p>
                <h2>"Summary per host"</h2>
                <div class="scroll"><table id="recap">
                    <thead><tr><th>"Host"</th><th>"ok"</th><th>"changed"</th><th>"failed"</th><th>"unreachable"</th><th>"skipped"</th></tr></thead>
                    <tbody>{r.recap.iter().map(|(h, s)| view! {
                        <tr><td>{h.clone()}</td><td>{s.ok}</td><td>{s.changed}</td>
                            <td class={if s.failed > 0 { "fail" } else { "" }}>{s.failed}</td>
                            <td class={if s.unreachable > 0 { "fail" } else { "" }}>{s.unreachable}</td><td>{s.skipped}</td></tr>
                    }).collect_view()}</tbody>
                </table></div>
            }
        })}
        {move || wizard.get().map(|w| {
            let rows: Vec<(String, String, String)> = ENDPOINTS.iter().flat_map(|&(role, what, pat)| {
                let hosts: Vec<String> = if role.is_empty() {
                    w.hosts.iter().map(|h| h.id.clone()).collect()
                } else {
                    w.roles.roles.get(role).cloned().unwrap_or_default()
                };
                hosts.into_iter().filter_map(|id| {
                    let h = w.hosts.iter().find(|h| h.id == id)?;
                    Some((what.to_string(), id.clone(), pat.replace("{addr}", &h.address)))
                }).collect::<Vec<_>>()
            }).collect();
            view! {
                <h2>"Endpoints"</h2>
                <p class="muted">"As the shipped playbooks configure them (their defaults); reachable from the cluster's network."</p>
                <table id="endpoints">
                    <thead><tr><th>"Service"</th><th>"Host"</th><th>"Address"</th></tr></thead>
                    <tbody>{rows.into_iter().map(|(what, host, url)| view! {
                        <tr><td>{what}</td><td>{host}</td><td class="mono">{url}</td></tr>
                    }).collect_view()}</tbody>
                </table>
                <p class="muted">{format!("Cluster {}: installer {}:{}", w.cluster.name, w.cluster.installer_address, w.cluster.installer_port)}</p>
            }
        })}
        <h2>"Downloads"</h2>
        <ul>
            <li><a href="/api/cluster.yaml" download="cluster.yaml">"cluster.yaml"</a>" (re-runs and upgrades take the same file)"</li>
            <li><a id="download-ca" href="/api/pki/ca.crt" download="">"the cluster CA certificate"</a>" (to trust the cluster's TLS endpoints: etcd, the registry)"</li>
            <li><a id="download-kubeconfig" href="/api/pki/kubeconfig" download="">"the admin kubeconfig"</a>" (holds the cluster admin's key: keep it private; only when the cluster has Kubernetes masters)"</li>
        </ul>
        <p><a href="/runs">"All runs"</a></p>
    }
}
