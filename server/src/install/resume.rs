//! `cairn install --resume`: which hosts run again, and which of their tasks are already done.
//!
//! Hosts: for each host, the newest install run of this cluster that covered it (kind
//! `install`, titled with the cluster's name; a resumed run covers only the hosts it re-ran)
//! says whether it finished: it is in that run's recap with no failure and no unreachable. A
//! run without a recap (killed, interrupted, stopped by an error) finished none of its hosts.
//! Hosts that did not finish, or were never covered, run again. If every host finished, there
//! is nothing to resume.
//!
//! Tasks: the newest install run and the runs it resumed, back to a fresh run
//! ([`Store::resume_chain`]), finished some tasks on those hosts (a result `ok` or `changed`
//! with a checkpoint): the engine leaves them out, so the run continues from the first
//! unfinished task per host. What it still runs again, and why, is the engine's
//! `run::resume`.
//!
//! Must not: write to the store.

use crate::store::{Store, StoreError};
use cairn_engine::run::Resume;
use cairn_protocol::RunEvent;

/// The kind of an install run in the store.
pub const KIND: &str = "install";

#[derive(Debug)]
pub enum Plan {
    /// Run these hosts again; `run` is the previous install run; `done`, what it and the
    /// runs it resumed finished on them.
    Rerun {
        run: i64,
        hosts: Vec<String>,
        done: Resume,
    },
    /// The previous run finished on every host.
    Done { run: i64 },
    /// No install of this cluster has reached its playbook.
    Nothing,
}

pub fn plan(store: &Store, cluster: &str, hosts: &[String]) -> Result<Plan, StoreError> {
    let runs: Vec<i64> = store
        .runs(10_000)?
        .into_iter()
        .filter(|r| r.kind == KIND && r.title == cluster)
        .map(|r| r.id)
        .collect();
    let Some(&latest) = runs.first() else {
        return Ok(Plan::Nothing);
    };
    // Each host's state in the newest run that covered it (a resumed run covers only the
    // hosts it re-ran): finished, or not.
    let mut state: std::collections::BTreeMap<&str, bool> = Default::default();
    for id in &runs {
        let events = store.events(*id, 0)?;
        let started: Vec<String> = events
            .iter()
            .find_map(|e| match &e.event {
                RunEvent::RunStarted { hosts, .. } => Some(hosts.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let recap = events.iter().rev().find_map(|e| match &e.event {
            RunEvent::Recap { hosts } => Some(hosts.clone()),
            _ => None,
        });
        for h in hosts {
            if state.contains_key(h.as_str()) {
                continue;
            }
            match &recap {
                Some(r) => {
                    if let Some(s) = r.get(h.as_str()) {
                        state.insert(h, s.failed == 0 && s.unreachable == 0);
                    } else if started.contains(h) {
                        state.insert(h, false);
                    }
                }
                None if started.contains(h) || started.is_empty() => {
                    state.insert(h, false);
                }
                None => {}
            }
        }
    }
    let again: Vec<String> = hosts
        .iter()
        .filter(|h| !state.get(h.as_str()).copied().unwrap_or(false))
        .cloned()
        .collect();
    if again.is_empty() {
        return Ok(Plan::Done { run: latest });
    }
    let mut done = Resume::default();
    for t in store.finished_tasks(&store.resume_chain(latest)?)? {
        if again.contains(&t.host) {
            done.finished(&t.host, &t.checkpoint, t.changed, (t.run, t.seq));
        }
    }
    Ok(Plan::Rerun {
        run: latest,
        hosts: again,
        done,
    })
}
