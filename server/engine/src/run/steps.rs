//! The linear list of steps a play runs: blocks opened and static imports expanded, each task
//! with the keywords it inherits from its play and blocks.
//!
//! Owns inheritance (`when` conditions accumulate, the nearest `become`/`ignore_errors`/...
//! wins, `vars` merge) and the honest refusal of what is not executed yet: such a task
//! becomes a step that fails on every host with a message saying so.

use crate::playbook::{Common, Flag, Location, Play, Task, TaskKind, Vars};

/// Keywords a task inherits from the play and the blocks around it.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub when: Vec<String>,
    pub r#become: Option<Flag>,
    pub become_user: Option<String>,
    pub ignore_errors: Option<Flag>,
    pub ignore_unreachable: Option<Flag>,
    pub no_log: Option<Flag>,
    pub vars: Vars,
}

impl Scope {
    pub fn child(&self, c: &Common) -> Scope {
        let mut s = self.clone();
        s.when.extend(c.when.iter().cloned());
        let pick = |mine: &Option<Flag>, theirs: &Option<Flag>| mine.clone().or(theirs.clone());
        s.r#become = pick(&c.r#become, &self.r#become);
        s.become_user = c.become_user.clone().or(s.become_user);
        s.ignore_errors = pick(&c.ignore_errors, &self.ignore_errors);
        s.ignore_unreachable = pick(&c.ignore_unreachable, &self.ignore_unreachable);
        s.no_log = pick(&c.no_log, &self.no_log);
        for (k, v) in &c.vars {
            s.vars.insert(k.clone(), v.clone());
        }
        s
    }
}

pub enum Step<'a> {
    Run {
        task: &'a Task,
        scope: Scope,
    },
    /// Something this slice does not execute: it fails on every host with `message`.
    Unsupported {
        name: String,
        action: String,
        location: Location,
        message: String,
    },
}

/// The play's steps in run order: pre_tasks, roles, tasks, post_tasks.
pub fn of_play(play: &Play) -> Vec<Step<'_>> {
    let root = Scope::default().child(&play.common);
    let mut out = Vec::new();
    flatten(&play.pre_tasks, &root, &mut out);
    for role in &play.roles {
        out.push(Step::Unsupported {
            name: format!("role {}", role.name),
            action: "role".into(),
            location: role.location.clone(),
            message: format!("running roles (role {}) is not implemented yet", role.name),
        });
    }
    flatten(&play.tasks, &root, &mut out);
    flatten(&play.post_tasks, &root, &mut out);
    out
}

fn flatten<'a>(tasks: &'a [Task], scope: &Scope, out: &mut Vec<Step<'a>>) {
    for task in tasks {
        // Ansible skips tasks tagged `never` unless asked for by tag; `cairn play` has no
        // --tags yet, so they are never run.
        if task.common.tags.iter().any(|t| t == "never") {
            continue;
        }
        let scope = scope.child(&task.common);
        let unsupported = |message: String| Step::Unsupported {
            name: task.display_name().to_string(),
            action: task.action.clone(),
            location: task.location.clone(),
            message,
        };
        match &task.kind {
            TaskKind::Action(_) => match not_executed(task) {
                Some(what) => out.push(unsupported(format!("{what} is not implemented yet"))),
                None => out.push(Step::Run { task, scope }),
            },
            TaskKind::Block {
                block,
                rescue,
                always,
            } => {
                if rescue.is_empty() && always.is_empty() {
                    flatten(block, &scope, out);
                } else {
                    out.push(unsupported(
                        "a block with rescue or always is not implemented yet".into(),
                    ));
                }
            }
            TaskKind::ImportTasks { tasks, .. } => flatten(tasks, &scope, out),
            TaskKind::IncludeTasks { .. }
            | TaskKind::ImportRole(_)
            | TaskKind::IncludeRole { .. }
            | TaskKind::Meta(_) => out.push(unsupported(format!(
                "{} is not implemented yet",
                task.action
            ))),
        }
    }
}

/// A task keyword this slice cannot honour: running the task anyway would do something else
/// than the playbook says, so the task fails instead.
fn not_executed(task: &Task) -> Option<&'static str> {
    let c = &task.common;
    if task.r#loop.is_some() {
        Some("a loop (loop, with_*)")
    } else if !task.until.is_empty() {
        Some("until/retries")
    } else if c.delegate_to.is_some() {
        Some("delegate_to")
    } else if c.run_once.is_some() {
        Some("run_once")
    } else if c.environment.is_some() {
        Some("environment")
    } else if c.check_mode.is_some() {
        Some("check_mode")
    } else if c.remote_user.is_some() {
        Some("remote_user on a task")
    } else {
        None
    }
}
