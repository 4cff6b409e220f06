//! Filters on lists and mappings that Ansible adds to Jinja2: the set family (`union`,
//! `intersect`, `difference`, `symmetric_difference`, keeping first-seen order as Ansible
//! does for lists), `dict2items`/`items2dict`, `combine` (recursive, `list_merge`),
//! `flatten`, `product`, `extract`, `random` (deterministic with `seed`), and the `dict`
//! function taking pairs.
//!
//! Must not: mutate an input (values are shared), or panic on a wrong type.

use indexmap::IndexMap;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, Value};

use super::{add, fail, items, wrong};

const B: &[&str] = &["ansible.builtin"];

pub fn register(env: &mut Environment<'static>) {
    add(
        env,
        B,
        "union",
        |a: Value, b: Value| -> Result<Value, Error> {
            let mut all = items("union", &a)?;
            all.extend(items("union", &b)?);
            Ok(Value::from(unique(all)))
        },
    );
    add(
        env,
        B,
        "intersect",
        |a: Value, b: Value| -> Result<Value, Error> {
            let b = items("intersect", &b)?;
            let a = unique(items("intersect", &a)?);
            Ok(Value::from(
                a.into_iter().filter(|x| b.contains(x)).collect::<Vec<_>>(),
            ))
        },
    );
    add(
        env,
        B,
        "difference",
        |a: Value, b: Value| -> Result<Value, Error> {
            let b = items("difference", &b)?;
            let a = unique(items("difference", &a)?);
            Ok(Value::from(
                a.into_iter().filter(|x| !b.contains(x)).collect::<Vec<_>>(),
            ))
        },
    );
    add(
        env,
        B,
        "symmetric_difference",
        |a: Value, b: Value| -> Result<Value, Error> {
            let f = "symmetric_difference";
            let (a, b) = (items(f, &a)?, items(f, &b)?);
            let both: Vec<Value> = unique(a.clone())
                .into_iter()
                .filter(|x| b.contains(x))
                .collect();
            let mut all = a;
            all.extend(b);
            let out: Vec<Value> = unique(all)
                .into_iter()
                .filter(|x| !both.contains(x))
                .collect();
            Ok(Value::from(out))
        },
    );
    add(env, B, "dict2items", dict2items);
    add(env, B, "items2dict", items2dict);
    add(env, B, "combine", combine);
    add(env, B, "flatten", flatten_filter);
    add(
        env,
        B,
        "product",
        |a: Value, rest: Rest<Value>| -> Result<Value, Error> {
            let mut out: Vec<Vec<Value>> = vec![vec![]];
            let mut lists = vec![items("product", &a)?];
            for r in rest.iter() {
                lists.push(items("product", r)?);
            }
            for list in lists {
                let mut next = Vec::with_capacity(out.len() * list.len());
                for prefix in &out {
                    for x in &list {
                        let mut p = prefix.clone();
                        p.push(x.clone());
                        next.push(p);
                    }
                }
                out = next;
            }
            Ok(Value::from(
                out.into_iter().map(Value::from).collect::<Vec<_>>(),
            ))
        },
    );
    add(
        env,
        B,
        "extract",
        |item: Value, container: Value, more: Option<Value>| {
            let mut v = container.get_item(&item)?;
            if let Some(more) = more {
                let keys = match more.kind() {
                    ValueKind::Seq => more.try_iter()?.collect(),
                    _ => vec![more],
                };
                for k in keys {
                    v = v.get_item(&k)?;
                }
            }
            Ok::<_, Error>(v)
        },
    );
    add(env, B, "random", random);
    env.add_function("dict", dict);
}

/// Items in first-seen order without repeats (Python `==` semantics, so `1` and `1.0` are one).
fn unique(v: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

fn mapping(filter: &str, v: &Value) -> Result<IndexMap<Value, Value>, Error> {
    if v.kind() != ValueKind::Map {
        return Err(wrong(filter, "a mapping", v));
    }
    let mut m = IndexMap::new();
    for k in v.try_iter()? {
        let val = v.get_item(&k)?;
        m.insert(k, val);
    }
    Ok(m)
}

fn to_value(m: IndexMap<Value, Value>) -> Value {
    Value::from(m)
}

/// A mapping from pairs, in their order.
pub fn map_of<K: Into<Value>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
    Value::from(
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v))
            .collect::<IndexMap<Value, Value>>(),
    )
}

fn dict2items(v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key: Option<String> = kwargs.get("key_name")?;
    let value: Option<String> = kwargs.get("value_name")?;
    kwargs.assert_all_used()?;
    let (key, value) = (
        key.as_deref().unwrap_or("key"),
        value.as_deref().unwrap_or("value"),
    );
    let out: Vec<Value> = mapping("dict2items", &v)?
        .into_iter()
        .map(|(k, v)| map_of([(key, k), (value, v)]))
        .collect();
    Ok(Value::from(out))
}

fn items2dict(v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key: Option<String> = kwargs.get("key_name")?;
    let value: Option<String> = kwargs.get("value_name")?;
    kwargs.assert_all_used()?;
    let (key, value) = (
        key.as_deref().unwrap_or("key"),
        value.as_deref().unwrap_or("value"),
    );
    let mut out = IndexMap::new();
    for item in items("items2dict", &v)? {
        let m = mapping("items2dict", &item)?;
        match (m.get(&Value::from(key)), m.get(&Value::from(value))) {
            (Some(k), Some(v)) => {
                out.insert(k.clone(), v.clone());
            }
            _ => {
                return Err(fail(
                    "items2dict",
                    format!(
                        "each item needs the keys '{key}' and '{value}', got {}",
                        super::describe(&item)
                    ),
                ));
            }
        }
    }
    Ok(to_value(out))
}

/// `combine(*dicts, recursive=False, list_merge='replace')`, Ansible's `merge_hash` for each
/// pair in turn. Lists of dictionaries among the inputs are spread.
fn combine(first: Value, rest: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge: Option<String> = kwargs.get("list_merge")?;
    let list_merge = list_merge.unwrap_or_else(|| "replace".into());
    kwargs.assert_all_used()?;
    if ![
        "replace",
        "keep",
        "append",
        "prepend",
        "append_rp",
        "prepend_rp",
    ]
    .contains(&list_merge.as_str())
    {
        return Err(fail(
            "combine",
            format!(
                "list_merge must be one of replace, keep, append, prepend, append_rp, prepend_rp; got '{list_merge}'"
            ),
        ));
    }
    let mut dicts = Vec::new();
    for term in std::iter::once(&first).chain(rest.iter()) {
        match term.kind() {
            ValueKind::Seq | ValueKind::Iterable => dicts.extend(term.try_iter()?),
            _ => dicts.push(term.clone()),
        }
    }
    let mut acc: Option<IndexMap<Value, Value>> = None;
    for d in &dicts {
        let d = mapping("combine", d)?;
        acc = Some(match acc {
            None => d,
            Some(x) => merge(x, d, recursive, &list_merge)?,
        });
    }
    Ok(to_value(acc.unwrap_or_default()))
}

fn merge(
    mut x: IndexMap<Value, Value>,
    y: IndexMap<Value, Value>,
    recursive: bool,
    list_merge: &str,
) -> Result<IndexMap<Value, Value>, Error> {
    for (k, yv) in y {
        let Some(xv) = x.get(&k) else {
            x.insert(k, yv);
            continue;
        };
        let new = match (xv.kind(), yv.kind()) {
            (ValueKind::Map, ValueKind::Map) if recursive => to_value(merge(
                mapping("combine", xv)?,
                mapping("combine", &yv)?,
                recursive,
                list_merge,
            )?),
            (ValueKind::Seq, ValueKind::Seq) => {
                let xs: Vec<Value> = xv.try_iter()?.collect();
                let ys: Vec<Value> = yv.try_iter()?.collect();
                let keep_x = || xs.iter().filter(|z| !ys.contains(z)).cloned();
                Value::from(match list_merge {
                    "keep" => xs.clone(),
                    "append" => xs.iter().chain(ys.iter()).cloned().collect(),
                    "prepend" => ys.iter().chain(xs.iter()).cloned().collect(),
                    "append_rp" => keep_x().chain(ys.iter().cloned()).collect(),
                    "prepend_rp" => ys.iter().cloned().chain(keep_x()).collect(),
                    _ => ys,
                })
            }
            _ => yv,
        };
        x.insert(k, new);
    }
    Ok(x)
}

/// Ansible's `flatten(levels=None, skip_nulls=True)`; nulls include the strings `'None'`
/// and `'null'`, as in Ansible.
fn flatten_filter(v: Value, levels: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let levels = kwargs.get::<Option<Value>>("levels")?.or(levels);
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    let levels = match levels {
        None => None,
        Some(l) if l.is_none() => None,
        Some(l) => Some(
            l.as_i64()
                .ok_or_else(|| wrong("flatten", "an integer for levels", &l))?,
        ),
    };
    let mut out = Vec::new();
    flatten(&items("flatten", &v)?, levels, skip_nulls, &mut out)?;
    Ok(Value::from(out))
}

fn flatten(
    list: &[Value],
    levels: Option<i64>,
    skip_nulls: bool,
    out: &mut Vec<Value>,
) -> Result<(), Error> {
    for el in list {
        let null = el.is_none() || matches!(el.as_str(), Some("None" | "null"));
        if skip_nulls && null {
            continue;
        }
        match (el.kind(), levels) {
            (ValueKind::Seq | ValueKind::Iterable, None) => {
                flatten(&el.try_iter()?.collect::<Vec<_>>(), None, skip_nulls, out)?
            }
            (ValueKind::Seq | ValueKind::Iterable, Some(l)) if l >= 1 => flatten(
                &el.try_iter()?.collect::<Vec<_>>(),
                Some(l - 1),
                skip_nulls,
                out,
            )?,
            _ => out.push(el.clone()),
        }
    }
    Ok(())
}

/// `random`: an item of a list, or a number below an integer (`start`, `step` as Python's
/// `randrange`). With `seed` the choice is the same on every run (but not the one Python's
/// generator would pick).
fn random(v: Value, kwargs: Kwargs) -> Result<Value, Error> {
    use rand::{Rng, SeedableRng};
    let seed: Option<Value> = kwargs.get("seed")?;
    let start = kwargs.get::<Option<i64>>("start")?.unwrap_or(0);
    let step = kwargs.get::<Option<i64>>("step")?.unwrap_or(1);
    kwargs.assert_all_used()?;
    let mut rng = match &seed {
        Some(s) => {
            use sha2::Digest;
            let h = sha2::Sha256::digest(super::text::py_str(s).as_bytes());
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[..8]);
            rand::rngs::StdRng::seed_from_u64(u64::from_le_bytes(b))
        }
        None => rand::rngs::StdRng::from_os_rng(),
    };
    if let Some(end) = v.as_i64() {
        if step <= 0 || end <= start {
            return Err(fail(
                "random",
                format!("empty range for randrange({start}, {end}, {step})"),
            ));
        }
        let n = (end - start + step - 1) / step;
        return Ok(Value::from(start + step * rng.random_range(0..n)));
    }
    let list: Vec<Value> = match v.as_str() {
        Some(s) => s.chars().map(Value::from).collect(),
        None => items("random", &v)?,
    };
    if list.is_empty() {
        return Err(fail("random", "cannot choose from an empty sequence"));
    }
    Ok(list[rng.random_range(0..list.len())].clone())
}

/// `dict(pairs)`, `dict(mapping)` and `dict(k=v, ...)`, as Python's `dict()`.
fn dict(v: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let mut out = IndexMap::new();
    if let Some(v) = v {
        match v.kind() {
            ValueKind::Map => out = mapping("dict", &v)?,
            ValueKind::Seq | ValueKind::Iterable => {
                for pair in v.try_iter()? {
                    let kv = items("dict", &pair)?;
                    if kv.len() != 2 {
                        return Err(wrong("dict", "pairs of key and value", &pair));
                    }
                    out.insert(kv[0].clone(), kv[1].clone());
                }
            }
            ValueKind::None | ValueKind::Undefined => {}
            _ => return Err(wrong("dict", "a mapping or a list of pairs", &v)),
        }
    }
    for k in kwargs.args() {
        out.insert(Value::from(k), kwargs.get::<Value>(k)?);
    }
    Ok(to_value(out))
}
