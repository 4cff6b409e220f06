//! Loops: the items of `loop` and `with_<lookup>`, one run of the task per item with the loop
//! variables set, and the registered result of the whole (`results`, one per item).
//!
//! Owns the item lists Ansible's lookups produce (`items` flattens one level, `list`, `dict`,
//! `fileglob` on the controller, `sequence`, `indexed_items`, `flattened`, `together`,
//! `nested`), `loop_control` (`loop_var`, `index_var`,
//! `label`, `pause`, `extended`) and the aggregate result (`changed` if any item changed,
//! failed if any failed). Must not: decide what a failure means for the host (the walker).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value as Json, json};

use super::task::{Done, HostTask};
use super::template::{Context, Templar};
use crate::event::{Event, Outcome};
use crate::playbook::{Count, Flag, Location, Loop, LoopControl, Vars};

/// The items of `lp`, or why there are none (an error naming the task's place).
pub fn items(
    lp: &Loop,
    templar: &Templar,
    vars: &Context,
    search: &[PathBuf],
    at: &Location,
) -> Result<Vec<Json>, String> {
    let source = templar
        .template(&lp.source, vars)
        .map_err(|e| format!("{e} (in the loop of the task at {at})"))?;
    let shown = |v: &Json| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    match lp.kind.as_str() {
        "loop" | "list" => match source {
            Json::Array(a) => Ok(a),
            other => Err(format!(
                "Invalid data passed to '{}', it requires a list, got this instead: {}. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup. (the task at {at})",
                if lp.kind == "loop" {
                    "loop"
                } else {
                    "with_list"
                },
                shown(&other)
            )),
        },
        "items" => Ok(flat_one(source)),
        "dict" => match source {
            Json::Object(m) => Ok(m
                .into_iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect()),
            other => Err(format!(
                "with_dict expects a dict, got {} (the task at {at})",
                shown(&other)
            )),
        },
        "fileglob" => {
            let patterns: Vec<String> = match source {
                Json::Array(a) => a.iter().map(shown).collect(),
                other => vec![shown(&other)],
            };
            let mut out = Vec::new();
            for p in patterns {
                out.extend(fileglob(&p, search).into_iter().map(Json::from));
            }
            Ok(out)
        }
        "sequence" => sequence(&shown(&source)).map_err(|e| format!("{e} (the task at {at})")),
        "indexed_items" => Ok(flat_one(source)
            .into_iter()
            .enumerate()
            .map(|(i, v)| json!([i, v]))
            .collect()),
        "flattened" => {
            fn all(v: Json, out: &mut Vec<Json>) {
                match v {
                    Json::Array(a) => a.into_iter().for_each(|x| all(x, out)),
                    other => out.push(other),
                }
            }
            let mut out = Vec::new();
            all(source, &mut out);
            Ok(out)
        }
        "together" | "nested" => {
            let lists: Vec<Vec<Json>> = match source {
                Json::Array(a) => a
                    .into_iter()
                    .map(|l| match l {
                        Json::Array(x) => x,
                        other => vec![other],
                    })
                    .collect(),
                other => {
                    return Err(format!(
                        "with_{} expects a list of lists, got {} (the task at {at})",
                        lp.kind,
                        shown(&other)
                    ));
                }
            };
            Ok(if lp.kind == "together" {
                // Ansible's zip_longest: shorter lists are padded with null.
                let n = lists.iter().map(Vec::len).max().unwrap_or(0);
                (0..n)
                    .map(|i| {
                        Json::Array(
                            lists
                                .iter()
                                .map(|l| l.get(i).cloned().unwrap_or(Json::Null))
                                .collect(),
                        )
                    })
                    .collect()
            } else {
                let mut acc: Vec<Vec<Json>> = vec![Vec::new()];
                for l in &lists {
                    acc = acc
                        .into_iter()
                        .flat_map(|prefix| {
                            l.iter().map(move |x| {
                                let mut p = prefix.clone();
                                p.push(x.clone());
                                p
                            })
                        })
                        .collect();
                }
                if lists.is_empty() {
                    Vec::new()
                } else {
                    acc.into_iter().map(Json::Array).collect()
                }
            })
        }
        other => Err(format!(
            "with_{other} is not supported: use `loop:` with a filter, or with_items, with_list, with_dict, with_fileglob, with_sequence, with_indexed_items, with_flattened, with_together, with_nested (the task at {at})"
        )),
    }
}

/// `with_items`' list: one level flattened, a single value as a list of one.
fn flat_one(source: Json) -> Vec<Json> {
    match source {
        Json::Array(a) => a
            .into_iter()
            .flat_map(|v| match v {
                Json::Array(inner) => inner,
                other => vec![other],
            })
            .collect(),
        Json::Null => Vec::new(),
        other => vec![other],
    }
}

/// Controller-side files matching `pattern` (`*`, `?` in the last component), sorted. A
/// relative pattern is looked up under each search directory's `files/`, then the directory
/// itself; the first directory with matches wins (Ansible's fileglob lookup).
pub fn fileglob(pattern: &str, search: &[PathBuf]) -> Vec<String> {
    let p = Path::new(pattern);
    let dirs: Vec<PathBuf> = if p.is_absolute() {
        vec![PathBuf::new()]
    } else {
        search
            .iter()
            .flat_map(|d| [d.join("files"), d.clone()])
            .collect()
    };
    for base in dirs {
        let full = base.join(p);
        let (Some(dir), Some(name)) = (full.parent(), full.file_name()) else {
            continue;
        };
        let name = name.to_string_lossy();
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_file())
            .filter(|e| wildcard(&name, &e.file_name().to_string_lossy()))
            .map(|e| e.path().display().to_string())
            .collect();
        if !found.is_empty() {
            found.sort();
            return found;
        }
    }
    Vec::new()
}

/// Shell-style matching of `*` and `?` (no character classes).
fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Hidden files are not matched by a leading wildcard, as in a shell.
    if n.first() == Some(&'.') && p.first() != Some(&'.') {
        return false;
    }
    go(&p, &n)
}

/// `with_sequence`: `start=1 end=5 stride=1 format=%d`, or the short `[start-]end[/stride]`.
fn sequence(spec: &str) -> Result<Vec<Json>, String> {
    let (mut start, mut end, mut stride, mut format) = (1i64, None, 1i64, "%d".to_string());
    let num = |k: &str, v: &str| {
        v.parse::<i64>()
            .map_err(|_| format!("with_sequence: {k}={v} is not a number"))
    };
    let spec = spec.trim();
    if spec.contains('=') {
        for word in spec.split_whitespace() {
            let (k, v) = word.split_once('=').unwrap_or((word, ""));
            match k {
                "start" => start = num(k, v)?,
                "end" => end = Some(num(k, v)?),
                "count" => end = Some(start + num(k, v)? - 1),
                "stride" => stride = num(k, v)?,
                "format" => format = v.to_string(),
                _ => return Err(format!("with_sequence: unknown argument {k:?}")),
            }
        }
    } else {
        let (range, s) = spec.split_once('/').unwrap_or((spec, "1"));
        stride = num("stride", s)?;
        match range.split_once('-') {
            Some((a, b)) => {
                start = num("start", a)?;
                end = Some(num("end", b)?);
            }
            None => end = Some(num("end", range)?),
        }
    }
    let end = end.ok_or("with_sequence needs an end (or a count)")?;
    if stride == 0 {
        return Err("with_sequence: stride must not be 0".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Json::from(printf_int(&format, i)));
        i += stride;
    }
    Ok(out)
}

/// The `%d`-style formats with_sequence users write (`%d`, `%02d`, `host%03d`).
fn printf_int(format: &str, n: i64) -> String {
    let Some(pos) = format.find('%') else {
        return format.to_string();
    };
    let rest = &format[pos + 1..];
    let spec_len = rest.find(['d', 'i', 'x']).map(|i| i + 1).unwrap_or(0);
    let spec = &rest[..spec_len];
    let (flags, conv) = spec.split_at(spec_len.saturating_sub(1));
    let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0);
    let body = match conv {
        "x" => format!("{n:x}"),
        _ => n.to_string(),
    };
    let padded = if flags.starts_with('0') {
        format!("{body:0>width$}")
    } else {
        format!("{body:>width$}")
    };
    format!("{}{padded}{}", &format[..pos], &rest[spec_len..])
}

/// Run `task` on its host for each item, then the whole: per-item results are emitted as they
/// finish; the returned [`Done`] is the aggregate (`looped`).
pub async fn run(t: &HostTask<'_>, lp: &Loop, vars: &Context) -> Done {
    let control = t.task.loop_control.clone().unwrap_or_default();
    let list = match items(lp, t.templar, vars, t.search, &t.task.location) {
        Ok(l) => l,
        Err(e) => return failed_loop(t, vars, e),
    };
    let loop_var = control.loop_var.clone().unwrap_or_else(|| "item".into());
    let extended = match &control.extended {
        Some(Flag::Value(b)) => *b,
        Some(Flag::Template(s)) => t.templar.condition(s, vars).unwrap_or(false),
        None => false,
    };
    let pause = match &control.pause {
        None => 0.0,
        Some(Count::Value(n)) => *n as f64,
        Some(Count::Template(s)) => t
            .templar
            .template(&Json::String(s.clone()), vars)
            .ok()
            .and_then(|v| v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()))
            .unwrap_or(0.0),
    };
    let mut results = Vec::new();
    let mut facts = Vars::new();
    let (mut changed, mut failed, mut all_skipped, mut drops_out, mut ignored) =
        (false, false, true, false, false);
    let mut unreachable = false;
    let n = list.len();
    for (i, item) in list.iter().enumerate() {
        if i > 0 && pause > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(pause)).await;
        }
        let mut json = vars.json.clone();
        json.insert(loop_var.clone(), item.clone());
        json.insert("ansible_loop_var".into(), loop_var.clone().into());
        if let Some(iv) = &control.index_var {
            json.insert(iv.clone(), i.into());
        }
        if extended {
            json.insert("ansible_loop".into(), loop_info(&list, i));
        }
        let ctx = vars.derive(json);
        let label = label(&control, t.templar, &ctx, item);
        let d = t.run(&ctx, Some(label)).await;
        t.sink.emit(Event::HostResult(d.result.clone()));
        match d.result.outcome {
            Outcome::Ok { changed: c } => {
                changed |= c;
                all_skipped = false;
            }
            Outcome::Failed => {
                failed = true;
                all_skipped = false;
            }
            Outcome::Unreachable => {
                unreachable = true;
                all_skipped = false;
            }
            Outcome::Skipped => {}
        }
        ignored |= d.result.ignored;
        drops_out |= d.drops_out;
        facts.extend(d.facts);
        let mut r = d.registered;
        if let Json::Object(m) = &mut r {
            m.insert(loop_var.clone(), item.clone());
            m.insert("ansible_loop_var".into(), loop_var.clone().into());
            if let Some(iv) = &control.index_var {
                m.insert("ansible_index_var".into(), iv.clone().into());
                m.insert(iv.clone(), i.into());
            }
        }
        results.push(r);
        if unreachable {
            break;
        }
    }
    let mut registered = json!({
        "changed": changed,
        "results": results,
        "msg": if failed { "One or more items failed" } else { "All items completed" },
        "skipped": all_skipped,
    });
    if failed {
        registered["failed"] = true.into();
    }
    if n == 0 {
        registered["skipped_reason"] = "No items in the list".into();
        registered["msg"] = "All items skipped".into();
    }
    let outcome = if unreachable {
        Outcome::Unreachable
    } else if failed {
        Outcome::Failed
    } else if all_skipped {
        Outcome::Skipped
    } else {
        Outcome::Ok { changed }
    };
    let mut d = t.run_nothing(vars, outcome, registered["msg"].as_str().unwrap_or(""));
    d.result.ignored = ignored && !drops_out;
    d.result.looped = true;
    d.result.delegated_to = t.delegated_to.map(str::to_string);
    d.registered = registered;
    d.facts = if drops_out { Vars::new() } else { facts };
    d.drops_out = drops_out;
    d
}

/// A loop that could not start (its items did not evaluate): one failed result.
fn failed_loop(t: &HostTask<'_>, vars: &Context, msg: String) -> Done {
    let mut d = t.run_nothing(vars, Outcome::Failed, &msg);
    let ignore = match &t.scope.ignore_errors {
        Some(Flag::Value(b)) => *b,
        Some(Flag::Template(s)) => t.templar.condition(s, vars).unwrap_or(false),
        None => false,
    };
    d.result.ignored = ignore;
    d.drops_out = !ignore;
    d
}

/// `loop_control.label` templated for this item, else the item as Ansible prints it.
fn label(control: &LoopControl, templar: &Templar, ctx: &Context, item: &Json) -> String {
    let v = match &control.label {
        Some(l) => templar
            .template(&Json::String(l.clone()), ctx)
            .unwrap_or_else(|_| Json::String(l.clone())),
        None => item.clone(),
    };
    match v {
        Json::String(s) => s,
        other => other.to_string(),
    }
}

/// `ansible_loop` (with `loop_control.extended`).
fn loop_info(list: &[Json], i: usize) -> Json {
    let n = list.len();
    json!({
        "allitems": list,
        "index": i + 1,
        "index0": i,
        "revindex": n - i,
        "revindex0": n - i - 1,
        "first": i == 0,
        "last": i + 1 == n,
        "length": n,
        "previtem": if i > 0 { list[i - 1].clone() } else { Json::Null },
        "nextitem": list.get(i + 1).cloned().unwrap_or(Json::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Location {
        Location {
            file: "site.yml".into(),
            line: 9,
            column: 7,
        }
    }

    fn lp(kind: &str, source: Json) -> Loop {
        Loop {
            kind: kind.into(),
            source,
        }
    }

    #[test]
    fn item_lists_like_ansible_lookups() {
        let t = Templar::new();
        let vars = Context::new(
            json!({"l": [1, [2, 3]], "d": {"a": 1}, "s": "x"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let cases: Vec<(&str, Json, Json)> = vec![
            ("loop", json!("{{ l }}"), json!([1, [2, 3]])),
            ("items", json!("{{ l }}"), json!([1, 2, 3])),
            ("items", json!(["a", ["b", "c"]]), json!(["a", "b", "c"])),
            ("items", json!("{{ s }}"), json!(["x"])),
            ("list", json!([[1, 2]]), json!([[1, 2]])),
            ("dict", json!("{{ d }}"), json!([{"key": "a", "value": 1}])),
            ("sequence", json!("start=1 end=3"), json!(["1", "2", "3"])),
            (
                "sequence",
                json!("count=2 format=n%02d"),
                json!(["n01", "n02"]),
            ),
            ("sequence", json!("4-8/2"), json!(["4", "6", "8"])),
            (
                "indexed_items",
                json!(["a", "b"]),
                json!([[0, "a"], [1, "b"]]),
            ),
            ("flattened", json!([1, [2, [3, [4]]]]), json!([1, 2, 3, 4])),
            (
                "together",
                json!([[1, 2], ["a"]]),
                json!([[1, "a"], [2, null]]),
            ),
            (
                "nested",
                json!([[1, 2], ["a", "b"]]),
                json!([[1, "a"], [1, "b"], [2, "a"], [2, "b"]]),
            ),
        ];
        for (kind, source, want) in cases {
            assert_eq!(
                items(&lp(kind, source.clone()), &t, &vars, &[], &at()),
                Ok(want.as_array().cloned().unwrap()),
                "{kind} {source}"
            );
        }
    }

    #[test]
    fn a_loop_over_a_non_list_names_the_task() {
        let t = Templar::new();
        let vars = Context::new(json!({"s": "x"}).as_object().cloned().unwrap());
        assert_eq!(
            items(&lp("loop", json!("{{ s }}")), &t, &vars, &[], &at()),
            Err("Invalid data passed to 'loop', it requires a list, got this instead: x. Hint: If you passed a list/dict of just one element, try adding wantlist=True to your lookup invocation or use q/query instead of lookup. (the task at site.yml:9:7)".into())
        );
        assert_eq!(
            items(&lp("dict", json!("{{ s }}")), &t, &vars, &[], &at()),
            Err("with_dict expects a dict, got x (the task at site.yml:9:7)".into())
        );
        assert_eq!(
            items(&lp("subelements", json!([])), &t, &vars, &[], &at()),
            Err("with_subelements is not supported: use `loop:` with a filter, or with_items, with_list, with_dict, with_fileglob, with_sequence, with_indexed_items, with_flattened, with_together, with_nested (the task at site.yml:9:7)".into())
        );
        assert_eq!(
            items(&lp("nested", json!("{{ s }}")), &t, &vars, &[], &at()),
            Err("with_nested expects a list of lists, got x (the task at site.yml:9:7)".into())
        );
        assert_eq!(
            items(&lp("loop", json!("{{ nope }}")), &t, &vars, &[], &at()),
            Err("'nope' is undefined (in the loop of the task at site.yml:9:7)".into())
        );
    }

    #[test]
    fn fileglob_looks_in_files_then_the_directory() {
        let dir = std::env::temp_dir().join(format!("cairn-glob-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("files")).unwrap();
        for f in [
            "files/a.conf",
            "files/b.conf",
            "files/.hidden.conf",
            "c.conf",
            "x.txt",
        ] {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let search = vec![dir.clone()];
        let names = |v: Vec<String>| -> Vec<String> {
            v.iter()
                .map(|p| p.rsplit('/').next().unwrap_or("").to_string())
                .collect()
        };
        assert_eq!(names(fileglob("*.conf", &search)), ["a.conf", "b.conf"]);
        assert_eq!(names(fileglob("?.txt", &search)), ["x.txt"]);
        assert!(fileglob("*.none", &search).is_empty());
        let abs = format!("{}/c.*", dir.display());
        assert_eq!(names(fileglob(&abs, &[])), ["c.conf"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
