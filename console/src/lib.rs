//! The web console (Leptos CSR, compiled to wasm and embedded in `cairn`): not built yet.
//!
//! Must not: reach the engine or the store except through the server's `/api`.
