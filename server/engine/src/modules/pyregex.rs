//! Python regular expressions (what Ansible's `regexp`, `insertafter`, `replace` and
//! `backrefs` arguments are written in) on Rust's `regex` crate.
//!
//! The pattern syntax is mostly shared; what differs is translated (`\Z` → `\z`) and what the
//! crate cannot do (look-around, backreferences inside a pattern) is an error that says so.
//! Replacement templates are translated from Python's `\1`, `\g<1>`, `\g<name>` and `\n`
//! escapes to the crate's `${1}` syntax, with a literal `$` escaped.
//! Must not: touch files or hosts.

use regex::Regex;

/// Compile a Python pattern (`multiline`: `re.MULTILINE`, `dotall`: `re.DOTALL`).
pub fn compile(pattern: &str, multiline: bool, dotall: bool) -> Result<Regex, String> {
    let mut translated = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('Z') if !in_class => translated.push_str(r"\z"),
                Some(d @ '1'..='9') if !in_class => {
                    return Err(format!(
                        "regular expression {pattern:?} uses a backreference (\\{d}), which Cairn's regex engine does not support"
                    ));
                }
                Some(n) => {
                    translated.push('\\');
                    translated.push(n);
                }
                None => translated.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                translated.push(c);
                // A `]` right after `[` or `[^` is literal in both syntaxes.
                if chars.peek() == Some(&'^') {
                    translated.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    translated.push_str(r"\]");
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                translated.push(c);
            }
            '(' if !in_class && pattern_at_lookaround(&mut chars.clone()) => {
                return Err(format!(
                    "regular expression {pattern:?} uses look-around ((?=, (?!, (?<=, (?<!), which Cairn's regex engine does not support"
                ));
            }
            _ => translated.push(c),
        }
    }
    let flags = match (multiline, dotall) {
        (true, true) => "(?ms)",
        (true, false) => "(?m)",
        (false, true) => "(?s)",
        (false, false) => "",
    };
    Regex::new(&format!("{flags}{translated}"))
        .map_err(|e| format!("invalid regular expression {pattern:?}: {e}"))
}

fn pattern_at_lookaround(rest: &mut std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let a: String = rest.take(3).collect();
    a.starts_with("?=") || a.starts_with("?!") || a.starts_with("?<=") || a.starts_with("?<!")
}

/// Translate a Python replacement template to the `regex` crate's.
pub fn replacement(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.next() {
                Some('g') if chars.peek() == Some(&'<') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|&c| c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some(d @ '0'..='9') => {
                    let mut num = d.to_string();
                    if let Some(&d2) = chars.peek()
                        && d2.is_ascii_digit()
                    {
                        num.push(d2);
                        chars.next();
                    }
                    out.push_str(&format!("${{{num}}}"));
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    if other == '$' {
                        out.push('$');
                    }
                    out.push(other);
                }
                None => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_templates() {
        let cases = [
            (r"\1", "${1}"),
            (r"\g<1>x", "${1}x"),
            (r"\g<name>", "${name}"),
            (r"a\12b", "a${12}b"),
            ("cost $5", "cost $$5"),
            (r"a\nb", "a\nb"),
            (r"a\\b", r"a\b"),
            ("plain", "plain"),
        ];
        for (py, want) in cases {
            assert_eq!(replacement(py), want, "{py}");
        }
    }

    #[test]
    fn patterns() {
        let re = compile(r"^(\w+)=(.*)\Z", false, false).unwrap();
        let out = re.replace("key=value", replacement(r"\2=\g<1>").as_str());
        assert_eq!(out, "value=key");
        assert!(compile("[]a]", false, false).unwrap().is_match("]"));
        assert!(compile("^a$", true, false).unwrap().is_match("x\na\ny"));
        assert!(compile("a.b", false, true).unwrap().is_match("a\nb"));
        assert_eq!(
            compile("foo(?=bar)", false, false).unwrap_err(),
            "regular expression \"foo(?=bar)\" uses look-around ((?=, (?!, (?<=, (?<!), which Cairn's regex engine does not support"
        );
        assert_eq!(
            compile(r"(a)\1", false, false).unwrap_err(),
            "regular expression \"(a)\\\\1\" uses a backreference (\\1), which Cairn's regex engine does not support"
        );
        assert!(
            compile("(unclosed", false, false)
                .unwrap_err()
                .starts_with("invalid regular expression \"(unclosed\"")
        );
    }
}
