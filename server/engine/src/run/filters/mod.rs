//! Ansible's filters that minijinja does not have, or has with other semantics, one family per
//! file: `collections` (sets, dicts, combine, flatten, ...), `text` (Python's `str`, paths,
//! shell quoting, numbers), `encoding` (JSON, YAML, base64), `regex`, `net` (the `ipaddr`
//! family), `hashing` (`hash`, `checksum`, `password_hash`). `cases` is the test table taken
//! from ansible-core itself.
//!
//! Owns: registering them (with their `ansible.builtin.`/`ansible.utils.` names too) and the
//! error every filter gives for a wrong input, which names the filter and what it got. Must
//! not: panic on any input, or read anything outside its arguments (lookups do that).

use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, Value};

pub mod collections;
pub mod encoding;
pub mod hashing;
pub mod net;
pub mod pyyaml;
pub mod regex;
pub mod text;

#[cfg(test)]
mod cases;

/// Add every filter of this module to `env`.
pub fn register(env: &mut Environment<'static>) {
    builtin_aliases(env);
    collections::register(env);
    text::register(env);
    encoding::register(env);
    regex::register(env);
    net::register(env);
    hashing::register(env);
}

/// minijinja's own filters that behave as Ansible's, also under `ansible.builtin.` (some
/// roles write every filter fully qualified).
fn builtin_aliases(env: &mut Environment<'static>) {
    use minijinja::filters as f;
    macro_rules! alias {
        ($($name:ident),*) => {
            $(env.add_filter(concat!("ansible.builtin.", stringify!($name)), f::$name);)*
        };
    }
    alias!(
        upper, lower, title, capitalize, replace, length, dictsort, items, reverse, trim, split,
        default, abs, sum, round, first, last, min, max, sort, list, batch, select, selectattr,
        reject, rejectattr, map, groupby, unique, zip, format
    );
    env.add_filter("ansible.builtin.d", f::default);
    env.add_filter("ansible.builtin.count", f::length);
}

/// The error for a filter given the wrong kind of value: `combine: expected a mapping, got a
/// list ([1, 2])`.
pub fn wrong(filter: &str, expected: &str, got: &Value) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("{filter}: expected {expected}, got {}", describe(got)),
    )
}

/// Any other refusal of a filter, prefixed with its name.
pub fn fail(filter: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{filter}: {why}"))
}

/// A value's kind and a short rendering of it, for error messages.
pub fn describe(v: &Value) -> String {
    let kind = match v.kind() {
        ValueKind::Undefined => return "an undefined value".into(),
        ValueKind::None => return "none".into(),
        ValueKind::Bool => "a boolean",
        ValueKind::Number => "a number",
        ValueKind::String => "a string",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "a list",
        ValueKind::Map => "a mapping",
        _ => "a value",
    };
    let mut shown = text::py_repr(v);
    if shown.chars().count() > 60 {
        shown = shown.chars().take(57).collect::<String>() + "...";
    }
    format!("{kind} ({shown})")
}

/// Register `f` under `name` and under each `prefix.name` (Ansible's fully qualified names).
pub(crate) fn add<F, Rv, Args>(env: &mut Environment<'static>, prefixes: &[&str], name: &str, f: F)
where
    F: minijinja::functions::Function<Rv, Args> + Clone,
    Rv: minijinja::value::FunctionResult,
    Args: for<'a> minijinja::value::FunctionArgs<'a>,
{
    for p in prefixes {
        env.add_filter(format!("{p}.{name}"), f.clone());
    }
    env.add_filter(name.to_string(), f);
}

/// The items of a list-like value, or a [`wrong`] error naming `filter`.
pub(crate) fn items(filter: &str, v: &Value) -> Result<Vec<Value>, Error> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => Ok(v.try_iter()?.collect()),
        _ => Err(wrong(filter, "a list", v)),
    }
}

/// A string argument, or a [`wrong`] error naming `filter`.
pub(crate) fn string<'a>(filter: &str, v: &'a Value) -> Result<&'a str, Error> {
    v.as_str().ok_or_else(|| wrong(filter, "a string", v))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::run::template::{Context, Templar};

    /// `comment` in each style and with keywords, as ansible-core 2.19 prints them.
    #[test]
    fn comment_styles_are_ansibles() {
        let t = Templar::new();
        let c = Context::new(
            json!({"m": "Ansible managed"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let cases = [
            ("{{ 'a\\nb' | comment }}", "#\n# a\n# b\n#"),
            ("{{ m | comment }}", "#\n# Ansible managed\n#"),
            ("{{ 'x' | comment('c') }}", "//\n// x\n//"),
            ("{{ 'x' | comment('cblock') }}", "/*\n *\n * x\n *\n */"),
            ("{{ 'x' | comment(decoration='; ') }}", ";\n; x\n;"),
            ("{{ 'x' | comment('xml') }}", "<!--\n -\n - x\n -\n-->"),
            ("{{ 'x' | comment(prefix='', postfix='') }}", "# x\n"),
        ];
        for (src, want) in cases {
            assert_eq!(t.template(&json!(src), &c).unwrap(), json!(want), "{src}");
        }
        let e = t
            .template(&json!("{{ 'x' | comment('nope') }}"), &c)
            .unwrap_err();
        assert!(e.to_string().contains("Invalid style 'nope'"), "{e}");
    }

    /// Every filter and test of this module, on every kind of value and odd arguments:
    /// results or errors, never a panic (a panic here fails the test with the case).
    #[test]
    fn no_input_makes_a_filter_panic() {
        let filters = [
            "bool",
            "string",
            "join",
            "int",
            "float",
            "basename",
            "dirname",
            "expanduser",
            "splitext",
            "path_join",
            "quote",
            "ternary",
            "mandatory",
            "type_debug",
            "comment",
            "center",
            "wordcount",
            "indent",
            "union",
            "intersect",
            "difference",
            "symmetric_difference",
            "dict2items",
            "items2dict",
            "combine",
            "flatten",
            "product",
            "extract",
            "random",
            "to_json",
            "to_nice_json",
            "from_json",
            "to_yaml",
            "to_nice_yaml",
            "from_yaml",
            "from_yaml_all",
            "b64encode",
            "b64decode",
            "regex_replace",
            "regex_search",
            "regex_findall",
            "regex_escape",
            "hash",
            "checksum",
            "md5",
            "sha1",
            "ipaddr",
            "ipv4",
            "ipv6",
            "ipwrap",
            "nthhost",
            "ipmath",
        ];
        let tests = [
            "succeeded",
            "failed",
            "changed",
            "skipped",
            "match",
            "search",
            "regex",
            "version",
            "contains",
            "subset",
            "superset",
            "truthy",
            "falsy",
            "file",
            "exists",
        ];
        let inputs = [
            "none",
            "0",
            "-1",
            "1.5",
            "true",
            "''",
            "'x y'",
            "'10.0.0.1/33'",
            "'::1'",
            "[]",
            "[1, 'a', none]",
            "[[1, [2]], {'a': 1}]",
            "{}",
            "{'a': {'b': [1]}}",
            "'\\u00e9\\n'",
            "'{\"a\": [1'",
            "'- a\\n b: ['",
            "nope",
        ];
        let args = [
            "",
            "()",
            "(1)",
            "(-5)",
            "('x')",
            "('(')",
            "([1])",
            "({'a': 1})",
            "(none)",
            "(1, 'x')",
            "('sha512', 'salt', rounds=1)",
            "(recursive=true, list_merge='append')",
        ];
        let t = Templar::new();
        let c = Context::new(json!({"k": 1}).as_object().cloned().unwrap());
        let mut n = 0;
        for v in inputs {
            for a in args {
                for f in filters {
                    let src = format!("{{{{ {v} | {f}{a} }}}}");
                    let _ = t.template(&json!(src), &c);
                    n += 1;
                }
                for test in tests {
                    let _ = t.condition(&format!("{v} is {test}{a}"), &c);
                    n += 1;
                }
            }
        }
        // password_hash separately: its default rounds are slow in a debug build.
        for v in inputs {
            for a in [
                "(rounds=1000)",
                "('sha256', rounds=1000)",
                "('sha512', 'x y', rounds=1000)",
                "('x')",
            ] {
                let _ = t.template(&json!(format!("{{{{ {v} | password_hash{a} }}}}")), &c);
                n += 1;
            }
        }
        assert!(n > 10_000, "{n} cases");
    }
}
