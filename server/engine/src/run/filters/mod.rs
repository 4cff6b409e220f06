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
