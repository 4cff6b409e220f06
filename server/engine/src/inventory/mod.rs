//! Inventories: which hosts exist, how they are grouped, what variables they see and how to
//! reach them.
//!
//! Owns loading the three formats into one [`Inventory`] model: Cairn's `cluster.yaml`, and
//! Ansible's YAML and INI inventories (with `host_vars/` and `group_vars/` beside them); host
//! patterns (`Inventory::select`); connection targets for the SSH transport
//! (`Inventory::target`); and the diagnostics that point at the line and column of every user
//! mistake.
//!
//! Must not: resolve secrets, connect to hosts, print, or know about HTTP and storage. Callers
//! (the CLI, the server) decide how to show [`Diagnostic`]s.
//!
//! One concept per file: `model` (the model and variable precedence), `pattern` (host
//! patterns and ranges), `ini`, `yaml_inventory`, `cluster` (the formats), `vars_files`
//! (`host_vars/`, `group_vars/`), `connection` (targets), `error` (the error type),
//! `pyliteral` (INI values), `install_settings` (cluster.yaml's sections for `cairn install`). YAML with positions and diagnostics are engine-wide
//! ([`crate::yaml`], [`crate::diagnostic`]); their types are re-exported here.

mod cluster;
mod connection;
mod error;
mod ini;
pub mod install_settings;
pub mod model;
pub mod pattern;
mod pyliteral;
mod vars_files;
mod yaml_inventory;

use std::path::Path;
use std::sync::Arc;

pub use crate::diagnostic::{Diagnostic, Severity, Sources};
pub use crate::yaml::{Span, SpanIndex, YamlPath};
pub use cluster::{API_VERSIONS, ROLES};
pub use error::InventoryError;
pub use install_settings::InstallSettings;
pub use model::{ALL, Group, Host, Inventory, UNGROUPED, Vars};
pub use pattern::{PatternError, RangeError, expand_range};

/// Which format a file was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Cairn's `cluster.yaml` (`apiVersion: cairn/v1`, `kind: Cluster`).
    Cluster,
    /// Ansible's YAML inventory.
    AnsibleYaml,
    /// Ansible's INI inventory.
    AnsibleIni,
}

/// A loaded inventory and what was noticed while loading it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub inventory: Inventory,
    pub format: Format,
    /// Problems that do not stop loading (an even etcd count, a key Ansible would skip).
    pub warnings: Vec<Diagnostic>,
    /// The text of every file read, so warnings can be rendered with their snippet.
    pub sources: Sources,
    /// cluster.yaml's install sections (`installer`, `network`, ...); `None` for Ansible
    /// inventories.
    pub settings: Option<InstallSettings>,
}

impl Loaded {
    /// Every warning rendered with its snippet, one after the other.
    pub fn render_warnings(&self) -> String {
        self.sources.render_all(&self.warnings)
    }
}

/// Load an inventory file, detecting its format:
/// - YAML whose top level has `kind` or `apiVersion` is a cluster.yaml (so a wrong `kind`
///   gets cluster.yaml's error rather than being read as an Ansible group named `kind`);
/// - other YAML mappings are Ansible YAML inventories;
/// - everything else is an INI inventory, except that a `.yml`, `.yaml` or `.json` file, or
///   one with a top-level `apiVersion:` or `kind:` line, is always YAML (its syntax errors are
///   reported as such).
///
/// For Ansible formats, `host_vars/` and `group_vars/` beside the file are read. Relative key
/// and secret file paths in a cluster.yaml are taken relative to the file's directory. A
/// directory is refused: Cairn loads one named file.
pub fn load(path: &Path) -> Result<Loaded, InventoryError> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(
            Diagnostic::error(&shown, None, format!("{shown} is a directory"))
                .help(
                    "name the inventory file itself (for example cluster.yaml or hosts inside it)",
                )
                .into(),
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        let reason = if e.kind() == std::io::ErrorKind::InvalidData {
            "it is not UTF-8 text".to_string()
        } else {
            e.to_string()
        };
        InventoryError::from(
            Diagnostic::error(&shown, None, format!("cannot read {shown}: {reason}"))
                .help("check the path and that the file is readable"),
        )
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    load_text(&shown, text.into(), Some(base))
}

/// Load an inventory from text, named `name` in diagnostics (its extension counts for format
/// detection as in [`load`]). No `host_vars/`/`group_vars/` are read and relative paths stay
/// relative: there is no directory.
pub fn load_str(name: &str, src: &str) -> Result<Loaded, InventoryError> {
    load_text(name, src.into(), None)
}

fn load_text(name: &str, text: Arc<str>, base: Option<&Path>) -> Result<Loaded, InventoryError> {
    let mut sources = Sources::default();
    sources.add(name, text.clone());
    let fail = |d: Diagnostic| InventoryError::from(d).with_source(text.clone());

    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    // A `.yml`/`.yaml`/`.json` name, or a cluster.yaml's telltale top-level keys, means YAML:
    // its syntax errors must be reported as YAML errors, not as a confusing INI one.
    let yaml_name = matches!(ext.as_deref(), Some("yml" | "yaml" | "json"))
        || text
            .lines()
            .any(|l| l.starts_with("apiVersion:") || l.starts_with("kind:"));
    let (format, root) = match crate::yaml::parse(&text) {
        Ok(root) if root.get("kind").is_some() || root.get("apiVersion").is_some() => {
            (Format::Cluster, Some(root))
        }
        Ok(root) if root.as_map().is_some() || yaml_name => (Format::AnsibleYaml, Some(root)),
        Err(e) if yaml_name => return Err(fail(e.into_diagnostic(name))),
        _ => (Format::AnsibleIni, None),
    };

    let mut settings = None;
    let (mut inventory, mut warnings) = match (format, &root) {
        (Format::Cluster, Some(root)) => {
            let (inv, s, w) = cluster::parse_full(name, root, base).map_err(fail)?;
            settings = Some(s);
            (inv, w)
        }
        (Format::AnsibleYaml, Some(root)) => yaml_inventory::parse(name, root).map_err(fail)?,
        _ => (ini::parse(name, &text).map_err(fail)?, Vec::new()),
    };
    if format != Format::Cluster
        && let Some(base) = base
    {
        vars_files::load(&mut inventory, base, &mut sources, &mut warnings)?;
    }
    Ok(Loaded {
        inventory,
        format,
        warnings,
        sources,
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn detects_formats() {
        let cases: &[(&str, &str, Format)] = &[
            (
                "c.yaml",
                "apiVersion: cairn/v1\nkind: Cluster\nname: x\nhosts:\n  - {name: a, address: 10.0.0.1}\n",
                Format::Cluster,
            ),
            ("inv.yml", "all:\n  hosts:\n    a:\n", Format::AnsibleYaml),
            ("hosts", "all:\n  hosts:\n    a:\n", Format::AnsibleYaml),
            ("hosts", "[web]\na\n", Format::AnsibleIni),
            ("hosts", "a ansible_host=10.0.0.1\n", Format::AnsibleIni),
            ("hosts.ini", "", Format::AnsibleIni),
            ("hosts", "[web]\n", Format::AnsibleIni),
        ];
        for (name, src, format) in cases {
            let loaded = load_str(name, src).unwrap_or_else(|e| panic!("{name}: {}", e.render()));
            assert_eq!(loaded.format, *format, "{name}: {src:?}");
        }
    }

    #[test]
    fn a_wrong_kind_is_reported_by_the_cluster_reader() {
        let e = load_str("c.yaml", "kind: Clustr\n").unwrap_err();
        assert_eq!(
            e.diagnostic().message,
            "missing required key \"apiVersion\" at the top level"
        );
        let e = load_str("c.yaml", "apiVersion: cairn/v1\nkind: Clustr\n").unwrap_err();
        assert_eq!(
            e.diagnostic().message,
            "kind must be \"Cluster\", found \"Clustr\""
        );
    }

    #[test]
    fn yaml_named_files_report_yaml_errors() {
        let e = load_str("inv.yml", "all:\n  hosts: [a\n").unwrap_err();
        assert!(e.diagnostic().message.starts_with("invalid YAML: "), "{e}");
        let e = load_str("cluster", "apiVersion: cairn/v1\nkind: [Cluster\n").unwrap_err();
        assert!(e.diagnostic().message.starts_with("invalid YAML: "), "{e}");
        let e = load_str("inv.yml", "- a\n").unwrap_err();
        assert_eq!(
            e.diagnostic().message,
            "a YAML inventory must be a mapping of groups, found a list"
        );
    }

    #[test]
    fn load_reads_vars_dirs_and_renders_errors_with_source() {
        let tmp = TempDir::new("load");
        let hosts = tmp.write("inv/hosts", "[web]\nweb1 x=inline\n");
        tmp.write("inv/group_vars/web.yml", "x: group\ny: group\n");
        tmp.write("inv/host_vars/web1.yml", "y: host\n");
        let loaded = load(&hosts).unwrap();
        let vars = loaded.inventory.host_vars("web1");
        // group_vars < inventory host vars < host_vars
        assert_eq!(
            (vars["x"].as_str(), vars["y"].as_str()),
            (Some("inline"), Some("host"))
        );

        let bad = tmp.write("inv/bad", "[web]\nweb1 oops\n");
        let e = load(&bad).unwrap_err();
        let shown = bad.display().to_string();
        assert_eq!(
            e.render(),
            format!(
                "error: expected key=value after the host name, found \"oops\"\n --> {shown}:2:6\n  |\n2 | web1 oops\n  |      ^^^^ not a key=value variable\n  = help: host variables are written name=value; quote values with spaces: name=\"a b\"\n"
            )
        );
    }

    #[test]
    fn yaml_inventories_read_vars_dirs_too() {
        let tmp = TempDir::new("loadyaml");
        let file = tmp.write(
            "inv.yml",
            "all:\n  vars: {v: inventory-all}\n  children:\n    web:\n      vars: {v: inventory-web, w: inventory-web}\n      hosts:\n        web1:\n",
        );
        tmp.write("group_vars/all/main.yml", "v: group_vars-all\n");
        tmp.write("group_vars/web.yml", "dup: 1\ndup: 2\n");
        let loaded = load(&file).unwrap();
        let vars = loaded.inventory.host_vars("web1");
        // group_vars/all beats the inventory's own web vars, as in Ansible.
        assert_eq!(vars["v"], "group_vars-all");
        assert_eq!(vars["w"], "inventory-web");
        assert_eq!(vars["dup"], 2);
        let shown = tmp.0.join("group_vars/web.yml").display().to_string();
        assert_eq!(
            loaded.render_warnings(),
            format!(
                "warning: duplicate key \"dup\" in the top level\n --> {shown}:2:1\n  |\n2 | dup: 2\n  | ^^^ written again here\n  = help: only the last value is used; remove one of them\n"
            )
        );
    }

    #[test]
    fn load_refuses_directories_and_missing_files() {
        let tmp = TempDir::new("loaddir");
        let shown = tmp.0.display().to_string();
        let e = load(&tmp.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{shown}: error: {shown} is a directory")
        );
        let missing = tmp.0.join("nope.yaml");
        let e = load(&missing).unwrap_err();
        assert!(
            e.diagnostic()
                .message
                .starts_with(&format!("cannot read {}: ", missing.display())),
            "{e}"
        );
        let binary = tmp.0.join("bin");
        std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
        let e = load(&binary).unwrap_err();
        assert!(
            e.diagnostic().message.ends_with("it is not UTF-8 text"),
            "{e}"
        );
    }

    #[test]
    fn cluster_yaml_ignores_vars_dirs_and_resolves_relative_paths() {
        let tmp = TempDir::new("loadcluster");
        let file = tmp.write(
            "lab/cluster.yaml",
            "apiVersion: cairn/v1\nkind: Cluster\nname: lab\nhosts:\n  - name: a\n    address: 10.0.0.1\n    auth: {key: keys/id, password_file: /abs/pw}\n",
        );
        tmp.write("lab/host_vars/a.yml", "from_dir: 1\n");
        let loaded = load(&file).unwrap();
        let host = &loaded.inventory.hosts["a"];
        assert!(host.dir_vars.is_empty());
        let key = tmp.0.join("lab").join("keys/id").display().to_string();
        assert_eq!(host.vars["ansible_ssh_private_key_file"], key.as_str());
        assert_eq!(host.vars["cairn_password_file"], "/abs/pw");
    }
}
