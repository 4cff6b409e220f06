//! Inventories (temporary skeleton).
pub mod diagnostic;
mod ini;
pub mod model;
pub mod pattern;
mod pyliteral;
pub mod spans;
pub mod yaml;
