//! Per-task resume: each task's *checkpoint* (its place in one host's run), and what a resumed
//! run leaves out because an earlier, unfinished run already finished it on that host.
//!
//! A checkpoint is `FILE:LINE:COLUMN#N@HASH`: where the task is written, the how-many-th time
//! this host reaches it in the run (a role used twice runs its tasks twice), and a short hash
//! of the task's name, module and untemplated arguments, so a playbook edited between the runs
//! never matches an old record to a different task.
//!
//! What may be left out ([`skippable`]): an action task that ended `ok` or `changed` on the
//! host, unless later tasks could need what running it leaves behind on the controller: its
//! `register`ed value, facts (`set_fact`, `setup`, `include_vars`...), or a `run_once`
//! result shared by every host. Those run again (the modules are idempotent: they report
//! `ok`); when such a task had `changed` the host in the earlier run, its registered value
//! says `changed: true` again, so `when: result.changed` still fires. A task that had
//! `changed` the host, left out or run again, notifies its handlers again unless each of them
//! ran on that host after it (the earlier run may have stopped before the flush).
//!
//! Owns the rules above. Must not: read the store (the caller hands the finished tasks in as
//! [`Resume`]) or decide which hosts run (`--limit` does).

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::playbook::{Task, TaskKind};

/// Where a record sits in the runs being resumed: (run id, event number); later is greater.
pub type Order = (i64, i64);

/// What earlier runs finished, per host, to be left out of this one.
#[derive(Clone, Debug, Default)]
pub struct Resume {
    hosts: HashMap<String, HashMap<String, Finished>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished {
    pub changed: bool,
    pub order: Order,
}

impl Resume {
    /// Record that `checkpoint` ended ok (`changed` or not) on `host`. The latest record wins.
    pub fn finished(&mut self, host: &str, checkpoint: &str, changed: bool, order: Order) {
        let per_host = self.hosts.entry(host.to_string()).or_default();
        let e = per_host
            .entry(checkpoint.to_string())
            .or_insert(Finished { changed, order });
        if order >= e.order {
            // A task that changed once and was `ok` when run again still changed the host.
            *e = Finished {
                changed: changed || e.changed,
                order,
            };
        }
    }

    /// How many (host, task) pairs are recorded.
    pub fn len(&self) -> usize {
        self.hosts.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The record of `checkpoint` on `host`, if it finished there.
    pub fn get(&self, host: &str, checkpoint: &str) -> Option<Finished> {
        self.hosts.get(host)?.get(checkpoint).copied()
    }

    /// Whether a task (or handler) written at `location` (`FILE:LINE:COLUMN`) finished on
    /// `host` after `order`: a handler that ran after the task that notified it.
    pub fn ran_after(&self, host: &str, location: &str, order: Order) -> bool {
        self.hosts.get(host).is_some_and(|m| {
            m.iter()
                .any(|(cp, f)| f.order > order && location_of(cp) == location)
        })
    }
}

/// The checkpoint of `task` reached for the `occurrence`-th time (from 1) on a host.
pub fn checkpoint(task: &Task, occurrence: u32) -> String {
    format!("{}#{occurrence}@{}", location(task), fingerprint(task))
}

/// `FILE:LINE:COLUMN` of a task.
pub fn location(task: &Task) -> String {
    let l = &task.location;
    format!("{}:{}:{}", l.file, l.line, l.column)
}

/// The `FILE:LINE:COLUMN` part of a checkpoint.
pub fn location_of(checkpoint: &str) -> &str {
    checkpoint.rsplit_once('#').map_or(checkpoint, |(l, _)| l)
}

fn fingerprint(task: &Task) -> String {
    let mut h = Sha256::new();
    h.update(task.name.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update(task.action.as_bytes());
    h.update([0]);
    if let TaskKind::Action(a) = &task.kind {
        h.update(
            serde_json::to_string(&a.args)
                .unwrap_or_default()
                .as_bytes(),
        );
    }
    h.update([0]);
    if let Some(l) = &task.r#loop {
        h.update(format!("{l:?}").as_bytes());
    }
    let d = h.finalize();
    d[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// Modules whose only effect is on the controller's side of the run (variables, facts, the
/// inventory, output) or that wait for a state: always run again, they cost nothing on the
/// host and later tasks may depend on them.
const RUN_AGAIN: &[&str] = &[
    "set_fact",
    "include_vars",
    "setup",
    "gather_facts",
    "add_host",
    "group_by",
    "debug",
    "assert",
    "fail",
    "pause",
    "wait_for",
    "wait_for_connection",
    "service_facts",
    "package_facts",
    "set_stats",
];

/// Whether `task`, finished on a host in an earlier run, may be left out of a resumed run
/// (the module doc says why the others are not).
pub fn skippable(task: &Task, run_once: bool) -> bool {
    // The module's short name: `ansible.builtin.set_fact` is `set_fact` too.
    let TaskKind::Action(a) = &task.kind else {
        return false;
    };
    task.register.is_none() && !run_once && !RUN_AGAIN.contains(&a.module.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::{Action, Common, Location, Vars};
    use serde_json::json;

    fn task(action: &str, args: serde_json::Value, register: Option<&str>) -> Task {
        Task {
            location: Location {
                file: "roles/etcd/tasks/main.yml".into(),
                line: 12,
                column: 3,
            },
            name: Some("install etcd".into()),
            action: action.into(),
            kind: TaskKind::Action(Action {
                module: action.into(),
                written: action.into(),
                args: match args {
                    serde_json::Value::Object(m) => m,
                    _ => Vars::new(),
                },
            }),
            common: Common::default(),
            role: None,
            r#loop: None,
            loop_control: None,
            register: register.map(str::to_string),
            notify: vec![],
            notify_location: None,
            listen: vec![],
            changed_when: vec![],
            failed_when: vec![],
            until: vec![],
            retries: None,
            delay: None,
        }
    }

    #[test]
    fn checkpoints_name_place_occurrence_and_content() {
        let t = task("apt", json!({"name": "etcd-server"}), None);
        let a = checkpoint(&t, 1);
        assert!(a.starts_with("roles/etcd/tasks/main.yml:12:3#1@"), "{a}");
        assert_eq!(location_of(&a), "roles/etcd/tasks/main.yml:12:3");
        assert_eq!(a, checkpoint(&t, 1), "stable");
        assert_ne!(a, checkpoint(&t, 2), "second occurrence");
        let edited = task("apt", json!({"name": "etcd-client"}), None);
        assert_ne!(a, checkpoint(&edited, 1), "edited arguments");
    }

    #[test]
    fn what_runs_again() {
        assert!(skippable(&task("apt", json!({}), None), false));
        assert!(
            !skippable(&task("apt", json!({}), Some("r")), false),
            "register"
        );
        assert!(!skippable(&task("apt", json!({}), None), true), "run_once");
        for m in ["set_fact", "setup", "include_vars", "wait_for", "assert"] {
            assert!(!skippable(&task(m, json!({}), None), false), "{m}");
        }
        // Written in full (as most roles do): the module is what counts.
        let mut fqcn = task("set_fact", json!({}), None);
        fqcn.action = "ansible.builtin.set_fact".into();
        assert!(!skippable(&fqcn, false), "ansible.builtin.set_fact");
    }

    #[test]
    fn latest_record_wins_and_handlers_after() {
        let mut r = Resume::default();
        r.finished("lab1", "t.yml:1:3#1@00", true, (3, 10));
        r.finished("lab1", "t.yml:1:3#1@00", false, (4, 5));
        assert_eq!(
            r.get("lab1", "t.yml:1:3#1@00"),
            Some(Finished {
                changed: true,
                order: (4, 5)
            })
        );
        assert_eq!(r.get("lab2", "t.yml:1:3#1@00"), None);
        r.finished("lab1", "h.yml:2:3#1@11", false, (3, 12));
        assert!(r.ran_after("lab1", "h.yml:2:3", (3, 10)));
        assert!(!r.ran_after("lab1", "h.yml:2:3", (3, 12)));
        assert!(!r.ran_after("lab2", "h.yml:2:3", (3, 1)));
        assert_eq!(r.len(), 2);
    }
}
