//! User-facing problems in input files (inventories, playbooks, roles): what is wrong, where
//! (file:line:column), what to do.
//!
//! Owns the `Diagnostic` value, its rustc-like rendering with a caret under the offending text,
//! and `Sources`, the texts diagnostics point into. Shared by the whole engine so every reader
//! reports mistakes the same way. Must not: decide *what* is an error (the readers do) nor print
//! anything (the CLI and the server choose where diagnostics go).

use std::fmt;
use std::sync::Arc;

use crate::yaml::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem, pointing at the text that caused it.
///
/// `line` and `column` are 1-based and count characters; `line == 0` means the problem is not
/// tied to a position (a missing file, a variable merged from several places) and renders
/// without a snippet. `len` is the number of characters to underline (at least one caret is
/// drawn).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// The file as the user named it (or the name given to `load_str`).
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub len: usize,
    /// Short text printed after the carets: what is wrong *here*.
    pub label: Option<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(file: &str, span: Option<Span>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, file, span, message)
    }

    pub fn warning(file: &str, span: Option<Span>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, file, span, message)
    }

    fn new(severity: Severity, file: &str, span: Option<Span>, message: impl Into<String>) -> Self {
        let span = span.unwrap_or_default();
        Diagnostic {
            severity,
            message: message.into(),
            file: file.to_string(),
            line: span.line,
            column: span.column,
            len: span.len,
            label: None,
            help: None,
        }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:column` (or just the file when there is no position).
    pub fn location(&self) -> String {
        if self.line == 0 {
            self.file.clone()
        } else {
            format!("{}:{}:{}", self.file, self.line, self.column)
        }
    }

    /// Render like rustc, quoting the offending line of `source` (the text of `self.file`).
    ///
    /// ```text
    /// error: unknown host "node4" in roles.etcd
    ///   --> cluster.yaml:14:17
    ///    |
    /// 14 |   etcd: [lab1, node4]
    ///    |                ^^^^^ no host named "node4" is defined under hosts:
    ///    = help: define it under hosts:, or fix the name (known hosts: lab1, lab2, lab3)
    /// ```
    ///
    /// The result ends with a newline. A position past the end of `source` (the caller passed
    /// the wrong text) renders the location without a snippet rather than panicking.
    pub fn render(&self, source: &str) -> String {
        let mut out = format!("{}: {}\n", self.severity, self.message);
        let source_line = (self.line > 0)
            .then(|| source.lines().nth(self.line - 1))
            .flatten();
        // The gutter is as wide as the line number; without a line there is no gutter.
        let number = if self.line > 0 {
            self.line.to_string()
        } else {
            String::new()
        };
        let pad = " ".repeat(number.len());
        if !self.file.is_empty() || self.line > 0 {
            let arrow_pad = if self.line > 0 { pad.as_str() } else { " " };
            out.push_str(&format!("{arrow_pad}--> {}\n", self.location()));
        }
        if let Some(text) = source_line {
            let text = text.trim_end_matches('\r');
            out.push_str(&format!("{pad} |\n{number} | {text}\n"));
            // Copy tabs from the quoted line so the carets stay aligned however the terminal
            // expands them.
            let lead: String = text
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let available = text.chars().count().saturating_sub(self.column - 1);
            let carets = "^".repeat(self.len.min(available).max(1));
            let label = match &self.label {
                Some(label) => format!(" {label}"),
                None => String::new(),
            };
            out.push_str(&format!("{pad} | {lead}{carets}{label}\n"));
        } else if let Some(label) = &self.label {
            out.push_str(&format!("{pad} = note: {label}\n"));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("{pad} = help: {help}\n"));
        }
        out
    }
}

/// One line: `file:line:column: severity: message`. Use [`Diagnostic::render`] for people.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = self.location();
        if location.is_empty() {
            write!(f, "{}: {}", self.severity, self.message)
        } else {
            write!(f, "{location}: {}: {}", self.severity, self.message)
        }
    }
}

/// The texts diagnostics point into, by file name, so they can be rendered after loading.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<(String, Arc<str>)>,
}

impl Sources {
    pub fn add(&mut self, file: &str, text: Arc<str>) {
        if self.get(file).is_none() {
            self.files.push((file.to_string(), text));
        }
    }

    pub fn get(&self, file: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(name, _)| name == file)
            .map(|(_, text)| &**text)
    }

    /// Render `diagnostic` with a snippet when its file is known, without one otherwise.
    pub fn render(&self, diagnostic: &Diagnostic) -> String {
        diagnostic.render(self.get(&diagnostic.file).unwrap_or(""))
    }

    /// Each diagnostic rendered with its snippet, one after the other.
    pub fn render_all(&self, diagnostics: &[Diagnostic]) -> String {
        diagnostics.iter().map(|d| self.render(d)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(line: usize, column: usize, len: usize) -> Option<Span> {
        Some(Span { line, column, len })
    }

    #[test]
    fn renders_like_rustc() {
        let source = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nroles:\n  etcd: [lab1, node4]\n";
        let d = Diagnostic::error(
            "cluster.yaml",
            span(14, 16, 5),
            "unknown host \"node4\" in roles.etcd",
        )
        .label("no host named \"node4\" is defined under hosts:")
        .help("define it under hosts:, or fix the name (known hosts: lab1, lab2, lab3)");
        assert_eq!(
            d.render(source),
            "error: unknown host \"node4\" in roles.etcd\n\
             \x20 --> cluster.yaml:14:16\n\
             \x20  |\n\
             14 |   etcd: [lab1, node4]\n\
             \x20  |                ^^^^^ no host named \"node4\" is defined under hosts:\n\
             \x20  = help: define it under hosts:, or fix the name (known hosts: lab1, lab2, lab3)\n"
        );
    }

    #[test]
    fn tabs_are_copied_so_carets_align() {
        let d = Diagnostic::warning("hosts", span(1, 3, 2), "w");
        assert_eq!(
            d.render("\tx ab\n"),
            "warning: w\n --> hosts:1:3\n  |\n1 | \tx ab\n  | \t ^^\n"
        );
    }

    #[test]
    fn no_position_no_snippet() {
        let d = Diagnostic::error("", None, "host \"a\": bad").help("fix it");
        assert_eq!(d.render(""), "error: host \"a\": bad\n = help: fix it\n");
        assert_eq!(d.to_string(), "error: host \"a\": bad");
    }

    #[test]
    fn position_past_the_source_does_not_panic() {
        let d = Diagnostic::error("f", span(9, 40, 3), "m").label("here");
        assert_eq!(
            d.render("one line"),
            "error: m\n --> f:9:40\n  = note: here\n"
        );
    }

    #[test]
    fn carets_are_clamped_to_the_line_and_never_empty() {
        let d = Diagnostic::error("f", span(1, 3, 50), "m");
        assert!(d.render("abcd").ends_with("1 | abcd\n  |   ^^\n"));
        let d = Diagnostic::error("f", span(1, 5, 0), "m");
        assert!(d.render("abcd").ends_with("  |     ^\n"));
    }

    #[test]
    fn display_is_one_line_with_location() {
        let d = Diagnostic::error("inv", span(3, 7, 1), "bad");
        assert_eq!(d.to_string(), "inv:3:7: error: bad");
    }
}
