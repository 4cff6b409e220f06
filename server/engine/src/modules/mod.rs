//! The modules a task can call, one per file, each run from the controller over SSH: no
//! Python, no agent on the host.
//!
//! Owns what each module does with its (already templated) arguments and the result it
//! reports. Must not: emit events, decide whether a failure stops the host (the runner applies
//! `ignore_errors`, `failed_when`, `changed_when`), or print. A module that is not implemented
//! yet is a failed result naming it, never a panic.

mod apt;
mod assert;
mod command;
mod debug;
mod dnf;
mod fail;
mod get_url;
mod group;
mod hostname;
mod http;
mod modprobe;
mod mount;
mod package;
mod params;
mod pause;
mod raw;
mod service;
mod set_fact;
pub mod setup;
mod sh;
mod shell;
mod sysctl;
mod uri;
mod user;
mod wait_for;
mod words;

use std::path::PathBuf;

use serde_json::Value as Json;

pub use crate::event::Diff;
use crate::playbook::Vars;
use crate::run::template::{Context, Templar};
use crate::ssh::{Connection, SshError};

/// What a module gets: its arguments with `{{ }}` already rendered (except those listed by
/// [`untemplated`]), the host's connection, and the variables for modules that evaluate
/// expressions themselves.
pub struct Call<'a> {
    pub args: &'a Vars,
    pub conn: &'a Connection,
    pub become_user: Option<&'a str>,
    pub templar: &'a Templar,
    pub vars: &'a Context,
    /// The inventory name of the host (for messages and `fetch`'s per-host directories).
    pub host: &'a str,
    /// Check mode (`--check`, `check_mode: true`): report what would change, change nothing.
    pub check: bool,
    /// `--diff` (or `diff: true`): fill [`ModuleResult::diff`] for files that change.
    pub diff: bool,
    /// Where a relative `src` (copy, template, script, unarchive) is looked up, in order:
    /// the role's directory first (if the task is a role's), then the playbook's directory.
    /// A module appends its own subdirectory first (`files/` or `templates/`), then tries
    /// the directory itself, as Ansible does.
    pub search: &'a [PathBuf],
    /// `environment:` in effect for the task (play, block, task merged), exported before a
    /// command runs.
    pub environment: &'a [(String, String)],
}

impl Call<'_> {
    /// Find a controller-side `src` as Ansible does: absolute as given; relative under each
    /// search directory's `subdir` (`files`, `templates`), then the directory itself.
    pub fn find_src(&self, src: &str, subdir: &str) -> Option<PathBuf> {
        let p = std::path::Path::new(src);
        if p.is_absolute() {
            return p.exists().then(|| p.to_path_buf());
        }
        for dir in self.search {
            for cand in [dir.join(subdir).join(p), dir.join(p)] {
                if cand.exists() {
                    return Some(cand);
                }
            }
        }
        None
    }
}

/// A module's result, in Ansible's terms (the runner turns it into the registered dict).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModuleResult {
    pub changed: bool,
    pub failed: bool,
    pub rc: Option<i64>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub msg: Option<String>,
    /// Fields a renderer shows on success (debug's output).
    pub data: Vars,
    /// More fields for the registered result (`ansible_facts`, `assertion`, `cmd`).
    pub extra: Vars,
    /// Variables set on the host for the rest of the run (set_fact).
    pub facts: Vars,
    /// Files changed (or that would change in check mode), filled when [`Call::diff`] is set.
    pub diff: Vec<Diff>,
}

impl ModuleResult {
    pub fn failed(msg: impl Into<String>) -> ModuleResult {
        ModuleResult {
            failed: true,
            msg: Some(msg.into()),
            ..ModuleResult::default()
        }
    }
}

/// Arguments a module evaluates itself as expressions, so the runner must not template them.
pub fn untemplated(module: &str) -> &'static [&'static str] {
    match module {
        "debug" => &["var"],
        "assert" => &["that"],
        _ => &[],
    }
}

/// Run `module`. `Err` only for a transport error (the host may be unreachable); everything
/// else, a bad argument included, is a failed [`ModuleResult`].
pub async fn run(module: &str, call: &Call<'_>) -> Result<ModuleResult, SshError> {
    match module {
        "command" => command::run(call).await,
        "shell" => shell::run(call).await,
        "raw" => raw::run(call).await,
        "debug" => Ok(debug::run(call)),
        "set_fact" => Ok(set_fact::run(call)),
        "setup" => setup::run(call).await,
        "assert" => Ok(assert::run(call)),
        "fail" => Ok(fail::run(call)),
        "service" | "systemd" | "systemd_service" => service::run(call).await,
        "sysctl" => sysctl::run(call).await,
        "apt" => apt::run(call).await,
        "dnf" | "yum" => dnf::run(call).await,
        "get_url" => get_url::run(call).await,
        "group" => group::run(call).await,
        "hostname" => hostname::run(call).await,
        "modprobe" => modprobe::run(call).await,
        "mount" => mount::run(call).await,
        "package" => package::run(call).await,
        "pause" => Ok(pause::run(call).await),
        "uri" => uri::run(call).await,
        "user" => user::run(call).await,
        "wait_for" => wait_for::run(call).await,
        other => Ok(ModuleResult::failed(format!(
            "module {other} is not implemented yet"
        ))),
    }
}

/// A string argument, if given (numbers and booleans are accepted as their text).
fn arg_str(args: &Vars, key: &str) -> Option<String> {
    match args.get(key)? {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        other => Some(other.to_string()),
    }
}
