//! The console's shell: the router (one URL per wizard step), the header with the steps.

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <header class="top"><a href="/" class="brand">"Cairn"</a></header>
            <main id="main">
                <Routes fallback=|| view! { <p>"No such page."</p> }>
                    <Route path=path!("/") view=|| view! { <h1 id="title">"Cairn console"</h1> }/>
                </Routes>
            </main>
        </Router>
    }
}
