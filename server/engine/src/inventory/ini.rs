//! Ansible INI inventories.
//!
//! Owns the INI reader, following Ansible's `ini` inventory plugin line by line:
//! - lines before any section are hosts of `ungrouped`; blank lines and lines starting with
//!   `#` or `;` are skipped;
//! - `[g]` lists hosts of `g`, one per line: `name[:port] [key=value ...]`, split like a POSIX
//!   shell (`key="a b"`; an unquoted `#` starts a comment), names may hold ranges
//!   (`node[01:10]`);
//! - `[g:vars]` sets one variable per line, `key = value`, the whole rest of the line being the
//!   value;
//! - `[g:children]` lists child groups, which must be defined somewhere in the file (before or
//!   after), as `[g:vars]` needs `g` defined by `[g]` or `[g:children]`;
//! - every value, on host lines and in `:vars` alike, is read as a Python literal when it is
//!   one (`22` an integer, `True` a boolean, `'x'` a string, `[1, 2]` a list) and is the plain
//!   text otherwise. Ansible's documentation says `:vars` values stay strings, but its code
//!   (`_parse_variable_definition` → `_parse_value`) evaluates them too; Cairn does what
//!   Ansible does.
//!
//! Must not: read `host_vars/`/`group_vars/` (`vars_files` does, for every format).

// Readers return `Result<_, Diagnostic>`: a diagnostic is built only on the error path,
// once per load, and callers box it into `InventoryError`; boxing every internal result too
// would only add noise.
#![allow(clippy::result_large_err)]

use std::sync::OnceLock;

use indexmap::IndexMap;
use regex::Regex;
use serde_json::{Number, Value};

use super::model::{Inventory, UNGROUPED, Vars};
use super::pattern::expand_host_entry;
use super::pyliteral::literal_eval;
use crate::diagnostic::Diagnostic;
use crate::yaml::Span;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Hosts,
    Vars,
    Children,
}

/// A group used before it is defined: `[g:vars]` for an undeclared `g`, or a child listed in
/// `[p:children]` before its own section. Resolved when the group's section appears.
enum Pending {
    Vars { at: Span },
    Children { at: Span, parents: Vec<String> },
}

struct Reader<'a> {
    file: &'a str,
    inventory: Inventory,
    pending: IndexMap<String, Pending>,
}

/// Parse an INI inventory. The first problem is returned as an error; INI has no warnings.
pub(crate) fn parse(file: &str, src: &str) -> Result<Inventory, Diagnostic> {
    let mut r = Reader {
        file,
        inventory: Inventory::new(),
        pending: IndexMap::new(),
    };
    let mut group = UNGROUPED.to_string();
    let mut section = Section::Hosts;
    for (index, raw) in src.lines().enumerate() {
        let number = index + 1;
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        // Column of a char offset within `line`.
        let at = |offset: usize, len: usize| Span::new(number, indent + offset + 1, len);

        if let Some(caps) = section_re().captures(line) {
            let name = caps.get(1).map_or("", |m| m.as_str()).to_string();
            section = match caps.get(2).map(|m| m.as_str()) {
                None | Some("hosts") => Section::Hosts,
                Some("vars") => Section::Vars,
                Some("children") => Section::Children,
                Some(other) => {
                    let m = caps.get(2).expect("matched");
                    return Err(r
                        .error(
                            at(line[..m.start()].chars().count(), other.chars().count()),
                            format!("unknown section type \"{other}\" in [{name}:{other}]"),
                        )
                        .label("expected vars or children")
                        .help(format!(
                            "use [{name}] for hosts, [{name}:vars] or [{name}:children]"
                        )));
                }
            };
            r.declare(&name, section, at(1, name.chars().count()))?;
            group = name;
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(r
                .error(
                    at(0, line.chars().count()),
                    format!("invalid section header {line}"),
                )
                .label("not a valid section")
                .help("group names cannot contain spaces, \":\" or \"]\": write [name], [name:vars] or [name:children]"));
        }
        match section {
            Section::Hosts => r.host_line(&group, line, &at)?,
            Section::Vars => r.vars_line(&group, line, &at)?,
            Section::Children => r.child_line(&group, line, &at)?,
        }
    }
    if let Some((name, pending)) = r.pending.first() {
        return Err(match pending {
            Pending::Vars { at } => r
                .error(
                    *at,
                    format!("[{name}:vars] sets variables of group \"{name}\", which is not defined anywhere"),
                )
                .label("no [group] or [group:children] section defines this group")
                .help(format!("add a [{name}] section (it may be empty), or fix the name")),
            Pending::Children { at, parents } => {
                let parent = parents.last().map_or("", String::as_str);
                r.error(
                    *at,
                    format!("[{parent}:children] lists group \"{name}\", which is not defined anywhere"),
                )
                .label("unknown group")
                .help(format!("add a [{name}] section (it may be empty), or fix the name"))
            }
        });
    }
    r.inventory.reconcile();
    Ok(r.inventory)
}

fn section_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("static"))
}

fn group_name_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("static"))
}

impl Reader<'_> {
    fn error(&self, at: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.file, Some(at), message)
    }

    /// A section header for `name`: create the group, and resolve what waited for it.
    fn declare(&mut self, name: &str, section: Section, at: Span) -> Result<(), Diagnostic> {
        if !self.inventory.groups.contains_key(name) {
            if section == Section::Vars && !self.pending.contains_key(name) {
                self.pending.insert(name.to_string(), Pending::Vars { at });
            }
            self.inventory.add_group(name);
        }
        if section != Section::Vars {
            match self.pending.shift_remove(name) {
                Some(Pending::Children { at, parents }) => {
                    for parent in parents {
                        self.add_child(&parent, name, at)?;
                    }
                }
                Some(Pending::Vars { .. }) | None => {}
            }
        }
        Ok(())
    }

    fn add_child(&mut self, parent: &str, child: &str, at: Span) -> Result<(), Diagnostic> {
        self.inventory.add_child(parent, child).map_err(|message| {
            self.error(at, message)
                .label("this makes a loop")
                .help("a group cannot contain itself, directly or through its children")
        })
    }

    fn host_line(
        &mut self,
        group: &str,
        line: &str,
        at: &dyn Fn(usize, usize) -> Span,
    ) -> Result<(), Diagnostic> {
        let tokens = shlex_split(line).map_err(|(message, offset)| {
            self.error(at(offset, line.chars().count() - offset), message)
                .help("quote values that contain spaces with matching quotes: key=\"a b\"")
        })?;
        let Some(first) = tokens.first() else {
            return Ok(()); // only a comment
        };
        let first_at = at(first.offset, first.len);
        let (names, port) = expand_host_entry(&first.text)
            .map_err(|(message, help)| self.error(first_at, message).help(help))?;

        let mut vars = Vars::new();
        if let Some(port) = port {
            vars.insert("ansible_port".into(), Value::Number(Number::from(port)));
        }
        for token in &tokens[1..] {
            let Some((key, value)) = token.text.split_once('=') else {
                return Err(self
                    .error(
                        at(token.offset, token.len),
                        format!("expected key=value after the host name, found \"{}\"", token.text),
                    )
                    .label("not a key=value variable")
                    .help("host variables are written name=value; quote values with spaces: name=\"a b\""));
            };
            vars.insert(key.to_string(), ini_value(value));
        }
        for name in names {
            let host = self.inventory.add_host(&name, group);
            for (k, v) in &vars {
                host.vars.insert(k.clone(), v.clone());
            }
        }
        Ok(())
    }

    fn vars_line(
        &mut self,
        group: &str,
        line: &str,
        at: &dyn Fn(usize, usize) -> Span,
    ) -> Result<(), Diagnostic> {
        let Some((key, value)) = line.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(self
                .error(
                    at(0, line.chars().count()),
                    format!("expected key=value, found \"{line}\""),
                )
                .label("not a variable")
                .help(format!(
                    "each line of [{group}:vars] sets one variable: name=value"
                )));
        };
        self.inventory
            .add_group(group)
            .vars
            .insert(key.trim().to_string(), ini_value(value.trim()));
        Ok(())
    }

    fn child_line(
        &mut self,
        group: &str,
        line: &str,
        at: &dyn Fn(usize, usize) -> Span,
    ) -> Result<(), Diagnostic> {
        let Some(child) = group_name_re().captures(line).and_then(|c| c.get(1)) else {
            return Err(self
                .error(
                    at(0, line.chars().count()),
                    format!("expected a group name, found \"{line}\""),
                )
                .label("not a group name")
                .help(format!("list one group per line in [{group}:children]")));
        };
        let child = child.as_str();
        let child_at = at(0, child.chars().count());
        if self.inventory.groups.contains_key(child) {
            return self.add_child(group, child, child_at);
        }
        match self
            .pending
            .entry(child.to_string())
            .or_insert(Pending::Children {
                at: child_at,
                parents: Vec::new(),
            }) {
            Pending::Children { parents, .. } => parents.push(group.to_string()),
            // `[child:vars]` came first: the group exists then, so this cannot happen.
            Pending::Vars { .. } => {}
        }
        Ok(())
    }
}

/// A value as Ansible stores it: the Python literal it spells, else the text.
fn ini_value(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::String(text.to_string()))
}

/// One word of a host line and where it starts (char offset) and how long it is in the line.
struct Token {
    text: String,
    offset: usize,
    len: usize,
}

/// Split like Python's `shlex.split(line, comments=True)` (POSIX mode): whitespace separates
/// words, `'...'` is literal, `"..."` honours `\"` and `\\`, `\` escapes outside quotes, and
/// `#` starts a comment even in the middle of a word. Errors are `(message, char offset)`.
fn shlex_split(line: &str) -> Result<Vec<Token>, (String, usize)> {
    let chars: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        let start = i;
        let mut text = String::new();
        let mut comment = false;
        while i < chars.len() && !chars[i].is_whitespace() {
            match chars[i] {
                '#' => {
                    comment = true;
                    break;
                }
                '\\' => {
                    let Some(&next) = chars.get(i + 1) else {
                        return Err(("nothing follows the final \"\\\"".into(), i));
                    };
                    text.push(next);
                    i += 2;
                }
                quote @ ('\'' | '"') => {
                    let open = i;
                    i += 1;
                    loop {
                        let Some(&c) = chars.get(i) else {
                            return Err((format!("unclosed {quote} quote"), open));
                        };
                        i += 1;
                        if c == quote {
                            break;
                        }
                        if c == '\\' && quote == '"' {
                            match chars.get(i) {
                                Some(&n @ ('"' | '\\')) => {
                                    text.push(n);
                                    i += 1;
                                }
                                _ => text.push('\\'),
                            }
                        } else {
                            text.push(c);
                        }
                    }
                }
                c => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        tokens.push(Token {
            text,
            offset: start,
            len: i - start,
        });
        if comment {
            break;
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(src: &str) -> Inventory {
        parse("hosts", src).unwrap_or_else(|d| panic!("{}", d.render(src)))
    }

    #[test]
    fn sections_children_and_ungrouped() {
        let inv = load(
            "solo\n\
             # comment\n\
             ; another\n\
             [web]\n\
             web1\n\
             web2\n\
             [edge:children]\n\
             web\n\
             proxy   # a child declared later\n\
             [proxy]\n\
             px1\n\
             [db]\n\
             db1\n\
             solo\n",
        );
        assert_eq!(
            inv.hosts.keys().collect::<Vec<_>>(),
            ["solo", "web1", "web2", "px1", "db1"]
        );
        assert_eq!(inv.groups["edge"].children, ["web", "proxy"]);
        assert_eq!(inv.group_hosts("edge"), ["web1", "web2", "px1"]);
        // solo is in db too, so it leaves ungrouped.
        assert_eq!(inv.groups[UNGROUPED].hosts, Vec::<String>::new());
        assert_eq!(inv.groups_of("px1"), ["edge", "proxy"]);
        // web is inside edge, so only edge and db hang off all.
        assert_eq!(inv.groups["all"].children, ["ungrouped", "edge", "db"]);
    }

    #[test]
    fn host_line_values() {
        let inv = load(
            "[g]\n\
             h1 ansible_port=2222 name=\"a b\" single='c d' n=1.5 t=True none=None \
             l=\"[1, 'x']\" d=\"{'k': 1}\" s=\"'03#pa33w0rd'\" plain=abc#comment\n\
             h2:2200 ip=10.0.0.1 num=\"1\" esc=a\\ b expr=10-5 big=56L dq=\"say \\\"hi\\\"\"\n",
        );
        assert_eq!(
            Value::Object(inv.hosts["h1"].vars.clone()),
            json!({
                "ansible_port": 2222, "name": "a b", "single": "c d", "n": 1.5, "t": true,
                "none": null, "l": [1, "x"], "d": {"k": 1}, "s": "03#pa33w0rd", "plain": "abc",
            })
        );
        assert_eq!(
            Value::Object(inv.hosts["h2"].vars.clone()),
            json!({
                "ansible_port": 2200, "ip": "10.0.0.1", "num": 1, "esc": "a b",
                "expr": "10-5", "big": "56L", "dq": "say \"hi\"",
            })
        );
    }

    #[test]
    fn vars_sections_are_evaluated_like_ansible() {
        let inv = load(
            "[web]\nw1\n[web:vars]\n\
             http_port=8080 # a comment\n\
             flag = False\n\
             name = some text # kept\n\
             quoted = \"x y\"\n\
             eq = a=b\n\
             [all:vars]\n\
             ntp = pool.ntp.org\n",
        );
        assert_eq!(
            Value::Object(inv.groups["web"].vars.clone()),
            json!({"http_port": 8080, "flag": false, "name": "some text # kept", "quoted": "x y", "eq": "a=b"})
        );
        assert_eq!(inv.groups["all"].vars["ntp"], "pool.ntp.org");
    }

    #[test]
    fn ranges_ports_and_ipv6() {
        let inv = load(
            "[nodes]\nnode[01:03] role=n\n[other]\n\
             db-[a:b]:2222\n\
             fe80::1\n\
             [2001:db8::1]:2022\n\
             10.0.0.5:23\n",
        );
        assert_eq!(
            inv.hosts.keys().collect::<Vec<_>>(),
            [
                "node01",
                "node02",
                "node03",
                "db-a",
                "db-b",
                "fe80::1",
                "2001:db8::1",
                "10.0.0.5"
            ]
        );
        assert_eq!(inv.hosts["node02"].vars["role"], "n");
        assert_eq!(inv.hosts["db-b"].vars["ansible_port"], 2222);
        assert!(inv.hosts["fe80::1"].vars.is_empty());
        assert_eq!(inv.hosts["2001:db8::1"].vars["ansible_port"], 2022);
        assert_eq!(inv.hosts["10.0.0.5"].vars["ansible_port"], 23);
    }

    #[test]
    fn host_in_two_groups_merges_vars() {
        let inv = load("[a]\nh x=1 y=1\n[b]\nh y=2\n");
        assert_eq!(
            Value::Object(inv.hosts["h"].vars.clone()),
            json!({"x": 1, "y": 2})
        );
        assert_eq!(inv.groups_of("h"), ["a", "b"]);
    }

    #[test]
    fn nested_children_resolve_in_any_order() {
        let inv = load("[top:children]\nmid\n[mid:children]\nleaf\n[leaf]\nh1\n[mid:vars]\nv=1\n");
        assert_eq!(inv.group_hosts("top"), ["h1"]);
        assert_eq!(inv.groups_of("h1"), ["leaf", "mid", "top"]);
        assert_eq!(inv.host_vars("h1")["v"], 1);
    }

    #[test]
    fn errors_point_at_the_line() {
        let cases: &[(&str, &str, (usize, usize, usize))] = &[
            (
                "[web:hostvars]\n",
                "unknown section type \"hostvars\" in [web:hostvars]",
                (1, 6, 8),
            ),
            (
                "h\n[web servers]\n",
                "invalid section header [web servers]",
                (2, 1, 13),
            ),
            (
                "[g:vars]\nx=1\n",
                "[g:vars] sets variables of group \"g\", which is not defined anywhere",
                (1, 2, 1),
            ),
            (
                "[p:children]\n  nope\n[q]\n",
                "[p:children] lists group \"nope\", which is not defined anywhere",
                (2, 3, 4),
            ),
            (
                "[p:children]\na b\n",
                "expected a group name, found \"a b\"",
                (2, 1, 3),
            ),
            (
                "[g]\nh\n[g:vars]\njust_a_word\n",
                "expected key=value, found \"just_a_word\"",
                (4, 1, 11),
            ),
            (
                "[g:vars]\n= 3\n[g]\n",
                "expected key=value, found \"= 3\"",
                (2, 1, 3),
            ),
            (
                "[g]\nh1 a=1 oops\n",
                "expected key=value after the host name, found \"oops\"",
                (2, 8, 4),
            ),
            ("[g]\nh1 a=\"open\n", "unclosed \" quote", (2, 6, 5)),
            ("h1 a=b\\", "nothing follows the final \"\\\"", (1, 7, 1)),
            (
                "[g]\nnode[1:]\n",
                "invalid host range \"node[1:]\": the range has no end value",
                (2, 1, 8),
            ),
            (
                "web1:99999\n",
                "invalid port \"99999\" in \"web1:99999\"",
                (1, 1, 10),
            ),
            ("web1:\n", "host \"web1:\" ends with \":\"", (1, 1, 5)),
            ("---\n", "\"---\" is not a host name", (1, 1, 3)),
            (
                "[a:children]\nb\n[b:children]\na\n",
                "group \"a\" cannot be a child of \"b\": \"b\" is already inside \"a\", which would make a loop",
                (4, 1, 1),
            ),
        ];
        for (src, message, (line, column, len)) in cases {
            let d = parse("hosts", src).unwrap_err();
            assert_eq!(d.message, *message, "{src:?}");
            assert_eq!((d.line, d.column, d.len), (*line, *column, *len), "{src:?}");
        }
    }

    #[test]
    fn rendered_error() {
        let src = "[web]\nweb1\n[edge:children]\nweb\nprxy\n[proxy]\n";
        assert_eq!(
            parse("inventory/hosts", src).unwrap_err().render(src),
            "error: [edge:children] lists group \"prxy\", which is not defined anywhere\n \
             --> inventory/hosts:5:1\n  |\n5 | prxy\n  | ^^^^ unknown group\n  \
             = help: add a [prxy] section (it may be empty), or fix the name\n"
        );
    }
}
