//! Cairn's engine: everything that talks to hosts.
//!
//! Owns the inventory model (cluster.yaml and Ansible inventories), the SSH transport, the
//! playbook language (parsed and validated so far; execution and modules land later), and the
//! two things all readers share: YAML with positions (`yaml`) and diagnostics (`diagnostic`).
//! As execution lands it will emit a closed `Event` enum for its consumers.
//!
//! Must not: know about HTTP, SQLite, the console or the bundle format. Those live in `server/`
//! and `bundle/` and consume what this crate emits.

pub mod diagnostic;
pub mod inventory;
pub mod playbook;
pub mod secret;
pub mod ssh;
mod suggest;
#[cfg(test)]
mod testutil;
pub mod yaml;
