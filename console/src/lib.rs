//! Cairn's web console: a Leptos (client-side rendered) wizard, compiled to wasm by
//! `scripts/build-console` and embedded in the `cairn` binary, which serves it at `/`.
//!
//! Two halves: [`model`] is plain Rust (what a run's events mean for the page: progress, the
//! host × task matrix, host ranges, role validation, the virtual window) and is unit-tested
//! natively; `ui` (wasm only) is the Leptos pages and parts that draw the model and talk to
//! the server. Must not: reach the engine or the store except through the server's `/api`
//! and its event stream, keep state the server does not have (a reload loses nothing), or
//! load anything from outside the server (air-gapped: no fonts, no CDNs).

pub mod model;

#[cfg(target_arch = "wasm32")]
mod ui;

/// Mounts the console into the page (called by the wasm-bindgen glue on load).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(ui::app::App);
}
