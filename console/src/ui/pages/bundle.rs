//! `/bundle` (step 1): the bundle `cairn serve` serves: name, version, verified/signed, and
//! what it holds (packages, images, files, playbooks).

use cairn_protocol::api::BundleInfo;
use leptos::prelude::*;

use crate::ui::parts::load::{Loaded, error_box, load};
use crate::ui::parts::nav::StepNav;

#[component]
pub fn BundlePage() -> impl IntoView {
    let (info, _) = load::<BundleInfo>("/api/bundle".into());
    view! {
        <h1 id="title">"1 · Bundle"</h1>
        {move || match info.get() {
            Loaded::Loading => view! { <p>"Loading…"</p> }.into_any(),
            Loaded::Failed(f) => error_box(Some(f)).into_any(),
            Loaded::Ready(b) => view! { <BundleView b/> }.into_any(),
        }}
        <StepNav next="/hosts"/>
    }
}

#[component]
fn BundleView(b: BundleInfo) -> impl IntoView {
    let c = b.contents.clone();
    let mb = b.size_bytes as f64 / 1e6;
    let list = |title: String, items: Vec<String>| {
        let n = items.len();
        view! {
            <details>
                <summary>{format!("{title}: {n}")}</summary>
                <ul class="mono">{items.into_iter().map(|i| view! { <li>{i}</li> }).collect_view()}</ul>
            </details>
        }
    };
    let pkgs = |v: &[cairn_protocol::api::Package]| {
        v.iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect::<Vec<_>>()
    };
    view! {
        <div class="panel">
            <table>
                <tbody>
                    <tr><th scope="row">"Name"</th><td id="bundle-name">{b.name.clone()}</td></tr>
                    <tr><th scope="row">"Version"</th><td>{b.version.clone()}</td></tr>
                    <tr><th scope="row">"File"</th><td class="mono">{b.file.clone()}</td></tr>
                    <tr><th scope="row">"Size"</th><td>{format!("{mb:.1} MB")}</td></tr>
                    <tr><th scope="row">"Integrity"</th><td>
                        {if b.verified {
                            view! { <span class="badge pass" id="verified">"verified: every entry matches the manifest"</span> }.into_any()
                        } else {
                            view! { <span class="badge fail">"NOT verified"</span> }.into_any()
                        }}
                        " "
                        {if b.signed {
                            view! { <span class="badge pass">"signature checked"</span> }.into_any()
                        } else {
                            view! { <span class="badge warn">"not signed (or no key given to cairn serve)"</span> }.into_any()
                        }}
                    </td></tr>
                    <tr><th scope="row">"Playbooks"</th><td>{if c.playbooks { "carried by the bundle" } else { "not in the bundle (the server's own)" }}</td></tr>
                </tbody>
            </table>
        </div>
        <h2>"Contents"</h2>
        {list("Debian packages".into(), pkgs(&c.debs))}
        {list("RPM packages".into(), pkgs(&c.rpms))}
        {list("Container images".into(), c.images.clone())}
        {list("Files".into(), c.files.clone())}
    }
}
