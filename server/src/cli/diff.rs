//! `--diff` output: a module's file changes (the engine's [`Diff`]: whole texts before and
//! after) printed as a unified diff the way ansible-playbook's callback does (`--- before:
//! PATH`, `+++ after: PATH`, hunks with 3 lines of context, `\ No newline at end of file`),
//! coloured like Ansible's (removed red, added green, hunk headers cyan) on a terminal.
//!
//! Owns the text of a diff. Must not: decide which results have diffs (the modules do).

use cairn_engine::event::Diff;
use similar::TextDiff;

const RED: &str = "\x1b[0;31m";
const GREEN: &str = "\x1b[0;32m";
const CYAN: &str = "\x1b[0;36m";
const RESET: &str = "\x1b[0m";

/// All of a result's diffs, one after the other (nothing when nothing differs).
pub fn render(diffs: &[Diff], color: bool) -> String {
    diffs.iter().map(|d| one(d, color)).collect()
}

fn one(d: &Diff, color: bool) -> String {
    if d.before == d.after {
        return String::new();
    }
    let header = |side: &str, h: &str| {
        if h.is_empty() {
            side.to_string()
        } else {
            format!("{side}: {h}")
        }
    };
    let text = TextDiff::from_lines(&d.before, &d.after)
        .unified_diff()
        .context_radius(3)
        .header(
            &header("before", &d.before_header),
            &header("after", &d.after_header),
        )
        .to_string();
    if !color {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let c = if line.starts_with("+++") || line.starts_with('+') {
            Some(GREEN)
        } else if line.starts_with("---") || line.starts_with('-') {
            Some(RED)
        } else if line.starts_with("@@") {
            Some(CYAN)
        } else {
            None
        };
        match c {
            Some(c) => {
                let body = line.strip_suffix('\n').unwrap_or(line);
                out.push_str(c);
                out.push_str(body);
                out.push_str(RESET);
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(before: &str, after: &str) -> Diff {
        Diff {
            before_header: "/etc/x".into(),
            after_header: "/etc/x".into(),
            before: before.into(),
            after: after.into(),
        }
    }

    #[test]
    fn unified_like_ansible() {
        assert_eq!(
            render(&[d("a\nb\nc\n", "a\nB\nc\n")], false),
            "--- before: /etc/x\n+++ after: /etc/x\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        assert_eq!(
            render(&[d("", "new\n")], false),
            "--- before: /etc/x\n+++ after: /etc/x\n@@ -0,0 +1 @@\n+new\n"
        );
        assert_eq!(render(&[d("same\n", "same\n")], false), "");
        let no_headers = Diff {
            before: "{\n    \"state\": \"absent\"\n}\n".into(),
            after: "{\n    \"state\": \"directory\"\n}\n".into(),
            ..Diff::default()
        };
        assert!(render(&[no_headers], false).starts_with("--- before\n+++ after\n"));
        assert!(render(&[d("a", "b")], false).contains("\\ No newline at end of file"));
    }

    #[test]
    fn coloured_on_a_terminal() {
        let out = render(&[d("a\n", "b\n")], true);
        assert!(out.contains("\x1b[0;31m-a\x1b[0m\n"), "{out:?}");
        assert!(out.contains("\x1b[0;32m+b\x1b[0m\n"));
        assert!(out.contains("\x1b[0;36m@@ -1 +1 @@\x1b[0m\n"));
    }
}
