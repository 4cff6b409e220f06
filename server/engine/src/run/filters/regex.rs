//! The regex filters (`regex_replace`, `regex_search`, `regex_findall`, `regex_escape`) and
//! the pattern compilation the `match`/`search`/`regex` tests share, with Python's `re`
//! meaning where Rust's `regex` crate allows it: `(?P<name>...)` groups, `\1`/`\g<name>`
//! references in replacements, `ignorecase`/`multiline` flags.
//!
//! Known difference: look-around and back-references inside a pattern are not supported
//! (the error says so). Must not: cache compiled patterns across templates without bound.

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, Value};
use regex::Regex;

use super::text::py_str;
use super::{add, fail, string};

const B: &[&str] = &["ansible.builtin"];

pub fn register(env: &mut Environment<'static>) {
    add(env, B, "regex_replace", regex_replace);
    add(env, B, "regex_search", regex_search);
    add(env, B, "regex_findall", regex_findall);
    add(
        env,
        B,
        "regex_escape",
        |v: Value, re_type: Option<String>| -> Result<String, Error> {
            let s = string("regex_escape", &v)?;
            match re_type.as_deref().unwrap_or("python") {
                "python" => Ok(escape_python(s)),
                "posix_basic" => Ok(s
                    .chars()
                    .flat_map(|c| {
                        let esc = "$.*[\\]^".contains(c);
                        esc.then_some('\\').into_iter().chain(std::iter::once(c))
                    })
                    .collect()),
                other => Err(fail(
                    "regex_escape",
                    format!("unsupported re_type '{other}' (python, posix_basic)"),
                )),
            }
        },
    );
}

/// Compile a Python-style pattern for `who` (a filter or test name), with its flags.
pub fn compile(
    who: &str,
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
) -> Result<Regex, Error> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| {
            let why = match e {
                regex::Error::Syntax(s) => s.lines().last().unwrap_or("").trim().to_string(),
                other => other.to_string(),
            };
            fail(
                who,
                format!("invalid regular expression {pattern:?}: {why}"),
            )
        })
}

fn flags(kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    Ok((
        kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false),
        kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false),
    ))
}

/// Python's `re.escape` (3.7+): only the characters that mean something are escaped.
pub fn escape_python(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "()[]{}?*+-|^$\\.&~# \t\n\r\u{b}\u{c}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Python replacement string (`\1`, `\g<1>`, `\g<name>`, `\n`) as one for `regex`.
fn replacement(repl: &str) -> String {
    let mut out = String::with_capacity(repl.len());
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        n.push(d);
                        chars.next();
                        if n.len() == 2 {
                            break;
                        }
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') => {
                    let rest: String = chars.clone().collect();
                    if let Some(end) = rest.find('>').filter(|_| rest.starts_with("g<")) {
                        out.push_str(&format!("${{{}}}", &rest[2..end]));
                        for _ in 0..=end {
                            chars.next();
                        }
                    } else {
                        out.push('\\');
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

fn regex_replace(
    v: Value,
    pattern: Option<Value>,
    repl: Option<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let (ic, ml) = flags(&kwargs)?;
    let count = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    let mandatory = kwargs.get::<Option<usize>>("mandatory_count")?.unwrap_or(0);
    kwargs.assert_all_used()?;
    let s = py_str(&v);
    let pattern = pattern.map(|p| py_str(&p)).unwrap_or_default();
    let re = compile("regex_replace", &pattern, ic, ml)?;
    let repl = replacement(&repl.map(|r| py_str(&r)).unwrap_or_default());
    let found = re.find_iter(&s).count();
    if mandatory > 0 && found != mandatory {
        return Err(fail(
            "regex_replace",
            format!(
                "'{pattern}' should match {mandatory} times, but matches {found} times in '{s}'"
            ),
        ));
    }
    Ok(re.replacen(&s, count, repl.as_str()).into_owned())
}

/// `regex_search(pattern, *groups)`: the whole match, or the list of the named (`'\\g<n>'`)
/// or numbered (`'\\1'`) groups; none when nothing matches.
fn regex_search(
    v: Value,
    pattern: Value,
    groups: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let (ic, ml) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let s = py_str(&v);
    let re = compile("regex_search", string("regex_search", &pattern)?, ic, ml)?;
    let Some(caps) = re.captures(&s) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for g in groups.iter() {
        let g = string("regex_search", g)?;
        let m = if let Some(name) = g.strip_prefix("\\g<").and_then(|r| r.strip_suffix('>')) {
            match name.parse::<usize>() {
                Ok(i) => caps.get(i),
                Err(_) => caps.name(name),
            }
        } else if let Some(n) = g.strip_prefix('\\').and_then(|n| n.parse::<usize>().ok()) {
            caps.get(n)
        } else {
            return Err(fail(
                "regex_search",
                format!("unknown group reference '{g}' (use '\\\\1' or '\\\\g<name>')"),
            ));
        };
        out.push(m.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

/// Python's `re.findall`: whole matches, the group when there is one, tuples when several.
fn regex_findall(v: Value, pattern: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let (ic, ml) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let s = py_str(&v);
    let re = compile("regex_findall", string("regex_findall", &pattern)?, ic, ml)?;
    let groups = re.captures_len() - 1;
    let text = |m: Option<regex::Match>| Value::from(m.map_or("", |m| m.as_str()));
    let out: Vec<Value> = re
        .captures_iter(&s)
        .map(|c| match groups {
            0 => text(c.get(0)),
            1 => text(c.get(1)),
            n => Value::from((1..=n).map(|i| text(c.get(i))).collect::<Vec<_>>()),
        })
        .collect();
    Ok(Value::from(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::run::template::{Context, Templar};

    /// Backslashes as roles write them for Jinja2: `'\\1'` in the template source is `\1`
    /// (a group reference), `'\d'` stays `\d`.
    #[test]
    fn jinja_escapes_and_python_references() {
        let t = Templar::new();
        let c = Context::new(
            json!({"v": "k8s v1.28.3", "ip": "10.0.0.5:6443"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        for (src, want) in [
            (
                r"{{ v | regex_replace('v(\d+)\.(\d+)', 'V\\2.\\1') }}",
                json!("k8s V28.1.3"),
            ),
            (
                r"{{ v | regex_replace('(?P<maj>\d+)\.', '\\g<maj>-') }}",
                json!("k8s v1-28-3"),
            ),
            (
                r"{{ v | regex_replace('\s', '_', count=1) }}",
                json!("k8s_v1.28.3"),
            ),
            (
                r"{{ v | regex_replace('\.', '$x') }}",
                json!("k8s v1$x28$x3"),
            ),
            (
                r"{{ ip | regex_search('^([\d.]+):(\d+)$', '\\2', '\\1') }}",
                json!(["6443", "10.0.0.5"]),
            ),
            (r"{{ ip | regex_search('(\d+)$') }}", json!("6443")),
            (
                r"{{ v | regex_findall('\d+') }}",
                json!(["8", "1", "28", "3"]),
            ),
            (
                r"{{ v is match('k8s') and v is not match('v1') and v is search('v1') }}",
                json!(true),
            ),
            (
                r"{{ 'a.b' | ansible.builtin.regex_escape }}",
                json!("a\\.b"),
            ),
        ] {
            assert_eq!(t.template(&json!(src), &c), Ok(want), "{src}");
        }
    }
}
