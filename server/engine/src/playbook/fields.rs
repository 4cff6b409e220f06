//! Reading typed keyword values out of YAML nodes, with a positioned error when the type is
//! wrong (`retries: abc`, `when: {a: 1}`).
//!
//! Owns the conversions shared by plays, blocks, tasks and roles: strings, flags, counts,
//! string lists, tags, conditions, mappings, and the keywords they all share ([`Common`]). Must
//! not: know which keywords belong where (the play and task readers decide).

use serde_json::Value;

use super::model::{Common, Count, Flag, Vars};
use crate::diagnostic::Diagnostic;
use crate::yaml::{Node, NodeValue};

/// Keywords every level (play, role, block, task) accepts and children inherit.
pub const COMMON: &[&str] = &[
    "when",
    "tags",
    "become",
    "become_user",
    "remote_user",
    "ignore_errors",
    "ignore_unreachable",
    "any_errors_fatal",
    "environment",
    "vars",
    "run_once",
    "delegate_to",
    "no_log",
    "check_mode",
    "diff",
];

pub type Read<T> = Result<T, Box<Diagnostic>>;

fn wrong(file: &str, key: &str, node: &Node, want: &str, help: &str) -> Box<Diagnostic> {
    let found = match &node.value {
        NodeValue::String(s) => format!("a string {s:?}"),
        _ => node.kind().to_string(),
    };
    Box::new(
        Diagnostic::error(
            file,
            Some(node.span),
            format!("`{key}` must be {want}, found {found}"),
        )
        .label(format!("expected {want}"))
        .help(help.to_string()),
    )
}

/// Whether a string is a template (`{{ }}` or `{% %}`), decided at run time.
pub fn templated(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// A scalar as text: strings, and numbers and booleans written where text is expected
/// (`name: 2`). Ansible's loader turns those into strings too.
pub fn string(file: &str, key: &str, node: &Node) -> Read<String> {
    match &node.value {
        NodeValue::String(s) => Ok(s.clone()),
        NodeValue::Number(n) => Ok(n.to_string()),
        NodeValue::Bool(b) => Ok(if *b { "True" } else { "False" }.to_string()),
        _ => Err(wrong(file, key, node, "a string", "write a single value")),
    }
}

pub fn flag(file: &str, key: &str, node: &Node) -> Read<Flag> {
    match &node.value {
        NodeValue::Bool(b) => Ok(Flag::Value(*b)),
        NodeValue::String(s) if templated(s) => Ok(Flag::Template(s.clone())),
        NodeValue::String(s) => match s.to_ascii_lowercase().as_str() {
            // Ansible's `boolean()` accepts these spellings when quoted.
            "yes" | "true" | "on" | "1" | "y" | "t" => Ok(Flag::Value(true)),
            "no" | "false" | "off" | "0" | "n" | "f" => Ok(Flag::Value(false)),
            _ => Err(wrong(
                file,
                key,
                node,
                "a boolean",
                "write true or false, or a template like \"{{ flag }}\"",
            )),
        },
        NodeValue::Number(n) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
            Ok(Flag::Value(n.as_u64() == Some(1)))
        }
        _ => Err(wrong(
            file,
            key,
            node,
            "a boolean",
            "write true or false, or a template like \"{{ flag }}\"",
        )),
    }
}

pub fn count(file: &str, key: &str, node: &Node) -> Read<Count> {
    match &node.value {
        NodeValue::Number(n) if n.as_u64().is_some() => Ok(Count::Value(n.as_u64().unwrap_or(0))),
        NodeValue::String(s) if templated(s) => Ok(Count::Template(s.clone())),
        NodeValue::String(s) if s.trim().parse::<u64>().is_ok() => {
            Ok(Count::Value(s.trim().parse().unwrap_or(0)))
        }
        _ => Err(wrong(
            file,
            key,
            node,
            "a non-negative integer",
            &format!("write a number like `{key}: 3`, or a template like \"{{{{ n }}}}\""),
        )),
    }
}

/// A string or a list of strings (`notify`, `listen`, `vars_files`).
pub fn strings(file: &str, key: &str, node: &Node) -> Read<Vec<String>> {
    match &node.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::Seq(items) => items.iter().map(|i| string(file, key, i)).collect(),
        NodeValue::Map(_) => Err(wrong(
            file,
            key,
            node,
            "a string or a list of strings",
            "write one name, or a YAML list of names",
        )),
        _ => Ok(vec![string(file, key, node)?]),
    }
}

/// `tags: a, b` or `tags: [a, b]`: Ansible splits the string form on commas.
pub fn tags(file: &str, node: &Node) -> Read<Vec<String>> {
    let list = strings(file, "tags", node)?;
    Ok(list
        .iter()
        .flat_map(|t| t.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect())
}

/// `when`, `changed_when`, `failed_when`, `until`: a condition, a boolean or a list of them
/// (all must hold).
pub fn conditions(file: &str, key: &str, node: &Node) -> Read<Vec<String>> {
    let one = |n: &Node| match &n.value {
        NodeValue::String(s) => Ok(s.clone()),
        NodeValue::Bool(b) => Ok(if *b { "True" } else { "False" }.to_string()),
        NodeValue::Number(x) => Ok(x.to_string()),
        _ => Err(wrong(
            file,
            key,
            n,
            "a condition (a string or a boolean) or a list of conditions",
            "write an expression without {{ }}, like `x == 1`, or a YAML list of them",
        )),
    };
    match &node.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::Seq(items) => items.iter().map(one).collect(),
        _ => Ok(vec![one(node)?]),
    }
}

/// A mapping as variables (`vars`, role defaults). Null is empty.
pub fn mapping(file: &str, key: &str, node: &Node) -> Read<Vars> {
    match (&node.value, node.to_json()) {
        (NodeValue::Null, _) => Ok(Vars::new()),
        (_, Value::Object(map)) => Ok(map),
        _ => Err(wrong(
            file,
            key,
            node,
            "a mapping",
            "write `name: value` pairs indented under it",
        )),
    }
}

/// Apply one keyword of [`COMMON`] to `common`. `Ok(false)` when `key` is not one of them.
pub fn common(file: &str, common: &mut Common, key: &str, node: &Node) -> Read<bool> {
    match key {
        "when" => common.when = conditions(file, key, node)?,
        "tags" => common.tags = tags(file, node)?,
        "become" => common.r#become = Some(flag(file, key, node)?),
        "become_user" => common.become_user = Some(string(file, key, node)?),
        "remote_user" => common.remote_user = Some(string(file, key, node)?),
        "ignore_errors" => common.ignore_errors = Some(flag(file, key, node)?),
        "ignore_unreachable" => common.ignore_unreachable = Some(flag(file, key, node)?),
        "any_errors_fatal" => common.any_errors_fatal = Some(flag(file, key, node)?),
        "environment" => match &node.value {
            NodeValue::Map(_) | NodeValue::Seq(_) => common.environment = Some(node.to_json()),
            NodeValue::String(s) if templated(s) => common.environment = Some(node.to_json()),
            _ => {
                return Err(wrong(
                    file,
                    key,
                    node,
                    "a mapping",
                    "write `NAME: value` pairs, or a template like \"{{ proxy_env }}\"",
                ));
            }
        },
        "vars" => common.vars = mapping(file, key, node)?,
        "run_once" => common.run_once = Some(flag(file, key, node)?),
        "delegate_to" => common.delegate_to = Some(string(file, key, node)?),
        "no_log" => common.no_log = Some(flag(file, key, node)?),
        "check_mode" => common.check_mode = Some(flag(file, key, node)?),
        "diff" => common.diff = Some(flag(file, key, node)?),
        _ => return Ok(false),
    }
    Ok(true)
}
