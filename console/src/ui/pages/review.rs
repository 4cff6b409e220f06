//! `/review` (step 5): the cluster.yaml the wizard generated, exactly the file the CLI takes
//! (`cairn install --config`), to read and to download.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::ui::api;
use crate::ui::parts::load::error_box;
use crate::ui::parts::nav::StepNav;

#[component]
pub fn ReviewPage() -> impl IntoView {
    let yaml = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<api::Fail>);
    spawn_local(async move {
        match api::get_text("/api/cluster.yaml").await {
            Ok(y) => yaml.set(Some(y)),
            Err(f) => error.set(Some(f)),
        }
    });
    view! {
        <h1 id="title">"5 · Review"</h1>
        <p>"This is the whole configuration. The same file installs from the command line: "
           <code>"cairn install --config cluster.yaml"</code> "."</p>
        <div class="actions">
            <a id="download-yaml" class="button" href="/api/cluster.yaml" download="cluster.yaml">"Download cluster.yaml"</a>
        </div>
        {move || error_box(error.get())}
        {move || yaml.get().map(|y| view! { <pre class="yaml" id="cluster-yaml">{y}</pre> })}
        <StepNav back="/preflight" next="/install" next_label="Next: install"/>
    }
}
