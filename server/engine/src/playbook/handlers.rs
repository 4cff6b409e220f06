//! Checking that every `notify` names a handler the play can run.
//!
//! Owns the set of names a play's handlers answer to (their `name`, `role : name` for role
//! handlers, and their `listen` topics; Ansible looks a notification up in all of them) and the
//! error for a notification nobody listens to, which Ansible only reports at run time. Must not:
//! decide when handlers run (the executor will).

use std::collections::BTreeSet;

use super::fields;
use super::model::{Play, RoleRef, Task, TaskKind};
use crate::diagnostic::Diagnostic;
use crate::suggest;
use crate::yaml::Span;

/// Errors for notifications in `play` that no handler answers. Skipped when the play includes
/// roles or handler files at run time: their handlers are not known yet.
pub fn check(play: &Play) -> Vec<Diagnostic> {
    let mut names = BTreeSet::new();
    let mut dynamic = false;
    collect_handlers(&play.handlers, None, &mut names, &mut dynamic);
    let mut tasks: Vec<&Task> = Vec::new();
    for list in [
        &play.pre_tasks,
        &play.tasks,
        &play.post_tasks,
        &play.handlers,
    ] {
        flatten(list, &mut tasks);
    }
    for r in &play.roles {
        role(r, &mut names, &mut tasks, &mut dynamic);
    }
    // Roles imported by tasks bring their handlers too.
    let imported: Vec<&RoleRef> = tasks
        .iter()
        .copied()
        .filter_map(|t| match &t.kind {
            TaskKind::ImportRole(r) => Some(&**r),
            _ => None,
        })
        .collect();
    for r in imported {
        role(r, &mut names, &mut tasks, &mut dynamic);
    }
    dynamic |= tasks
        .iter()
        .any(|t| matches!(t.kind, TaskKind::IncludeRole { .. }));
    if dynamic {
        return Vec::new();
    }
    let mut errors = Vec::new();
    for t in tasks {
        for n in &t.notify {
            if names.contains(n) || fields::templated(n) {
                continue;
            }
            let at = t.notify_location.as_ref().unwrap_or(&t.location);
            let help = match suggest::closest(n, names.iter().map(String::as_str)) {
                Some(s) => format!("did you mean {s:?}?"),
                None => "add a handler with this `name:` (or `listen:`) under `handlers:`".into(),
            };
            errors.push(
                Diagnostic::error(
                    &at.file,
                    Some(Span::new(at.line, at.column, 0)),
                    format!("no handler named {n:?}"),
                )
                .label("notified here")
                .help(help),
            );
        }
    }
    errors
}

fn role<'a>(
    r: &'a RoleRef,
    names: &mut BTreeSet<String>,
    tasks: &mut Vec<&'a Task>,
    dynamic: &mut bool,
) {
    for dep in &r.role.dependencies {
        role(dep, names, tasks, dynamic);
    }
    collect_handlers(&r.role.handlers, Some(&r.role.name), names, dynamic);
    flatten(&r.role.tasks, tasks);
    flatten(&r.role.handlers, tasks);
}

fn collect_handlers(
    handlers: &[Task],
    role: Option<&str>,
    names: &mut BTreeSet<String>,
    dynamic: &mut bool,
) {
    let mut flat = Vec::new();
    flatten(handlers, &mut flat);
    for h in flat {
        if matches!(h.kind, TaskKind::IncludeTasks { .. }) {
            *dynamic = true;
        }
        if let Some(name) = &h.name {
            names.insert(name.clone());
            if let Some(role) = role {
                names.insert(format!("{role} : {name}"));
            }
        }
        names.extend(h.listen.iter().cloned());
    }
}

/// Tasks with blocks and static imports opened up (role imports stay: `check` follows them).
fn flatten<'a>(tasks: &'a [Task], out: &mut Vec<&'a Task>) {
    for t in tasks {
        match &t.kind {
            TaskKind::Block {
                block,
                rescue,
                always,
            } => {
                out.push(t);
                flatten(block, out);
                flatten(rescue, out);
                flatten(always, out);
            }
            TaskKind::ImportTasks { tasks, .. } => {
                out.push(t);
                flatten(tasks, out);
            }
            _ => out.push(t),
        }
    }
}
