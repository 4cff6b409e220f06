//! The Leptos half of the console (wasm only): `app` (router, layout, steps), `api` (the
//! server's JSON API), `pages/` (one file per URL), `parts/` (shared widgets).

pub mod app;
