//! Cairn's engine: everything that talks to hosts.
//!
//! Owns the inventory model (cluster.yaml and Ansible inventories), the SSH transport and, as they
//! land, the playbook language and its modules. It emits a closed `Event` enum for its consumers.
//!
//! Must not: know about HTTP, SQLite, the console or the bundle format. Those live in `server/`
//! and `bundle/` and consume what this crate emits.

pub mod inventory;
pub mod secret;
pub mod ssh;
