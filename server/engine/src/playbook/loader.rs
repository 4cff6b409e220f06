//! The loading session: reading files, finding the ones a playbook names, detecting import
//! cycles, collecting every problem found.
//!
//! Owns [`Loader`] (what one `load` call carries along: options, file texts, diagnostics, the
//! chain of files being imported, the roles already loaded) and [`FileCtx`] (what a reader needs
//! to know about the file it is in). Errors are collected rather than returned at the first one,
//! so `--syntax-check` shows every mistake at once. Must not: interpret playbook keywords (the
//! play, task and role readers do).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Options;
use super::model::{Location, Role};
use crate::diagnostic::{Diagnostic, Sources};
use crate::yaml::{self, Node, Span};

/// What a reader knows about the file it is reading.
#[derive(Clone, Debug)]
pub struct FileCtx {
    /// The file as shown in messages.
    pub name: Arc<str>,
    /// The directory relative imports start from.
    pub dir: PathBuf,
    /// The role this file belongs to: its name and directory.
    pub role: Option<(String, PathBuf)>,
}

impl FileCtx {
    pub fn location(&self, span: Span) -> Location {
        Location {
            file: self.name.clone(),
            line: span.line,
            column: span.column,
        }
    }

    pub fn error(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(&self.name, Some(span), message)
    }
}

pub struct Loader {
    pub options: Options,
    pub sources: Sources,
    pub errors: Vec<Diagnostic>,
    /// Problems that do not stop loading (a key written twice: YAML keeps the last one).
    pub warnings: Vec<Diagnostic>,
    /// The directory of the top playbook: `roles/` beside it is searched first.
    pub playbook_dir: PathBuf,
    /// Files being imported, outermost first, as (canonical path, shown name).
    chain: Vec<(PathBuf, String)>,
    /// Roles loaded so far by directory: a role used twice is read once.
    pub roles: HashMap<PathBuf, Arc<Role>>,
}

impl Loader {
    pub fn new(options: Options, playbook_dir: PathBuf) -> Self {
        Loader {
            options,
            sources: Sources::default(),
            errors: Vec::new(),
            warnings: Vec::new(),
            playbook_dir,
            chain: Vec::new(),
            roles: HashMap::new(),
        }
    }

    pub fn report(&mut self, d: impl Into<Box<Diagnostic>>) {
        self.errors.push(*d.into());
    }

    /// Read and parse a YAML file. Problems are reported against `from` (the statement that
    /// named the file) when given, else against the file itself.
    pub fn read_yaml(&mut self, path: &Path, from: Option<(&FileCtx, Span)>) -> Option<Node> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let reason = if e.kind() == std::io::ErrorKind::InvalidData {
                    "it is not UTF-8 text".to_string()
                } else {
                    e.to_string()
                };
                let d = match from {
                    Some((f, span)) => f.error(span, format!("cannot read {shown}: {reason}")),
                    None => {
                        Diagnostic::error(&shown, None, format!("cannot read {shown}: {reason}"))
                    }
                };
                self.report(d.help("check the path and that the file is readable"));
                return None;
            }
        };
        let text: Arc<str> = text.into();
        self.sources.add(&shown, text.clone());
        match yaml::parse(&text) {
            Ok(node) => {
                self.warn_duplicates(&shown, &node);
                Some(node)
            }
            Err(e) => {
                self.report(e.into_diagnostic(&shown));
                None
            }
        }
    }

    /// A key written twice in a mapping is legal YAML and the last value wins, as in Ansible,
    /// which warns too: a second `when:` silently replacing the first is a classic bug.
    fn warn_duplicates(&mut self, shown: &str, node: &Node) {
        for (path, key, span) in yaml::duplicate_keys(node) {
            let place = if path.is_root() {
                "the top level".to_string()
            } else {
                path.to_string()
            };
            self.warnings.push(
                Diagnostic::warning(
                    shown,
                    Some(span),
                    format!("duplicate key \"{key}\" in {place}"),
                )
                .label("written again here")
                .help("only the last value is used; remove one of them"),
            );
        }
    }

    /// Enter `path` for an import written at `span` of `from`; `None` (and an error naming the
    /// chain) if that file is already being imported.
    pub fn enter(&mut self, path: &Path, from: Option<(&FileCtx, Span)>) -> Option<()> {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if let Some(start) = self.chain.iter().position(|(p, _)| *p == canonical) {
            let mut names: Vec<&str> = self.chain[start..]
                .iter()
                .map(|(_, n)| n.as_str())
                .collect();
            let shown = path.display().to_string();
            names.push(&shown);
            let message = format!("import cycle: {}", names.join(" -> "));
            let d = match from {
                Some((f, span)) => f
                    .error(span, message)
                    .label("imports a file that is already being imported"),
                None => Diagnostic::error(&shown, None, message),
            };
            self.report(d.help("remove one of the imports, or use include_tasks where the repetition is conditional"));
            return None;
        }
        self.chain.push((canonical, path.display().to_string()));
        Some(())
    }

    pub fn leave(&mut self) {
        self.chain.pop();
    }

    /// Where a file named by an import statement is, and every place that was tried. Relative
    /// names are looked for in the role's `sub` directory (`tasks`, ...) when inside a role,
    /// then beside the importing file, then beside the top playbook.
    pub fn find_file(&self, f: &FileCtx, sub: &str, name: &str) -> Result<PathBuf, Vec<PathBuf>> {
        let name = Path::new(name);
        if name.is_absolute() {
            return if name.is_file() {
                Ok(name.to_path_buf())
            } else {
                Err(vec![name.to_path_buf()])
            };
        }
        let mut tried = Vec::new();
        if let Some((_, role_dir)) = &f.role {
            tried.push(role_dir.join(sub).join(name));
        }
        tried.push(f.dir.join(name));
        tried.push(self.playbook_dir.join(name));
        tried.dedup();
        match tried.iter().find(|p| p.is_file()) {
            Some(p) => Ok(p.clone()),
            None => Err(tried),
        }
    }
}

/// Paths joined with `, `, for messages that list where something was looked for.
pub fn shown_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
