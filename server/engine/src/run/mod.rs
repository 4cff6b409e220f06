//! Running playbooks: Ansible's linear strategy over SSH.
//!
//! For each play: select its hosts (its pattern, intersected with `--limit`), connect to each
//! once (at most `forks` at a time; the connection is kept for the rest of the run), then run
//! each task on every remaining host in parallel and wait for all before the next task. A
//! host that fails (and does not ignore it) or is unreachable leaves the play, and later
//! plays; the others carry on. Everything that happens is an [`Event`] sent to the sink.
//!
//! Owns the play loop and per-host state (facts, registered results, who is still in).
//! Must not: print, know about HTTP or storage, or put secrets in events.
//!
//! One concept per file: `steps` (a play's tasks flattened, with inherited keywords),
//! `task` (one task on one host), `vars` (what variables a task sees), `template`
//! (minijinja with Ansible's semantics; `filters`, `tests_jinja`, `lookups` are its
//! filters, tests and lookups), `result` (the registered dict).

pub mod filters;
pub mod lookups;
pub mod result;
pub mod steps;
pub mod task;
pub mod template;
pub mod tests_jinja;
pub mod vars;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use crate::event::{Event, EventSink, HostResult, Outcome, Stats};
use crate::inventory::Inventory;
use crate::modules::ModuleResult;
use crate::playbook::{Flag, Play, Playbook, Vars};
use crate::ssh::{Connection, Connector, Target, fanout};
use steps::Step;
pub use task::BecomeDefault;
use task::HostTask;
use template::{Context, Templar};

/// How to run, as the command line says.
pub struct Options<'a> {
    /// `--limit`: only hosts that also match this pattern.
    pub limit: Option<&'a str>,
    pub forks: usize,
    pub become_default: BecomeDefault,
    /// How to reach a host (the inventory's target with command-line overrides).
    pub target: &'a (dyn Fn(&str) -> Result<Target, String> + Sync),
    /// `--check`: modules report what they would change and change nothing.
    pub check: bool,
    /// `--diff`: modules that change files report the change.
    pub diff: bool,
}

/// Run every play of `playbook`. `Err` only for bad input found before anything ran (a host
/// pattern that does not parse); host failures are events and counts in the returned recap.
pub async fn run(
    playbook: &Playbook,
    inventory: &Inventory,
    connector: &Connector,
    options: &Options<'_>,
    sink: &dyn EventSink,
) -> Result<BTreeMap<String, Stats>, String> {
    // Every pattern is checked before the first connection, so bad input runs nothing.
    let limit = match options.limit {
        Some(l) => Some(
            inventory
                .select(l)
                .map_err(|e| format!("--limit {l:?}: {e}"))?,
        ),
        None => None,
    };
    let mut selections = Vec::new();
    for play in &playbook.plays {
        let mut hosts = inventory
            .select(&play.hosts)
            .map_err(|e| format!("{}: hosts {:?}: {e}", play.location, play.hosts))?;
        if let Some(l) = &limit {
            hosts.retain(|h| l.contains(h));
        }
        selections.push(hosts);
    }
    let mut everyone: Vec<String> = Vec::new();
    for h in selections.iter().flatten() {
        if !everyone.contains(h) {
            everyone.push(h.clone());
        }
    }
    sink.emit(Event::RunStarted {
        playbook: playbook.path.display().to_string(),
        hosts: everyone,
    });

    let dir = playbook
        .path
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut run = Run {
        base: vars::Base::new(inventory, dir),
        templar: Templar::new(),
        connector,
        options,
        sink,
        conns: HashMap::new(),
        unreachable: HashMap::new(),
        out: HashSet::new(),
        facts: HashMap::new(),
        gathered: HashSet::new(),
        stats: BTreeMap::new(),
    };
    for (play, hosts) in playbook.plays.iter().zip(selections) {
        run.play(play, hosts).await;
    }
    for conn in run.conns.values() {
        conn.close().await;
    }
    sink.emit(Event::Recap(run.stats.clone()));
    Ok(run.stats)
}

struct Run<'a> {
    base: vars::Base,
    templar: Templar,
    connector: &'a Connector,
    options: &'a Options<'a>,
    sink: &'a dyn EventSink,
    conns: HashMap<String, Connection>,
    /// Hosts whose connection failed, with the reason, not yet reported in a task.
    unreachable: HashMap<String, String>,
    /// Hosts that failed or were unreachable: out of every later task and play.
    out: HashSet<String>,
    /// Per host: `set_fact` variables and registered results (they outlive the play).
    facts: HashMap<String, Vars>,
    /// Hosts whose facts were gathered in this run (not gathered again by a later play).
    gathered: HashSet<String>,
    stats: BTreeMap<String, Stats>,
}

/// One host's end of a task: its result, registered value, facts, and whether it is out.
type TaskEnd = (
    String,
    HostResult,
    Option<(String, serde_json::Value)>,
    Vars,
    bool,
);

/// The implicit first task of a play that gathers facts (Ansible's name and action).
fn gathering_task(play: &Play) -> crate::playbook::Task {
    crate::playbook::Task {
        location: play.location.clone(),
        name: Some("Gathering Facts".into()),
        action: "gather_facts".into(),
        kind: crate::playbook::TaskKind::Action(crate::playbook::Action {
            module: "setup".into(),
            written: "gather_facts".into(),
            args: Vars::new(),
        }),
        common: crate::playbook::Common::default(),
        role: None,
        r#loop: None,
        loop_control: None,
        register: None,
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

impl Run<'_> {
    async fn play(&mut self, play: &Play, hosts: Vec<String>) {
        let name = play.display_name().to_string();
        self.sink.emit(Event::PlayStarted {
            name: name.clone(),
            hosts: hosts.clone(),
            location: play.location.clone(),
        });
        self.warn_unexecuted(play);
        let mut live: Vec<String> = hosts
            .into_iter()
            .filter(|h| !self.out.contains(h))
            .collect();
        for h in &live {
            self.stats.entry(h.clone()).or_default();
        }
        if live.is_empty() {
            self.sink.emit(Event::Warning {
                message: format!("no hosts matched (or left) for play {name:?}: skipping"),
                location: Some(play.location.clone()),
            });
            self.sink.emit(Event::PlayFinished { name });
            return;
        }
        self.connect(&live).await;
        let play_hosts = live.clone();
        self.gather_facts(play, &mut live, &play_hosts).await;
        for step in steps::of_play(play) {
            if live.is_empty() {
                break;
            }
            let done = match &step {
                Step::Run { task, scope } => {
                    self.sink.emit(Event::TaskStarted {
                        name: task.display_name().to_string(),
                        action: task.action.clone(),
                        location: task.location.clone(),
                    });
                    self.report_unreachable(&mut live, task.display_name());
                    self.run_task(task, scope, &live, &play_hosts).await
                }
                Step::Unsupported {
                    name,
                    action,
                    location,
                    message,
                } => {
                    self.sink.emit(Event::TaskStarted {
                        name: name.clone(),
                        action: action.clone(),
                        location: location.clone(),
                    });
                    self.report_unreachable(&mut live, name);
                    live.iter()
                        .map(|h| {
                            let r = unsupported_result(h, name, message);
                            self.sink.emit(Event::HostResult(r.clone()));
                            (h.clone(), r, None, Vars::new(), true)
                        })
                        .collect()
                }
            };
            self.absorb(done, &mut live);
        }
        self.sink.emit(Event::PlayFinished { name });
    }

    /// Count each host's result, keep its facts and registered value, drop it if it is out.
    fn absorb(&mut self, done: Vec<TaskEnd>, live: &mut Vec<String>) {
        for (host, r, register, facts, drops_out) in done {
            self.stats
                .entry(host.clone())
                .or_default()
                .count(r.outcome, r.ignored);
            let kept = self.facts.entry(host.clone()).or_default();
            kept.extend(facts);
            if let Some((name, value)) = register {
                kept.insert(name, value);
            }
            if drops_out {
                live.retain(|h| *h != host);
                self.out.insert(host);
            }
        }
    }

    /// `gather_facts` (true unless the play says otherwise, as in Ansible): `setup` on every
    /// live host before the play's first task, shown as `Gathering Facts`. Facts are kept
    /// for the whole run, so a host is gathered once even if several plays ask.
    async fn gather_facts(&mut self, play: &Play, live: &mut Vec<String>, play_hosts: &[String]) {
        let wanted = match &play.gather_facts {
            None => true,
            Some(Flag::Value(b)) => *b,
            Some(Flag::Template(t)) => {
                let ctx = Context::new(play.common.vars.clone());
                self.templar.condition(t, &ctx).unwrap_or_else(|e| {
                    // Gathering anyway is the safe side: facts nobody uses harm nothing.
                    self.sink.emit(Event::Warning {
                        message: format!("gather_facts: {e}; gathering facts"),
                        location: Some(play.location.clone()),
                    });
                    true
                })
            }
        };
        let todo: Vec<String> = live
            .iter()
            .filter(|h| !self.gathered.contains(*h))
            .cloned()
            .collect();
        if !wanted || todo.is_empty() {
            return;
        }
        let task = gathering_task(play);
        self.sink.emit(Event::TaskStarted {
            name: task.display_name().to_string(),
            action: task.action.clone(),
            location: task.location.clone(),
        });
        let mut todo_live = todo;
        self.report_unreachable(&mut todo_live, task.display_name());
        live.retain(|h| !self.out.contains(h));
        let scope = steps::Scope::default().child(&play.common);
        let done = self.run_task(&task, &scope, &todo_live, play_hosts).await;
        for (host, r, ..) in &done {
            if matches!(r.outcome, Outcome::Ok { .. }) {
                self.gathered.insert(host.clone());
            }
        }
        self.absorb(done, live);
    }

    /// Open a connection to each host that has none yet, `forks` at a time.
    async fn connect(&mut self, hosts: &[String]) {
        let todo: Vec<String> = hosts
            .iter()
            .filter(|h| !self.conns.contains_key(*h) && !self.unreachable.contains_key(*h))
            .cloned()
            .collect();
        let (connector, target) = (self.connector, self.options.target);
        let results = fanout::bounded(todo, self.options.forks, |host| async move {
            let conn = match target(&host) {
                Ok(t) => connector.connect(&t).await.map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            (host, conn)
        })
        .await;
        for (host, conn) in results {
            match conn {
                Ok(c) => {
                    self.conns.insert(host, c);
                }
                Err(e) => {
                    self.unreachable.insert(host, e);
                }
            }
        }
    }

    /// Hosts that could not be reached are reported at the first task they would have run
    /// (as Ansible does) and leave the play.
    fn report_unreachable(&mut self, live: &mut Vec<String>, task: &str) {
        let mut gone = Vec::new();
        for h in live.iter() {
            if let Some(msg) = self.unreachable.get(h) {
                let mut r = unsupported_result(h, task, msg);
                r.outcome = Outcome::Unreachable;
                self.sink.emit(Event::HostResult(r.clone()));
                self.stats
                    .entry(h.clone())
                    .or_default()
                    .count(Outcome::Unreachable, false);
                gone.push(h.clone());
            }
        }
        live.retain(|h| !gone.contains(h));
        self.out.extend(gone);
    }

    async fn run_task(
        &self,
        task: &crate::playbook::Task,
        scope: &steps::Scope,
        live: &[String],
        play_hosts: &[String],
    ) -> Vec<TaskEnd> {
        let hostvars = self.base.hostvars(&self.facts);
        let empty = Vars::new();
        let search = src_search(task, &self.base.playbook_dir);
        let search = &search;
        fanout::bounded(live.to_vec(), self.options.forks, |host| {
            let hostvars = &hostvars;
            let empty = &empty;
            async move {
                let Some(conn) = self.conns.get(&host) else {
                    // connect() gives every live host a connection or an unreachable entry.
                    let r = unsupported_result(&host, task.display_name(), "no connection");
                    return (host, r, None, Vars::new(), true);
                };
                let ctx: Context = self.base.context(
                    &self.templar,
                    &host,
                    &scope.vars,
                    self.facts.get(&host),
                    play_hosts,
                    hostvars,
                );
                let done = HostTask {
                    templar: &self.templar,
                    task,
                    scope,
                    host: &host,
                    conn,
                    vars: ctx,
                    inventory_vars: self.base.host_vars.get(&host).unwrap_or(empty),
                    become_default: &self.options.become_default,
                    check: self.options.check,
                    diff: self.options.diff,
                    search,
                }
                .run()
                .await;
                // Reported as each host finishes, not when the whole task is done.
                self.sink.emit(Event::HostResult(done.result.clone()));
                (host, done.result, done.register, done.facts, done.drops_out)
            }
        })
        .await
    }

    /// Play keywords this slice does not act on: said once per play rather than silently
    /// ignored.
    fn warn_unexecuted(&self, play: &Play) {
        let mut unexecuted = Vec::new();
        if !play.handlers.is_empty() {
            unexecuted.push("handlers (notify does nothing yet)");
        }
        if !play.serial.is_empty() {
            unexecuted.push("serial (all hosts run together)");
        }
        if play.strategy != crate::playbook::Strategy::Linear {
            unexecuted.push("strategy: free (linear is used)");
        }
        if play.max_fail_percentage.is_some() || play.common.any_errors_fatal.is_some() {
            unexecuted.push("max_fail_percentage / any_errors_fatal");
        }
        if !play.vars_files.is_empty() {
            unexecuted.push("vars_files (their variables are undefined)");
        }
        if play.common.environment.is_some() || play.common.remote_user.is_some() {
            unexecuted.push("environment / remote_user on the play");
        }
        for what in unexecuted {
            self.sink.emit(Event::Warning {
                message: format!("not implemented yet: {what}"),
                location: Some(play.location.clone()),
            });
        }
    }
}

/// Where a task's modules look up a relative `src`: its role's directory (a role task lives
/// in `ROLE/tasks/*.yml`), then the directory of the file the task is written in, then the
/// playbook's directory.
fn src_search(task: &crate::playbook::Task, playbook_dir: &str) -> Vec<std::path::PathBuf> {
    use std::path::{Path, PathBuf};
    let mut out: Vec<PathBuf> = Vec::new();
    let file_dir = Path::new(&*task.location.file)
        .parent()
        .map(Path::to_path_buf);
    if task.role.is_some()
        && let Some(role_dir) = file_dir.as_deref().and_then(Path::parent)
    {
        out.push(role_dir.to_path_buf());
    }
    out.extend(file_dir);
    let pb = PathBuf::from(playbook_dir);
    if !out.contains(&pb) {
        out.push(pb);
    }
    out
}

/// A failed result that ran nothing (a task this slice does not execute).
fn unsupported_result(host: &str, task: &str, msg: &str) -> HostResult {
    let mr = ModuleResult::failed(msg);
    HostResult {
        host: host.to_string(),
        task: task.to_string(),
        outcome: Outcome::Failed,
        ignored: false,
        rc: None,
        stdout: None,
        stderr: None,
        msg: mr.msg,
        data: Vars::new(),
        duration: Duration::ZERO,
        censored: false,
        diff: Vec::new(),
    }
}
