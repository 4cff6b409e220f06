//! YAML loading that keeps positions and types values the way Ansible does.
//!
//! Owns `parse`, which turns YAML text into a tree of [`Node`]s, each carrying the [`Span`] it
//! was read from, and the conversion of that tree to JSON values (`Node::to_json`).
//!
//! Plain scalars are typed with YAML 1.1 rules, as PyYAML (Ansible's loader) types them, not
//! YAML 1.2: `yes`/`no`/`on`/`off` are booleans, `010` is octal 8, `1:30` is 90, `1e3` is a
//! string. A file that means `false` when it says `no` must keep meaning it here. Merge
//! keys (`<<: *anchor`) work as in PyYAML; `!unsafe` values load as plain strings; `!vault`
//! values are refused (Cairn cannot decrypt them).
//!
//! Must not: know any schema. Callers (cluster.yaml, Ansible YAML inventories, vars files,
//! playbooks, roles) walk the tree and report their own errors with the nodes' spans.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Tag};
use serde_json::{Number, Value};

use crate::diagnostic::Diagnostic;
mod spans;

pub use spans::{Segment, Span, SpanIndex, Spanned, YamlPath};

/// One YAML value and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Seq(Vec<Node>),
    /// Entries in document order. A repeated key stays repeated here (so it can be reported);
    /// [`Node::get`] and [`Node::to_json`] use the last one, as PyYAML does.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// "a string", "a mapping", ...: for messages like "must be a list, found a string".
    pub fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "nothing (null)",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Number(n) if n.is_f64() => "a number",
            NodeValue::Number(_) => "an integer",
            NodeValue::String(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// The value of `key` in a mapping (the last one if the key is repeated).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .rev()
            .find(|(k, _)| k.key_string() == key)
            .map(|(_, v)| v)
    }

    /// A mapping key as a string. JSON objects only have string keys; a non-string key is
    /// written the way `json.dumps` writes it (`1`, `true`, `null`), so Ansible's JSON output
    /// and ours agree.
    pub fn key_string(&self) -> String {
        match &self.value {
            NodeValue::String(s) => s.clone(),
            NodeValue::Null => "null".to_string(),
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Number(n) => n.to_string(),
            NodeValue::Seq(_) | NodeValue::Map(_) => self.to_json().to_string(),
        }
    }

    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Number(n) => Value::Number(n.clone()),
            NodeValue::String(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_string(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Keys written twice in the same mapping, with the path of the mapping and the span of the
/// repeated (second) key. PyYAML keeps the last value and Ansible warns; callers decide.
pub fn duplicate_keys(root: &Node) -> Vec<(YamlPath, String, Span)> {
    fn walk(node: &Node, path: &YamlPath, out: &mut Vec<(YamlPath, String, Span)>) {
        match &node.value {
            NodeValue::Map(entries) => {
                let mut seen = HashMap::new();
                for (k, v) in entries {
                    let key = k.key_string();
                    if seen.insert(key.clone(), ()).is_some() {
                        out.push((path.clone(), key.clone(), k.span));
                    }
                    walk(v, &path.key(&key), out);
                }
            }
            NodeValue::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &path.index(i), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(root, &YamlPath::root(), &mut out);
    out
}

/// A YAML document that cannot be loaded: syntax, an unknown alias, an unsupported tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub message: String,
    pub span: Span,
    pub help: Option<String>,
}

impl YamlError {
    fn new(message: impl Into<String>, span: Span) -> Self {
        YamlError {
            message: message.into(),
            span,
            help: None,
        }
    }

    fn help(mut self, help: &str) -> Self {
        self.help = Some(help.to_string());
        self
    }

    pub fn into_diagnostic(self, file: &str) -> Diagnostic {
        let d = Diagnostic::error(file, Some(self.span), self.message);
        match self.help {
            Some(help) => d.help(help),
            None => d,
        }
    }
}

/// Load one YAML document. An empty document is `Null`; a second document (`---` after
/// content) is an error, as it is for Ansible's loader.
pub fn parse(src: &str) -> Result<Node, YamlError> {
    Builder::new(src).run()
}

/// Nodes one document may expand to, aliases counted at their full size each time they are
/// used: a few lines of nested aliases ("billion laughs") would otherwise build a tree larger
/// than memory. Real inventories and playbooks stay far below (a 5,000-host cluster.yaml is
/// about 100,000 nodes).
pub const MAX_NODES: usize = 2_000_000;

/// Collections nested deeper than this are refused: the tree is walked recursively (to JSON,
/// when dropped), and no hand-written file nests this deep.
pub const MAX_DEPTH: usize = 256;

/// A node under construction: a collection waiting for its end event.
enum Frame {
    Seq {
        items: Vec<Node>,
        start: Marker,
        anchor: usize,
        /// `Builder::nodes` when the collection started: its size once it ends.
        nodes_before: usize,
    },
    Map {
        /// `(key, value, key is a plain "<<" merge key)`.
        entries: Vec<(Node, Node, bool)>,
        pending_key: Option<(Node, bool)>,
        start: Marker,
        anchor: usize,
        nodes_before: usize,
    },
}

struct Builder<'a> {
    src: &'a str,
    /// Character length of each line (without the line break): to clamp spans to one line.
    line_lengths: Vec<usize>,
    stack: Vec<Frame>,
    /// Each anchored node, and how many nodes it holds (itself included).
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    documents: usize,
    /// Nodes built so far, aliases expanded (see [`MAX_NODES`]).
    nodes: usize,
    /// Nodes in the copies `anchors` keeps (limited by [`MAX_NODES`] too).
    kept: usize,
}

impl<'a> Builder<'a> {
    fn new(src: &'a str) -> Self {
        Builder {
            src,
            line_lengths: src.lines().map(|l| l.trim_end().chars().count()).collect(),
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            documents: 0,
            nodes: 0,
            kept: 0,
        }
    }

    /// Counts `n` more nodes, refusing the document past [`MAX_NODES`].
    fn count(&mut self, n: usize, at: Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(YamlError::new(
                format!("the document expands to more than {MAX_NODES} values"),
                at,
            )
            .help("aliases (`*name`) copy what their anchor holds: nest fewer of them"));
        }
        Ok(())
    }

    /// Opens a collection, refusing one nested deeper than [`MAX_DEPTH`].
    fn open(&mut self, frame: Frame, at: Span) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::new(
                format!("collections nested more than {MAX_DEPTH} levels deep"),
                at,
            )
            .help("flatten the structure"));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn run(mut self) -> Result<Node, YamlError> {
        let mut parser = Parser::new_from_str(self.src);
        while let Some(event) = parser.next_event() {
            let (event, span) = event.map_err(|e| {
                let m = e.marker();
                let help = if e.info().contains("tab") {
                    "indent with spaces: YAML does not allow tabs for indentation"
                } else {
                    "check the indentation, quotes and brackets here and on the lines just before"
                };
                YamlError::new(
                    format!("invalid YAML: {}", e.info()),
                    Span::new(m.line(), m.col() + 1, 1),
                )
                .help(help)
            })?;
            match event {
                Event::DocumentStart(_) => {
                    self.documents += 1;
                    if self.documents > 1 {
                        return Err(YamlError::new(
                            "expected a single YAML document, found a second one",
                            self.span(span.start, span.end),
                        )
                        .help(
                            "remove the `---` line and what follows, or move it to its own file",
                        ));
                    }
                }
                Event::Scalar(text, style, anchor, tag) => {
                    let node_span = self.span(span.start, span.end);
                    let merge = style == ScalarStyle::Plain && tag.is_none() && text == "<<";
                    let value = scalar_value(&text, style, tag.as_deref(), node_span)?;
                    let node = Node {
                        value,
                        span: node_span,
                    };
                    self.count(1, node_span)?;
                    self.remember(anchor, &node, 1)?;
                    self.complete(node, merge);
                }
                Event::Alias(id) => {
                    let at = self.span(span.start, span.end);
                    let (node, size) = self
                        .anchors
                        .get(&id)
                        .cloned()
                        .ok_or_else(|| YamlError::new("unknown alias", at))?;
                    // Counted before the copy is kept: the copy is what costs memory.
                    self.count(size, at)?;
                    self.complete(node, false);
                }
                Event::SequenceStart(anchor, tag) => {
                    let at = self.span(span.start, span.end);
                    check_collection_tag(tag.as_deref(), "seq", at)?;
                    self.count(1, at)?;
                    let frame = Frame::Seq {
                        items: Vec::new(),
                        start: span.start,
                        anchor,
                        nodes_before: self.nodes - 1,
                    };
                    self.open(frame, at)?;
                }
                Event::MappingStart(anchor, tag) => {
                    let at = self.span(span.start, span.end);
                    check_collection_tag(tag.as_deref(), "map", at)?;
                    self.count(1, at)?;
                    let frame = Frame::Map {
                        entries: Vec::new(),
                        pending_key: None,
                        start: span.start,
                        anchor,
                        nodes_before: self.nodes - 1,
                    };
                    self.open(frame, at)?;
                }
                Event::SequenceEnd => {
                    let Some(Frame::Seq {
                        items,
                        start,
                        anchor,
                        nodes_before,
                    }) = self.stack.pop()
                    else {
                        unreachable!("the parser balances sequence events");
                    };
                    let node = Node {
                        value: NodeValue::Seq(items),
                        span: self.span(start, span.end),
                    };
                    self.remember(anchor, &node, self.nodes - nodes_before)?;
                    self.complete(node, false);
                }
                Event::MappingEnd => {
                    let Some(Frame::Map {
                        entries,
                        start,
                        anchor,
                        nodes_before,
                        ..
                    }) = self.stack.pop()
                    else {
                        unreachable!("the parser balances mapping events");
                    };
                    let node = Node {
                        value: NodeValue::Map(merge_keys(entries)?),
                        span: self.span(start, span.end),
                    };
                    self.remember(anchor, &node, self.nodes - nodes_before)?;
                    self.complete(node, false);
                }
                Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            }
        }
        Ok(self.root.unwrap_or(Node {
            value: NodeValue::Null,
            span: Span::new(1, 1, 0),
        }))
    }

    /// Keeps a copy of an anchored node for its aliases (counted: nested anchors each keep
    /// their own copy of what they hold).
    fn remember(&mut self, anchor: usize, node: &Node, size: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.kept = self.kept.saturating_add(size);
            if self.kept > MAX_NODES {
                return Err(YamlError::new(
                    format!("anchors hold more than {MAX_NODES} values"),
                    node.span,
                )
                .help("nest fewer anchors (`&name`) inside one another"));
            }
            self.anchors.insert(anchor, (node.clone(), size));
        }
        Ok(())
    }

    /// Attach a finished node to its parent (or make it the document).
    fn complete(&mut self, node: Node, merge: bool) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some((node, merge)),
                Some((key, is_merge)) => entries.push((key, node, is_merge)),
            },
        }
    }

    /// A span from `start` to `end`, cut at the end of `start`'s line: a block collection
    /// spans many lines, but a caret can only underline one.
    fn span(&self, start: Marker, end: Marker) -> Span {
        let line = start.line().max(1);
        let column = start.col() + 1;
        let len = if end.line() == start.line() {
            end.index().saturating_sub(start.index())
        } else {
            0
        };
        let line_rest = self
            .line_lengths
            .get(line - 1)
            .map_or(0, |n| n.saturating_sub(start.col()));
        let len = if len == 0 {
            line_rest
        } else {
            len.min(line_rest.max(1))
        };
        Span::new(line, column, len)
    }
}

/// Apply `<<` merge keys the way PyYAML does: merged entries come first, keys written in the
/// mapping override them, and with `<<: [*a, *b]` the earlier mapping wins.
fn merge_keys(entries: Vec<(Node, Node, bool)>) -> Result<Vec<(Node, Node)>, YamlError> {
    if !entries.iter().any(|(_, _, merge)| *merge) {
        return Ok(entries.into_iter().map(|(k, v, _)| (k, v)).collect());
    }
    let mut merged: Vec<(Node, Node)> = Vec::new();
    let mut explicit: Vec<(Node, Node)> = Vec::new();
    for (key, value, merge) in entries {
        if !merge {
            explicit.push((key, value));
            continue;
        }
        let sources: Vec<&Node> = match &value.value {
            NodeValue::Map(_) => vec![&value],
            NodeValue::Seq(items) => items.iter().collect(),
            _ => vec![&value],
        };
        for source in sources {
            let Some(pairs) = source.as_map() else {
                return Err(YamlError::new(
                    format!(
                        "a merge key `<<` takes a mapping or a list of mappings, found {}",
                        source.kind()
                    ),
                    source.span,
                ));
            };
            for (k, v) in pairs {
                let name = k.key_string();
                if !merged.iter().any(|(m, _)| m.key_string() == name) {
                    merged.push((k.clone(), v.clone()));
                }
            }
        }
    }
    merged.retain(|(k, _)| {
        let name = k.key_string();
        !explicit.iter().any(|(e, _)| e.key_string() == name)
    });
    merged.extend(explicit);
    Ok(merged)
}

const CORE: &str = "tag:yaml.org,2002:";

fn check_collection_tag(tag: Option<&Tag>, expected: &str, span: Span) -> Result<(), YamlError> {
    match tag {
        None => Ok(()),
        Some(t) if t.handle == CORE && t.suffix == expected => Ok(()),
        Some(t) => Err(unsupported_tag(t, span)),
    }
}

fn unsupported_tag(tag: &Tag, span: Span) -> YamlError {
    if tag.handle == "!" && tag.suffix == "vault" {
        return YamlError::new(
            "ansible-vault encrypted values (!vault) are not supported",
            span,
        )
        .help(
            "decrypt the value, or keep the secret outside the file (a *_env or *_file setting)",
        );
    }
    let shown = if tag.handle == CORE {
        format!("!!{}", tag.suffix)
    } else {
        tag.to_string()
    };
    YamlError::new(format!("unsupported YAML tag {shown}"), span)
        .help("remove the tag; supported: !!str, !!int, !!float, !!bool, !!null, !unsafe")
}

fn scalar_value(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    span: Span,
) -> Result<NodeValue, YamlError> {
    let Some(tag) = tag else {
        return Ok(if style == ScalarStyle::Plain {
            resolve_plain(text)
        } else {
            NodeValue::String(text.to_string())
        });
    };
    let wrong = |what: &str| {
        YamlError::new(format!("{text:?} is not {what}"), span)
            .help("fix the value or remove the tag")
    };
    // `! value` (the non-specific tag) forces a string, like a quoted scalar.
    let non_specific = tag.handle.is_empty() && tag.suffix == "!";
    if non_specific || (tag.handle == "!" && tag.suffix == "unsafe") {
        return Ok(NodeValue::String(text.to_string()));
    }
    if tag.handle != CORE {
        return Err(unsupported_tag(tag, span));
    }
    let resolved = resolve_plain(text);
    match (tag.suffix.as_str(), resolved) {
        ("str", _) => Ok(NodeValue::String(text.to_string())),
        ("int", v @ NodeValue::Number(_)) if is_int(text) => Ok(v),
        ("int", _) => Err(wrong("an integer")),
        ("float", NodeValue::Number(n)) => Ok(NodeValue::Number(
            n.as_f64().and_then(Number::from_f64).unwrap_or(n),
        )),
        ("float", _) => Err(wrong("a number")),
        ("bool", v @ NodeValue::Bool(_)) => Ok(v),
        ("bool", _) => Err(wrong("a boolean")),
        ("null", v @ NodeValue::Null) => Ok(v),
        ("null", _) => Err(wrong("null")),
        _ => Err(unsupported_tag(tag, span)),
    }
}

fn is_int(text: &str) -> bool {
    yaml11().int.is_match(text)
}

struct Yaml11 {
    bool_true: Regex,
    bool_false: Regex,
    null: Regex,
    int: Regex,
    float: Regex,
}

/// PyYAML's implicit resolvers (YAML 1.1), verbatim.
fn yaml11() -> &'static Yaml11 {
    static RES: OnceLock<Yaml11> = OnceLock::new();
    RES.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("static regex");
        Yaml11 {
            bool_true: re(r"^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$"),
            bool_false: re(r"^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$"),
            null: re(r"^(?:~|null|Null|NULL|)$"),
            int: re(concat!(
                r"^(?:[-+]?0b[0-1_]+",
                r"|[-+]?0[0-7_]+",
                r"|[-+]?(?:0|[1-9][0-9_]*)",
                r"|[-+]?0x[0-9a-fA-F_]+",
                r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"
            )),
            float: re(concat!(
                r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?",
                r"|\.[0-9_]+(?:[eE][-+][0-9]+)?",
                r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*",
                r"|[-+]?\.(?:inf|Inf|INF)",
                r"|\.(?:nan|NaN|NAN))$"
            )),
        }
    })
}

/// Type a plain scalar as PyYAML does. Values JSON cannot hold (`.inf`, integers beyond 64
/// bits) stay strings.
pub fn resolve_plain(text: &str) -> NodeValue {
    let r = yaml11();
    if r.null.is_match(text) {
        NodeValue::Null
    } else if r.bool_true.is_match(text) {
        NodeValue::Bool(true)
    } else if r.bool_false.is_match(text) {
        NodeValue::Bool(false)
    } else if r.int.is_match(text) {
        parse_int(text).map_or_else(|| NodeValue::String(text.to_string()), NodeValue::Number)
    } else if r.float.is_match(text) {
        parse_float(text)
            .and_then(Number::from_f64)
            .map_or_else(|| NodeValue::String(text.to_string()), NodeValue::Number)
    } else {
        NodeValue::String(text.to_string())
    }
}

fn split_sign(text: &str) -> (i128, String) {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    match clean.strip_prefix('-') {
        Some(rest) => (-1, rest.to_string()),
        None => (1, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    }
}

fn parse_int(text: &str) -> Option<Number> {
    let (sign, digits) = split_sign(text);
    let magnitude: i128 = if digits == "0" {
        0
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i128::from_str_radix(bin, 2).ok()?
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if digits.contains(':') {
        sexagesimal(&digits)? as i128
    } else if let Some(oct) = digits.strip_prefix('0') {
        i128::from_str_radix(oct, 8).ok()?
    } else {
        digits.parse().ok()?
    };
    let value = sign * magnitude;
    i64::try_from(value)
        .map(Number::from)
        .or_else(|_| u64::try_from(value).map(Number::from))
        .ok()
}

/// `1:30:00` → 5400 (base 60, most significant first).
fn sexagesimal(digits: &str) -> Option<f64> {
    let mut total = 0.0;
    for part in digits.split(':') {
        total = total * 60.0 + part.parse::<f64>().ok()?;
    }
    Some(total)
}

fn parse_float(text: &str) -> Option<f64> {
    let (sign, digits) = split_sign(text);
    let digits = digits.to_lowercase();
    let value = if digits == ".inf" {
        f64::INFINITY
    } else if digits == ".nan" {
        f64::NAN
    } else if digits.contains(':') {
        sexagesimal(&digits)?
    } else {
        digits.parse().ok()?
    };
    Some(sign as f64 * value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_of(src: &str) -> Value {
        parse(src).unwrap().to_json()
    }

    #[test]
    fn plain_scalars_are_typed_like_pyyaml() {
        let cases: &[(&str, Value)] = &[
            ("yes", json!(true)),
            ("No", json!(false)),
            ("on", json!(true)),
            ("OFF", json!(false)),
            ("true", json!(true)),
            ("y", json!("y")),
            ("~", json!(null)),
            ("null", json!(null)),
            ("", json!(null)),
            ("42", json!(42)),
            ("-7", json!(-7)),
            ("1_000", json!(1000)),
            ("010", json!(8)),
            ("08", json!("08")),
            ("0x1F", json!(31)),
            ("0b101", json!(5)),
            ("1:30", json!(90)),
            ("190:20:30", json!(685230)),
            ("1.5", json!(1.5)),
            ("1.", json!(1.0)),
            (".5", json!(0.5)),
            ("1.0e+3", json!(1000.0)),
            ("1e3", json!("1e3")),
            ("1:30.5", json!(90.5)),
            (".inf", json!(".inf")),
            ("99999999999999999999999", json!("99999999999999999999999")),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("10.0.0.1", json!("10.0.0.1")),
            ("hello world", json!("hello world")),
        ];
        for (text, want) in cases {
            assert_eq!(&json_of(&format!("v: {text}"))["v"], want, "plain {text:?}");
        }
    }

    #[test]
    fn quoted_and_tagged_scalars() {
        let cases: &[(&str, Value)] = &[
            ("'yes'", json!("yes")),
            ("\"12\"", json!("12")),
            ("!!str 12", json!("12")),
            ("!!int '12'", json!(12)),
            ("!!float 3", json!(3.0)),
            ("!!bool 'off'", json!(false)),
            ("!unsafe '{{ x }}'", json!("{{ x }}")),
            ("! 12", json!("12")),
            ("|\n  a\n  b", json!("a\nb\n")),
        ];
        for (text, want) in cases {
            assert_eq!(
                &json_of(&format!("v: {text}"))["v"],
                want,
                "scalar {text:?}"
            );
        }
    }

    #[test]
    fn bad_tags_and_syntax_are_errors_with_positions() {
        let cases = [
            (
                "v: !vault |\n  $ANSIBLE_VAULT;1.1\n",
                "ansible-vault encrypted values (!vault) are not supported",
                (1, 4),
            ),
            (
                "v: !!binary aGk=\n",
                "unsupported YAML tag !!binary",
                (1, 4),
            ),
            ("v: !custom x\n", "unsupported YAML tag !custom", (1, 4)),
            ("v: !!int abc\n", "\"abc\" is not an integer", (1, 4)),
            (
                "a: 1\n b: 2\n",
                "invalid YAML: mapping values are not allowed in this context",
                (2, 3),
            ),
            (
                "a: *nope\n",
                "invalid YAML: while parsing node, found unknown anchor",
                (1, 4),
            ),
            (
                "a: 1\n---\nb: 2\n",
                "expected a single YAML document, found a second one",
                (2, 1),
            ),
            (
                "a: {<<: 3}\n",
                "a merge key `<<` takes a mapping or a list of mappings, found an integer",
                (1, 9),
            ),
        ];
        for (src, message, (line, column)) in cases {
            let e = parse(src).unwrap_err();
            assert_eq!(e.message, message, "{src:?}");
            assert_eq!((e.span.line, e.span.column), (line, column), "{src:?}");
        }
    }

    /// "Billion laughs": each level aliases the previous one ten times, so nine levels would
    /// expand to a billion values. Refused with a position, in a moment and without the memory.
    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            src.push_str(&format!(
                "l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
            ));
        }
        let t0 = std::time::Instant::now();
        let e = parse(&src).unwrap_err();
        assert_eq!(
            e.message,
            format!("the document expands to more than {MAX_NODES} values")
        );
        assert_eq!(e.span.line, 7, "{e:?}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(5));
        // Six levels (a million values) are still read.
        let six: String = src.lines().take(6).map(|l| format!("{l}\n")).collect();
        assert!(parse(&six).is_ok());
        // Anchors nested in anchors keep a copy each: bounded too, without alias uses.
        let nested = format!("{}x{}", "&a [".repeat(200), "]".repeat(200));
        assert!(parse(&nested).is_ok());
    }

    /// The tree is walked recursively, so its depth is bounded: flow collections by the
    /// parser itself, block collections (`- - - 1`, indentation) by [`MAX_DEPTH`].
    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let block = |n: usize| format!("{}1\n", "- ".repeat(n));
        if let Err(e) = parse(&block(MAX_DEPTH)) {
            panic!("{e:?}");
        }
        let e = parse(&block(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(
            e.message,
            format!("collections nested more than {MAX_DEPTH} levels deep")
        );
        assert_eq!((e.span.line, e.span.column), (1, 2 * MAX_DEPTH + 1));
        assert_eq!(e.help.as_deref(), Some("flatten the structure"));
        let e = parse(&block(100_000)).unwrap_err();
        assert!(e.message.contains("nested more than"), "{e:?}");
        let e = parse(&"[".repeat(100_000)).unwrap_err();
        assert_eq!(e.message, "invalid YAML: recursion limit exceeded");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let src = "base: &b {x: 1, y: 2}\nother: &o {y: 20, z: 30}\nuse: *b\nm:\n  <<: [*b, *o]\n  x: 10\n";
        assert_eq!(
            json_of(src),
            json!({
                "base": {"x": 1, "y": 2},
                "other": {"y": 20, "z": 30},
                "use": {"x": 1, "y": 2},
                "m": {"y": 2, "z": 30, "x": 10},
            })
        );
        // A quoted "<<" is an ordinary key.
        assert_eq!(json_of("'<<': 1\n"), json!({"<<": 1}));
    }

    #[test]
    fn keys_and_duplicates() {
        let root = parse("1: a\ntrue: b\nk: 1\nk: 2\nn:\n  - {x: 1, x: 2}\n").unwrap();
        assert_eq!(
            root.to_json(),
            json!({"1": "a", "true": "b", "k": 2, "n": [{"x": 2}]})
        );
        let dups: Vec<(String, String, usize)> = duplicate_keys(&root)
            .into_iter()
            .map(|(p, k, s)| (p.to_string(), k, s.line))
            .collect();
        assert_eq!(
            dups,
            vec![("".into(), "k".into(), 4), ("n[0]".into(), "x".into(), 6)]
        );
    }

    #[test]
    fn spans_of_collections_stay_on_one_line() {
        let root = parse("top:\n  a: 1\n  b: [1,\n   2]\n").unwrap();
        let top = root.get("top").unwrap();
        assert_eq!(top.span, Span::new(2, 3, 4));
        assert_eq!(top.get("b").unwrap().span, Span::new(3, 6, 3));
        assert_eq!(parse("").unwrap().value, NodeValue::Null);
    }
}
