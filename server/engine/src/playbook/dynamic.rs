//! Loading at run time what a playbook names dynamically: the file of an `include_tasks`, the
//! role of an `include_role`, and `vars_files`.
//!
//! Owns the same reading, search and diagnostics as loading (so a mistake in an included file
//! is reported exactly as it would be in an imported one), for one file or role at a time.
//! Must not: decide which hosts include what, or template names (the executor does both and
//! hands over a plain name).

use std::path::{Path, PathBuf};

use super::loader::{FileCtx, Loader, shown_list};
use super::model::{Location, RoleRef, Task, Vars};
use super::task::{self, Section};
use super::{Options, PlaybookError, fields, roles};
use crate::diagnostic::Diagnostic;
use crate::yaml::Span;

/// Where a dynamic statement was written, and what it knows of its surroundings.
#[derive(Clone, Debug)]
pub struct Origin<'a> {
    /// The statement's location (errors point at it).
    pub at: &'a Location,
    /// The role the statement belongs to (name, directory), if any.
    pub role: Option<(String, PathBuf)>,
    pub playbook_dir: &'a Path,
    pub options: &'a Options,
}

impl Origin<'_> {
    fn loader(&self) -> (Loader, FileCtx) {
        let file = Path::new(&*self.at.file);
        let ctx = FileCtx {
            name: self.at.file.clone(),
            dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            role: self.role.clone(),
        };
        (
            Loader::new(self.options.clone(), self.playbook_dir.to_path_buf()),
            ctx,
        )
    }

    fn span(&self) -> Span {
        Span::new(self.at.line, self.at.column, 0)
    }
}

fn finish<T>(ld: Loader, value: Option<T>) -> Result<T, PlaybookError> {
    match value {
        Some(v) if ld.errors.is_empty() => Ok(v),
        _ => Err(PlaybookError {
            diagnostics: if ld.errors.is_empty() {
                vec![Diagnostic::error("?", None, "could not load")]
            } else {
                ld.errors
            },
            sources: ld.sources,
        }),
    }
}

/// The tasks of `file` for an `include_tasks` written at `origin` (found as `import_tasks`
/// would find it: the role's `tasks/`, beside the including file, beside the playbook).
/// Returns the file's path too (for the `included:` line).
pub fn include_tasks(
    origin: &Origin<'_>,
    file: &str,
) -> Result<(PathBuf, Vec<Task>), PlaybookError> {
    let (mut ld, f) = origin.loader();
    let span = origin.span();
    let path = match ld.find_file(&f, "tasks", file) {
        Ok(p) => p,
        Err(tried) => {
            ld.report(
                f.error(span, format!("included file {file:?} not found"))
                    .label("no such file")
                    .help(format!("looked for: {}", shown_list(&tried))),
            );
            return finish(ld, None);
        }
    };
    let node = ld.read_yaml(&path, Some((&f, span)));
    let sub = FileCtx {
        name: path.display().to_string().into(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        role: f.role.clone(),
    };
    let tasks = node.map(|n| task::tasks(&mut ld, &sub, "tasks", &n, Section::Tasks));
    finish(ld, tasks.map(|t| (path, t)))
}

/// Role `name` for an `include_role` written at `origin`, with its `tasks_from`.
pub fn include_role(
    origin: &Origin<'_>,
    name: &str,
    tasks_from: Option<&str>,
) -> Result<RoleRef, PlaybookError> {
    let (mut ld, f) = origin.loader();
    let r = roles::reference(&mut ld, &f, name, origin.span(), tasks_from);
    finish(ld, r)
}

/// The variables of a `vars_files` entry: a YAML mapping.
pub fn vars_file(origin: &Origin<'_>, file: &str) -> Result<Vars, PlaybookError> {
    let (mut ld, f) = origin.loader();
    let span = origin.span();
    let path = {
        let p = Path::new(file);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            f.dir.join(p)
        }
    };
    let node = ld.read_yaml(&path, Some((&f, span)));
    let vars = node.and_then(|n| {
        if n.is_null() {
            return Some(Vars::new());
        }
        match fields::mapping(&path.display().to_string(), "vars_files", &n) {
            Ok(v) => Some(v),
            Err(d) => {
                ld.report(d);
                None
            }
        }
    });
    finish(ld, vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin<'a>(at: &'a Location, dir: &'a Path, options: &'a Options) -> Origin<'a> {
        Origin {
            at,
            role: None,
            playbook_dir: dir,
            options,
        }
    }

    #[test]
    fn included_files_load_and_missing_ones_point_at_the_statement() {
        let dir = std::env::temp_dir().join(format!("cairn-dynamic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("more.yml"), "- name: one\n  debug: msg=hi\n").unwrap();
        std::fs::write(dir.join("v.yml"), "a: 1\n").unwrap();
        std::fs::write(dir.join("bad.yml"), "- 3\n").unwrap();
        let site = dir.join("site.yml").display().to_string();
        let at = Location {
            file: site.as_str().into(),
            line: 4,
            column: 7,
        };
        let options = Options::default();
        let o = origin(&at, &dir, &options);
        let (path, tasks) = include_tasks(&o, "more.yml").unwrap();
        assert_eq!(path, dir.join("more.yml"));
        assert_eq!(tasks[0].name.as_deref(), Some("one"));
        let e = include_tasks(&o, "nope.yml").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{site}:4:7: error: included file \"nope.yml\" not found")
        );
        let e = include_tasks(&o, "bad.yml").unwrap_err();
        assert!(e.to_string().contains("a task must be a mapping"), "{e}");
        assert_eq!(vars_file(&o, "v.yml").unwrap()["a"], 1);
        let e = vars_file(&o, "missing.yml").unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("{site}:4:7: error: cannot read")),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
