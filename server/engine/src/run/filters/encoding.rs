//! Serialisation filters, written out as Python's `json` and PyYAML write them (Ansible's
//! output is what users diff against): `to_json`, `to_nice_json` (indent 4, sorted keys),
//! `from_json`, `to_yaml` (leaf collections in flow style), `to_nice_yaml` (indent 4, block
//! style), `from_yaml`/`from_yaml_all` (YAML 1.1 types, as PyYAML), `b64encode`/`b64decode`.
//!
//! YAML is written by `pyyaml` (PyYAML's layout).
//! Must not: lose an integer to a float or reorder keys unless asked (`sort_keys`).

use base64::Engine as _;
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, Value};
use serde_json::Value as Json;

use super::text::py_str;
use super::{add, fail, string};
use crate::run::template::to_json;

const B: &[&str] = &["ansible.builtin"];

pub fn register(env: &mut Environment<'static>) {
    add(
        env,
        B,
        "to_json",
        |v: Value, kwargs: Kwargs| -> Result<String, Error> {
            let indent: Option<usize> = kwargs.get("indent")?;
            let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
            let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true);
            kwargs.assert_all_used()?;
            let opts = JsonStyle {
                indent,
                sort_keys,
                ensure_ascii,
            };
            Ok(opts.dump(&plain("to_json", &v)?))
        },
    );
    add(
        env,
        B,
        "to_nice_json",
        |v: Value, kwargs: Kwargs| -> Result<String, Error> {
            let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(4);
            let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
            let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true);
            kwargs.assert_all_used()?;
            let opts = JsonStyle {
                indent: Some(indent),
                sort_keys,
                ensure_ascii,
            };
            Ok(opts.dump(&plain("to_nice_json", &v)?))
        },
    );
    add(env, B, "from_json", |v: Value| -> Result<Value, Error> {
        let s = string("from_json", &v)?;
        let j: Json =
            serde_json::from_str(s).map_err(|e| fail("from_json", format!("invalid JSON: {e}")))?;
        Ok(Value::from(minijinja::value::Serde(&j)))
    });
    add(
        env,
        B,
        "to_yaml",
        |v: Value, kwargs: Kwargs| -> Result<String, Error> {
            let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(2);
            let flow: Option<bool> = kwargs.get("default_flow_style")?;
            kwargs.assert_all_used()?;
            Ok(super::pyyaml::dump(
                indent.max(2),
                flow.is_none(),
                &plain("to_yaml", &v)?,
            ))
        },
    );
    add(
        env,
        B,
        "to_nice_yaml",
        |v: Value, kwargs: Kwargs| -> Result<String, Error> {
            let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(4);
            kwargs.assert_all_used()?;
            Ok(super::pyyaml::dump(
                indent.max(2),
                false,
                &plain("to_nice_yaml", &v)?,
            ))
        },
    );
    add(env, B, "from_yaml", |v: Value| -> Result<Value, Error> {
        let s = string("from_yaml", &v)?;
        let node = crate::yaml::parse(s)
            .map_err(|e| fail("from_yaml", format!("{} (line {})", e.message, e.span.line)))?;
        Ok(Value::from(minijinja::value::Serde(node.to_json())))
    });
    add(
        env,
        B,
        "from_yaml_all",
        |v: Value| -> Result<Value, Error> {
            let s = string("from_yaml_all", &v)?;
            let mut docs = Vec::new();
            for doc in split_documents(s) {
                let node = crate::yaml::parse(&doc).map_err(|e| {
                    fail(
                        "from_yaml_all",
                        format!("{} (line {})", e.message, e.span.line),
                    )
                })?;
                docs.push(node.to_json());
            }
            Ok(Value::from(minijinja::value::Serde(docs)))
        },
    );
    add(env, B, "b64encode", |v: Value| -> Result<String, Error> {
        Ok(base64::engine::general_purpose::STANDARD.encode(py_str(&v)))
    });
    add(env, B, "b64decode", |v: Value| -> Result<String, Error> {
        let s = string("b64decode", &v)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| fail("b64decode", format!("invalid base64: {e}")))?;
        String::from_utf8(bytes)
            .map_err(|_| fail("b64decode", "the decoded bytes are not UTF-8 text"))
    });
}

/// The input as JSON data, refusing what JSON cannot hold (an undefined value).
fn plain(filter: &str, v: &Value) -> Result<Json, Error> {
    if v.is_undefined() {
        return Err(super::wrong(filter, "a defined value", v));
    }
    if v.kind() == ValueKind::Invalid {
        return Err(super::wrong(filter, "data", v));
    }
    Ok(to_json(v))
}

/// Documents of a `---`-separated stream (the loader takes one at a time).
fn split_documents(s: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in s.lines() {
        if line == "---" || line.starts_with("--- ") {
            if !docs.last().is_some_and(|d| d.trim().is_empty()) {
                docs.push(String::new());
            }
            docs.last_mut()
                .unwrap_or(&mut String::new())
                .push_str(line.get(4..).unwrap_or(""));
            continue;
        }
        if let Some(d) = docs.last_mut() {
            d.push_str(line);
            d.push('\n');
        }
    }
    docs.retain(|d| !d.trim().is_empty());
    docs
}

/// Python's `json.dumps` options that Ansible passes.
struct JsonStyle {
    indent: Option<usize>,
    sort_keys: bool,
    ensure_ascii: bool,
}

impl JsonStyle {
    fn dump(&self, v: &Json) -> String {
        let mut out = String::new();
        self.write(v, 0, &mut out);
        out
    }

    fn write(&self, v: &Json, level: usize, out: &mut String) {
        let (item_sep, newline) = match self.indent {
            Some(n) => (",".to_string(), Some(n)),
            None => (", ".to_string(), None),
        };
        let open = |out: &mut String, level: usize| {
            if let Some(n) = newline {
                out.push('\n');
                out.push_str(&" ".repeat(n * level));
            }
        };
        match v {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(&py_number(n)),
            Json::String(s) => out.push_str(&json_str(s, self.ensure_ascii)),
            Json::Array(a) if a.is_empty() => out.push_str("[]"),
            Json::Object(m) if m.is_empty() => out.push_str("{}"),
            Json::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&item_sep);
                    }
                    open(out, level + 1);
                    self.write(x, level + 1, out);
                }
                open(out, level);
                out.push(']');
            }
            Json::Object(m) => {
                let mut entries: Vec<(&String, &Json)> = m.iter().collect();
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (k, x)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(&item_sep);
                    }
                    open(out, level + 1);
                    out.push_str(&json_str(k, self.ensure_ascii));
                    out.push_str(": ");
                    self.write(x, level + 1, out);
                }
                open(out, level);
                out.push('}');
            }
        }
    }
}

/// A number as Python prints it (`1.0`, not `1`; `1e+20`).
fn py_number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        py_float(n.as_f64().unwrap_or(0.0))
    } else {
        n.to_string()
    }
}

pub(crate) fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    if (-4..16).contains(&exp) {
        let s = f.to_string();
        if s.contains('.') { s } else { format!("{s}.0") }
    } else {
        // Python: 1e+20, 1.5e-07
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

fn json_str(s: &str, ensure_ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && (c as u32) > 0x7e) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
