//! Ansible YAML inventories.
//!
//! Owns the reader of Ansible's `yaml` inventory format: top-level keys are groups (usually
//! just `all`), each a mapping with optional `hosts` (host name → its variables), `vars` and
//! `children` (group name → the same structure, recursively). Host names may hold ranges and a
//! `:port`. As in Ansible, a section written as a plain string (`hosts: web1`) means a single
//! entry, and keys other than `hosts`/`vars`/`children` are skipped with a warning.
//!
//! Must not: read `host_vars/`/`group_vars/` (`vars_files` does) or accept cluster.yaml's
//! schema (`cluster` does; `load` chooses).

// Readers return `Result<_, Diagnostic>`: a diagnostic is built only on the error path,
// once per load, and callers box it into `InventoryError`; boxing every internal result too
// would only add noise.
#![allow(clippy::result_large_err)]

use serde_json::{Number, Value};

use super::model::Inventory;
use super::pattern::expand_host_entry;
use crate::diagnostic::Diagnostic;
use crate::yaml::{Node, NodeValue, duplicate_keys};

struct Reader<'a> {
    file: &'a str,
    inventory: Inventory,
    warnings: Vec<Diagnostic>,
}

/// Read an Ansible YAML inventory from its loaded document. Returns the inventory and the
/// warnings (skipped keys, repeated keys); the first hard problem is an error.
pub(crate) fn parse(file: &str, root: &Node) -> Result<(Inventory, Vec<Diagnostic>), Diagnostic> {
    let mut r = Reader {
        file,
        inventory: Inventory::new(),
        warnings: Vec::new(),
    };
    for (path, key, span) in duplicate_keys(root) {
        let place = if path.is_root() {
            "the top level".to_string()
        } else {
            path.to_string()
        };
        r.warnings.push(
            Diagnostic::warning(
                file,
                Some(span),
                format!("duplicate key \"{key}\" in {place}"),
            )
            .label("written again here")
            .help("only the last value is used; remove one of them"),
        );
    }
    let entries = match &root.value {
        NodeValue::Null => {
            return Err(Diagnostic::error(file, Some(root.span), "the inventory is empty")
                .help("a YAML inventory starts with a group, usually `all:`, holding `hosts:`, `vars:` and `children:`"));
        }
        NodeValue::Map(entries) => entries,
        _ => {
            return Err(Diagnostic::error(
                file,
                Some(root.span),
                format!(
                    "a YAML inventory must be a mapping of groups, found {}",
                    root.kind()
                ),
            )
            .help(
                "start with a group, usually `all:`, holding `hosts:`, `vars:` and `children:`",
            ));
        }
    };
    if let Some(plugin) = root.get("plugin") {
        return Err(Diagnostic::error(
            file,
            Some(plugin.span),
            "this is an inventory plugin configuration, not an inventory",
        )
        .help("Cairn runs no inventory plugins: write the hosts out in a YAML or INI inventory"));
    }
    for (key, data) in entries {
        let name = key.key_string();
        r.group(&name, data)?;
    }
    r.inventory.reconcile();
    Ok((r.inventory, r.warnings))
}

impl Reader<'_> {
    fn error(&self, node: &Node, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.file, Some(node.span), message)
    }

    /// Read group `name` from `data`. Returns whether it was a group (a mapping or empty);
    /// anything else is skipped with a warning, as Ansible does.
    fn group(&mut self, name: &str, data: &Node) -> Result<bool, Diagnostic> {
        let entries = match &data.value {
            NodeValue::Null => {
                self.inventory.add_group(name);
                return Ok(true);
            }
            NodeValue::Map(entries) => entries,
            _ => {
                self.warnings.push(
                    Diagnostic::warning(
                        self.file,
                        Some(data.span),
                        format!(
                            "skipping group \"{name}\": a group must be a mapping, found {}",
                            data.kind()
                        ),
                    )
                    .help("a group holds `hosts:`, `vars:` and `children:` mappings"),
                );
                return Ok(false);
            }
        };
        self.inventory.add_group(name);
        for (key, value) in entries {
            let section = key.key_string();
            match section.as_str() {
                "hosts" | "vars" | "children" => {}
                _ => {
                    self.warnings.push(
                        Diagnostic::warning(
                            self.file,
                            Some(key.span),
                            format!("skipping unexpected key \"{section}\" in group \"{name}\""),
                        )
                        .label("not a group section")
                        .help("a group holds only `hosts:`, `vars:` and `children:`; a host goes under `hosts:`"),
                    );
                    continue;
                }
            }
            // `hosts: web1` is allowed for a single entry.
            let single;
            let items: &[(Node, Node)] = match &value.value {
                NodeValue::Null => continue,
                NodeValue::Map(items) => items,
                NodeValue::String(_) => {
                    single = [(
                        value.clone(),
                        Node {
                            value: NodeValue::Null,
                            span: value.span,
                        },
                    )];
                    &single
                }
                _ => {
                    return Err(self
                        .error(
                            value,
                            format!("\"{section}\" of group \"{name}\" must be a mapping, found {}", value.kind()),
                        )
                        .label("expected a mapping")
                        .help(format!(
                            "write one entry per line, each ending with \":\" (`{section}:` then `  name:` lines)"
                        )));
                }
            };
            for (k, v) in items {
                let item = k.key_string();
                match section.as_str() {
                    "vars" => {
                        self.inventory
                            .add_group(name)
                            .vars
                            .insert(item, v.to_json());
                    }
                    "children" => {
                        if self.group(&item, v)? {
                            self.inventory
                                .add_child(name, &item)
                                .map_err(|message| self.error(k, message))?;
                        }
                    }
                    _ => self.host(name, k, v)?,
                }
            }
        }
        Ok(true)
    }

    fn host(&mut self, group: &str, key: &Node, data: &Node) -> Result<(), Diagnostic> {
        let pattern = key.key_string();
        let vars = match &data.value {
            NodeValue::Null => serde_json::Map::new(),
            NodeValue::Map(_) => match data.to_json() {
                Value::Object(map) => map,
                _ => unreachable!("a mapping converts to an object"),
            },
            _ => {
                return Err(self
                    .error(
                        data,
                        format!("the variables of host \"{pattern}\" must be a mapping, found {}", data.kind()),
                    )
                    .label("expected name: value pairs")
                    .help("write `host:` alone for no variables, or indent `var: value` lines under it"));
            }
        };
        let (names, port) = expand_host_entry(&pattern)
            .map_err(|(message, help)| self.error(key, message).help(help))?;
        for host in names {
            let h = self.inventory.add_host(&host, group);
            if let Some(port) = port {
                h.vars
                    .insert("ansible_port".into(), Value::Number(Number::from(port)));
            }
            for (k, v) in &vars {
                h.vars.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse as parse_yaml;
    use serde_json::json;

    fn load(src: &str) -> (Inventory, Vec<Diagnostic>) {
        let root = parse_yaml(src).unwrap();
        parse("inv.yml", &root).unwrap_or_else(|d| panic!("{}", d.render(src)))
    }

    #[test]
    fn groups_hosts_vars_children() {
        let (inv, warnings) = load(
            "all:\n\
             \x20 hosts:\n\
             \x20   solo:\n\
             \x20 vars:\n\
             \x20   ntp: pool.ntp.org\n\
             \x20 children:\n\
             \x20   web:\n\
             \x20     hosts:\n\
             \x20       web[1:2]:\n\
             \x20         http_port: 8080\n\
             \x20       web3:2222:\n\
             \x20     vars: {tier: front}\n\
             \x20     children:\n\
             \x20       canary:\n\
             \x20         hosts: web3:2222\n\
             \x20   db:\n\
             other:\n\
             \x20 hosts:\n\
             \x20   db1: {ansible_host: 10.0.0.9, enabled: yes}\n",
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            inv.hosts.keys().collect::<Vec<_>>(),
            ["solo", "web1", "web2", "web3", "db1"]
        );
        assert_eq!(inv.groups["all"].vars["ntp"], "pool.ntp.org");
        assert_eq!(inv.hosts["web2"].vars["http_port"], 8080);
        assert_eq!(inv.hosts["web3"].vars["ansible_port"], 2222);
        assert_eq!(inv.groups_of("web3"), ["canary", "web"]);
        assert_eq!(inv.host_vars("web3")["tier"], "front");
        assert_eq!(inv.hosts["db1"].vars["enabled"], json!(true));
        assert_eq!(
            inv.groups["all"].children,
            ["ungrouped", "web", "db", "other"]
        );
        assert_eq!(inv.groups["ungrouped"].hosts, ["solo"]);
        assert!(inv.groups["db"].hosts.is_empty());
    }

    #[test]
    fn vars_merge_when_a_host_repeats() {
        let (inv, _) = load("a:\n  hosts:\n    h: {x: 1, y: 1}\nb:\n  hosts:\n    h: {y: 2}\n");
        assert_eq!(
            Value::Object(inv.hosts["h"].vars.clone()),
            json!({"x": 1, "y": 2})
        );
    }

    #[test]
    fn warnings_for_what_ansible_skips() {
        let src =
            "all:\n  hosts:\n    a:\n  host:\n    b:\nbad: [1, 2]\nc:\n  vars: {x: 1, x: 2}\n";
        let (inv, warnings) = load(src);
        let got: Vec<(String, usize, usize)> = warnings
            .iter()
            .map(|w| (w.message.clone(), w.line, w.column))
            .collect();
        assert_eq!(
            got,
            [
                ("duplicate key \"x\" in c.vars".to_string(), 8, 16),
                (
                    "skipping unexpected key \"host\" in group \"all\"".to_string(),
                    4,
                    3
                ),
                (
                    "skipping group \"bad\": a group must be a mapping, found a list".to_string(),
                    6,
                    6
                ),
            ]
        );
        assert!(!inv.groups.contains_key("bad"));
        assert_eq!(inv.groups["c"].vars["x"], 2);
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str, (usize, usize))] = &[
            ("", "the inventory is empty", (1, 1)),
            (
                "- a\n- b\n",
                "a YAML inventory must be a mapping of groups, found a list",
                (1, 1),
            ),
            (
                "plugin: aws_ec2\n",
                "this is an inventory plugin configuration, not an inventory",
                (1, 9),
            ),
            (
                "all:\n  hosts: [a, b]\n",
                "\"hosts\" of group \"all\" must be a mapping, found a list",
                (2, 10),
            ),
            (
                "all:\n  children:\n    - web\n",
                "\"children\" of group \"all\" must be a mapping, found a list",
                (3, 5),
            ),
            (
                "all:\n  hosts:\n    a: 3\n",
                "the variables of host \"a\" must be a mapping, found an integer",
                (3, 8),
            ),
            (
                "all:\n  hosts:\n    n[1:]:\n",
                "invalid host range \"n[1:]\": the range has no end value",
                (3, 5),
            ),
            (
                "a:\n  children:\n    b:\n      children:\n        a:\n",
                "group \"b\" cannot be a child of \"a\": \"a\" is already inside \"b\", which would make a loop",
                (3, 5),
            ),
        ];
        for (src, message, (line, column)) in cases {
            let d = parse("inv.yml", &parse_yaml(src).unwrap()).unwrap_err();
            assert_eq!(d.message, *message, "{src:?}");
            assert_eq!((d.line, d.column), (*line, *column), "{src:?}");
        }
    }
}
