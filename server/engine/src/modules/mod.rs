//! The modules a task can call, one per file, each run from the controller over SSH: no
//! Python, no agent on the host.
//!
//! Owns what each module does with its (already templated) arguments and the result it
//! reports. Must not: emit events, decide whether a failure stops the host (the runner applies
//! `ignore_errors`, `failed_when`, `changed_when`), or print. A module that is not implemented
//! yet is a failed result naming it, never a panic.

mod apt;
mod assert;
mod blockinfile;
mod command;
mod copy;
mod debug;
mod dnf;
mod fail;
mod fetch;
mod file;
mod get_url;
mod group;
mod hostname;
mod http;
mod include_vars;
mod lineinfile;
mod local_hash;
mod modprobe;
mod mount;
mod package;
mod params;
mod pause;
mod pyregex;
mod raw;
pub mod remote_path;
mod replace;
mod script;
mod service;
pub mod session;
mod set_fact;
pub mod setup;
mod sh;
mod shell;
mod slurp;
mod stat;
mod sysctl;
mod template;
mod text_edit;
mod unarchive;
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
        find_src_in(self.search, src, subdir)
    }
}

/// [`Call::find_src`] over explicit search directories.
pub fn find_src_in(search: &[PathBuf], src: &str, subdir: &str) -> Option<PathBuf> {
    let p = std::path::Path::new(src);
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    for dir in search {
        for cand in [dir.join(subdir).join(p), dir.join(p)] {
            if cand.exists() {
                return Some(cand);
            }
        }
    }
    None
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
        "include_vars" => Ok(include_vars::run(call)),
        "setup" => setup::run(call).await,
        "assert" => Ok(assert::run(call)),
        "blockinfile" => blockinfile::run(call).await,
        "copy" => copy::run(call).await,
        "fail" => Ok(fail::run(call)),
        "fetch" => fetch::run(call).await,
        "file" => file::run(call).await,
        "lineinfile" => lineinfile::run(call).await,
        "replace" => replace::run(call).await,
        "script" => script::run(call).await,
        "slurp" => slurp::run(call).await,
        "stat" => stat::run(call).await,
        "template" => template::run(call).await,
        "unarchive" => unarchive::run(call).await,
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

/// A boolean argument as Ansible reads it (`yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`).
fn arg_bool(args: &Vars, key: &str, default: bool) -> Result<bool, String> {
    match args.get(key) {
        None | Some(Json::Null) => Ok(default),
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::Number(n)) if n.as_i64() == Some(1) => Ok(true),
        Some(Json::Number(n)) if n.as_i64() == Some(0) => Ok(false),
        Some(Json::String(s)) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" | "t" => Ok(true),
            "no" | "false" | "off" | "0" | "n" | "f" | "" => Ok(false),
            _ => Err(format!(
                "argument {key} is of type str and we were unable to convert to bool: {s:?} is not a valid boolean"
            )),
        },
        Some(other) => Err(format!("argument {key} must be a boolean, got {other}")),
    }
}

/// The path a file module works on: `path`, or its aliases `dest`, `name`, `destfile`.
fn path_arg(args: &Vars) -> Option<String> {
    ["path", "dest", "name", "destfile"]
        .iter()
        .find_map(|k| arg_str(args, k))
}

/// A string argument, if given (numbers and booleans are accepted as their text).
fn arg_str(args: &Vars, key: &str) -> Option<String> {
    match args.get(key)? {
        Json::String(s) => Some(s.clone()),
        Json::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn src_is_found_as_ansible_looks_for_it() {
        let d = tempfile::tempdir().unwrap();
        let role = d.path().join("roles/web");
        let play = d.path().to_path_buf();
        for f in [
            "roles/web/files/a.conf",
            "roles/web/b.conf",
            "files/a.conf",
            "files/c.conf",
            "templates/t.j2",
            "d.conf",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, f).unwrap();
        }
        let search = [role.clone(), play.clone()];
        let cases = [
            // The role's files/ first, then the role's own directory, then the playbook's.
            ("a.conf", "files", Some(role.join("files/a.conf"))),
            ("b.conf", "files", Some(role.join("b.conf"))),
            ("c.conf", "files", Some(play.join("files/c.conf"))),
            ("d.conf", "files", Some(play.join("d.conf"))),
            ("t.j2", "templates", Some(play.join("templates/t.j2"))),
            ("t.j2", "files", None),
            ("nope", "files", None),
        ];
        for (src, sub, want) in cases {
            assert_eq!(find_src_in(&search, src, sub), want, "{src} in {sub}");
        }
        let abs = play.join("d.conf");
        assert_eq!(
            find_src_in(&search, abs.to_str().unwrap(), "files"),
            Some(abs.clone())
        );
        assert_eq!(find_src_in(&search, "/nonexistent/x", "files"), None);
    }
}
