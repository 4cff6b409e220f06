//! YAML written the way PyYAML's `dump` writes it with Ansible's options, so `to_yaml` and
//! `to_nice_yaml` give the same text as Ansible (users diff rendered files): keys sorted,
//! `indent` spaces per level, sequences in a mapping not indented, collections of scalars
//! in flow style for `to_yaml` (`default_flow_style=None`), strings quoted only when a plain
//! scalar would read back as something else, lines folded past 80 columns at single spaces
//! and in flow collections, multi-line strings single-quoted with their line breaks doubled.
//!
//! Known difference: double-quoted strings (with control characters) are not folded.
//! Must not: emit YAML that reads back differently from its input.

use serde_json::Value as Json;

const WIDTH: usize = 80;

/// `data` as a YAML document.
pub fn dump(indent: usize, flow_leaves: bool, data: &Json) -> String {
    let mut w = Writer {
        out: String::new(),
        col: 0,
        indent,
        flow_leaves,
    };
    if is_scalar(data) {
        w.scalar(data, false, indent, true);
    } else if w.is_flow(data) {
        w.flow(data, indent);
    } else {
        w.block(data, 0, true);
    }
    w.out.push('\n');
    w.out
}

struct Writer {
    out: String,
    col: usize,
    indent: usize,
    flow_leaves: bool,
}

fn is_scalar(v: &Json) -> bool {
    !matches!(v, Json::Array(_) | Json::Object(_))
}

fn sorted(m: &serde_json::Map<String, Json>) -> Vec<(&String, &Json)> {
    let mut e: Vec<_> = m.iter().collect();
    e.sort_by(|a, b| a.0.cmp(b.0));
    e
}

impl Writer {
    fn raw(&mut self, s: &str) {
        for c in s.chars() {
            if c == '\n' {
                self.col = 0;
            } else {
                self.col += 1;
            }
        }
        self.out.push_str(s);
    }

    fn line(&mut self, at: usize) {
        if !self.out.is_empty() {
            self.raw("\n");
        }
        self.raw(&" ".repeat(at));
    }

    /// Whether a collection is written in flow style (`[a, b]`).
    fn is_flow(&self, v: &Json) -> bool {
        match v {
            Json::Array(a) => a.is_empty() || (self.flow_leaves && a.iter().all(is_scalar)),
            Json::Object(m) => m.is_empty() || (self.flow_leaves && m.values().all(is_scalar)),
            _ => false,
        }
    }

    /// A block collection whose entries start at column `at`. When `first_here`, the first
    /// entry goes where the cursor is (after a parent's `- `).
    fn block(&mut self, v: &Json, at: usize, first_here: bool) {
        let mut first = first_here;
        let mut start = |w: &mut Writer| {
            if !std::mem::take(&mut first) {
                w.line(at);
            }
        };
        match v {
            Json::Object(m) => {
                for (k, x) in sorted(m) {
                    start(self);
                    self.string(k, false, at + self.indent, false);
                    self.raw(":");
                    if is_scalar(x) {
                        self.raw(" ");
                        self.scalar(x, false, at + self.indent, true);
                    } else if self.is_flow(x) {
                        self.raw(" ");
                        self.flow(x, at + self.indent);
                    } else if x.is_array() {
                        // PyYAML does not indent a sequence that is a mapping's value.
                        self.block(x, at, false);
                    } else {
                        self.block(x, at + self.indent, false);
                    }
                }
            }
            Json::Array(a) => {
                for x in a {
                    start(self);
                    self.raw("-");
                    if is_scalar(x) {
                        self.raw(" ");
                        self.scalar(x, false, at + self.indent, true);
                    } else if self.is_flow(x) {
                        self.raw(" ");
                        self.flow(x, at + self.indent);
                    } else {
                        self.raw(&" ".repeat(self.indent - 1));
                        self.block(x, at + self.indent, true);
                    }
                }
            }
            other => self.scalar(other, false, at + self.indent, true),
        }
    }

    /// A flow collection; continuation lines start at column `cont`.
    fn flow(&mut self, v: &Json, cont: usize) {
        let (open, close) = if v.is_array() { ("[", "]") } else { ("{", "}") };
        self.raw(open);
        let entries: Vec<(Option<&String>, &Json)> = match v {
            Json::Array(a) => a.iter().map(|x| (None, x)).collect(),
            Json::Object(m) => sorted(m).into_iter().map(|(k, x)| (Some(k), x)).collect(),
            _ => vec![],
        };
        for (i, (k, x)) in entries.into_iter().enumerate() {
            if i > 0 {
                self.raw(",");
            }
            if self.col > WIDTH {
                self.line(cont);
            } else if i > 0 {
                self.raw(" ");
            }
            if let Some(k) = k {
                self.string(k, true, cont, false);
                self.raw(": ");
            }
            if is_scalar(x) {
                // A scalar's own continuation lines go one level deeper than the items.
                self.scalar(x, true, cont + self.indent, true);
            } else {
                self.flow(x, cont + self.indent);
            }
        }
        self.raw(close);
    }

    fn scalar(&mut self, v: &Json, in_flow: bool, cont: usize, split: bool) {
        match v {
            Json::Null => self.raw("null"),
            Json::Bool(b) => self.raw(if *b { "true" } else { "false" }),
            Json::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(0.0);
                let s = if f.is_nan() {
                    ".nan".to_string()
                } else if f.is_infinite() {
                    if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
                } else {
                    super::encoding::py_float(f)
                };
                self.raw(&s)
            }
            Json::Number(n) => self.raw(&n.to_string()),
            Json::String(s) => self.string(s, in_flow, cont, split),
            other => self.flow(other, cont),
        }
    }

    fn string(&mut self, s: &str, in_flow: bool, cont: usize, split: bool) {
        let special = s
            .chars()
            .any(|c| ((c as u32) < 0x20 && c != '\n') || c as u32 == 0x7f || c == '\u{feff}');
        if !s.contains('\n') && plain_ok(s, in_flow) {
            self.folded(s, cont, split, false);
        } else if !special {
            self.raw("'");
            self.folded(&s.replace('\'', "''"), cont, split, true);
            self.raw("'");
        } else {
            self.raw(&double_quoted(s));
        }
    }

    /// Text with PyYAML's folding: a single space past the width becomes a line break;
    /// in quoted text a run of line breaks is written one longer (a lone break would fold
    /// into a space when read back).
    fn folded(&mut self, s: &str, cont: usize, split: bool, quoted: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' {
                let single =
                    chars.get(i + 1).is_some_and(|n| *n != ' ') && i > 0 && chars[i - 1] != ' ';
                if single && split && self.col > WIDTH && i + 1 < chars.len() {
                    self.line(cont);
                } else {
                    self.raw(" ");
                }
                i += 1;
            } else if c == '\n' && quoted {
                self.raw("\n");
                while i < chars.len() && chars[i] == '\n' {
                    self.raw("\n");
                    i += 1;
                }
                self.raw(&" ".repeat(cont));
            } else {
                let mut buf = [0u8; 4];
                self.raw(c.encode_utf8(&mut buf));
                i += 1;
            }
        }
    }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{feff}' => out.push_str("\\uFEFF"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// PyYAML's `analyze_scalar` and implicit resolution: may `s` be written unquoted?
fn plain_ok(s: &str, in_flow: bool) -> bool {
    if s.is_empty() || s.starts_with(' ') || s.ends_with(' ') {
        return false;
    }
    if !matches!(
        crate::yaml::resolve_plain(s),
        crate::yaml::NodeValue::String(_)
    ) {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") || s == "<<" || s == "=" {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    let (mut flow_ind, mut block_ind) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        let next_ws = chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        let prev_ws = i > 0 && chars[i - 1].is_whitespace();
        if (c as u32) < 0x20 || c as u32 == 0x7f || c == '\u{feff}' {
            return false;
        }
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                flow_ind = true;
                block_ind = true;
            }
            if "?:".contains(c) {
                flow_ind = true;
                if next_ws {
                    block_ind = true;
                }
            }
            if c == '-' && next_ws {
                flow_ind = true;
                block_ind = true;
            }
        } else {
            if ",?[]{}".contains(c) {
                flow_ind = true;
            }
            if c == ':' {
                flow_ind = true;
                if next_ws {
                    block_ind = true;
                }
            }
            if c == '#' && prev_ws {
                flow_ind = true;
                block_ind = true;
            }
        }
    }
    if in_flow { !flow_ind } else { !block_ind }
}
