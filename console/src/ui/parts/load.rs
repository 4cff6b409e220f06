//! Fetching a page's data when it mounts: a signal that is `None` while loading, then the
//! answer or the error, and a way to load again after a change.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::de::DeserializeOwned;

use crate::ui::api::{self, Fail};

/// What a fetch gave so far.
#[derive(Clone, Debug, PartialEq)]
pub enum Loaded<T> {
    Loading,
    Ready(T),
    Failed(Fail),
}

/// Starts `GET url` now; call the returned `reload` to fetch again.
pub fn load<T>(url: String) -> (RwSignal<Loaded<T>>, impl Fn() + Copy + 'static)
where
    T: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let state = RwSignal::new(Loaded::Loading);
    let url = StoredValue::new(url);
    let reload = move || {
        let url = url.get_value();
        spawn_local(async move {
            let r = api::get::<T>(&url).await;
            state.set(match r {
                Ok(v) => Loaded::Ready(v),
                Err(f) => Loaded::Failed(f),
            });
        });
    };
    reload();
    (state, reload)
}

/// The error box for a failed request.
pub fn error_box(f: Option<Fail>) -> impl IntoView {
    f.map(|f| view! { <pre class="error" role="alert">{f.text()}</pre> })
}
