//! The console's shell: the router (one URL per page, the same list as
//! `cairn_protocol::pages::PAGES`, which the server answers with index.html), the header with
//! the wizard's steps, and the pages.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::path;

use super::pages;

/// The wizard's steps, in order: (URL, label).
pub const STEPS: &[(&str, &str)] = &[
    ("/bundle", "1 Bundle"),
    ("/hosts", "2 Hosts"),
    ("/roles", "3 Roles"),
    ("/preflight", "4 Pre-flight"),
    ("/review", "5 Review"),
    ("/install", "6 Install"),
    ("/done", "7 Done"),
];

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <Header/>
            <main id="main">
                <Routes fallback=|| view! { <h1>"No such page"</h1><p><a href="/bundle">"Start at the bundle"</a></p> }>
                    <Route path=path!("/") view=pages::bundle::BundlePage/>
                    <Route path=path!("/login") view=pages::login::LoginPage/>
                    <Route path=path!("/bundle") view=pages::bundle::BundlePage/>
                    <Route path=path!("/hosts") view=pages::hosts::HostsPage/>
                    <Route path=path!("/roles") view=pages::roles::RolesPage/>
                    <Route path=path!("/preflight") view=pages::preflight::PreflightPage/>
                    <Route path=path!("/review") view=pages::review::ReviewPage/>
                    <Route path=path!("/install") view=pages::install::InstallPage/>
                    <Route path=path!("/done") view=pages::done::DonePage/>
                    <Route path=path!("/runs") view=pages::runs::RunsPage/>
                    <Route path=path!("/runs/:id") view=pages::runs::RunPage/>
                    <Route path=path!("/import") view=pages::import::ImportPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// The top bar: the steps (the current one marked for screen readers too), history, import.
#[component]
fn Header() -> impl IntoView {
    let loc = use_location();
    let current = move |url: &'static str| {
        let p = loc.pathname.get();
        (p == url || (url == "/bundle" && p == "/")).then_some("page")
    };
    view! {
        <header class="top">
            <a href="/bundle" class="brand">"Cairn"</a>
            <nav class="steps" aria-label="Install steps">
                <ol>
                    {STEPS
                        .iter()
                        .map(|&(url, label)| {
                            view! { <li><a href=url aria-current=move || current(url)>{label}</a></li> }
                        })
                        .collect_view()}
                </ol>
            </nav>
            <nav class="extra" aria-label="More">
                <a href="/runs" aria-current=move || current("/runs")>"Runs"</a>
                <a href="/import" aria-current=move || current("/import")>"Import cluster.yaml"</a>
            </nav>
        </header>
    }
}
