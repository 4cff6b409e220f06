//! Filters on strings, paths, numbers and plain values, where Ansible (Python) differs from
//! minijinja: `string` and `join` print values as Python does (`True`, `None`, `['a']`),
//! `int`/`float` follow Jinja2 (a bad value becomes the default, `'0x10' | int(base=16)`),
//! plus `basename`, `dirname`, `expanduser`, `splitext`, `path_join`, `quote` (shell),
//! `ternary`, `mandatory`, `type_debug`, `bool`, `comment` (Ansible's comment styles).
//!
//! Also owns [`py_str`]/[`py_repr`]: how a value prints in a rendered template. Must not:
//! touch the filesystem (`expanduser` reads only `$HOME`).

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

use super::{add, fail, string};
use crate::run::template::ansible_bool;

const B: &[&str] = &["ansible.builtin"];

pub fn register(env: &mut Environment<'static>) {
    add(env, B, "bool", |v: Value| ansible_bool(&v));
    add(env, B, "string", |v: Value| py_str(&v));
    add(env, B, "join", join);
    add(env, B, "int", int);
    add(env, B, "float", float);
    add(env, B, "basename", |v: Value| -> Result<String, Error> {
        let s = string("basename", &v)?;
        Ok(s.rsplit('/').next().unwrap_or("").to_string())
    });
    add(env, B, "dirname", |v: Value| -> Result<String, Error> {
        Ok(dirname(string("dirname", &v)?))
    });
    add(env, B, "expanduser", |v: Value| -> Result<String, Error> {
        let s = string("expanduser", &v)?;
        let home = std::env::var("HOME").unwrap_or_default();
        Ok(match s.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{home}{rest}"),
            _ => s.to_string(),
        })
    });
    add(env, B, "splitext", |v: Value| -> Result<Value, Error> {
        let s = string("splitext", &v)?;
        let base_start = s.rfind('/').map_or(0, |i| i + 1);
        let base = &s[base_start..];
        let dot = base
            .rfind('.')
            .filter(|&i| base[..i].chars().any(|c| c != '.'));
        let (root, ext) = match dot {
            Some(i) => (&s[..base_start + i], &s[base_start + i..]),
            None => (s, ""),
        };
        Ok(Value::from(vec![root.to_string(), ext.to_string()]))
    });
    add(env, B, "path_join", |v: Value| -> Result<String, Error> {
        let parts = match v.kind() {
            ValueKind::String => return Ok(v.as_str().unwrap_or("").to_string()),
            _ => super::items("path_join", &v)?,
        };
        let mut out = String::new();
        for p in &parts {
            let p = string("path_join", p)?;
            if p.starts_with('/') || out.is_empty() {
                out = p.to_string();
            } else if out.ends_with('/') {
                out.push_str(p);
            } else {
                out = format!("{out}/{p}");
            }
        }
        Ok(out)
    });
    add(env, B, "quote", |v: Value| shell_quote(&py_str(&v)));
    add(env, B, "ternary", ternary);
    add(env, B, "comment", comment);
    add(env, B, "mandatory", mandatory);
    add(
        env,
        B,
        "center",
        |v: Value, width: Option<usize>| -> String {
            let s = py_str(&v);
            let width = width.unwrap_or(80);
            let len = s.chars().count();
            if len >= width {
                return s;
            }
            // Python's str.center: the odd space goes left when the width is odd.
            let pad = width - len;
            let left = pad / 2 + (pad & width & 1);
            format!("{}{s}{}", " ".repeat(left), " ".repeat(pad - left))
        },
    );
    add(env, B, "wordcount", |v: Value| -> usize {
        py_str(&v)
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .count()
    });
    add(env, B, "indent", indent);
    add(env, B, "type_debug", |v: Value| type_name(&v).to_string());
}

/// Python's `str()` of a value: what `{{ x }}` prints inside a longer string and what
/// `string`/`join` give.
pub fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or("").to_string(),
        _ => py_repr(v),
    }
}

/// Python's `repr()` of a value (`'a'`, `True`, `None`, `[1, 'b']`, `{'k': 2}`).
pub fn py_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::None => "None".into(),
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        ValueKind::String => repr_str(v.as_str().unwrap_or("")),
        ValueKind::Number => {
            if let Ok(f) = f64::try_from(v.clone())
                && v.as_i64().is_none()
                && f.is_finite()
            {
                let s = f.to_string();
                if s.contains('.') || s.contains('e') {
                    s
                } else {
                    format!("{s}.0")
                }
            } else {
                v.to_string()
            }
        }
        ValueKind::Map => {
            let mut parts = Vec::new();
            if let Ok(keys) = v.try_iter() {
                for k in keys {
                    let val = v.get_item(&k).unwrap_or_default();
                    parts.push(format!("{}: {}", py_repr(&k), py_repr(&val)));
                }
            }
            format!("{{{}}}", parts.join(", "))
        }
        ValueKind::Seq | ValueKind::Iterable => match v.try_iter() {
            Ok(items) => format!(
                "[{}]",
                items.map(|x| py_repr(&x)).collect::<Vec<_>>().join(", ")
            ),
            Err(_) => v.to_string(),
        },
        _ => v.to_string(),
    }
}

fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's type name, as `type_debug` reports it.
pub fn type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.as_i64().is_some() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Map => "dict",
        _ => "list",
    }
}

fn join(v: Value, sep: Option<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let attribute: Option<Value> = kwargs.get("attribute")?;
    kwargs.assert_all_used()?;
    let sep = match &sep {
        Some(s) => py_str(s),
        None => String::new(),
    };
    if let Some(s) = v.as_str() {
        return Ok(s.chars().map(String::from).collect::<Vec<_>>().join(&sep));
    }
    let items = match v.kind() {
        ValueKind::Map => v.try_iter()?.collect(),
        _ => super::items("join", &v)?,
    };
    let mut parts = Vec::with_capacity(items.len());
    for item in items {
        let item = match &attribute {
            Some(a) => item.get_item(a).unwrap_or_default(),
            None => item,
        };
        parts.push(py_str(&item));
    }
    Ok(parts.join(&sep))
}

/// Jinja2's `int`: a value that does not convert gives `default` (0); strings are parsed in
/// `base` (with `0x`/`0o`/`0b` prefixes allowed for their base, and base 0 guessing it), then
/// as a float, truncated.
fn int(
    v: Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = match kwargs.get::<Option<Value>>("default")? {
        Some(d) => d,
        None => default.unwrap_or(Value::from(0)),
    };
    let base = kwargs.get::<Option<u32>>("base")?.or(base).unwrap_or(10);
    kwargs.assert_all_used()?;
    if base == 1 || base > 36 {
        return Err(fail("int", format!("base must be 0 or 2..36, got {base}")));
    }
    Ok(match v.kind() {
        ValueKind::Bool => Value::from(v.is_true() as i64),
        ValueKind::Number => match v.as_i64() {
            Some(i) => Value::from(i),
            None => match f64::try_from(v.clone()) {
                Ok(f) if f.is_finite() => Value::from(f.trunc() as i64),
                _ => default,
            },
        },
        ValueKind::String => {
            let s = v.as_str().unwrap_or("");
            parse_int(s, base)
                .map(Value::from)
                .or_else(|| {
                    parse_float(s)
                        .filter(|f| f.is_finite())
                        .map(|f| Value::from(f.trunc() as i64))
                })
                .unwrap_or(default)
        }
        _ => default,
    })
}

/// Python's `int(s, base)`.
fn parse_int(s: &str, base: u32) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = s.to_ascii_lowercase();
    let (base, digits) = match (base, lower.get(..2)) {
        (0 | 16, Some("0x")) => (16, &s[2..]),
        (0 | 8, Some("0o")) => (8, &s[2..]),
        (0 | 2, Some("0b")) => (2, &s[2..]),
        (0, _) if s.len() > 1 && s.starts_with('0') => {
            // Python refuses `int('08', 0)`; only zeros may lead.
            if s.chars().all(|c| c == '0' || c == '_') {
                (10, s)
            } else {
                return None;
            }
        }
        (0, _) => (10, s),
        (b, _) => (b, s),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let n = i64::from_str_radix(&digits.replace('_', ""), base).ok()?;
    Some(if neg { -n } else { n })
}

/// Python's `float(s)`.
fn parse_float(s: &str) -> Option<f64> {
    let t = s.trim().to_ascii_lowercase().replace('_', "");
    match t.trim_start_matches(['+', '-']) {
        "inf" | "infinity" | "nan" => return t.parse().ok(),
        "" => return None,
        _ => {}
    }
    if t.chars()
        .any(|c| !(c.is_ascii_digit() || "+-.e".contains(c)))
    {
        return None;
    }
    t.parse().ok()
}

fn float(v: Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default = match kwargs.get::<Option<Value>>("default")? {
        Some(d) => d,
        None => default.unwrap_or(Value::from(0.0)),
    };
    kwargs.assert_all_used()?;
    Ok(match v.kind() {
        ValueKind::Bool => Value::from(if v.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(v.clone()).map(Value::from).unwrap_or(default),
        ValueKind::String => parse_float(v.as_str().unwrap_or(""))
            .map(Value::from)
            .unwrap_or(default),
        _ => default,
    })
}

/// Jinja2's `indent(width=4, first=False, blank=False)`, which keeps a trailing newline.
fn indent(
    v: Value,
    width: Option<Value>,
    first: Option<bool>,
    blank: Option<bool>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let width = kwargs.get::<Option<Value>>("width")?.or(width);
    let first = kwargs
        .get::<Option<bool>>("first")?
        .or(first)
        .unwrap_or(false);
    let blank = kwargs
        .get::<Option<bool>>("blank")?
        .or(blank)
        .unwrap_or(false);
    kwargs.assert_all_used()?;
    let pad = match &width {
        None => "    ".to_string(),
        Some(w) => match (w.as_str(), w.as_i64()) {
            (Some(s), _) => s.to_string(),
            (None, Some(n)) => " ".repeat(n.max(0) as usize),
            _ => return Err(super::wrong("indent", "a width (number or string)", w)),
        },
    };
    let s = format!("{}\n", py_str(&v));
    let lines: Vec<&str> = s.lines().collect();
    let mut out = lines.first().copied().unwrap_or("").to_string();
    for line in lines.iter().skip(1) {
        out.push('\n');
        if blank || !line.is_empty() {
            out.push_str(&pad);
        }
        out.push_str(line);
    }
    if first {
        out = format!("{pad}{out}");
    }
    Ok(out)
}

/// Python's `os.path.dirname`.
pub fn dirname(s: &str) -> String {
    let head = match s.rfind('/') {
        Some(i) => &s[..=i],
        None => return String::new(),
    };
    if head.chars().all(|c| c == '/') {
        head.to_string()
    } else {
        head.trim_end_matches('/').to_string()
    }
}

/// Python's `shlex.quote`.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if s.chars().all(safe) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// `ternary(true_val, false_val, none_val)`: Python truthiness of the input picks one.
fn ternary(v: Value, yes: Value, no: Value, none: Option<Value>) -> Value {
    match none {
        Some(n) if v.is_none() => n,
        _ if v.is_true() => yes,
        _ => no,
    }
}

/// `mandatory`: an undefined input is an error. The template layer names the variable
/// (`Mandatory variable 'x' not defined.`); a `msg` argument replaces that message.
fn mandatory(v: Value, msg: Option<Value>) -> Result<Value, Error> {
    if !v.is_undefined() {
        return Ok(v);
    }
    Err(match msg {
        Some(m) => Error::new(ErrorKind::InvalidOperation, py_str(&m)),
        None => Error::new(ErrorKind::UndefinedError, MANDATORY),
    })
}

/// The marker `mandatory` leaves on its error so the caller words it as Ansible does.
pub const MANDATORY: &str = "mandatory variable not defined";

/// Ansible's `comment` filter: the text as a comment block in a style (`plain` `#`,
/// `erlang`, `c`, `cblock`, `xml`), each part overridable by keyword as in Ansible.
fn comment(v: Value, style: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let text = py_str(&v);
    let style = style.unwrap_or_else(|| "plain".into());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => {
            return Err(fail(
                "comment",
                format!("Invalid style '{other}'. Available styles: plain, erlang, c, cblock, xml"),
            ));
        }
    };
    let kw = |k: &str, default: &str| -> Result<String, Error> {
        Ok(match kwargs.get::<Option<Value>>(k)? {
            Some(v) => py_str(&v),
            None => default.to_string(),
        })
    };
    let prepostfix = kw("decoration", decoration)?;
    let newline = kw("newline", "\n")?;
    let beginning = kw("beginning", beginning)?;
    let prefix = kw("prefix", prepostfix.trim_end())?;
    let decoration = kw("decoration", decoration)?;
    let postfix = kw("postfix", prepostfix.trim_end())?;
    let end = kw("end", end)?;
    let count =
        |k: &str| -> Result<usize, Error> { Ok(kwargs.get::<Option<usize>>(k)?.unwrap_or(1)) };
    let (prefix_count, postfix_count) = (count("prefix_count")?, count("postfix_count")?);
    kwargs.assert_all_used()?;
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&beginning);
        out.push_str(&newline);
    }
    if !prefix.is_empty() {
        let one = if prefix != newline {
            format!("{prefix}{newline}")
        } else {
            newline.clone()
        };
        out.push_str(&one.repeat(prefix_count));
    }
    let body = format!(
        "{decoration}{}",
        text.replace(&newline, &format!("{newline}{decoration}"))
    )
    .replace(
        &format!("{decoration}{newline}"),
        &format!("{}{newline}", decoration.trim_end()),
    );
    out.push_str(&body);
    for _ in 0..postfix_count {
        out.push_str(&newline);
        out.push_str(&postfix);
    }
    if !end.is_empty() {
        out.push_str(&newline);
        out.push_str(&end);
    }
    Ok(out)
}
