//! Handlers at run time: which handlers a play has (in definition order), which hosts
//! notified each, and which to run at a flush.
//!
//! Owns Ansible's matching (a notification names a handler by `name`, by `role : name` for a
//! role's handler, or by a `listen` topic; every handler that answers is notified), the
//! per-handler set of notifying hosts (a host notifies a handler at most once until it runs),
//! and the order: definition order, whatever the order of notification. The play's own
//! handlers come first, then those of its roles in the order the roles were first used.
//! Must not: run anything (the walker runs what [`Handlers::take`] hands out).

use std::path::PathBuf;

use super::scope::Scope;
use crate::playbook::{Task, TaskKind};

pub struct Handler {
    pub task: Task,
    /// The scope it runs in (the play's, or its role's: role vars and defaults).
    pub scope: Scope,
    /// The role it belongs to, for `role : name`.
    role: Option<String>,
    /// Hosts that notified it since it last ran, in notification order.
    notified: Vec<String>,
}

#[derive(Default)]
pub struct Handlers {
    list: Vec<Handler>,
    /// Roles whose handlers are already in the list (a role used twice adds them once).
    roles: Vec<PathBuf>,
}

impl Handlers {
    /// Add handlers (blocks opened) with the scope they run in. `role` is the role's name and
    /// directory for a role's handlers; they are added once per role.
    pub fn add(&mut self, tasks: &[Task], scope: &Scope, role: Option<(&str, &PathBuf)>) {
        if let Some((_, path)) = role {
            if self.roles.contains(path) {
                return;
            }
            self.roles.push(path.clone());
        }
        let mut flat = Vec::new();
        flatten(tasks, scope, &mut flat);
        for (task, scope) in flat {
            self.list.push(Handler {
                task,
                scope,
                role: role.map(|(n, _)| n.to_string()),
                notified: Vec::new(),
            });
        }
    }

    /// `host` notifies `name`. False when no handler answers to it.
    pub fn notify(&mut self, name: &str, host: &str) -> bool {
        let mut found = false;
        for h in &mut self.list {
            if h.answers(name) {
                found = true;
                if !h.notified.iter().any(|x| x == host) {
                    h.notified.push(host.to_string());
                }
            }
        }
        found
    }

    /// The handlers that answer `name`, as `FILE:LINE:COLUMN` (for resume).
    pub fn answering(&self, name: &str) -> Vec<String> {
        self.list
            .iter()
            .filter(|h| h.answers(name))
            .map(|h| super::resume::location(&h.task))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Handler `i` (definition order) with the hosts that notified it, which are forgotten:
    /// it runs once for them. None past the end.
    pub fn take(&mut self, i: usize) -> Option<(Task, Scope, Vec<String>)> {
        let h = self.list.get_mut(i)?;
        let hosts = std::mem::take(&mut h.notified);
        Some((h.task.clone(), h.scope.clone(), hosts))
    }
}

impl Handler {
    /// A notification names it by `name`, by `role : name`, or by a `listen` topic.
    fn answers(&self, name: &str) -> bool {
        let by_name = self.task.name.as_deref() == Some(name)
            || self
                .role
                .as_ref()
                .zip(self.task.name.as_ref())
                .is_some_and(|(r, n)| format!("{r} : {n}") == name);
        by_name || self.task.listen.iter().any(|l| l == name)
    }
}

/// Handlers written as blocks run as their tasks (their keywords inherited).
fn flatten(tasks: &[Task], scope: &Scope, out: &mut Vec<(Task, Scope)>) {
    for t in tasks {
        match &t.kind {
            TaskKind::Block { block, .. } => flatten(block, &scope.child(&t.common), out),
            _ => out.push((t.clone(), scope.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::{Action, Common, Location, Vars};

    fn handler(name: &str, listen: &[&str]) -> Task {
        Task {
            location: Location {
                file: "site.yml".into(),
                line: 1,
                column: 1,
            },
            name: Some(name.into()),
            action: "debug".into(),
            kind: TaskKind::Action(Action {
                module: "debug".into(),
                written: "debug".into(),
                args: Vars::new(),
            }),
            common: Common::default(),
            role: None,
            r#loop: None,
            loop_control: None,
            register: None,
            notify: vec![],
            notify_location: None,
            listen: listen.iter().map(|s| s.to_string()).collect(),
            changed_when: vec![],
            failed_when: vec![],
            until: vec![],
            retries: None,
            delay: None,
        }
    }

    #[test]
    fn definition_order_once_per_host_listen_and_role_names() {
        let mut h = Handlers::default();
        let s = Scope::default();
        h.add(&[handler("a", &[]), handler("b", &["topic"])], &s, None);
        let role = PathBuf::from("/roles/web");
        h.add(&[handler("c", &["topic"])], &s, Some(("web", &role)));
        h.add(&[handler("c", &[])], &s, Some(("web", &role)));
        assert_eq!(h.len(), 3);
        assert!(h.notify("topic", "lab2"));
        assert!(h.notify("a", "lab1"));
        assert!(h.notify("a", "lab1"));
        assert!(h.notify("web : c", "lab3"));
        assert!(!h.notify("nope", "lab1"));
        let order: Vec<(String, Vec<String>)> = (0..h.len())
            .filter_map(|i| h.take(i))
            .map(|(t, _, hosts)| (t.name.unwrap_or_default(), hosts))
            .collect();
        assert_eq!(
            order,
            vec![
                ("a".into(), vec!["lab1".to_string()]),
                ("b".into(), vec!["lab2".to_string()]),
                ("c".into(), vec!["lab2".to_string(), "lab3".to_string()]),
            ]
        );
        assert!(h.take(0).is_some_and(|(_, _, hosts)| hosts.is_empty()));
    }
}
