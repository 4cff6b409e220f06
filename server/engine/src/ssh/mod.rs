//! The SSH transport (russh): one persistent connection per host, many channels on it.
//!
//! Must not: know about playbooks, HTTP or storage. Host keys are always verified.

pub mod target;

pub use target::{Identity, Target};
