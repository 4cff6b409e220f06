//! Back/next links between wizard steps (plain links: the URL is the state).

use leptos::prelude::*;

#[component]
pub fn StepNav(
    #[prop(optional)] back: Option<&'static str>,
    #[prop(optional)] next: Option<&'static str>,
    #[prop(optional, into)] next_label: Option<String>,
) -> impl IntoView {
    view! {
        <div class="actions">
            {back.map(|b| view! { <a class="button" href=b>"Back"</a> })}
            {next.map(|n| view! { <a id="next" class="button primary" href=n>{next_label.unwrap_or_else(|| "Next".into())}</a> })}
        </div>
    }
}
