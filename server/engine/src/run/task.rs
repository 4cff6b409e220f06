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
        if let Err(e) = self.apply_conditions(&mut mr) {
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

    /// `changed_when` then `failed_when`, with the registered result visible under its name
    /// (Ansible evaluates both after registering).
    fn apply_conditions(&self, mr: &mut ModuleResult) -> Result<(), String> {
        if self.task.changed_when.is_empty() && self.task.failed_when.is_empty() {
            return Ok(());
        }
        let ctx = |mr: &ModuleResult| match &self.task.register {
            Some(name) => {
                let mut json = self.vars.json.clone();
                json.insert(name.clone(), result::registered(mr));
                Context::new(json)
            }
            None => Context::new(self.vars.json.clone()),
        };
        let all = |conds: &[String], ctx: &Context| -> Result<bool, String> {
            for c in conds {
                let holds = self.templar.condition(c, ctx).map_err(|e| {
                    format!("the conditional check '{c}' failed: {e} ({})", self.at())
                })?;
                if !holds {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        if !self.task.changed_when.is_empty() {
            mr.changed = all(&self.task.changed_when, &ctx(mr))?;
        }
        if !self.task.failed_when.is_empty() {
            mr.failed = all(&self.task.failed_when, &ctx(mr))?;
            mr.extra
                .insert("failed_when_result".into(), mr.failed.into());
            if mr.failed && mr.msg.as_deref().is_none_or(str::is_empty) {
                mr.msg = Some("failed_when condition is true".into());
            }
        }
        Ok(())
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
    };
    if no_log {
        r.stdout = None;
        r.stderr = None;
        r.msg = Some(CENSORED.into());
        r.data = Vars::new();
        r.censored = true;
    }
    r
}
