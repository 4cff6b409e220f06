//! Running playbooks: Ansible's linear strategy over SSH.
//!
//! For each play: select its hosts (its pattern, intersected with `--limit`), split them into
//! `serial` batches; for each batch connect to each host once (at most `forks` at a time; the
//! connection is kept for the rest of the run), gather facts, then walk the play's task tree
//! (`walk`): each task runs on every host still in the play in parallel, and the next task
//! starts when all have finished. Blocks keep per-host state: a host that fails in a `block`
//! runs its `rescue`, `always` runs for everyone. A host that fails (and is not rescued) or is
//! unreachable leaves the play, and later plays; the others carry on. Everything that
//! happens is an [`Event`] sent to the sink, each host's result as soon as it is known.
//!
//! Owns the play and batch loop and the run's per-host state (facts, registered results, who
//! is still in). Must not: print, know about HTTP or storage, or put secrets in events.
//!
//! One concept per file: `walk` (the task tree: blocks, includes, roles, meta, handlers),
//! `scope` (what a task inherits), `task` (one task on one host), `looping` (loop items
//! and results), `handlers` (notification bookkeeping), `serial` (batches), `vars` (what
//! variables a task sees), `extra_vars` (`-e`), `template` (minijinja with Ansible's
//! semantics; `filters`, `tests_jinja`, `lookups` are its filters, tests and lookups),
//! `result` (the registered dict).

pub mod extra_vars;
pub mod filters;
mod handlers;
pub mod lookups;
pub mod looping;
pub mod result;
pub mod resume;
pub mod scope;
pub mod serial;
pub mod task;
pub mod template;
pub mod tests_jinja;
pub mod vars;
mod walk;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as Json;

use crate::event::{Event, EventSink, HostResult, Outcome, Stats};
use crate::inventory::Inventory;
use crate::modules::ModuleResult;
use crate::playbook::{Batch, Flag, Play, Playbook, TagFilter, Vars};
use crate::ssh::{Connection, Connector, Target, fanout};
use handlers::Handlers;
pub use resume::{Resume, checkpoint};
use scope::Scope;
pub use task::BecomeDefault;
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
    /// `-e`: the strongest variables.
    pub extra_vars: Vars,
    /// `--tags`/`--skip-tags`.
    pub tags: TagFilter,
    /// `--start-at-task`: tasks before the first one with this name are not run.
    pub start_at_task: Option<String>,
    /// `--force-handlers`: notified handlers run on hosts that failed too.
    pub force_handlers: bool,
    /// `--roles-path` (for roles included at run time).
    pub roles_path: Vec<PathBuf>,
    /// Resuming an earlier run: the tasks it finished on each host are left out (see
    /// [`resume`]).
    pub resume: Option<&'a Resume>,
}

impl<'a> Options<'a> {
    /// Defaults for everything but how to reach hosts.
    pub fn new(target: &'a (dyn Fn(&str) -> Result<Target, String> + Sync)) -> Self {
        Options {
            limit: None,
            forks: 5,
            become_default: BecomeDefault::default(),
            target,
            check: false,
            diff: false,
            extra_vars: Vars::new(),
            tags: TagFilter::default(),
            start_at_task: None,
            force_handlers: false,
            roles_path: Vec::new(),
            resume: None,
        }
    }
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
    let mut base = vars::Base::new(inventory, dir);
    base.extra = options.extra_vars.clone();
    let mut run = Run {
        base,
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
        start_at: options.start_at_task.clone(),
        batch: BatchState::default(),
        stopped: false,
        play_ended: false,
        reached: HashMap::new(),
    };
    for (play, hosts) in playbook.plays.iter().zip(selections) {
        run.play(play, hosts).await;
        if run.stopped {
            break;
        }
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
    /// Open connections by [`conn_key`].
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
    /// `--start-at-task` until that task is reached.
    start_at: Option<String>,
    /// The state of the batch being run.
    batch: BatchState,
    /// The run stops after this play (`any_errors_fatal`, `max_fail_percentage`, a whole
    /// batch failed): ansible-playbook runs no further play either.
    stopped: bool,
    /// `meta: end_play` ran: no further batch of this play.
    play_ended: bool,
    /// How many times each host reached each task location (for checkpoints).
    reached: HashMap<(String, String), u32>,
}

/// What one `serial` batch of a play knows about its hosts.
#[derive(Default)]
struct BatchState {
    /// The batch's hosts (`ansible_play_batch` before failures).
    hosts: Vec<String>,
    /// Every host of the play (`ansible_play_hosts_all`).
    play_hosts: Vec<String>,
    /// Hosts that failed a task (not rescued yet) in this batch: out of the tasks that follow.
    failed: HashSet<String>,
    /// Hosts found unreachable in this batch.
    down: HashSet<String>,
    /// Hosts that ran `meta: end_host`.
    ended: HashSet<String>,
    /// The play stops for every host (`meta: end_play`, or a reason to stop the run).
    halted: bool,
    handlers: Handlers,
    /// Roles run by `roles:` so far (role directory and parameters): each runs once.
    roles_ran: HashSet<String>,
    /// The play's root scope (its keywords and variables, vars_files included).
    root: Scope,
    max_fail_percentage: Option<f64>,
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
        let live: Vec<String> = hosts
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
        let setup = self.play_scope(play).and_then(|root| {
            let sizes = self
                .serial_sizes(play, &root)
                .map_err(|e| format!("serial: {e} (the play at {})", play.location))?;
            Ok((root, sizes))
        });
        let (root, sizes) = match setup {
            Ok(rs) => rs,
            Err(msg) => {
                // A play that cannot start runs nothing: every host fails it.
                self.sink.emit(Event::TaskStarted {
                    name: "play".into(),
                    action: "play".into(),
                    location: play.location.clone(),
                });
                for h in &live {
                    let r = unsupported_result(h, "play", &msg);
                    self.sink.emit(Event::HostResult(r));
                    self.stats
                        .entry(h.clone())
                        .or_default()
                        .count(Outcome::Failed, false);
                    self.out.insert(h.clone());
                }
                self.sink.emit(Event::PlayFinished { name });
                return;
            }
        };
        self.play_ended = false;
        for batch in serial::batches(&live, &sizes) {
            self.batch = BatchState {
                hosts: batch.clone(),
                play_hosts: live.clone(),
                root: root.clone(),
                max_fail_percentage: play.max_fail_percentage,
                ..BatchState::default()
            };
            self.run_batch(play).await;
            let b = std::mem::take(&mut self.batch);
            let gone: Vec<String> = b
                .hosts
                .iter()
                .filter(|h| b.failed.contains(*h) || b.down.contains(*h))
                .cloned()
                .collect();
            // ansible-playbook stops the whole run when every host of a batch failed.
            let all_failed = gone.len() == b.hosts.len();
            self.out.extend(gone);
            if self.stopped || all_failed {
                self.stopped = true;
                break;
            }
            if self.play_ended {
                break;
            }
        }
        self.sink.emit(Event::PlayFinished { name });
    }

    /// The play's root scope: its keywords and `vars`, then its `vars_files` (each entry a
    /// file name, templated with the play's and the extra variables; a list entry is a list
    /// of alternatives, the first that exists is read).
    fn play_scope(&self, play: &Play) -> Result<Scope, String> {
        let mut root = Scope::default().child(&play.common);
        if play.vars_files.is_empty() {
            return Ok(root);
        }
        let mut json = root.vars.clone();
        json.extend(self.base.extra.clone());
        json.insert("playbook_dir".into(), self.base.playbook_dir.clone().into());
        let ctx = Context::new(json);
        let load_options = crate::playbook::Options {
            roles_path: self.options.roles_path.clone(),
        };
        let dir = play.file.parent().map(PathBuf::from).unwrap_or_default();
        let origin = crate::playbook::dynamic::Origin {
            at: &play.location,
            role: None,
            playbook_dir: &dir,
            options: &load_options,
        };
        for alternatives in &play.vars_files {
            let mut tried = Vec::new();
            let mut loaded = None;
            for alt in alternatives {
                let name = match self.templar.template(&Json::String(alt.clone()), &ctx) {
                    Ok(Json::String(s)) => s,
                    Ok(other) => other.to_string(),
                    Err(e) => {
                        return Err(format!(
                            "vars_files {alt:?}: {e} (the play at {})",
                            play.location
                        ));
                    }
                };
                let path = if std::path::Path::new(&name).is_absolute() {
                    PathBuf::from(&name)
                } else {
                    dir.join(&name)
                };
                if alternatives.len() > 1 && !path.is_file() {
                    tried.push(path.display().to_string());
                    continue;
                }
                loaded = Some(
                    crate::playbook::dynamic::vars_file(&origin, &path.display().to_string())
                        .map_err(|e| e.to_string())?,
                );
                break;
            }
            match loaded {
                Some(vars) => root.vars.extend(vars),
                None => {
                    return Err(format!(
                        "{}: none of the vars_files alternatives exists (tried {})",
                        play.location,
                        tried.join(", ")
                    ));
                }
            }
        }
        Ok(root)
    }

    /// `serial` evaluated: templates rendered with the play's and the extra variables.
    fn serial_sizes(&self, play: &Play, root: &Scope) -> Result<Vec<serial::Size>, String> {
        let mut json = root.vars.clone();
        json.extend(self.base.extra.clone());
        let ctx = Context::new(json);
        let mut out = Vec::new();
        for b in &play.serial {
            out.push(match b {
                Batch::Hosts(n) => serial::Size::Hosts(*n),
                Batch::Percent(p) => serial::Size::Percent(*p),
                Batch::Template(t) => {
                    let v = self.templar.template(&Json::String(t.clone()), &ctx)?;
                    let text = match &v {
                        Json::String(s) => s.trim().to_string(),
                        other => other.to_string(),
                    };
                    if let Some(p) = text.strip_suffix('%') {
                        serial::Size::Percent(p.trim().parse().map_err(|_| {
                            format!("{t:?} gave {text:?}, not a number or a percentage")
                        })?)
                    } else {
                        serial::Size::Hosts(text.parse().map_err(|_| {
                            format!("{t:?} gave {text:?}, not a number or a percentage")
                        })?)
                    }
                }
            });
        }
        Ok(out)
    }

    /// One batch: connect, gather facts, then pre_tasks, roles and tasks, post_tasks, each
    /// section followed by the handlers it notified.
    async fn run_batch(&mut self, play: &Play) {
        let hosts = self.batch.hosts.clone();
        self.connect(&hosts).await;
        let root = self.batch.root.clone();
        self.batch.handlers.add(&play.handlers, &root, None);
        for r in &play.roles {
            self.add_role_handlers(r, &root);
        }
        self.gather_facts(play, &hosts).await;
        self.walk(&play.pre_tasks, &root, &hosts).await;
        self.flush_handlers(&hosts).await;
        for r in &play.roles {
            self.play_role(r, &root, &hosts, true).await;
        }
        self.walk(&play.tasks, &root, &hosts).await;
        self.flush_handlers(&hosts).await;
        self.walk(&play.post_tasks, &root, &hosts).await;
        self.flush_handlers(&hosts).await;
    }

    /// The hosts of `hosts` still running: not failed, unreachable or ended, and the play
    /// not halted.
    fn active(&self, hosts: &[String]) -> Vec<String> {
        if self.batch.halted {
            return Vec::new();
        }
        hosts
            .iter()
            .filter(|h| {
                !self.batch.failed.contains(*h)
                    && !self.batch.down.contains(*h)
                    && !self.batch.ended.contains(*h)
                    && !self.out.contains(*h)
            })
            .cloned()
            .collect()
    }

    /// `gather_facts` (true unless the play says otherwise, as in Ansible): `setup` on every
    /// live host before the play's first task, shown as `Gathering Facts`. Facts are kept
    /// for the whole run, so a host is gathered once even if several plays ask.
    async fn gather_facts(&mut self, play: &Play, hosts: &[String]) {
        let wanted = match &play.gather_facts {
            None => true,
            Some(Flag::Value(b)) => *b,
            Some(Flag::Template(t)) => {
                let ctx = Context::new(self.batch.root.vars.clone());
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
        let todo: Vec<String> = self
            .active(hosts)
            .into_iter()
            .filter(|h| !self.gathered.contains(h))
            .collect();
        if !wanted || todo.is_empty() {
            return;
        }
        let task = gathering_task(play);
        let root = self.batch.root.clone();
        let done = self.action(&task, &root, &todo, walk::Kind::Task).await;
        for h in done {
            self.gathered.insert(h);
        }
    }

    /// Open a connection for each key (see [`conn_key`]) that has none yet, `forks` at a time.
    async fn connect(&mut self, hosts: &[String]) {
        let todo: Vec<String> = hosts
            .iter()
            .filter(|h| !self.conns.contains_key(*h) && !self.unreachable.contains_key(*h))
            .cloned()
            .collect();
        // The controller itself: the implicit localhost of `delegate_to: localhost`, and
        // inventory hosts with `ansible_connection: local`.
        let local: HashSet<String> = todo
            .iter()
            .filter(|key| {
                let host = key.split(AS_USER).next().unwrap_or(key);
                match self.base.host_vars.get(host) {
                    None => crate::ssh::local::is_localhost(host),
                    Some(v) => {
                        v.get("ansible_connection").and_then(|c| c.as_str()) == Some("local")
                    }
                }
            })
            .cloned()
            .collect();
        let local = &local;
        let (connector, target) = (self.connector, self.options.target);
        let results = fanout::bounded(todo, self.options.forks, |key| async move {
            let (host, user) = match key.split_once(AS_USER) {
                Some((h, u)) => (h.to_string(), Some(u.to_string())),
                None => (key.clone(), None),
            };
            if local.contains(&key) {
                return (key, Ok(Connection::local(&host, connector.options())));
            }
            let conn = match target(&host) {
                Ok(mut t) => {
                    if let Some(u) = user {
                        t.user = u;
                    }
                    connector.connect(&t).await.map_err(|e| e.to_string())
                }
                Err(e) => Err(e),
            };
            (key, conn)
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
    /// (as Ansible does) and leave the play. Returns the others.
    fn report_unreachable(&mut self, live: &[String], task: &str) -> Vec<String> {
        let mut kept = Vec::new();
        for h in live {
            match self.unreachable.get(h) {
                Some(msg) => {
                    let mut r = unsupported_result(h, task, msg);
                    r.outcome = Outcome::Unreachable;
                    self.sink.emit(Event::HostResult(r));
                    self.stats
                        .entry(h.clone())
                        .or_default()
                        .count(Outcome::Unreachable, false);
                    self.batch.down.insert(h.clone());
                }
                None => kept.push(h.clone()),
            }
        }
        kept
    }

    /// Play keywords this engine does not act on: said once per play rather than silently
    /// ignored.
    fn warn_unexecuted(&self, play: &Play) {
        let mut unexecuted = Vec::new();
        if play.strategy != crate::playbook::Strategy::Linear {
            unexecuted.push("strategy: free (linear is used)");
        }
        for what in unexecuted {
            self.sink.emit(Event::Warning {
                message: format!("not implemented yet: {what}"),
                location: Some(play.location.clone()),
            });
        }
    }
}

/// Separates host and user in a connection key (host names have no spaces).
const AS_USER: &str = " as ";

/// The key of a connection in [`Run::conns`]: the host, or the host and a `remote_user`.
fn conn_key(host: &str, user: Option<&str>) -> String {
    match user {
        Some(u) => format!("{host}{AS_USER}{u}"),
        None => host.to_string(),
    }
}

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

/// Where a task's modules look up a relative `src`: its role's directory (a role task lives
/// in `ROLE/tasks/*.yml`), then the directory of the file the task is written in, then the
/// playbook's directory.
fn src_search(
    task: &crate::playbook::Task,
    scope: &Scope,
    playbook_dir: &str,
) -> Vec<std::path::PathBuf> {
    use std::path::Path;
    let mut out: Vec<PathBuf> = Vec::new();
    let file_dir = Path::new(&*task.location.file)
        .parent()
        .map(Path::to_path_buf);
    if let Some(role) = &scope.role {
        out.push(role.path.clone());
    }
    out.extend(file_dir);
    let pb = PathBuf::from(playbook_dir);
    if !out.contains(&pb) {
        out.push(pb);
    }
    out
}

/// A failed result that ran nothing (a play that cannot start, a host never reached).
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
        delegated_to: None,
        item: None,
        looped: false,
        checkpoint: None,
        resumed: None,
    }
}
