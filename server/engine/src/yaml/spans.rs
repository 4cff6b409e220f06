//! Where things are in a YAML file: positions, paths and a path → position index.
//!
//! Owns `Span` (1-based line and column, length in characters), `YamlPath` (the dotted path
//! users read in messages: `roles.etcd[1]`, `hosts[2].address`) and `SpanIndex`, built from a
//! loaded document, which answers "where is the value (or the key) at this path?". It is
//! deliberately generic: the playbook engine uses it to point at tasks the same way the
//! inventory points at hosts. Must not: know any schema (cluster.yaml, playbooks).

use std::collections::HashMap;
use std::fmt;

use super::{Node, NodeValue};

/// A stretch of text on one line. `line` and `column` are 1-based and count characters;
/// `line == 0` (the default) means "no position".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub len: usize,
}

impl Span {
    pub fn new(line: usize, column: usize, len: usize) -> Self {
        Span { line, column, len }
    }
}

/// One step of a [`YamlPath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path into a YAML document, displayed the way messages show it: `hosts[2].address`.
/// Keys that would be ambiguous in that syntax (empty, or containing `.`, `[`, `]`, `"` or
/// whitespace) display quoted: `vars["a.b"]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct YamlPath(Vec<Segment>);

impl YamlPath {
    pub fn root() -> Self {
        YamlPath(Vec::new())
    }

    /// This path extended by a mapping key.
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_string()));
        YamlPath(segments)
    }

    /// This path extended by a sequence index.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        YamlPath(segments)
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

fn needs_quotes(key: &str) -> bool {
    key.is_empty()
        || key
            .chars()
            .any(|c| matches!(c, '.' | '[' | ']' | '"') || c.is_whitespace())
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) if needs_quotes(k) => write!(f, "[{k:?}]")?,
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
            }
        }
        Ok(())
    }
}

/// The positions of one node: the value itself and, for a mapping entry, its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spanned {
    pub key: Option<Span>,
    pub value: Span,
}

/// Path → position of every node of a document. Paths are looked up by their display form
/// (`"roles.etcd[1]"`), so callers holding only a typed value built from the document can
/// still point at where it came from.
#[derive(Clone, Debug, Default)]
pub struct SpanIndex {
    entries: HashMap<String, Spanned>,
}

impl SpanIndex {
    /// Index every node of `root`. When a mapping repeats a key the first occurrence is kept:
    /// that is where a "duplicate key" message wants the reader to look first.
    pub fn new(root: &Node) -> Self {
        let mut index = SpanIndex::default();
        index.walk(root, &YamlPath::root(), None);
        index
    }

    fn walk(&mut self, node: &Node, path: &YamlPath, key: Option<Span>) {
        self.entries.entry(path.to_string()).or_insert(Spanned {
            key,
            value: node.span,
        });
        match &node.value {
            NodeValue::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(item, &path.index(i), None);
                }
            }
            NodeValue::Map(entries) => {
                for (k, v) in entries {
                    self.walk(v, &path.key(&k.key_string()), Some(k.span));
                }
            }
            _ => {}
        }
    }

    pub fn get(&self, path: &str) -> Option<Spanned> {
        self.entries.get(path).copied()
    }

    /// Where the value at `path` is.
    pub fn value(&self, path: &str) -> Option<Span> {
        self.get(path).map(|s| s.value)
    }

    /// Where the key whose value is at `path` is; the value's span for sequence items and the
    /// root, which have no key.
    pub fn key(&self, path: &str) -> Option<Span> {
        self.get(path).map(|s| s.key.unwrap_or(s.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    #[test]
    fn paths_display_like_messages() {
        let p = YamlPath::root().key("hosts").index(2).key("address");
        assert_eq!(p.to_string(), "hosts[2].address");
        assert_eq!(
            YamlPath::root().key("vars").key("a.b").to_string(),
            "vars[\"a.b\"]"
        );
        assert_eq!(YamlPath::root().index(0).to_string(), "[0]");
        assert_eq!(YamlPath::root().to_string(), "");
    }

    #[test]
    fn index_finds_values_and_keys() {
        let src =
            "hosts:\n  - name: lab1\n    address: \"10.0.0.1\"\nroles:\n  etcd: [lab1, node4]\n";
        let index = SpanIndex::new(&parse(src).unwrap());
        let cases = [
            ("hosts[0].name", Span::new(2, 11, 4), Span::new(2, 5, 4)),
            ("hosts[0].address", Span::new(3, 14, 10), Span::new(3, 5, 7)),
            ("roles.etcd[1]", Span::new(5, 16, 5), Span::new(5, 16, 5)),
            ("roles.etcd", Span::new(5, 9, 13), Span::new(5, 3, 4)),
        ];
        for (path, value, key) in cases {
            assert_eq!(index.value(path), Some(value), "value of {path}");
            assert_eq!(index.key(path), Some(key), "key of {path}");
        }
        assert_eq!(index.value("roles.kube"), None);
    }

    #[test]
    fn first_duplicate_wins() {
        let root = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(SpanIndex::new(&root).value("a"), Some(Span::new(1, 4, 1)));
    }
}
