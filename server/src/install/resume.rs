//! `cairn install --resume`: which hosts to run again, from the store.
//!
//! The semantics, kept simple and honest: the last install run of this cluster that reached
//! the playbook (kind `install`, titled with the cluster's name) is looked up. If it ended
//! with a recap, the hosts that failed or were unreachable in it, and the hosts of the config
//! that it did not cover, are run again, the whole playbook from the start (the roles are
//! idempotent, so work already done reports `ok`, not `changed`). If it has no recap (killed,
//! interrupted, or stopped by an error), every host is run again. If every host finished,
//! there is nothing to resume. There is no per-task restart point: a task is not guaranteed to
//! be safe to skip just because it once ran.
//!
//! Must not: write to the store.

use crate::store::{Store, StoreError};
use cairn_protocol::RunEvent;

/// The kind of an install run in the store.
pub const KIND: &str = "install";

#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Run these hosts again; `run` is the previous install run.
    Rerun { run: i64, hosts: Vec<String> },
    /// The previous run finished on every host.
    Done { run: i64 },
    /// No install of this cluster has reached its playbook.
    Nothing,
}

pub fn plan(store: &Store, cluster: &str, hosts: &[String]) -> Result<Plan, StoreError> {
    let Some(run) = store
        .runs(10_000)?
        .into_iter()
        .find(|r| r.kind == KIND && r.title == cluster)
    else {
        return Ok(Plan::Nothing);
    };
    let recap = store
        .events(run.id, 0)?
        .into_iter()
        .rev()
        .find_map(|e| match e.event {
            RunEvent::Recap { hosts } => Some(hosts),
            _ => None,
        });
    let Some(recap) = recap else {
        return Ok(Plan::Rerun {
            run: run.id,
            hosts: hosts.to_vec(),
        });
    };
    let again: Vec<String> = hosts
        .iter()
        .filter(|h| {
            recap
                .get(h.as_str())
                .is_none_or(|s| s.failed > 0 || s.unreachable > 0)
        })
        .cloned()
        .collect();
    Ok(if again.is_empty() {
        Plan::Done { run: run.id }
    } else {
        Plan::Rerun {
            run: run.id,
            hosts: again,
        }
    })
}
