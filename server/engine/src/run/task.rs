//! One task on one host: `when`, `become`, arguments templated, the module run, then
//! `register`, `changed_when`, `failed_when`, `ignore_errors`, `no_log`, in Ansible's order.
//!
//! Owns turning all that into a [`HostResult`] plus what the host keeps (its registered value
//! and facts). Must not: decide which hosts run next (the play loop does) or print.

use std::time::Instant;

use serde_json::Value as Json;

use super::result;
use super::scope::Scope;
use super::template::{Context, Templar, ansible_bool};
use crate::event::{Event, EventSink, HostResult, Outcome};
use crate::modules::{self, Call, ModuleResult};
use crate::playbook::{Count, Flag, Task, TaskKind, Vars};
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
    /// The value `register:` stores (always computed: loops and rescue need it).
    pub registered: Json,
    pub facts: Vars,
    /// The host leaves the play (failed or unreachable, not ignored).
    pub drops_out: bool,
}

/// One task on one host, with everything it needs besides its variables (which differ per
/// loop item).
pub struct HostTask<'a> {
    pub templar: &'a Templar,
    pub task: &'a Task,
    pub scope: &'a Scope,
    pub host: &'a str,
    /// The connection modules use: the host's own, or the `delegate_to` host's.
    pub conn: &'a Connection,
    pub inventory_vars: &'a Vars,
    pub become_default: &'a BecomeDefault,
    /// Check mode for this task (`--check`, or the task's `check_mode`).
    pub check: bool,
    /// `--diff` (or the task's `diff`).
    pub diff: bool,
    /// Where a module finds a relative `src` (see [`Call::search`]).
    pub search: &'a [std::path::PathBuf],
    /// `environment:` in effect, templated and merged.
    pub environment: &'a [(String, String)],
    /// Where `until` retries are announced.
    pub sink: &'a dyn EventSink,
    /// `delegate_to`: the inventory host `conn` reaches, when not `host`.
    pub delegated_to: Option<&'a str>,
}

/// Ansible's defaults for `until` without `retries`/`delay`: without `retries` a task runs
/// at most 3 times in all; with `retries: N`, N + 1 times (task_executor.py).
const DEFAULT_RETRIES: u64 = 2;
const DEFAULT_DELAY: u64 = 5;

impl HostTask<'_> {
    fn flag(&self, f: &Option<Flag>, vars: &Context) -> Result<bool, String> {
        match f {
            None => Ok(false),
            Some(Flag::Value(b)) => Ok(*b),
            Some(Flag::Template(t)) => self.templar.condition(t, vars),
        }
    }

    fn at(&self) -> String {
        let l = &self.task.location;
        format!("the task at {}:{}", l.file, l.line)
    }

    /// The task's name as Ansible shows it (`role : name` for a role's task).
    pub fn shown_name(&self) -> String {
        shown_name(self.task)
    }

    /// Run the task once (or until its `until` holds) with `vars`; `item` is the loop item's
    /// label when this is one item of a loop.
    pub async fn run(&self, vars: &Context, item: Option<String>) -> Done {
        let start = Instant::now();
        // An undecidable no_log hides the output: showing a secret is the worse mistake.
        let no_log = self.flag(&self.scope.no_log, vars).unwrap_or(true);
        let finish =
            |outcome: Outcome, ignored: bool, mr: ModuleResult, registered: Option<Json>| {
                let drops_out =
                    matches!(outcome, Outcome::Failed | Outcome::Unreachable) && !ignored;
                let mut result = host_result(self, outcome, ignored, &mr, start, no_log);
                result.item = item.clone();
                Done {
                    result,
                    registered: registered.unwrap_or_else(|| result::registered(&mr)),
                    facts: if drops_out { Vars::new() } else { mr.facts },
                    drops_out,
                }
            };
        let fail = |msg: String| ModuleResult::failed(msg);

        let ignore_errors = match self.flag(&self.scope.ignore_errors, vars) {
            Ok(b) => b,
            Err(e) => return finish(Outcome::Failed, false, fail(e), None),
        };
        for cond in &self.scope.when {
            match self.templar.condition(cond, vars) {
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
        let become_user = match self.become_user(vars) {
            Ok(u) => u,
            Err(e) => return finish(Outcome::Failed, ignore_errors, fail(e), None),
        };
        let TaskKind::Action(action) = &self.task.kind else {
            // The walker only hands actions to a host.
            let msg = format!("{} cannot run on a host by itself", self.task.action);
            return finish(Outcome::Failed, false, fail(msg), None);
        };
        let mut args = Vars::new();
        let raw = modules::untemplated(&action.module);
        for (k, v) in &action.args {
            let v = if raw.contains(&k.as_str()) {
                Ok(v.clone())
            } else {
                self.templar.template(v, vars)
            };
            match v {
                Ok(v) => args.insert(k.clone(), v),
                Err(e) => {
                    let msg = format!("{e} (in the arguments of {})", self.at());
                    return finish(Outcome::Failed, ignore_errors, fail(msg), None);
                }
            };
        }
        let (retries, delay) = match self.retries(vars) {
            Ok(rd) => rd,
            Err(e) => return finish(Outcome::Failed, ignore_errors, fail(e), None),
        };
        let call = Call {
            args: &args,
            conn: self.conn,
            become_user: become_user.as_deref(),
            templar: self.templar,
            vars,
            host: self.host,
            check: self.check,
            diff: self.diff,
            search: self.search,
            environment: self.environment,
        };
        let mut attempt = 0u64;
        let mr = loop {
            attempt += 1;
            let mut mr = match modules::run(&action.module, &call).await {
                Ok(mr) => mr,
                Err(e) if e.is_unreachable() => {
                    let ignore = self
                        .flag(&self.scope.ignore_unreachable, vars)
                        .unwrap_or(false);
                    return finish(Outcome::Unreachable, ignore, fail(e.to_string()), None);
                }
                Err(e) => {
                    return finish(Outcome::Failed, ignore_errors, fail(e.to_string()), None);
                }
            };
            if let Err(e) = apply_conditions(self.templar, vars, self.task, &mut mr) {
                mr.failed = true;
                mr.msg = Some(e);
            }
            if self.task.until.is_empty() {
                break mr;
            }
            mr.extra.insert("attempts".into(), attempt.into());
            let holds = match until_holds(self.templar, vars, self.task, &mr) {
                Ok(h) => h,
                Err(e) => {
                    mr.failed = true;
                    mr.msg = Some(e);
                    break mr;
                }
            };
            if holds {
                break mr;
            }
            if attempt > retries {
                // Ansible fails the task when the condition never held.
                mr.failed = true;
                break mr;
            }
            self.sink.emit(Event::Retrying {
                host: self.host.to_string(),
                task: self.shown_name(),
                retries_left: retries + 1 - attempt,
            });
            tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
        };
        // A module's `warnings` (as Ansible's: e.g. apt repairing an interrupted dpkg) are
        // said on their own, like ansible-playbook's `[WARNING]:` lines (not under no_log).
        if !no_log && let Some(Json::Array(ws)) = mr.extra.get("warnings") {
            for w in ws.iter().filter_map(Json::as_str) {
                self.sink.emit(Event::Warning {
                    message: format!("{}: {w}", self.host),
                    location: Some(self.task.location.clone()),
                });
            }
        }
        if mr.extra.get("skipped") == Some(&Json::Bool(true)) {
            let mut registered = result::registered(&mr);
            registered["skipped"] = true.into();
            return finish(Outcome::Skipped, false, mr, Some(registered));
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

    /// A result for this task that ran no module (a loop's aggregate, a loop that could not
    /// start): `msg` says why.
    pub fn run_nothing(&self, vars: &Context, outcome: Outcome, msg: &str) -> Done {
        let no_log = self.flag(&self.scope.no_log, vars).unwrap_or(true);
        let failed = matches!(outcome, Outcome::Failed | Outcome::Unreachable);
        let mr = ModuleResult {
            failed,
            changed: matches!(outcome, Outcome::Ok { changed: true }),
            msg: Some(msg.to_string()),
            ..ModuleResult::default()
        };
        Done {
            result: host_result(self, outcome, false, &mr, Instant::now(), no_log),
            registered: result::registered(&mr),
            facts: Vars::new(),
            drops_out: failed,
        }
    }

    /// `retries` (how many times after the first) and `delay` (seconds) for `until`.
    fn retries(&self, vars: &Context) -> Result<(u64, u64), String> {
        let count = |c: &Option<Count>, default: u64, what: &str| -> Result<u64, String> {
            match c {
                None => Ok(default),
                Some(Count::Value(n)) => Ok(*n),
                Some(Count::Template(t)) => {
                    let v = self.templar.template(&Json::String(t.clone()), vars)?;
                    match &v {
                        Json::Number(n) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or(0)),
                        Json::String(s) if s.trim().parse::<u64>().is_ok() => {
                            Ok(s.trim().parse().unwrap_or(0))
                        }
                        _ => Err(format!(
                            "{what} must be a whole number, got {v} ({})",
                            self.at()
                        )),
                    }
                }
            }
        };
        Ok((
            count(&self.task.retries, DEFAULT_RETRIES, "retries")?,
            count(&self.task.delay, DEFAULT_DELAY, "delay")?,
        ))
    }

    /// Who to run as. Ansible ranks connection variables above keywords: an inventory's
    /// `ansible_become`/`ansible_become_user` wins over the play's and task's `become`, which
    /// win over `--become`.
    fn become_user(&self, vars: &Context) -> Result<Option<String>, String> {
        let var_flag = self.inventory_vars.get("ansible_become").map(|v| match v {
            Json::Bool(b) => *b,
            Json::String(s) => ansible_bool(&minijinja::Value::from(s.as_str())),
            Json::Number(n) => n.as_i64() == Some(1),
            _ => false,
        });
        let on = match (var_flag, &self.scope.r#become) {
            (Some(b), _) => b,
            (None, Some(_)) => self.flag(&self.scope.r#become, vars)?,
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

/// The name Ansible shows for a task: `role : name` for a role's task.
pub fn shown_name(task: &Task) -> String {
    match &task.role {
        Some(r) => format!("{r} : {}", task.display_name()),
        None => task.display_name().to_string(),
    }
}

/// Whether every `until` condition holds, with the result registered under the task's
/// `register` name, as Ansible evaluates it.
fn until_holds(
    templar: &Templar,
    vars: &Context,
    task: &Task,
    mr: &ModuleResult,
) -> Result<bool, String> {
    let mut json = vars.json.clone();
    if let Some(name) = &task.register {
        json.insert(name.clone(), result::registered(mr));
    }
    let ctx = vars.derive(json);
    for c in &task.until {
        let holds = templar.condition(c, &ctx).map_err(|e| {
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
        vars.derive(json)
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
        task: t.shown_name(),
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
        delegated_to: t.delegated_to.map(str::to_string),
        item: None,
        looped: false,
        checkpoint: None,
        resumed: None,
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
