//! The Leptos half of the console (wasm only): `app` (router, layout, wizard steps), `api`
//! (the server's JSON API), `pages/` (one file per URL), `parts/` (widgets several pages use).

pub mod api;
pub mod app;
pub mod pages;
pub mod parts;
