//! One task on one host: `when`, `become`, arguments templated, the module run, then
//! `register`, `changed_when`, `failed_when`, `ignore_errors`, `no_log`, in Ansible's order.
//!
//! Owns turning all that into a [`HostResult`] plus what the host keeps (its registered value
//! and facts). Must not: decide which hosts run next (the play loop does) or print.

use std::time::Instant;

use serde_json::Value as Json;

use super::result;
use super::steps::Scope;
use super::template::{Context, Templar, ansible_bool};
use crate::event::{HostResult, Outcome};
use crate::modules::{self, Call, ModuleResult};
use crate::playbook::{Flag, Task, TaskKind, Vars};
use crate::ssh::Connection;

/// What the command line says about privilege escalation when the playbook does not.
#[derive(Clone, Debug, Default)]
pub struct BecomeDefault {
    /// `--become`.
    pub enabled: bool,
    /// `--become-user` (root unless given).
    pub user: String,
}

/// A task's end on one host: the result to report and what the host keeps.
pub struct Done {
    pub result: HostResult,
    pub register: Option<(String, Json)>,
    pub facts: Vars,
    /// The host leaves the play (failed or unreachable, not ignored).
    pub drops_out: bool,
}

pub struct HostTask<'a> {
    pub templar: &'a Templar,
    pub task: &'a Task,
    pub scope: &'a Scope,
    pub host: &'a str,
    pub conn: &'a Connection,
    pub vars: Context,
    pub inventory_vars: &'a Vars,
    pub become_default: &'a BecomeDefault,
    /// Check mode for this task (`--check`, or the task's `check_mode`).
    pub check: bool,
    /// `--diff` (or the task's `diff`).
    pub diff: bool,
    /// Where a module finds a relative `src` (see [`Call::search`]).
    pub search: &'a [std::path::PathBuf],
}

impl HostTask<'_> {
    fn flag(&self, f: &Option<Flag>) -> Result<bool, String> {
        match f {
            None => Ok(false),
            Some(Flag::Value(b)) => Ok(*b),
            Some(Flag::Template(t)) => self.templar.condition(t, &self.vars),
        }
    }

    fn at(&self) -> String {
        let l = &self.task.location;
        format!("the task at {}:{}", l.file, l.line)
    }

    pub async fn run(self) -> Done {
        let start = Instant::now();
        // An undecidable no_log hides the output: showing a secret is the worse mistake.
        let no_log = self.flag(&self.scope.no_log).unwrap_or(true);
        let finish = |outcome: Outcome, ignored: bool, mr: ModuleResult, register: Option<Json>| {
            let drops_out = matches!(outcome, Outcome::Failed | Outcome::Unreachable) && !ignored;
            let register = self
                .task
                .register
                .clone()
                .zip(register.or_else(|| Some(result::registered(&mr))));
            Done {
                result: host_result(&self, outcome, ignored, &mr, start, no_log),
                register,
                facts: if drops_out { Vars::new() } else { mr.facts },
                drops_out,
            }
        };
        let fail = |msg: String| ModuleResult::failed(msg);

        let ignore_errors = match self.flag(&self.scope.ignore_errors) {
            Ok(b) => b,
            Err(e) => return finish(Outcome::Failed, false, fail(e), None),
        };
        for cond in &self.scope.when {
            match self.templar.condition(cond, &self.vars) {
                Ok(true) => {}
                Ok(false) => {
                    let skipped = result::skipped(cond);
                    return finish(
                        Outcome::Skipped,
                        false,
                        ModuleResult::default(),
                        Some(skipped),
                    );
                }
                Err(e) => {
                    let msg = format!("the conditional check '{cond}' failed: {e} ({})", self.at());
                    return finish(Outcome::Failed, ignore_errors, fail(msg), None);
                }
            }
        }
        let become_user = match self.become_user() {
            Ok(u) => u,
            Err(e) => return finish(Outcome::Failed, ignore_errors, fail(e), None),
        };
        let TaskKind::Action(action) = &self.task.kind else {
            // steps.rs only hands actions to a host.
            let msg = format!("{} is not implemented yet", self.task.action);
            return finish(Outcome::Failed, false, fail(msg), None);
        };
        let mut args = Vars::new();
        let raw = modules::untemplated(&action.module);
        for (k, v) in &action.args {
            let v = if raw.contains(&k.as_str()) {
                Ok(v.clone())
            } else {
                self.templar.template(v, &self.vars)
            };
            match v {
                Ok(v) => args.insert(k.clone(), v),
                Err(e) => {
                    let msg = format!("{e} (in the arguments of {})", self.at());
                    return finish(Outcome::Failed, ignore_errors, fail(msg), None);
                }
            };
        }
        let call = Call {
            args: &args,
            conn: self.conn,
            become_user: become_user.as_deref(),
            templar: self.templar,
            vars: &self.vars,
            host: self.host,
            check: self.check,
            diff: self.diff,
            search: self.search,
            environment: &[],
        };
        let mut mr = match modules::run(&action.module, &call).await {
            Ok(mr) => mr,
            Err(e) if e.is_unreachable() => {
                let ignore = self.flag(&self.scope.ignore_unreachable).unwrap_or(false);
                return finish(Outcome::Unreachable, ignore, fail(e.to_string()), None);
            }
            Err(e) => {
                return finish(Outcome::Failed, ignore_errors, fail(e.to_string()), None);
            }
        };
        if let Err(e) = apply_conditions(self.templar, &self.vars, self.task, &mut mr) {
            mr.failed = true;
            mr.msg = Some(e);
        }
        let outcome = if mr.failed {
            Outcome::Failed
        } else {
            Outcome::Ok {
                changed: mr.changed,
            }
        };
        finish(outcome, mr.failed && ignore_errors, mr, None)
    }

    /// Who to run as. Ansible ranks connection variables above keywords: an inventory's
    /// `ansible_become`/`ansible_become_user` wins over the play's and task's `become`, which
    /// win over `--become`.
    fn become_user(&self) -> Result<Option<String>, String> {
        let var_flag = self.inventory_vars.get("ansible_become").map(|v| match v {
            Json::Bool(b) => *b,
            Json::String(s) => ansible_bool(&minijinja::Value::from(s.as_str())),
            Json::Number(n) => n.as_i64() == Some(1),
            _ => false,
        });
        let on = match (var_flag, &self.scope.r#become) {
            (Some(b), _) => b,
            (None, Some(_)) => self.flag(&self.scope.r#become)?,
            (None, None) => self.become_default.enabled,
        };
        if !on {
            return Ok(None);
        }
        let user = self
            .inventory_vars
            .get("ansible_become_user")
            .and_then(Json::as_str)
            .map(str::to_string)
            .or_else(|| self.scope.become_user.clone())
            .unwrap_or_else(|| self.become_default.user.clone());
        Ok(Some(user))
    }
}

/// `changed_when` then `failed_when` (each a list of conditions that must all hold), with the
/// registered result visible under its name: Ansible evaluates both after registering.
fn apply_conditions(
    templar: &Templar,
    vars: &Context,
    task: &Task,
    mr: &mut ModuleResult,
) -> Result<(), String> {
    if task.changed_when.is_empty() && task.failed_when.is_empty() {
        return Ok(());
    }
    let ctx = |mr: &ModuleResult| {
        let mut json = vars.json.clone();
        if let Some(name) = &task.register {
            json.insert(name.clone(), result::registered(mr));
        }
        Context::new(json)
    };
    let all = |conds: &[String], ctx: &Context| -> Result<bool, String> {
        for c in conds {
            let holds = templar.condition(c, ctx).map_err(|e| {
                let l = &task.location;
                format!(
                    "the conditional check '{c}' failed: {e} (the task at {}:{})",
                    l.file, l.line
                )
            })?;
            if !holds {
                return Ok(false);
            }
        }
        Ok(true)
    };
    if !task.changed_when.is_empty() {
        mr.changed = all(&task.changed_when, &ctx(mr))?;
    }
    if !task.failed_when.is_empty() {
        mr.failed = all(&task.failed_when, &ctx(mr))?;
        mr.extra
            .insert("failed_when_result".into(), mr.failed.into());
        if mr.failed && mr.msg.as_deref().is_none_or(str::is_empty) {
            mr.msg = Some("failed_when condition is true".into());
        }
    }
    Ok(())
}

const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

fn host_result(
    t: &HostTask<'_>,
    outcome: Outcome,
    ignored: bool,
    mr: &ModuleResult,
    start: Instant,
    no_log: bool,
) -> HostResult {
    let mut r = HostResult {
        host: t.host.to_string(),
        task: t.task.display_name().to_string(),
        outcome,
        ignored,
        rc: mr.rc,
        stdout: mr.stdout.clone(),
        stderr: mr.stderr.clone(),
        msg: mr.msg.clone(),
        data: mr.data.clone(),
        duration: start.elapsed(),
        censored: false,
        diff: mr.diff.clone(),
    };
    if no_log {
        r.diff = Vec::new();
        r.stdout = None;
        r.stderr = None;
        r.msg = Some(CENSORED.into());
        r.data = Vars::new();
        r.censored = true;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::{Action, Common, Location};
    use serde_json::json;

    fn task(changed_when: &[&str], failed_when: &[&str]) -> Task {
        Task {
            location: Location {
                file: "site.yml".into(),
                line: 7,
                column: 7,
            },
            name: None,
            action: "command".into(),
            kind: TaskKind::Action(Action {
                module: "command".into(),
                written: "command".into(),
                args: Vars::new(),
            }),
            common: Common::default(),
            role: None,
            r#loop: None,
            loop_control: None,
            register: Some("out".into()),
            notify: vec![],
            notify_location: None,
            listen: vec![],
            changed_when: changed_when.iter().map(|s| s.to_string()).collect(),
            failed_when: failed_when.iter().map(|s| s.to_string()).collect(),
            until: vec![],
            retries: None,
            delay: None,
        }
    }

    fn ran(rc: i64, stdout: &str) -> ModuleResult {
        ModuleResult {
            changed: true,
            failed: rc != 0,
            rc: Some(rc),
            stdout: Some(stdout.into()),
            stderr: Some(String::new()),
            msg: Some(if rc != 0 {
                "non-zero return code".into()
            } else {
                String::new()
            }),
            ..ModuleResult::default()
        }
    }

    fn apply(t: &Task, mut mr: ModuleResult) -> Result<ModuleResult, String> {
        let vars = Context::new(json!({"limit": 3}).as_object().cloned().unwrap_or_default());
        apply_conditions(&Templar::new(), &vars, t, &mut mr).map(|_| mr)
    }

    #[test]
    fn changed_when_and_failed_when_see_the_registered_result() {
        let r = apply(&task(&["false"], &[]), ran(0, "x")).unwrap();
        assert!(!r.changed && !r.failed);
        let r = apply(&task(&["out.stdout == 'new'"], &[]), ran(0, "new")).unwrap();
        assert!(r.changed);
        // failed_when replaces the rc rule entirely, in both directions.
        let r = apply(&task(&[], &["out.rc > 1"]), ran(1, "")).unwrap();
        assert!(!r.failed);
        let r = apply(&task(&[], &["'ERROR' in out.stdout"]), ran(0, "an ERROR")).unwrap();
        assert!(r.failed);
        assert_eq!(r.msg.as_deref(), Some("failed_when condition is true"));
        // A list is an `and`.
        let r = apply(&task(&[], &["out.rc == 0", "limit > 5"]), ran(0, "")).unwrap();
        assert!(!r.failed);
    }

    #[test]
    fn a_condition_error_names_variable_and_place() {
        assert_eq!(
            apply(&task(&["out.nope"], &[]), ran(0, "")).err(),
            Some(
                "the conditional check 'out.nope' failed: 'out' has no attribute 'nope' (the task at site.yml:7)"
                    .into()
            )
        );
    }
}
