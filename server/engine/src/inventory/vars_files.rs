//! `host_vars/` and `group_vars/` beside an inventory file.
//!
//! Owns finding and reading those files the way Ansible's `host_group_vars` plugin does: for
//! a host or group `NAME`, the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` that
//! exists; if that is a directory, every file in it (recursively, sorted by name, skipping
//! hidden files and `~` backups) with no extension or one of those, later files overriding
//! earlier ones key by key. Each file holds a YAML (or JSON) mapping.
//!
//! Must not: decide precedence (the model does, see `Inventory::host_vars`) or read vars for
//! cluster.yaml, which is self-contained.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::InventoryError;
use super::model::{Inventory, Vars};
use crate::diagnostic::{Diagnostic, Sources};
use crate::yaml::{self, NodeValue};

const EXTENSIONS: [&str; 3] = ["yml", "yaml", "json"];

/// Fill `dir_vars` of every host and group from `base/host_vars` and `base/group_vars`.
/// Every file read is added to `sources` (so warnings can quote it); duplicate keys become
/// warnings.
pub(crate) fn load(
    inventory: &mut Inventory,
    base: &Path,
    sources: &mut Sources,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), InventoryError> {
    let groups: Vec<String> = inventory.groups.keys().cloned().collect();
    for name in groups {
        let vars = read_all(&base.join("group_vars"), &name, sources, warnings)?;
        inventory.groups[&name].dir_vars = vars;
    }
    let hosts: Vec<String> = inventory.hosts.keys().cloned().collect();
    for name in hosts {
        let vars = read_all(&base.join("host_vars"), &name, sources, warnings)?;
        inventory.hosts[&name].dir_vars = vars;
    }
    Ok(())
}

/// The merged variables of every file found for `name` in `dir`.
fn read_all(
    dir: &Path,
    name: &str,
    sources: &mut Sources,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vars, InventoryError> {
    let mut vars = Vars::new();
    // A name with a path separator would read outside the directory: such a host or group
    // simply has no vars files.
    if name.contains(['/', '\\']) || name.starts_with('.') || !dir.is_dir() {
        return Ok(vars);
    }
    for file in find(dir, name) {
        for (k, v) in read_file(&file, sources, warnings)? {
            vars.insert(k, v);
        }
    }
    Ok(vars)
}

fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    let candidates = std::iter::once(dir.join(name)).chain(
        EXTENSIONS
            .iter()
            .map(|ext| dir.join(format!("{name}.{ext}"))),
    );
    for path in candidates {
        if path.is_dir() {
            return dir_files(&path);
        }
        if path.is_file() {
            return vec![path];
        }
    }
    Vec::new()
}

fn dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    let mut files = Vec::new();
    for path in entries {
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if file_name.starts_with('.') || file_name.ends_with('~') {
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str());
        if path.is_dir() && ext.is_none() {
            files.extend(dir_files(&path));
        } else if path.is_file() && ext.is_none_or(|e| EXTENSIONS.contains(&e)) {
            files.push(path);
        }
    }
    files
}

fn read_file(
    path: &Path,
    sources: &mut Sources,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vars, InventoryError> {
    let shown = path.display().to_string();
    let text: Arc<str> = std::fs::read_to_string(path)
        .map_err(|e| {
            Diagnostic::error(&shown, None, format!("cannot read {shown}: {e}"))
                .help("vars files must be readable UTF-8 YAML or JSON")
        })?
        .into();
    sources.add(&shown, text.clone());
    let fail = |d: Diagnostic| InventoryError::from(d).with_source(text.clone());
    if text.starts_with("$ANSIBLE_VAULT;") {
        return Err(fail(
            Diagnostic::error(&shown, None, "ansible-vault encrypted files are not supported")
                .help("decrypt the file (ansible-vault decrypt), or keep secrets in *_env / *_file settings"),
        ));
    }
    let root = yaml::parse(&text).map_err(|e| fail(e.into_diagnostic(&shown)))?;
    for (path, key, span) in yaml::duplicate_keys(&root) {
        let place = if path.is_root() {
            "the top level".to_string()
        } else {
            path.to_string()
        };
        warnings.push(
            Diagnostic::warning(
                &shown,
                Some(span),
                format!("duplicate key \"{key}\" in {place}"),
            )
            .label("written again here")
            .help("only the last value is used; remove one of them"),
        );
    }
    match (&root.value, root.to_json()) {
        (NodeValue::Null, _) => Ok(Vars::new()),
        (_, serde_json::Value::Object(vars)) => Ok(vars),
        _ => Err(fail(
            Diagnostic::error(
                &shown,
                Some(root.span),
                format!(
                    "a vars file must be a mapping of variable names, found {}",
                    root.kind()
                ),
            )
            .help("write one `name: value` per line"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::model::ALL;
    use crate::testutil::TempDir;
    use serde_json::json;

    fn inventory() -> Inventory {
        let mut inv = Inventory::new();
        inv.add_host("web1", "web");
        inv.add_host("db1", "db");
        inv.reconcile();
        inv
    }

    #[test]
    fn files_and_directories() {
        let tmp = TempDir::new("varsfiles");
        tmp.write("group_vars/all.yml", "a: all\n");
        // The file without extension wins over web.yml: the first that exists is used.
        tmp.write("group_vars/web", "w: plain\n");
        tmp.write("group_vars/web.yml", "w: yml\n");
        tmp.write("group_vars/db/10-main.yml", "x: 1\ny: 1\n");
        tmp.write("group_vars/db/20-more.json", "{\"y\": 2}\n");
        tmp.write("group_vars/db/sub/30.yaml", "z: 3\n");
        tmp.write("group_vars/db/.hidden.yml", "x: hidden\n");
        tmp.write("group_vars/db/backup.yml~", "x: backup\n");
        tmp.write("group_vars/db/notes.txt", "x: txt\n");
        tmp.write("host_vars/web1.yaml", "h: 1\n");
        tmp.write("host_vars/db1.yml", "# only a comment\n");
        let mut inv = inventory();
        let (mut sources, mut warnings) = (Sources::default(), Vec::new());
        load(&mut inv, &tmp.0, &mut sources, &mut warnings).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(inv.groups[ALL].dir_vars["a"], "all");
        assert_eq!(inv.groups["web"].dir_vars["w"], "plain");
        assert_eq!(
            serde_json::Value::Object(inv.groups["db"].dir_vars.clone()),
            json!({"x": 1, "y": 2, "z": 3})
        );
        assert_eq!(inv.hosts["web1"].dir_vars["h"], 1);
        assert!(inv.hosts["db1"].dir_vars.is_empty());
        let file = tmp.0.join("group_vars/all.yml").display().to_string();
        assert_eq!(sources.get(&file), Some("a: all\n"));
    }

    #[test]
    fn no_directories_no_vars() {
        let tmp = TempDir::new("novars");
        let mut inv = inventory();
        let (mut sources, mut warnings) = (Sources::default(), Vec::new());
        load(&mut inv, &tmp.0, &mut sources, &mut warnings).unwrap();
        assert!(inv.groups.values().all(|g| g.dir_vars.is_empty()));
    }

    #[test]
    fn errors_and_warnings() {
        let cases: &[(&str, &str, &str, usize)] = &[
            (
                "group_vars/web.yml",
                "- a\n",
                "a vars file must be a mapping of variable names, found a list",
                1,
            ),
            (
                "host_vars/web1",
                "$ANSIBLE_VAULT;1.1;AES256\n3061\n",
                "ansible-vault encrypted files are not supported",
                0,
            ),
            ("group_vars/all.yml", "a: [\n", "invalid YAML: ", 2),
        ];
        for (rel, text, message, line) in cases {
            let tmp = TempDir::new("varserr");
            let path = tmp.write(rel, text);
            let mut inv = inventory();
            let e = load(&mut inv, &tmp.0, &mut Sources::default(), &mut Vec::new()).unwrap_err();
            let d = e.diagnostic();
            assert!(d.message.starts_with(message), "{rel}: {}", d.message);
            assert_eq!(d.line, *line, "{rel}");
            assert_eq!(d.file, path.display().to_string());
            assert!(e.render().contains(&path.display().to_string()));
        }

        let tmp = TempDir::new("varswarn");
        tmp.write("group_vars/web.yml", "a: 1\na: 2\n");
        let mut inv = inventory();
        let mut warnings = Vec::new();
        load(&mut inv, &tmp.0, &mut Sources::default(), &mut warnings).unwrap();
        assert_eq!(inv.groups["web"].dir_vars["a"], 2);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].message, "duplicate key \"a\" in the top level");
        assert_eq!((warnings[0].line, warnings[0].column), (2, 1));
    }
}
