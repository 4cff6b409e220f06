//! The playbook language's front end: loading Ansible-style playbooks and roles into a typed
//! model, resolving static imports, and reporting every mistake with its file, line and column.
//!
//! Owns [`load`] (a playbook file, its `import_playbook`s, `import_tasks`, roles and role
//! dependencies, all read at load time with cycle detection), the model ([`Playbook`], [`Play`],
//! [`Task`], [`Role`], ...), the registry of recognised modules, and the listings that
//! `--list-tasks`/`--list-hosts` print. Nothing is executed here, and nothing is templated:
//! conditions, loops and arguments are kept as written for the executor that comes later.
//!
//! Must not: connect to hosts, evaluate templates, print, or know about HTTP and storage.
//!
//! One concept per file: `model` (the types), `loader` (files, search, cycles, collected
//! errors), `play` (playbook files and play keys), `task` (tasks, blocks, handlers, imports),
//! `roles` (role search path and layout), `handlers` (notify names a
//! handler), `fields` (typed keyword values), `modules` (module
//! registry, FQCN, free-form `k=v`), `tags` (`--tags`/`--skip-tags` selection), `listing`
//! (`--list-*` output).

pub mod dynamic;
mod fields;
mod handlers;
mod listing;
mod loader;
pub mod model;
pub mod modules;
mod play;
mod roles;
mod tags;
mod task;

use std::fmt;
use std::path::{Path, PathBuf};

pub use listing::{ListOptions, Listed, play_tasks, render as render_listing};
pub use model::{
    Action, Batch, Common, Count, Flag, Location, Loop, LoopControl, Play, Playbook, Role, RoleRef,
    Strategy, Task, TaskKind, Vars,
};
pub use tags::TagFilter;

use crate::diagnostic::{Diagnostic, Sources};
use loader::Loader;

/// How to load: where else to look for roles.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Searched for roles after `roles/` beside the playbook, in order.
    pub roles_path: Vec<PathBuf>,
}

/// A loaded playbook, what was noticed while loading it, and the text of every file read (for
/// rendering diagnostics later).
#[derive(Clone, Debug)]
pub struct Loaded {
    pub playbook: Playbook,
    /// Problems that do not stop loading (a key written twice).
    pub warnings: Vec<Diagnostic>,
    pub sources: Sources,
}

impl Loaded {
    /// Every warning rendered with its snippet, one after the other.
    pub fn render_warnings(&self) -> String {
        self.sources.render_all(&self.warnings)
    }
}

/// Everything wrong with a playbook, in the order found. Never empty.
#[derive(Debug)]
pub struct PlaybookError {
    diagnostics: Vec<Diagnostic>,
    sources: Sources,
}

impl PlaybookError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Every diagnostic rendered with its snippet, followed by a count when there are several.
    pub fn render(&self) -> String {
        let mut out: String = self
            .diagnostics
            .iter()
            .map(|d| self.sources.render(d) + "\n")
            .collect();
        if self.diagnostics.len() > 1 {
            out.push_str(&format!(
                "error: {} problems found\n",
                self.diagnostics.len()
            ));
        }
        out
    }
}

impl fmt::Display for PlaybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.diagnostics.as_slice() {
            [one] => write!(f, "{one}"),
            [first, rest @ ..] => write!(f, "{first} (and {} more)", rest.len()),
            [] => f.write_str("invalid playbook"),
        }
    }
}

impl std::error::Error for PlaybookError {}

/// Load the playbook at `path` with everything it imports. Any problem anywhere (YAML syntax,
/// unknown module or keyword, wrong type, missing role or file, import cycle, a
/// notification no handler answers) makes it an
/// `Err` listing all of them.
pub fn load(path: &Path, options: &Options) -> Result<Loaded, PlaybookError> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut ld = Loader::new(options.clone(), dir);
    let plays = if path.is_dir() {
        let shown = path.display().to_string();
        ld.report(
            Diagnostic::error(&shown, None, format!("{shown} is a directory"))
                .help("name the playbook file itself (for example site.yml)"),
        );
        Vec::new()
    } else {
        play::playbook_file(&mut ld, path, None)
    };
    for p in &plays {
        ld.errors.extend(handlers::check(p));
    }
    if !ld.errors.is_empty() {
        return Err(PlaybookError {
            diagnostics: ld.errors,
            sources: ld.sources,
        });
    }
    Ok(Loaded {
        playbook: Playbook {
            path: path.to_path_buf(),
            plays,
        },
        warnings: ld.warnings,
        sources: ld.sources,
    })
}

#[cfg(test)]
mod tests;
