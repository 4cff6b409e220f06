//! The host × task matrix, virtualised (see `model::matrix`): a scroll box whose inner block
//! is as tall as all host rows, holding only the rows in view, redrawn when the model's
//! version changes (at most once per frame) or the box scrolls. Clicking a host (or Enter on
//! its button: they are real buttons) selects it for the output panel.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::model::matrix::{ROW_PX, order, rows_html, window};
use crate::model::progress::RunModel;

/// Height of the scroll box in CSS pixels (`.matrix` in style.css).
const VIEW_PX: f64 = 420.0;

#[component]
pub fn Matrix(
    model: StoredValue<RunModel>,
    version: RwSignal<u64>,
    selected: RwSignal<Option<usize>>,
) -> impl IntoView {
    let scroll_top = RwSignal::new(0.0f64);
    let failed_first = RwSignal::new(false);
    let boxed = NodeRef::<leptos::html::Div>::new();
    let html = move || {
        version.track();
        let top = scroll_top.get();
        let sel = selected.get();
        let ff = failed_first.get();
        model.with_value(|m| {
            let ord = order(m, ff);
            let range = window(top, VIEW_PX, ord.len());
            rows_html(m, &ord, range, sel)
        })
    };
    let size = move || {
        version.track();
        model.with_value(|m| (m.hosts.len(), m.tasks.len()))
    };
    let on_click = move |ev: leptos::ev::MouseEvent| {
        let host = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("[data-host]").ok().flatten())
            .and_then(|e| e.get_attribute("data-host"))
            .and_then(|h| h.parse::<usize>().ok());
        if host.is_some() {
            selected.set(host);
        }
    };
    view! {
        <div class="legend" aria-hidden="true">
            {["ok", "changed", "failed", "unreachable", "skipped", "running", "pending"].map(|c| view! {
                <span><i class=format!("cell {c}")></i> " " {c}</span>
            })}
            <label class="inline">
                <input id="failed-first" type="checkbox" on:change=move |ev| failed_first.set(event_target_checked(&ev))/>
                "Failed hosts first"
            </label>
        </div>
        <div class="matrix" id="matrix" node_ref=boxed tabindex="-1"
            aria-label="Hosts (rows) by tasks (columns): choose a host to see its output"
            on:scroll=move |_| {
                if let Some(el) = boxed.get() {
                    scroll_top.set(el.scroll_top() as f64);
                }
            }
            on:click=on_click>
            <div class="spacer"
                style:height=move || format!("{}px", size().0 as f64 * ROW_PX)
                style:min-width=move || format!("{}px", 160 + size().1 * 10)
                inner_html=html></div>
        </div>
    }
}
