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
    // A panic aborts the wasm ("RuntimeError: unreachable"): say first what it was, where.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("cairn console panicked: {info}").into());
    }));
    leptos::mount::mount_to_body(ui::app::App);
}

/// The page's event-applying cost, measured in the browser without a server: parses and
/// applies `lines` (one `Envelope` JSON per line, as the event stream delivers them) to a fresh
/// run model, then draws one frame of the matrix. Returns `{"events":N,"apply_ms":..,
/// "frame_ms":..}`. Used by the browser test (`tests/browser/smoke.mjs`) to measure the
/// 500 hosts × 100 tasks case; the live view runs the same two steps per event and per frame.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn measure_apply(lines: &str) -> String {
    let now = || {
        web_sys::window()
            .and_then(|w| w.performance())
            .map_or(0.0, |p| p.now())
    };
    let t0 = now();
    let mut m = model::progress::RunModel::new(0);
    let mut bad = 0u64;
    for line in lines.lines() {
        match serde_json::from_str::<cairn_protocol::Envelope>(line) {
            Ok(e) => m.apply(&e),
            Err(_) => bad += 1,
        }
    }
    let t1 = now();
    let order = model::matrix::order(&m, true);
    let range = model::matrix::window(0.0, 420.0, order.len());
    let html = model::matrix::rows_html(&m, &order, range, None);
    let t2 = now();
    format!(
        r#"{{"events":{},"bad":{bad},"hosts":{},"tasks":{},"apply_ms":{:.1},"frame_ms":{:.2},"frame_bytes":{}}}"#,
        m.applied,
        m.hosts.len(),
        m.tasks.len(),
        t1 - t0,
        t2 - t1,
        html.len()
    )
}
