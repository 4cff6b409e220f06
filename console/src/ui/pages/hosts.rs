//! `/hosts` (step 2): add hosts by address or range (`10.0.0.[11:20]`) with their SSH user and
//! key path, pasted key (or a key file read by the browser), password or agent; test the
//! connection, which shows each host's key fingerprint; and accept each key explicitly (TOFU
//! made visible: nothing is trusted until the operator clicks, and only the fingerprint shown
//! is accepted). Secrets typed here are sent once and cleared from the form; the server never
//! sends them back (a pasted key shows as its public key's fingerprint).

use cairn_protocol::api::{AcceptRequest, AddHostsRequest, AuthInput, HostView, ScanResult};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::model::hosts::auth_label;
use crate::ui::api;
use crate::ui::parts::cluster_form::ClusterForm;
use crate::ui::parts::load::{Loaded, error_box, load};
use crate::ui::parts::nav::StepNav;

#[component]
pub fn HostsPage() -> impl IntoView {
    let (hosts, reload) = load::<Vec<HostView>>("/api/hosts".into());
    let error = RwSignal::new(None::<api::Fail>);
    let busy = RwSignal::new(Vec::<String>::new()); // host ids with a request in flight

    let scan = move |id: String| {
        busy.update(|b| b.push(id.clone()));
        spawn_local(async move {
            let url = format!("/api/hosts/{}/scan", js_sys::encode_uri_component(&id));
            match api::post::<_, ScanResult>(&url, &()).await {
                Ok(_) => error.set(None),
                Err(f) => error.set(Some(f)),
            }
            busy.update(|b| b.retain(|x| *x != id));
            reload();
        });
    };
    let accept = move |id: String, fingerprint: String| {
        busy.update(|b| b.push(id.clone()));
        spawn_local(async move {
            let url = format!("/api/hosts/{}/accept", js_sys::encode_uri_component(&id));
            match api::post::<_, HostView>(&url, &AcceptRequest { fingerprint }).await {
                Ok(_) => error.set(None),
                Err(f) => error.set(Some(f)),
            }
            busy.update(|b| b.retain(|x| *x != id));
            reload();
        });
    };
    let remove = move |id: String| {
        spawn_local(async move {
            let url = format!("/api/hosts/{}", js_sys::encode_uri_component(&id));
            if let Err(f) = api::call("DELETE", &url).await {
                error.set(Some(f));
            }
            reload();
        });
    };
    let scan_all = move |_| {
        if let Loaded::Ready(hs) = hosts.get_untracked() {
            for h in hs.into_iter().filter(|h| h.trust != "trusted") {
                scan(h.id);
            }
        }
    };

    view! {
        <h1 id="title">"2 · Hosts"</h1>
        <ClusterForm/>
        <AddHosts on_added=move || reload()/>
        <h2>"Hosts"</h2>
        {move || error_box(error.get())}
        {move || match hosts.get() {
            Loaded::Loading => view! { <p>"Loading…"</p> }.into_any(),
            Loaded::Failed(f) => error_box(Some(f)).into_any(),
            Loaded::Ready(hs) if hs.is_empty() => view! { <p class="muted">"No hosts yet: add them above."</p> }.into_any(),
            Loaded::Ready(hs) => {
                let untrusted = hs.iter().filter(|h| h.trust != "trusted").count();
                view! {
                    <p>
                        {format!("{} hosts, {} with a trusted host key. ", hs.len(), hs.len() - untrusted)}
                        <button id="scan-all" on:click=scan_all disabled=untrusted == 0>"Test connection to all untrusted"</button>
                    </p>
                    <div class="scroll">
                    <table id="hosts">
                        <thead><tr>
                            <th>"Name"</th><th>"Address"</th><th>"User"</th><th>"Auth"</th>
                            <th>"Host key"</th><th>"Actions"</th>
                        </tr></thead>
                        <tbody>
                            {hs.into_iter().map(|h| {
                                let id = h.id.clone();
                                let (id1, id2, id3) = (id.clone(), id.clone(), id.clone());
                                let fp = h.fingerprint.clone().unwrap_or_default();
                                let in_flight = move || busy.get().contains(&id);
                                let can_accept = h.trust == "scanned" && !fp.is_empty();
                                let auth = auth_label(&h);
                                view! {
                                    <tr data-host=h.id.clone()>
                                        <td>{h.id.clone()}</td>
                                        <td class="mono">{format!("{}:{}", h.address, h.port)}</td>
                                        <td>{h.user.clone()}</td>
                                        <td>{auth}</td>
                                        <td>
                                            <TrustBadge trust=h.trust.clone()/>
                                            {h.fingerprint.clone().map(|f| view! {
                                                <div class="mono fingerprint">{h.key_type.clone().unwrap_or_default()} " " {f}</div>
                                            })}
                                            {h.scan_error.clone().map(|e| view! { <div class="error">{e}</div> })}
                                        </td>
                                        <td>
                                            <button class="scan" on:click=move |_| scan(id1.clone()) disabled=in_flight.clone()>
                                                "Test connection"
                                            </button>
                                            " "
                                            {can_accept.then(|| {
                                                let fp2 = fp.clone();
                                                view! {
                                                    <button class="accept primary"
                                                        aria-label=format!("Accept host key {fp} for {id2}")
                                                        on:click=move |_| accept(id2.clone(), fp2.clone())>
                                                        "Accept this key"
                                                    </button>
                                                }
                                            })}
                                            " "
                                            <button class="remove" on:click=move |_| remove(id3.clone())>"Remove"</button>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    </div>
                }.into_any()
            }
        }}
        <StepNav back="/bundle" next="/roles"/>
    }
}

#[component]
fn TrustBadge(trust: String) -> impl IntoView {
    let (class, text) = match &trust[..] {
        "trusted" => ("badge pass", "trusted"),
        "scanned" => (
            "badge warn",
            "seen, not accepted: compare the fingerprint, then accept",
        ),
        "changed" => ("badge fail", "CHANGED: differs from known_hosts, refused"),
        _ => ("badge skipped", "unknown: test the connection"),
    };
    view! { <span class=class data-trust=trust>{text}</span> }
}

/// The form that adds one host or a range.
#[component]
fn AddHosts(on_added: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let address = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let port = RwSignal::new("22".to_string());
    let user = RwSignal::new("root".to_string());
    let kind = RwSignal::new("key_path".to_string());
    let key_path = RwSignal::new(String::new());
    let private_key = RwSignal::new(String::new());
    let passphrase = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let become_ = RwSignal::new(false);
    let become_password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<api::Fail>);
    let added = RwSignal::new(None::<String>);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let opt = |s: String| (!s.is_empty()).then_some(s);
        let auth = match &kind.get_untracked()[..] {
            "password" => AuthInput::Password {
                password: password.get_untracked(),
            },
            "key" => AuthInput::Key {
                private_key: private_key.get_untracked(),
                passphrase: opt(passphrase.get_untracked()),
            },
            "agent" => AuthInput::Agent,
            _ => AuthInput::KeyPath {
                path: key_path.get_untracked().trim().to_owned(),
                passphrase: opt(passphrase.get_untracked()),
            },
        };
        let Ok(port_n) = port.get_untracked().trim().parse::<u16>() else {
            error.set(Some(api::Fail {
                status: 0,
                error: cairn_protocol::api::ApiError {
                    code: "invalid".into(),
                    error: "The SSH port must be a number from 1 to 65535.".into(),
                    details: vec![],
                },
            }));
            return;
        };
        let req = AddHostsRequest {
            address: address.get_untracked().trim().to_owned(),
            name: opt(name.get_untracked().trim().to_owned()),
            port: port_n,
            user: user.get_untracked().trim().to_owned(),
            auth,
            r#become: become_.get_untracked(),
            become_password: opt(become_password.get_untracked()),
        };
        let on_added = on_added.clone();
        spawn_local(async move {
            match api::post::<_, Vec<HostView>>("/api/hosts", &req).await {
                Ok(hs) => {
                    error.set(None);
                    added.set(Some(format!(
                        "Added {}.",
                        hs.iter()
                            .map(|h| h.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                    // Secrets leave the page as soon as the server has them.
                    password.set(String::new());
                    private_key.set(String::new());
                    passphrase.set(String::new());
                    become_password.set(String::new());
                    address.set(String::new());
                    name.set(String::new());
                    on_added();
                }
                Err(f) => error.set(Some(f)),
            }
        });
    };
    // The chosen file is read by the browser into the text box (not uploaded by itself): the
    // key then goes with the form, once, like a pasted one.
    let on_key_file = move |ev: leptos::ev::Event| {
        use wasm_bindgen::JsCast;
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        // Forget the selection: the file's name and contents stay out of the page afterwards.
        input.set_value("");
        spawn_local(async move {
            if let Ok(text) = wasm_bindgen_futures::JsFuture::from(file.text()).await {
                private_key.set(text.as_string().unwrap_or_default());
            }
        });
    };
    let shown = move |k: &'static str| move || kind.get() == k;
    view! {
        <form class="panel" on:submit=submit aria-labelledby="add-title">
            <h2 id="add-title" style="margin-top:0">"Add hosts"</h2>
            <div class="row">
                <div>
                    <label for="address">"Address or range"</label>
                    <input id="address" required placeholder="10.0.0.11 or 10.0.0.[11:20]" size="26"
                        prop:value=move || address.get() on:input=move |ev| address.set(event_target_value(&ev))/>
                </div>
                <div>
                    <label for="hostname">"Name (optional)"</label>
                    <input id="hostname" placeholder="node-[1:10]" size="16"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                </div>
                <div>
                    <label for="port">"SSH port"</label>
                    <input id="port" size="5" inputmode="numeric"
                        prop:value=move || port.get() on:input=move |ev| port.set(event_target_value(&ev))/>
                </div>
                <div>
                    <label for="user">"SSH user"</label>
                    <input id="user" required size="10"
                        prop:value=move || user.get() on:input=move |ev| user.set(event_target_value(&ev))/>
                </div>
                <div>
                    <label for="auth">"Authentication"</label>
                    <select id="auth" on:change=move |ev| kind.set(event_target_value(&ev)) prop:value=move || kind.get()>
                        <option value="key_path">"Key file on this machine"</option>
                        <option value="key">"Paste a private key"</option>
                        <option value="password">"Password"</option>
                        <option value="agent">"ssh-agent of the server"</option>
                    </select>
                </div>
            </div>
            <div class="row">
                <Show when=shown("key_path")>
                    <div>
                        <label for="key-path">"Private key path"</label>
                        <input id="key-path" size="40" placeholder="/root/.ssh/id_ed25519"
                            prop:value=move || key_path.get() on:input=move |ev| key_path.set(event_target_value(&ev))/>
                    </div>
                </Show>
                <Show when=shown("password")>
                    <div>
                        <label for="password">"SSH password"</label>
                        <input id="password" type="password" autocomplete="off"
                            prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                    </div>
                </Show>
                <Show when=move || kind.get() == "key" || kind.get() == "key_path">
                    <div>
                        <label for="passphrase">"Key passphrase (if any)"</label>
                        <input id="passphrase" type="password" autocomplete="off"
                            prop:value=move || passphrase.get() on:input=move |ev| passphrase.set(event_target_value(&ev))/>
                    </div>
                </Show>
                <div>
                    <label class="inline" style="margin-top:1.6rem">
                        <input id="become" type="checkbox" prop:checked=move || become_.get()
                            on:change=move |ev| become_.set(event_target_checked(&ev))/>
                        "Use sudo"
                    </label>
                </div>
                <Show when=move || become_.get()>
                    <div>
                        <label for="become-password">"sudo password (if needed)"</label>
                        <input id="become-password" type="password" autocomplete="off"
                            prop:value=move || become_password.get() on:input=move |ev| become_password.set(event_target_value(&ev))/>
                    </div>
                </Show>
            </div>
            <Show when=shown("key")>
                <label for="private-key">"Private key (OpenSSH or PEM text: paste it, or choose the file)"</label>
                <textarea id="private-key" rows="5" class="mono" autocomplete="off" spellcheck="false"
                    placeholder="-----BEGIN OPENSSH PRIVATE KEY-----"
                    prop:value=move || private_key.get() on:input=move |ev| private_key.set(event_target_value(&ev))></textarea>
                <label for="private-key-file">"Key file"</label>
                <input id="private-key-file" type="file" on:change=on_key_file/>
            </Show>
            <p class="muted">"Passwords and keys are kept in the server's memory only: never written to disk, never shown again."</p>
            {move || error_box(error.get())}
            {move || added.get().map(|a| view! { <p class="notice" role="status">{a}</p> })}
            <div class="actions"><button id="add" class="primary" type="submit">"Add"</button></div>
        </form>
    }
}
