//! `cairn play`: load playbooks and run them on the inventory's hosts (the engine's linear
//! strategy, rendered like ansible-playbook), or only check or list them (`--syntax-check`,
//! `--list-tasks`, `--list-hosts`).

use super::hosts::{BecomeArgs, HostArgs, InventoryArgs, ReachArgs};
use super::json_lines::JsonLines;
use super::render::Terminal;
use super::tee::Tee;
use super::{EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE};
use crate::store::{RunStatus, Store, journal::Journal};
use cairn_engine::event::EventSink;
use cairn_engine::playbook::{self, ListOptions, Options, TagFilter};
use cairn_engine::run::{self, BecomeDefault};
use std::path::PathBuf;

/// ansible-playbook's exit status for a playbook that does not load: the same as any other
/// bad input.
const EXIT_PLAY_ERROR: u8 = super::EXIT_USAGE;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit status (as ansible-playbook): 0 all hosts OK (or the playbooks are \
valid, with --syntax-check and the listings); 1 bad input (playbook, inventory, flags), nothing \
run; 2 a host failed; 4 a host was unreachable (and none failed)."
)]
pub struct Args {
    /// Playbook files, checked (and run) in order.
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<PathBuf>,

    /// Ansible inventory (INI or YAML) or a Cairn cluster.yaml; needed to run and by
    /// --list-hosts.
    #[arg(short = 'i', long, value_name = "FILE", conflicts_with = "config")]
    pub inventory: Option<PathBuf>,

    /// Cairn cluster.yaml (same as -i; the format is detected).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// More directories to search for roles, after `roles/` beside the playbook.
    #[arg(long, value_name = "DIR")]
    pub roles_path: Vec<PathBuf>,

    /// Load and validate the playbooks (roles, imports, modules, keywords), run nothing.
    #[arg(long)]
    pub syntax_check: bool,

    /// List each play's tasks with their tags.
    #[arg(long)]
    pub list_tasks: bool,

    /// List the hosts each play matches in the inventory.
    #[arg(long)]
    pub list_hosts: bool,

    /// Only hosts that also match this pattern (running, and --list-hosts).
    #[arg(short, long, value_name = "PATTERN")]
    pub limit: Option<String>,

    /// Only run (or list) tasks with these tags (comma-separated, repeatable; `all`,
    /// `tagged`, `untagged`, `always`, `never` as in Ansible).
    #[arg(short, long, value_name = "TAGS")]
    pub tags: Vec<String>,

    /// Leave out tasks with these tags (comma-separated, repeatable).
    #[arg(long, value_name = "TAGS")]
    pub skip_tags: Vec<String>,

    /// Print the run's events as JSON lines on stdout (one object per event, the shape of
    /// `cairn runs show --json`) instead of the human output.
    #[arg(long)]
    pub json: bool,

    /// Check mode: report what would change, change nothing (modules that cannot tell
    /// say so).
    #[arg(short = 'C', long)]
    pub check: bool,

    /// Show the changes made to files (or, with --check, that would be made) as diffs.
    #[arg(short = 'D', long)]
    pub diff: bool,

    /// Extra variables, the strongest of all: `key=value ...`, a YAML/JSON mapping, or
    /// `@file.yml` (repeatable; later ones win).
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,

    /// Start at the first task with this name (`role : name` for a role's task).
    #[arg(long, value_name = "NAME")]
    pub start_at_task: Option<String>,

    /// Run notified handlers even on hosts that failed.
    #[arg(long)]
    pub force_handlers: bool,

    #[command(flatten)]
    pub reach: ReachArgs,

    /// --become sets the playbook's `become` default (the inventory's `ansible_become`, then
    /// play and task keywords decide first, as in Ansible).
    #[command(flatten)]
    pub escalate: BecomeArgs,
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    if !(args.syntax_check || args.list_tasks || args.list_hosts) {
        return execute(&args).await;
    }
    let inventory = match args.inventory.as_ref().or(args.config.as_ref()) {
        Some(path) => match super::hosts::load_inventory(path) {
            Ok(loaded) => Some(loaded.inventory),
            Err(code) => return Ok(code),
        },
        None => None,
    };
    if args.list_hosts && inventory.is_none() {
        eprintln!(
            "error: --list-hosts needs an inventory: add -i INVENTORY or --config cluster.yaml"
        );
        return Ok(EXIT_PLAY_ERROR);
    }
    let options = Options {
        roles_path: args.roles_path.clone(),
    };
    let mut code = 0;
    for path in &args.playbooks {
        match playbook::load(path, &options) {
            Ok(loaded) => {
                eprint!("{}", loaded.render_warnings());
                let list = ListOptions {
                    inventory: inventory.as_ref().filter(|_| args.list_hosts),
                    limit: args.limit.as_deref(),
                    tasks: args
                        .list_tasks
                        .then(|| TagFilter::new(&args.tags, &args.skip_tags)),
                };
                let shown = path.display().to_string();
                match playbook::render_listing(&shown, &loaded.playbook, &list) {
                    Ok(text) => print!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        code = EXIT_PLAY_ERROR;
                    }
                }
            }
            Err(e) => {
                eprint!("{}", e.render());
                code = EXIT_PLAY_ERROR;
            }
        }
    }
    Ok(code)
}

/// Run the playbooks one after the other, stopping after one that does not load or whose hosts
/// failed (ansible-playbook stops there too).
async fn execute(args: &Args) -> anyhow::Result<u8> {
    let extra_vars = match run::extra_vars::parse_all(&args.extra_vars) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_PLAY_ERROR);
        }
    };
    let hosts = HostArgs {
        source: InventoryArgs {
            inventory: args.inventory.clone(),
            config: args.config.clone(),
        },
        limit: args.limit.clone().unwrap_or_else(|| "all".into()),
        reach: args.reach.clone(),
    };
    if args.inventory.is_none() && args.config.is_none() {
        eprintln!(
            "error: running a playbook needs an inventory: add -i INVENTORY or --config cluster.yaml"
        );
        return Ok(EXIT_PLAY_ERROR);
    }
    // Every playbook is loaded before anything runs: a mistake in the second one must not
    // surface after the first has changed hosts.
    let options = Options {
        roles_path: args.roles_path.clone(),
    };
    let mut loaded = Vec::new();
    for path in &args.playbooks {
        match playbook::load(path, &options) {
            Ok(l) => {
                eprint!("{}", l.render_warnings());
                loaded.push(l);
            }
            Err(e) => {
                eprint!("{}", e.render());
                return Ok(EXIT_PLAY_ERROR);
            }
        }
    }
    let sel = match hosts.select(None) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let target = |h: &str| hosts.target(&sel.inventory, h);
    let run_options = run::Options {
        limit: args.limit.as_deref(),
        forks: args.reach.forks as usize,
        become_default: BecomeDefault {
            enabled: args.escalate.r#become,
            user: args.escalate.become_user.clone(),
        },
        target: &target,
        check: args.check,
        diff: args.diff,
        extra_vars,
        tags: TagFilter::new(&args.tags, &args.skip_tags),
        start_at_task: args.start_at_task.clone(),
        force_handlers: args.force_handlers,
        roles_path: args.roles_path.clone(),
        resume: None,
    };
    let recorded = Recorded::begin(&args.reach, &args.playbooks);
    let run_id = recorded.as_ref().map_or(0, |r| r.journal.run_id());
    let plan = super::render::play_tasks(
        loaded.iter().map(|l| &l.playbook),
        &TagFilter::new(&args.tags, &args.skip_tags),
    );
    let terminal = Terminal::new().with_diff(args.diff).with_progress(plan);
    let json = JsonLines::new(run_id);
    let shown: &dyn EventSink = if args.json { &json } else { &terminal };
    let mut sinks = vec![shown];
    if let Some(r) = &recorded {
        sinks.push(&r.journal);
    }
    let sink = Tee::new(sinks);
    let mut code = EXIT_OK;
    for l in &loaded {
        let recap = match run::run(
            &l.playbook,
            &sel.inventory,
            &sel.connector,
            &run_options,
            &sink,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                if let Some(r) = recorded {
                    r.finish(EXIT_PLAY_ERROR);
                }
                return Ok(EXIT_PLAY_ERROR);
            }
        };
        code = if recap.values().any(|s| s.failed > 0) {
            EXIT_FAILED
        } else if recap.values().any(|s| s.unreachable > 0) {
            EXIT_UNREACHABLE
        } else {
            EXIT_OK
        };
        if code != EXIT_OK {
            break;
        }
    }
    if let Some(r) = recorded {
        r.finish(code);
    }
    Ok(code)
}

/// The run as recorded in the state store. A store that cannot be opened is a warning, not a
/// reason to refuse the run: the hosts' work matters more than its record.
pub(super) struct Recorded {
    pub(super) store: Store,
    pub(super) journal: Journal,
}

impl Recorded {
    fn begin(reach: &ReachArgs, playbooks: &[PathBuf]) -> Option<Recorded> {
        let title = playbooks
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        Recorded::begin_as(reach, "play", &title)
    }

    /// A run of `kind` (`play`, `install`) titled `title`.
    pub(super) fn begin_as(reach: &ReachArgs, kind: &str, title: &str) -> Option<Recorded> {
        let dir = crate::state_dir::resolve(reach.state_dir.clone());
        let opened = Store::open_in(&dir).and_then(|store| {
            let id = store.begin_run(kind, title)?;
            let journal = Journal::start(store.path(), id)?;
            Ok(Recorded { store, journal })
        });
        match opened {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("[WARNING]: this run is not recorded: {e}");
                None
            }
        }
    }

    pub(super) fn finish(self, code: u8) {
        let status = match code {
            EXIT_OK => RunStatus::Ok,
            EXIT_FAILED => RunStatus::Failed,
            EXIT_UNREACHABLE => RunStatus::Unreachable,
            _ => RunStatus::Error,
        };
        if let Err(e) = self.journal.finish() {
            eprintln!("[WARNING]: the run's record is incomplete: {e}");
        }
        if let Err(e) = self
            .store
            .finish_run(self.journal.run_id(), status, Some(code))
        {
            eprintln!("[WARNING]: the run's record is incomplete: {e}");
        }
    }
}
