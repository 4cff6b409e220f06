//! Walking a play's task tree, per Ansible's linear strategy: each task runs on every host
//! still in, and the next starts when all are done.
//!
//! Owns the per-host state machine of blocks (a host that fails in `block:` runs `rescue:`,
//! counted as rescued; `always:` runs for every host that entered the block, failed or not;
//! a failure not rescued takes the host out of the play), dynamic includes (`include_tasks`,
//! `include_role`: read per host at run time, hosts grouped by what they include), roles
//! (`roles:` with dependencies first and each role once per play unless `allow_duplicates`,
//! `import_role`), `meta` actions, handlers at flush points, `run_once`, `delegate_to`,
//! `environment`, task-level `check_mode`/`diff`, `--tags`/`--skip-tags`,
//! `--start-at-task`, `any_errors_fatal` and `max_fail_percentage`. Must not: print, or hold
//! anything across an await that other hosts need (each host's run borrows shared state
//! read-only; results are applied after all hosts of a task finish, events are sent as each
//! host finishes).

use std::collections::HashMap;

use futures::future::{FutureExt, LocalBoxFuture};
use serde_json::{Value as Json, json};

use super::resume::{self, Finished, Resume};
use super::scope::Scope;
use super::task::{Done, HostTask, shown_name};
use super::template::{Context, Shared};
use super::vars::Layers;
use super::{Run, serial, src_search, unsupported_result};
use crate::event::{Event, HostResult, Outcome};
use crate::playbook::dynamic::{self, Origin};
use crate::playbook::{Common, Flag, RoleRef, Task, TaskKind, Vars};
use crate::ssh::fanout;

/// One item of a looped include: its index and value (None: the include has no loop).
type LoopItem = Option<(usize, Json)>;

/// Whether a task runs as a task or as a handler (`RUNNING HANDLER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Task,
    Handler,
}

impl Run<'_> {
    /// Run `tasks` in order on the hosts of `hosts` still active at each step.
    pub(super) fn walk<'s>(
        &'s mut self,
        tasks: &'s [Task],
        scope: &'s Scope,
        hosts: &'s [String],
    ) -> LocalBoxFuture<'s, ()> {
        async move {
            for t in tasks {
                if self.active(hosts).is_empty() {
                    break;
                }
                self.step(t, scope, hosts).await;
            }
        }
        .boxed_local()
    }

    async fn step(&mut self, task: &Task, scope: &Scope, hosts: &[String]) {
        match &task.kind {
            TaskKind::Action(_) => {
                let s = scope.child(&task.common);
                if !self.selected(task, &s) {
                    return;
                }
                let live = self.active(hosts);
                self.action(task, &s, &live, Kind::Task).await;
            }
            TaskKind::Block {
                block,
                rescue,
                always,
            } => {
                let s = scope.child(&task.common);
                self.block(&s, hosts, block, rescue, always).await;
            }
            TaskKind::ImportTasks { tasks, .. } => {
                let s = scope.child(&task.common);
                self.walk(tasks, &s, hosts).await;
            }
            TaskKind::ImportRole(r) => {
                let s = scope.child(&task.common);
                self.add_role_handlers(r, &s);
                self.play_role(r, &s, hosts, false).await;
            }
            TaskKind::IncludeTasks { file, args } => {
                self.include(task, scope, hosts, Include::Tasks(file), args)
                    .await;
            }
            TaskKind::IncludeRole { name, args } => {
                self.include(task, scope, hosts, Include::Role(name), args)
                    .await;
            }
            TaskKind::Meta(what) => self.meta(task, what, scope, hosts).await,
        }
    }

    /// `--tags`/`--skip-tags` and `--start-at-task` for a task with scope `s`.
    fn selected(&mut self, task: &Task, s: &Scope) -> bool {
        if !self.options.tags.selects(&s.tags) {
            return false;
        }
        if let Some(start) = &self.start_at {
            if *start != shown_name(task) && start != task.display_name() {
                return false;
            }
            self.start_at = None;
        }
        true
    }

    /// A block: `block:` on the active hosts; `rescue:` for those that failed in it (they are
    /// back in); `always:` for all that entered, failed or not (a failure not rescued stands
    /// after it).
    async fn block(
        &mut self,
        s: &Scope,
        hosts: &[String],
        block: &[Task],
        rescue: &[Task],
        always: &[Task],
    ) {
        let entered = self.active(hosts);
        if entered.is_empty() {
            return;
        }
        let mut in_block = s.clone();
        in_block.rescuable |= !rescue.is_empty();
        self.walk(block, &in_block, &entered).await;
        let failed_in = |run: &Self| -> Vec<String> {
            entered
                .iter()
                .filter(|h| run.batch.failed.contains(*h))
                .cloned()
                .collect()
        };
        let to_rescue = failed_in(self);
        if !rescue.is_empty() && !to_rescue.is_empty() && !self.batch.halted {
            for h in &to_rescue {
                self.batch.failed.remove(h);
            }
            self.walk(rescue, s, &to_rescue).await;
        }
        if !always.is_empty() && !self.batch.halted {
            let failed = failed_in(self);
            for h in &failed {
                self.batch.failed.remove(h);
            }
            self.walk(always, s, &entered).await;
            self.batch.failed.extend(failed);
        }
    }

    /// A role's dependencies (each once per play unless it allows duplicates), then its
    /// tasks with its variables. `dedupe`: `roles:` and dependencies run a role with the same
    /// parameters once per play; `import_role`/`include_role` always run it.
    pub(super) fn play_role<'s>(
        &'s mut self,
        r: &'s RoleRef,
        scope: &'s Scope,
        hosts: &'s [String],
        dedupe: bool,
    ) -> LocalBoxFuture<'s, ()> {
        async move {
            let key = format!(
                "{}\u{0}{}",
                r.role.path.display(),
                Json::Object(r.params.clone())
            );
            if dedupe && !r.role.allow_duplicates && !self.batch.roles_ran.insert(key) {
                return;
            }
            let outer = scope.child(&r.common);
            for dep in &r.role.dependencies {
                self.play_role(dep, &outer, hosts, true).await;
            }
            let rs = scope.role(&r.role, &r.common, &r.params);
            self.walk(&r.role.tasks, &rs, hosts).await;
        }
        .boxed_local()
    }

    /// Register the handlers of `r` and of its dependencies (once per role).
    pub(super) fn add_role_handlers(&mut self, r: &RoleRef, scope: &Scope) {
        let outer = scope.child(&r.common);
        for dep in &r.role.dependencies {
            self.add_role_handlers(dep, &outer);
        }
        let rs = scope.role(&r.role, &r.common, &r.params);
        self.batch
            .handlers
            .add(&r.role.handlers, &rs, Some((&r.role.name, &r.role.path)));
    }

    /// Run the notified handlers, in definition order, each once for the hosts of `hosts`
    /// that notified it (and are still in, or failed with `--force-handlers`).
    pub(super) fn flush_handlers<'s>(&'s mut self, hosts: &'s [String]) -> LocalBoxFuture<'s, ()> {
        async move { self.flush_handlers_now(hosts).await }.boxed_local()
    }

    async fn flush_handlers_now(&mut self, hosts: &[String]) {
        let mut i = 0;
        while i < self.batch.handlers.len() {
            let Some((task, hscope, notified)) = self.batch.handlers.take(i) else {
                break;
            };
            i += 1;
            let run_on: Vec<String> = if self.options.force_handlers && !self.batch.halted {
                notified
                    .into_iter()
                    .filter(|h| {
                        hosts.contains(h)
                            && !self.batch.down.contains(h)
                            && !self.batch.ended.contains(h)
                    })
                    .collect()
            } else {
                let active = self.active(hosts);
                notified
                    .into_iter()
                    .filter(|h| active.contains(h))
                    .collect()
            };
            if run_on.is_empty() {
                continue;
            }
            if matches!(task.kind, TaskKind::Action(_)) {
                let s = hscope.child(&task.common);
                // A host that failed is back in for its handlers (--force-handlers).
                let was_failed: Vec<String> = run_on
                    .iter()
                    .filter(|h| self.batch.failed.remove(*h))
                    .cloned()
                    .collect();
                self.action(&task, &s, &run_on, Kind::Handler).await;
                self.batch.failed.extend(was_failed);
            } else {
                self.step(&task, &hscope, &run_on).await;
            }
        }
    }

    /// The variables every host sees alike, as they are now: built once per task (and again
    /// only when a host leaves the play in between), never once per host.
    fn shared(&self) -> Shared {
        let play_hosts = self.active(&self.batch.play_hosts);
        let batch = self.active(&self.batch.hosts);
        self.base.shared(&self.facts, &play_hosts, &batch)
    }

    /// The variables `host` sees under scope `s`, beside the `shared` ones.
    fn context(&self, host: &str, s: &Scope, shared: &Shared, check: bool) -> Context {
        self.base.context(
            &self.templar,
            host,
            &Layers {
                defaults: &s.defaults,
                vars: &s.vars,
                facts: self.facts.get(host),
                shared,
                check_mode: check,
            },
        )
    }

    /// A keyword flag for one host's variables.
    fn flag(&self, f: &Option<Flag>, ctx: &Context) -> Result<Option<bool>, String> {
        match f {
            None => Ok(None),
            Some(Flag::Value(b)) => Ok(Some(*b)),
            Some(Flag::Template(t)) => self.templar.condition(t, ctx).map(Some),
        }
    }

    /// The hosts of `hosts` for which every `when` of `s` holds; the others get a skipped
    /// (or, when a condition cannot be evaluated, failed) result for `task`.
    fn when_hosts(&mut self, task: &Task, s: &Scope, hosts: &[String]) -> Vec<String> {
        let mut shared = self.shared();
        let mut keep = Vec::new();
        let name = shown_name(task);
        for h in hosts {
            let ctx = self.context(h, s, &shared, self.options.check);
            let mut verdict = Ok(true);
            for cond in &s.when {
                match self.templar.condition(cond, &ctx) {
                    Ok(true) => {}
                    Ok(false) => {
                        verdict = Ok(false);
                        break;
                    }
                    Err(e) => {
                        let l = &task.location;
                        verdict = Err(format!(
                            "the conditional check '{cond}' failed: {e} (the task at {}:{})",
                            l.file, l.line
                        ));
                        break;
                    }
                }
            }
            match verdict {
                Ok(true) => keep.push(h.clone()),
                Ok(false) => {
                    let mut r = unsupported_result(h, &name, "");
                    r.outcome = Outcome::Skipped;
                    r.msg = None;
                    self.sink.emit(Event::HostResult(r));
                    self.stats
                        .entry(h.clone())
                        .or_default()
                        .count(Outcome::Skipped, false);
                }
                Err(msg) => {
                    self.fail_host(h, &name, &msg, s);
                    // the hosts after it see the play without it
                    shared = self.shared();
                }
            }
        }
        keep
    }

    /// `host` fails `task` without running a module (an include that cannot be read).
    fn fail_host(&mut self, host: &str, task: &str, msg: &str, s: &Scope) {
        let r = unsupported_result(host, task, msg);
        self.sink.emit(Event::HostResult(r.clone()));
        let registered = json!({"failed": true, "changed": false, "msg": msg});
        self.failed(host, &r, registered, s, task);
    }

    /// Count a failure of `host` and take it out of the play (rescued instead when inside a
    /// block with `rescue:`; `ansible_failed_task`/`ansible_failed_result` are set then).
    fn failed(&mut self, host: &str, r: &HostResult, registered: Json, s: &Scope, task: &str) {
        let stats = self.stats.entry(host.to_string()).or_default();
        if r.outcome == Outcome::Unreachable {
            stats.count(Outcome::Unreachable, false);
            self.batch.down.insert(host.to_string());
            return;
        }
        if s.rescuable {
            stats.rescued += 1;
            let facts = self.facts.entry(host.to_string()).or_default();
            facts.insert("ansible_failed_task".into(), json!({"name": task}));
            facts.insert("ansible_failed_result".into(), registered);
        } else {
            stats.count(Outcome::Failed, false);
        }
        self.batch.failed.insert(host.to_string());
    }

    /// Run an action task on `live` hosts (fewer with `run_once`), apply the results: counts,
    /// facts and registered values, notifications, failures. Returns the hosts where it
    /// ended ok.
    pub(super) async fn action(
        &mut self,
        task: &Task,
        s: &Scope,
        live: &[String],
        kind: Kind,
    ) -> Vec<String> {
        let name = shown_name(task);
        let started = match kind {
            Kind::Task => Event::TaskStarted {
                name: name.clone(),
                action: task.action.clone(),
                location: task.location.clone(),
            },
            Kind::Handler => Event::HandlerStarted {
                name: name.clone(),
                action: task.action.clone(),
                location: task.location.clone(),
            },
        };
        self.sink.emit(started);
        let live = self.report_unreachable(live, &name);
        let Some(first) = live.first().cloned() else {
            return Vec::new();
        };
        let shared = self.shared();
        let first_ctx = self.context(&first, s, &shared, self.options.check);
        let run_once = match self.flag(&s.run_once, &first_ctx) {
            Ok(b) => b.unwrap_or(false),
            Err(e) => {
                self.sink.emit(Event::Warning {
                    message: format!("run_once: {e}; running on every host"),
                    location: Some(task.location.clone()),
                });
                false
            }
        };
        let runners: Vec<String> = if run_once {
            vec![first.clone()]
        } else {
            live.clone()
        };
        // Each host's checkpoint for this task (the how-many-th time it gets here).
        let at = resume::location(task);
        let mut checkpoints: HashMap<String, String> = HashMap::new();
        for h in &live {
            let n = self.reached.entry((h.clone(), at.clone())).or_insert(0);
            *n += 1;
            checkpoints.insert(h.clone(), resume::checkpoint(task, *n));
        }
        // --resume: hosts where this very task finished in the run being resumed.
        let mut resumed = Vec::new();
        let runners = match self.options.resume {
            Some(r) if kind == Kind::Task && resume::skippable(task, run_once) => {
                let mut keep = Vec::new();
                for h in runners {
                    let cp = checkpoints.get(&h).cloned().unwrap_or_default();
                    match r.get(&h, &cp) {
                        Some(f) => {
                            self.resumed(task, &h, cp, f, r);
                            resumed.push(h);
                        }
                        None => keep.push(h),
                    }
                }
                keep
            }
            _ => runners,
        };
        if runners.is_empty() {
            return resumed;
        }
        // Which connection each runner uses (delegate_to, remote_user), opened if new.
        let mut routes: HashMap<String, Result<String, String>> = HashMap::new();
        if s.delegate_to.is_some() || s.remote_user.is_some() {
            for h in &runners {
                let ctx = self.context(h, s, &shared, self.options.check);
                routes.insert(h.clone(), self.route(task, s, h, &ctx));
            }
            let keys: Vec<String> = routes.values().flatten().cloned().collect();
            self.connect(&keys).await;
        }
        let done = self
            .run_on(task, s, &runners, &routes, &shared, &checkpoints)
            .await;
        let mut ok = resumed;
        let mut fatal = false;
        for (host, mut d) in done {
            // Run again on resume (it registers, or sets facts): if it changed the host in the
            // run being resumed, it still did, for what reads its result (`when: r.changed`)
            // and for its handlers.
            let prior = self.options.resume.and_then(|r| {
                let cp = checkpoints.get(&host)?;
                Some((r, r.get(&host, cp)?))
            });
            if let Some((r, f)) = prior
                && f.changed
                && d.result.outcome == (Outcome::Ok { changed: false })
            {
                if let Some(o) = d.registered.as_object_mut() {
                    o.insert("changed".into(), Json::Bool(true));
                }
                self.renotify(task, &host, f, r);
            }
            let targets: Vec<String> = if run_once {
                live.clone()
            } else {
                vec![host.clone()]
            };
            if !d.drops_out {
                self.stats
                    .entry(host.clone())
                    .or_default()
                    .count(d.result.outcome, d.result.ignored);
            }
            for t in &targets {
                let kept = self.facts.entry(t.clone()).or_default();
                kept.extend(d.facts.clone());
                if let Some(reg) = &task.register {
                    kept.insert(reg.clone(), d.registered.clone());
                }
            }
            if d.drops_out {
                fatal |= !s.rescuable;
                for t in &targets {
                    if *t == host {
                        self.failed(t, &d.result, d.registered.clone(), s, &name);
                    } else {
                        // run_once: every host fails with it, counted once (as Ansible).
                        self.batch.failed.insert(t.clone());
                    }
                }
                continue;
            }
            if matches!(d.result.outcome, Outcome::Ok { .. }) {
                ok.extend(targets.iter().cloned());
            }
            if matches!(d.result.outcome, Outcome::Ok { changed: true }) {
                self.notify(task, &targets);
            }
        }
        if fatal {
            self.after_failure(task, s, &first_ctx);
        }
        ok
    }

    /// `any_errors_fatal` and `max_fail_percentage` after a task where a host failed.
    fn after_failure(&mut self, task: &Task, s: &Scope, ctx: &Context) {
        let fatal = matches!(self.flag(&s.any_errors_fatal, ctx), Ok(Some(true)));
        let failed = self
            .batch
            .hosts
            .iter()
            .filter(|h| self.batch.failed.contains(*h) || self.batch.down.contains(*h))
            .count();
        let too_many = self
            .batch
            .max_fail_percentage
            .is_some_and(|max| serial::too_many_failed(failed, self.batch.hosts.len(), max));
        let reason = if fatal {
            format!("any_errors_fatal: a host failed {:?}", shown_name(task))
        } else if too_many {
            format!(
                "max_fail_percentage {} exceeded: {failed} of {} hosts failed",
                self.batch.max_fail_percentage.unwrap_or(0.0),
                self.batch.hosts.len()
            )
        } else {
            return;
        };
        self.sink.emit(Event::NoMoreHosts { reason });
        self.batch.halted = true;
        self.stopped = true;
    }

    /// `task` is left out on `host`: it finished there in the run being resumed. Its handlers
    /// are notified again if it changed something and a handler it names did not run after it.
    fn resumed(&mut self, task: &Task, host: &str, checkpoint: String, f: Finished, r: &Resume) {
        let mut res = unsupported_result(host, &shown_name(task), "");
        res.outcome = Outcome::Skipped;
        let from = format!("run {}", f.order.0);
        res.msg = Some(format!("done in {from}"));
        res.checkpoint = Some(checkpoint);
        res.resumed = Some(from);
        self.sink.emit(Event::HostResult(res));
        self.stats
            .entry(host.to_string())
            .or_default()
            .count(Outcome::Skipped, false);
        self.renotify(task, host, f, r);
    }

    /// A task that changed `host` in the run being resumed notifies its handlers again, unless
    /// each of them ran on that host after it.
    fn renotify(&mut self, task: &Task, host: &str, f: Finished, r: &Resume) {
        if !f.changed {
            return;
        }
        for n in &task.notify {
            let pending = self
                .batch
                .handlers
                .answering(n)
                .iter()
                .any(|at| !r.ran_after(host, at, f.order));
            if pending {
                self.batch.handlers.notify(n, host);
            }
        }
    }

    /// Record the notifications of `task` for `hosts` (its result changed).
    fn notify(&mut self, task: &Task, hosts: &[String]) {
        for n in &task.notify {
            let mut found = false;
            for h in hosts {
                found |= self.batch.handlers.notify(n, h);
            }
            if !found {
                self.sink.emit(Event::Warning {
                    message: format!(
                        "no handler named {n:?} (notified by {:?}): nothing runs for it",
                        shown_name(task)
                    ),
                    location: task.notify_location.clone().or(Some(task.location.clone())),
                });
            }
        }
    }

    /// Each runner's end of `task`, reported as each host finishes.
    async fn run_on(
        &self,
        task: &Task,
        s: &Scope,
        runners: &[String],
        routes: &HashMap<String, Result<String, String>>,
        shared: &Shared,
        checkpoints: &HashMap<String, String>,
    ) -> Vec<(String, Done)> {
        let search = src_search(task, s, &self.base.playbook_dir);
        let search = &search;
        let empty = Vars::new();
        let empty = &empty;
        fanout::bounded(runners.to_vec(), self.options.forks, |host| async move {
            let mut done = self
                .run_one(task, s, &host, routes, shared, search, empty)
                .await;
            done.result.checkpoint = checkpoints.get(&host).cloned();
            // Reported as each host finishes, not when the whole task is done.
            self.sink.emit(Event::HostResult(done.result.clone()));
            (host, done)
        })
        .await
    }

    /// One runner's end of `task` (not reported yet).
    #[allow(clippy::too_many_arguments)]
    async fn run_one(
        &self,
        task: &Task,
        s: &Scope,
        host: &str,
        routes: &HashMap<String, Result<String, String>>,
        shared: &Shared,
        search: &[std::path::PathBuf],
        empty: &Vars,
    ) -> Done {
        let name = shown_name(task);
        let mut ctx = self.context(host, s, shared, self.options.check);
        let check = match self.flag(&s.check_mode, &ctx) {
            Ok(c) => c.unwrap_or(self.options.check),
            Err(e) => return self.refused(host, &name, e),
        };
        let diff = match self.flag(&s.diff, &ctx) {
            Ok(d) => d.unwrap_or(self.options.diff),
            Err(e) => return self.refused(host, &name, e),
        };
        if check != self.options.check {
            let mut json = ctx.json.clone();
            json.insert("ansible_check_mode".into(), check.into());
            ctx = ctx.derive(json);
        }
        let environment = match self.environment(s, &ctx, task) {
            Ok(e) => e,
            Err(e) => return self.refused(host, &name, e),
        };
        let conn_host = match routes.get(host) {
            None => host.to_string(),
            Some(Ok(d)) => d.clone(),
            Some(Err(e)) => return self.refused(host, &name, e.clone()),
        };
        let Some(conn) = self.conns.get(&conn_host) else {
            let msg = self
                .unreachable
                .get(&conn_host)
                .cloned()
                .unwrap_or_else(|| "no connection".into());
            let mut d = self.refused(host, &name, format!("{conn_host}: {msg}"));
            d.result.outcome = Outcome::Unreachable;
            return d;
        };
        let ht = HostTask {
            templar: &self.templar,
            task,
            scope: s,
            host,
            conn,
            inventory_vars: self.base.host_vars.get(host).unwrap_or(empty),
            become_default: &self.options.become_default,
            check,
            diff,
            search,
            environment: &environment,
            sink: self.sink,
            delegated_to: Some(conn_host.split(super::AS_USER).next().unwrap_or(&conn_host))
                .filter(|d| *d != host),
        };
        match &task.r#loop {
            Some(lp) => super::looping::run(&ht, lp, &ctx).await,
            None => ht.run(&ctx, None).await,
        }
    }

    /// The connection `host` runs `task` over: its own, or its `delegate_to` host's, as the
    /// inventory's user or the `remote_user` keyword's (the inventory's `ansible_user` wins,
    /// as in Ansible). A key of [`Run::conns`].
    fn route(&self, task: &Task, s: &Scope, host: &str, ctx: &Context) -> Result<String, String> {
        let render = |what: &str, v: &str| -> Result<String, String> {
            match self.templar.template(&Json::String(v.to_string()), ctx) {
                Ok(Json::String(t)) => Ok(t),
                Ok(other) => Ok(other.to_string()),
                Err(e) => Err(format!("{what}: {e} ({})", task.location)),
            }
        };
        let to = match &s.delegate_to {
            None => host.to_string(),
            Some(d) => {
                let to = render("delegate_to", d)?;
                if self.base.host_vars.contains_key(&to) {
                    to
                } else if crate::ssh::local::is_localhost(&to) {
                    // Ansible's implicit localhost: the controller, without SSH, as the user
                    // running Cairn (remote_user does not apply).
                    return Ok(to);
                } else {
                    return Err(format!(
                        "delegate_to: {to:?} is not a host of the inventory ({})",
                        task.location
                    ));
                }
            }
        };
        let inventory_user = self
            .base
            .host_vars
            .get(&to)
            .is_some_and(|v| v.contains_key("ansible_user"));
        match &s.remote_user {
            Some(u) if !inventory_user => {
                Ok(super::conn_key(&to, Some(&render("remote_user", u)?)))
            }
            _ => Ok(to),
        }
    }

    /// A failed end for a task that could not start on `host` (`msg` says why).
    fn refused(&self, host: &str, task: &str, msg: String) -> Done {
        let r = unsupported_result(host, task, &msg);
        Done {
            result: r,
            registered: json!({"failed": true, "changed": false, "msg": msg}),
            facts: Vars::new(),
            drops_out: true,
        }
    }

    /// `environment:` of the play, blocks and task, templated and merged (inner wins).
    fn environment(
        &self,
        s: &Scope,
        ctx: &Context,
        task: &Task,
    ) -> Result<Vec<(String, String)>, String> {
        let mut out: Vec<(String, String)> = Vec::new();
        for env in &s.environment {
            let v = self
                .templar
                .template(env, ctx)
                .map_err(|e| format!("environment: {e} (the task at {})", task.location))?;
            let Json::Object(m) = v else {
                return Err(format!(
                    "environment must be a mapping of variable names to values, got {v} (the task at {})",
                    task.location
                ));
            };
            for (k, v) in m {
                let valid = !k.is_empty()
                    && !k.starts_with(|c: char| c.is_ascii_digit())
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(format!(
                        "environment: {k:?} is not a valid variable name (the task at {})",
                        task.location
                    ));
                }
                let v = match v {
                    Json::String(s) => s,
                    Json::Null => String::new(),
                    other => other.to_string(),
                };
                out.retain(|(name, _)| *name != k);
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// `include_tasks`/`include_role`: decided per host (its `when`, the templated name),
    /// read at run time, run by the hosts that include the same thing together.
    async fn include(
        &mut self,
        task: &Task,
        scope: &Scope,
        hosts: &[String],
        what: Include<'_>,
        args: &Vars,
    ) {
        let s = scope.child(&task.common);
        if !self.selected(task, &s) {
            return;
        }
        let live = self.active(hosts);
        if live.is_empty() {
            return;
        }
        let name = shown_name(task);
        self.sink.emit(Event::TaskStarted {
            name: name.clone(),
            action: task.action.clone(),
            location: task.location.clone(),
        });
        let live = self.report_unreachable(&live, &name);
        let live = self.when_hosts(task, &s, &live);
        let apply = match args.get("apply").map(apply_keywords).transpose() {
            Ok(a) => a.unwrap_or_default(),
            Err(e) => {
                let msg = format!("{e} ({})", task.location);
                for h in &live {
                    self.fail_host(h, &name, &msg, &s);
                }
                return;
            }
        };
        let written = match what {
            Include::Tasks(f) => f.clone(),
            Include::Role(r) => r.clone(),
        };
        // With a loop, one include per item (its variables set, as in a looped task); hosts
        // including the same file with the same item run it together, item after item.
        let control = task.loop_control.clone().unwrap_or_default();
        let loop_var = control.loop_var.clone().unwrap_or_else(|| "item".into());
        let search = super::src_search(task, &s, &self.base.playbook_dir);
        let mut shared = self.shared();
        let mut groups: Vec<(String, LoopItem, Vec<String>)> = Vec::new();
        for h in &live {
            let ctx = self.context(h, &s, &shared, self.options.check);
            let includes: Vec<(LoopItem, Context)> = match &task.r#loop {
                None => vec![(None, ctx)],
                Some(lp) => {
                    match super::looping::items(lp, &self.templar, &ctx, &search, &task.location) {
                        Ok(list) => list
                            .into_iter()
                            .enumerate()
                            .map(|(i, item)| {
                                let mut json = ctx.json.clone();
                                json.insert(loop_var.clone(), item.clone());
                                json.insert("ansible_loop_var".into(), loop_var.clone().into());
                                if let Some(iv) = &control.index_var {
                                    json.insert(iv.clone(), i.into());
                                }
                                (Some((i, item)), ctx.derive(json))
                            })
                            .collect(),
                        Err(e) => {
                            self.fail_host(h, &name, &e, &s);
                            shared = self.shared();
                            continue;
                        }
                    }
                }
            };
            for (item, ctx) in includes {
                match self.templar.template(&Json::String(written.clone()), &ctx) {
                    Ok(v) => {
                        let v = match v {
                            Json::String(s) => s,
                            other => other.to_string(),
                        };
                        match groups.iter_mut().find(|(f, i, _)| *f == v && *i == item) {
                            Some((_, _, g)) => g.push(h.clone()),
                            None => groups.push((v, item, vec![h.clone()])),
                        }
                    }
                    Err(e) => {
                        let msg =
                            format!("{e} (in the name of {} at {})", task.action, task.location);
                        self.fail_host(h, &name, &msg, &s);
                        shared = self.shared();
                        break;
                    }
                }
            }
        }
        // Item by item (a stable sort: hosts' order within an item is kept).
        groups.sort_by_key(|(_, item, _)| item.as_ref().map_or(0, |(i, _)| *i));
        // The included tasks inherit the include's keywords and vars, not its `when` or
        // tags (Ansible: use `apply:` for those).
        let mut child = scope.child_without_when(&task.common);
        child.tags = scope.tags.clone();
        let child = child.child(&apply);
        let load_options = crate::playbook::Options {
            roles_path: self.options.roles_path.clone(),
        };
        let playbook_dir = std::path::PathBuf::from(&self.base.playbook_dir);
        for (file, item, group) in groups {
            // A host that failed an earlier item's tasks does not go on with the next.
            let group = self.active(&group);
            if group.is_empty() {
                continue;
            }
            let mut child = child.clone();
            if let Some((i, item)) = item {
                child.vars.insert(loop_var.clone(), item);
                child
                    .vars
                    .insert("ansible_loop_var".into(), loop_var.clone().into());
                if let Some(iv) = &control.index_var {
                    child.vars.insert(iv.clone(), i.into());
                }
            }
            let child = &child;
            let origin = Origin {
                at: &task.location,
                role: s.role.as_ref().map(|r| (r.name.clone(), r.path.clone())),
                playbook_dir: &playbook_dir,
                options: &load_options,
            };
            match what {
                Include::Tasks(_) => match dynamic::include_tasks(&origin, &file) {
                    Ok((path, tasks)) => {
                        self.included(&path.display().to_string(), &group);
                        self.walk(&tasks, child, &group).await;
                    }
                    Err(e) => {
                        for h in &group {
                            self.fail_host(h, &name, &e.to_string(), &s);
                        }
                    }
                },
                Include::Role(_) => {
                    let tasks_from = args.get("tasks_from").and_then(Json::as_str);
                    match dynamic::include_role(&origin, &file, tasks_from) {
                        Ok(r) => {
                            self.included(&r.role.path.display().to_string(), &group);
                            self.add_role_handlers(&r, child);
                            self.play_role(&r, child, &group, false).await;
                        }
                        Err(e) => {
                            for h in &group {
                                self.fail_host(h, &name, &e.to_string(), &s);
                            }
                        }
                    }
                }
            }
        }
    }

    /// `included: FILE for HOSTS`, counted ok on each host (as Ansible's recap does).
    fn included(&mut self, file: &str, hosts: &[String]) {
        self.sink.emit(Event::Included {
            file: file.to_string(),
            hosts: hosts.to_vec(),
        });
        for h in hosts {
            self.stats
                .entry(h.clone())
                .or_default()
                .count(Outcome::Ok { changed: false }, false);
        }
    }

    /// `meta:` actions.
    async fn meta(&mut self, task: &Task, what: &str, scope: &Scope, hosts: &[String]) {
        let s = scope.child(&task.common);
        let live = self.active(hosts);
        match what {
            "noop" => {}
            // Ansible flushes whatever the hosts of the play notified.
            "flush_handlers" => {
                let all = self.batch.hosts.clone();
                self.flush_handlers(&all).await;
            }
            "end_play" | "end_batch" => {
                if !self.quiet_when(task, &s, &live).is_empty() {
                    self.batch.halted = true;
                    if what == "end_play" {
                        self.play_ended = true;
                    }
                }
            }
            "end_host" => {
                for h in self.quiet_when(task, &s, &live) {
                    self.batch.ended.insert(h);
                }
            }
            "clear_host_errors" => {
                for h in self.batch.hosts.clone() {
                    self.batch.failed.remove(&h);
                }
            }
            "clear_facts" => {
                for h in self.quiet_when(task, &s, &live) {
                    self.facts.remove(&h);
                    self.gathered.remove(&h);
                }
            }
            "reset_connection" => {
                for h in &live {
                    if let Some(c) = self.conns.remove(h) {
                        c.close().await;
                    }
                }
                self.connect(&live).await;
            }
            other => {
                // The loader refuses unknown actions; refresh_inventory is known but not done.
                let msg = format!(
                    "meta: {other} is not implemented: the inventory is read once per run ({})",
                    task.location
                );
                self.sink.emit(Event::TaskStarted {
                    name: shown_name(task),
                    action: task.action.clone(),
                    location: task.location.clone(),
                });
                for h in &live {
                    self.fail_host(h, &shown_name(task), &msg, &s);
                }
            }
        }
    }

    /// The hosts of `hosts` whose `when` holds, without reporting results (meta actions).
    fn quiet_when(&mut self, task: &Task, s: &Scope, hosts: &[String]) -> Vec<String> {
        if s.when.is_empty() {
            return hosts.to_vec();
        }
        let shared = self.shared();
        let mut out = Vec::new();
        for h in hosts {
            let ctx = self.context(h, s, &shared, self.options.check);
            let all = s.when.iter().try_fold(true, |acc, c| {
                Ok::<bool, String>(acc && self.templar.condition(c, &ctx)?)
            });
            match all {
                Ok(true) => out.push(h.clone()),
                Ok(false) => {}
                Err(e) => self.sink.emit(Event::Warning {
                    message: format!("meta: the condition failed on {h}: {e}; not applied"),
                    location: Some(task.location.clone()),
                }),
            }
        }
        out
    }
}

/// What an include names.
#[derive(Clone, Copy)]
enum Include<'a> {
    Tasks(&'a String),
    Role(&'a String),
}

/// `apply:` of an include: the keywords given to every included task.
fn apply_keywords(v: &Json) -> Result<Common, String> {
    let Json::Object(m) = v else {
        return Err(format!("apply must be a mapping of task keywords, got {v}"));
    };
    let flag = |v: &Json| -> Result<Flag, String> {
        match v {
            Json::Bool(b) => Ok(Flag::Value(*b)),
            Json::String(s) => Ok(Flag::Template(s.clone())),
            other => Err(format!("apply: expected a boolean, got {other}")),
        }
    };
    let strings = |v: &Json| -> Vec<String> {
        match v {
            Json::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_string).unwrap_or(x.to_string()))
                .collect(),
            Json::String(s) => s.split(',').map(|t| t.trim().to_string()).collect(),
            other => vec![other.to_string()],
        }
    };
    let mut c = Common::default();
    for (k, v) in m {
        match k.as_str() {
            "tags" => c.tags = strings(v),
            "when" => c.when = strings(v),
            "become" => c.r#become = Some(flag(v)?),
            "become_user" => c.become_user = v.as_str().map(str::to_string),
            "ignore_errors" => c.ignore_errors = Some(flag(v)?),
            "no_log" => c.no_log = Some(flag(v)?),
            "check_mode" => c.check_mode = Some(flag(v)?),
            "diff" => c.diff = Some(flag(v)?),
            "run_once" => c.run_once = Some(flag(v)?),
            "delegate_to" => c.delegate_to = v.as_str().map(str::to_string),
            "environment" => c.environment = Some(v.clone()),
            "vars" => match v {
                Json::Object(vars) => c.vars = vars.clone(),
                other => return Err(format!("apply: vars must be a mapping, got {other}")),
            },
            other => {
                return Err(format!(
                    "apply: {other:?} is not supported (tags, when, become, become_user, ignore_errors, no_log, check_mode, diff, run_once, delegate_to, environment, vars are)"
                ));
            }
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_reads_keywords_and_refuses_others() {
        let c = apply_keywords(&json!({"tags": "a, b", "become": true, "vars": {"x": 1}})).unwrap();
        assert_eq!(c.tags, vec!["a", "b"]);
        assert_eq!(c.r#become, Some(Flag::Value(true)));
        assert_eq!(c.vars["x"], 1);
        assert_eq!(
            apply_keywords(&json!({"loop": []})).unwrap_err(),
            "apply: \"loop\" is not supported (tags, when, become, become_user, ignore_errors, no_log, check_mode, diff, run_once, delegate_to, environment, vars are)"
        );
        assert_eq!(
            apply_keywords(&json!("x")).unwrap_err(),
            "apply must be a mapping of task keywords, got \"x\""
        );
    }
}
