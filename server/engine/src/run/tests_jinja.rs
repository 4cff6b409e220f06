//! Ansible's Jinja tests (`x is ...`): task results (`succeeded`/`success`, `failed`/
//! `failure`, `changed`/`change`, `skipped`/`skip`, `unreachable`, `reachable`), regexes
//! (`match` anchored at the start, `search`, `regex`), `version`/`version_compare` (loose,
//! strict and semver comparison with Ansible's operator names), sets (`subset`, `superset`,
//! `contains`), `truthy`/`falsy`, `undefined`, and controller paths (`file`, `directory`,
//! `link`, `exists`, `abs`). minijinja's own tests cover `defined`, `none`, `string`,
//! `number`, `mapping`, `iterable`, `sequence`, `in`, comparisons.
//!
//! Must not: read a path on a target (path tests look at the controller, as in Ansible).

use std::cmp::Ordering;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, Value};

use super::filters::regex::compile;
use super::filters::text::py_str;
use super::filters::{fail, wrong};

pub fn register(env: &mut Environment<'static>) {
    let mut add = |names: &[&'static str],
                   f: fn(&Value, &[Value], &Kwargs) -> Result<bool, Error>| {
        for &name in names {
            for n in [name.to_string(), format!("ansible.builtin.{name}")] {
                let test = name;
                env.add_test(
                    n,
                    move |v: Value, args: minijinja::value::Rest<Value>, kw: Kwargs| {
                        let r = f(&v, &args, &kw).map_err(|e| renamed(test, e))?;
                        kw.assert_all_used()?;
                        Ok::<_, Error>(r)
                    },
                );
            }
        }
    };
    add(&["undefined"], |v, _, _| Ok(v.is_undefined()));
    add(&["succeeded", "success", "successful"], |v, _, _| {
        Ok(!result_flag("succeeded", v, "failed")?)
    });
    add(&["failed", "failure"], |v, _, _| {
        result_flag("failed", v, "failed")
    });
    add(&["changed", "change"], |v, _, _| changed(v));
    add(&["skipped", "skip"], |v, _, _| {
        result_flag("skipped", v, "skipped")
    });
    add(&["unreachable"], |v, _, _| {
        result_flag("unreachable", v, "unreachable")
    });
    add(&["reachable"], |v, _, _| {
        Ok(!result_flag("reachable", v, "unreachable")?)
    });
    add(&["match"], |v, a, k| {
        regex_test("match", v, a, k, Some("match"))
    });
    add(&["search"], |v, a, k| {
        regex_test("search", v, a, k, Some("search"))
    });
    add(&["regex"], |v, a, k| regex_test("regex", v, a, k, None));
    add(&["version", "version_compare"], version_test);
    add(&["contains"], |v, a, _| {
        let needle = a.first().cloned().unwrap_or_default();
        Ok(needle_in(&needle, v))
    });
    add(&["subset"], |v, a, _| {
        set_test("subset", v, a.first(), false)
    });
    add(&["superset"], |v, a, _| {
        set_test("superset", v, a.first(), true)
    });
    add(&["truthy"], |v, _, k| truthiness(v, k));
    add(&["falsy"], |v, _, k| truthiness(v, k).map(|t| !t));
    add(
        &["file"],
        |v, _, _| Ok(path(v).is_some_and(|p| p.is_file())),
    );
    add(&["directory"], |v, _, _| {
        Ok(path(v).is_some_and(|p| p.is_dir()))
    });
    add(&["link"], |v, _, _| {
        Ok(path(v).is_some_and(|p| p.is_symlink()))
    });
    add(&["exists"], |v, _, _| {
        Ok(path(v).is_some_and(|p| p.exists() || p.is_symlink()))
    });
    add(&["abs"], |v, _, _| {
        Ok(v.as_str().is_some_and(|s| s.starts_with('/')))
    });
}

/// Errors from a shared helper, reworded to name the test as the user wrote it.
fn renamed(test: &str, e: Error) -> Error {
    match e.detail() {
        Some(d) if d.starts_with("test ") => e,
        Some(d) => fail(
            &format!("test '{test}'"),
            d.split_once(": ").map_or(d, |(_, r)| r),
        ),
        None => e,
    }
}

fn path(v: &Value) -> Option<std::path::PathBuf> {
    let s = v.as_str()?;
    let s = match s.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            format!("{}{rest}", std::env::var("HOME").unwrap_or_default())
        }
        _ => s.to_string(),
    };
    Some(std::path::PathBuf::from(s))
}

/// `result.get(key, False)` of a registered result (a mapping, else an error).
fn result_flag(test: &str, v: &Value, key: &str) -> Result<bool, Error> {
    if v.kind() != ValueKind::Map {
        return Err(wrong(
            &format!("test '{test}'"),
            "a registered result (a mapping)",
            v,
        ));
    }
    Ok(v.get_attr(key).map(|f| f.is_true()).unwrap_or(false))
}

/// `changed`, or for a loop's result any item's `changed`.
fn changed(v: &Value) -> Result<bool, Error> {
    if v.kind() != ValueKind::Map {
        return Err(wrong(
            "test 'changed'",
            "a registered result (a mapping)",
            v,
        ));
    }
    let c = v.get_attr("changed")?;
    if !c.is_undefined() {
        return Ok(c.is_true());
    }
    let results = v.get_attr("results")?;
    if results.kind() == ValueKind::Seq {
        for r in results.try_iter()? {
            if r.kind() == ValueKind::Map && r.get_attr("changed")?.is_true() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn regex_test(
    test: &str,
    v: &Value,
    args: &[Value],
    kw: &Kwargs,
    mode: Option<&str>,
) -> Result<bool, Error> {
    let ic = kw.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let ml = kw.get::<Option<bool>>("multiline")?.unwrap_or(false);
    let mode = match mode {
        Some(m) => m.to_string(),
        None => kw
            .get::<Option<String>>("match_type")?
            .unwrap_or_else(|| "search".into()),
    };
    let pattern = match args.first() {
        Some(p) => py_str(p),
        None => return Err(fail(&format!("test '{test}'"), "a pattern is required")),
    };
    let anchored = match mode.as_str() {
        "match" => format!(r"\A(?:{pattern})"),
        "fullmatch" => format!(r"\A(?:{pattern})\z"),
        "search" => pattern,
        other => {
            return Err(fail(
                &format!("test '{test}'"),
                format!("unknown match_type '{other}'"),
            ));
        }
    };
    let re = compile(&format!("test '{test}'"), &anchored, ic, ml)?;
    Ok(re.is_match(&py_str(v)))
}

fn needle_in(needle: &Value, hay: &Value) -> bool {
    match hay.kind() {
        ValueKind::String => needle
            .as_str()
            .is_some_and(|n| hay.as_str().unwrap_or("").contains(n)),
        ValueKind::Map | ValueKind::Seq | ValueKind::Iterable => {
            hay.try_iter().is_ok_and(|mut it| it.any(|x| &x == needle))
        }
        _ => false,
    }
}

fn set_test(test: &str, v: &Value, other: Option<&Value>, superset: bool) -> Result<bool, Error> {
    let name = format!("test '{test}'");
    let other = other.ok_or_else(|| fail(&name, "a list to compare with is required"))?;
    let a: Vec<Value> = super::filters::items(&name, v)?;
    let b: Vec<Value> = super::filters::items(&name, other)?;
    let (small, big) = if superset { (&b, &a) } else { (&a, &b) };
    Ok(small.iter().all(|x| big.contains(x)))
}

fn truthiness(v: &Value, kw: &Kwargs) -> Result<bool, Error> {
    let convert = kw.get::<Option<bool>>("convert_bool")?.unwrap_or(false);
    if convert && (v.kind() == ValueKind::String || v.kind() == ValueKind::Number) {
        let s = py_str(v).to_ascii_lowercase();
        if ["1", "yes", "on", "true", "y", "t"].contains(&s.as_str()) {
            return Ok(true);
        }
        if ["0", "no", "off", "false", "n", "f"].contains(&s.as_str()) {
            return Ok(false);
        }
    }
    Ok(v.is_true())
}

/// One component of a loose version: Python's `LooseVersion` splits into numbers and words.
#[derive(Debug, PartialEq)]
enum Part {
    Num(u64),
    Word(String),
}

fn loose(s: &str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<Part>| {
        if !cur.is_empty() {
            out.push(match cur.parse::<u64>() {
                Ok(n) if cur.chars().all(|c| c.is_ascii_digit()) => Part::Num(n),
                _ => Part::Word(cur.clone()),
            });
            cur.clear();
        }
    };
    for c in s.chars() {
        let same = cur
            .chars()
            .next()
            .is_none_or(|p| p.is_ascii_digit() == c.is_ascii_digit());
        if c == '.' {
            flush(&mut cur, &mut out);
        } else if !same {
            flush(&mut cur, &mut out);
            cur.push(c);
        } else {
            cur.push(c);
        }
    }
    flush(&mut cur, &mut out);
    out
}

fn cmp_loose(a: &str, b: &str) -> Result<Ordering, String> {
    let (a, b) = (loose(a), loose(b));
    for (x, y) in a.iter().zip(b.iter()) {
        let o = match (x, y) {
            (Part::Num(x), Part::Num(y)) => x.cmp(y),
            (Part::Word(x), Part::Word(y)) => x.cmp(y),
            _ => return Err("'<' not supported between a number and a word (use version_type='semver' or a strict version)".into()),
        };
        if o != Ordering::Equal {
            return Ok(o);
        }
    }
    Ok(a.len().cmp(&b.len()))
}

/// Python's `StrictVersion`: `N.N[.N][{a|b}N]`, a missing patch is 0, a pre-release sorts
/// before the release.
/// major, minor, patch and the pre-release (`a`/`b` and its number).
type Strict = (u64, u64, u64, Option<(char, u64)>);

fn strict(s: &str) -> Result<Strict, String> {
    let re = regex::Regex::new(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:([ab])(\d+))?$")
        .map_err(|e| e.to_string())?;
    let c = re
        .captures(s)
        .ok_or_else(|| format!("invalid version number '{s}'"))?;
    let n = |i: usize| {
        c.get(i).map_or(Ok(0), |m| {
            m.as_str().parse::<u64>().map_err(|e| e.to_string())
        })
    };
    let pre = match (c.get(4), c.get(5)) {
        (Some(k), Some(_)) => Some((k.as_str().chars().next().unwrap_or('a'), n(5)?)),
        _ => None,
    };
    Ok((n(1)?, n(2)?, n(3)?, pre))
}

fn cmp_strict(a: &str, b: &str) -> Result<Ordering, String> {
    let (a, b) = (strict(a)?, strict(b)?);
    Ok((a.0, a.1, a.2)
        .cmp(&(b.0, b.1, b.2))
        .then_with(|| match (a.3, b.3) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.cmp(&y),
        }))
}

/// Semantic versioning 2.0: numeric core, then pre-release identifiers (a release sorts
/// after its pre-releases); build metadata is ignored.
fn cmp_semver(a: &str, b: &str) -> Result<Ordering, String> {
    let parse = |s: &str| -> Result<(Vec<u64>, Option<String>), String> {
        let s = s.split('+').next().unwrap_or(s);
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p.to_string())),
            None => (s, None),
        };
        let nums: Result<Vec<u64>, _> = core.split('.').map(str::parse).collect();
        let nums = nums.map_err(|_| format!("invalid semantic version '{s}'"))?;
        if nums.len() != 3 {
            return Err(format!("invalid semantic version '{s}'"));
        }
        Ok((nums, pre))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    Ok(a.0.cmp(&b.0).then_with(|| match (&a.1, &b.1) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => {
            let ids = |s: &str| {
                s.split('.')
                    .map(|p| p.parse::<u64>().map_err(|_| p.to_string()))
                    .collect::<Vec<_>>()
            };
            let (x, y) = (ids(x), ids(y));
            for (p, q) in x.iter().zip(y.iter()) {
                let o = match (p, q) {
                    (Ok(p), Ok(q)) => p.cmp(q),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(p), Err(q)) => p.cmp(q),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
    }))
}

/// `version(other, operator='eq', strict=False, version_type=None)`.
fn version_test(v: &Value, args: &[Value], kw: &Kwargs) -> Result<bool, Error> {
    let name = "test 'version'";
    let other = match args.first() {
        Some(o) => py_str(o),
        None => return Err(fail(name, "a version to compare with is required")),
    };
    let op = match kw.get::<Option<String>>("operator")? {
        Some(o) => o,
        None => args.get(1).map(py_str).unwrap_or_else(|| "eq".into()),
    };
    let strict_kw = match kw.get::<Option<bool>>("strict")? {
        Some(s) => s,
        None => args.get(2).is_some_and(|s| s.is_true()),
    };
    let vtype = kw.get::<Option<String>>("version_type")?;
    let value = py_str(v);
    if value.is_empty() {
        return Err(fail(name, "the value to compare is empty"));
    }
    let kind = match (vtype.as_deref(), strict_kw) {
        (Some(_), true) => {
            return Err(fail(name, "strict and version_type are mutually exclusive"));
        }
        (Some(t), _) => t.to_string(),
        (None, true) => "strict".into(),
        (None, false) => "loose".into(),
    };
    let ord = match kind.as_str() {
        "loose" => cmp_loose(&value, &other),
        "strict" => cmp_strict(&value, &other),
        "semver" | "semantic" => cmp_semver(&value, &other),
        t => {
            return Err(fail(
                name,
                format!("unsupported version_type '{t}' (loose, strict, semver)"),
            ));
        }
    }
    .map_err(|e| fail(name, format!("version comparison failed: {e}")))?;
    use Ordering::*;
    Ok(match op.as_str() {
        "==" | "=" | "eq" => ord == Equal,
        "!=" | "<>" | "ne" => ord != Equal,
        "<" | "lt" => ord == Less,
        "<=" | "le" => ord != Greater,
        ">" | "gt" => ord == Greater,
        ">=" | "ge" => ord != Less,
        other => return Err(fail(name, format!("invalid operator type ({other})"))),
    })
}
