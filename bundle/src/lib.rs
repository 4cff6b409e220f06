//! The offline bundle format (issue "The offline bundle"): not built yet.
//!
//! Must not: know about SSH, inventories or playbooks.
