//! The cluster's name and how its hosts reach this machine (cluster.yaml `name` and
//! `installer:`): `GET`/`PUT /api/cluster`, shown on the hosts step.

use cairn_protocol::api::ClusterSettings;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::ui::api;
use crate::ui::parts::load::{Loaded, error_box, load};

#[component]
pub fn ClusterForm() -> impl IntoView {
    let (loaded, _) = load::<ClusterSettings>("/api/cluster".into());
    let name = RwSignal::new(String::new());
    let address = RwSignal::new(String::new());
    let port = RwSignal::new(String::new());
    let ntp = RwSignal::new(String::new());
    let error = RwSignal::new(None::<api::Fail>);
    let saved = RwSignal::new(false);
    Effect::new(move || match loaded.get() {
        Loaded::Ready(c) => {
            name.set(c.name);
            address.set(c.installer_address);
            port.set(c.installer_port.to_string());
            ntp.set(c.ntp_port.to_string());
        }
        Loaded::Failed(f) => error.set(Some(f)),
        Loaded::Loading => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        let (Ok(p), Ok(n)) = (
            port.get_untracked().trim().parse::<u16>(),
            ntp.get_untracked().trim().parse::<u16>(),
        ) else {
            error.set(Some(api::Fail {
                status: 0,
                error: cairn_protocol::api::ApiError {
                    code: "invalid".into(),
                    error: "Ports are numbers from 1 to 65535.".into(),
                    details: vec![],
                },
            }));
            return;
        };
        let body = ClusterSettings {
            name: name.get_untracked().trim().to_owned(),
            installer_address: address.get_untracked().trim().to_owned(),
            installer_port: p,
            ntp_port: n,
        };
        spawn_local(async move {
            match api::put::<_, ClusterSettings>("/api/cluster", &body).await {
                Ok(_) => {
                    error.set(None);
                    saved.set(true);
                }
                Err(f) => error.set(Some(f)),
            }
        });
    };
    let field =
        move |id: &'static str, label: &'static str, sig: RwSignal<String>, size: &'static str| {
            view! {
                <div>
                    <label for=id>{label}</label>
                    <input id=id size=size required prop:value=move || sig.get()
                        on:input=move |ev| { saved.set(false); sig.set(event_target_value(&ev)) }/>
                </div>
            }
        };
    view! {
        <form class="panel" on:submit=submit aria-labelledby="cluster-title">
            <h2 id="cluster-title" style="margin-top:0">"Cluster"</h2>
            <div class="row">
                {field("cluster-name", "Name", name, "16")}
                {field("installer-address", "This machine's address, as the hosts reach it", address, "18")}
                {field("installer-port", "Bundle port (HTTP)", port, "6")}
                {field("ntp-port", "Time port (SNTP, UDP)", ntp, "6")}
                <div><button id="save-cluster" type="submit">"Save"</button></div>
            </div>
            {move || error_box(error.get())}
            {move || saved.get().then(|| view! { <p class="notice" role="status" id="cluster-saved">"Saved."</p> })}
        </form>
    }
}
