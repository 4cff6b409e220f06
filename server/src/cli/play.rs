//! `cairn play`: load playbooks and, for now, check or list them (`--syntax-check`,
//! `--list-tasks`, `--list-hosts`) in ansible-playbook's output shape. Running them is not
//! implemented yet and says so.

use cairn_engine::playbook::{self, ListOptions, Options, TagFilter};
use std::path::PathBuf;

/// ansible-playbook's exit status for a playbook that does not load: the same as any other
/// bad input.
const EXIT_PLAY_ERROR: u8 = super::EXIT_USAGE;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit status: 0 the playbooks are valid (and listed); 1 a playbook or the \
inventory is invalid, a flag is wrong, or a run was asked for (not implemented yet)."
)]
pub struct Args {
    /// Playbook files, checked in order.
    #[arg(required = true, value_name = "PLAYBOOK")]
    pub playbooks: Vec<PathBuf>,

    /// Ansible inventory (INI or YAML) or a Cairn cluster.yaml; needed by --list-hosts.
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

    /// With --list-hosts: only hosts that also match this pattern.
    #[arg(short, long, value_name = "PATTERN")]
    pub limit: Option<String>,

    /// With --list-tasks: only tasks with these tags (comma-separated; `all`, `tagged`,
    /// `untagged`, `always`, `never` as in Ansible).
    #[arg(short, long, value_name = "TAGS")]
    pub tags: Vec<String>,

    /// With --list-tasks: leave out tasks with these tags.
    #[arg(long, value_name = "TAGS")]
    pub skip_tags: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if !(args.syntax_check || args.list_tasks || args.list_hosts) {
        eprintln!(
            "error: running playbooks is not implemented yet; use --syntax-check, --list-tasks or --list-hosts"
        );
        return Ok(EXIT_PLAY_ERROR);
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
