//! Cairn's engine: everything that talks to hosts.
//!
//! Owns the inventory model (cluster.yaml and Ansible inventories), the SSH transport, the
//! playbook language (`playbook`: parsed and validated), running it (`run`, the linear
//! strategy, and `modules`), and the two things all readers share: YAML with positions
//! (`yaml`) and diagnostics (`diagnostic`). A run reports through the closed `event::Event`
//! enum that every consumer reads.
//!
//! Must not: know about HTTP, SQLite, the console or the bundle format. Those live in `server/`
//! and `bundle/` and consume what this crate emits.

pub mod diagnostic;
pub mod event;
pub mod inventory;
pub mod modules;
pub mod playbook;
pub mod preflight;
pub mod run;
pub mod secret;
pub mod ssh;
mod suggest;
#[cfg(test)]
mod testutil;
pub mod yaml;
