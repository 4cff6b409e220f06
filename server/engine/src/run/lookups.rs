//! Lookups, run on the controller as in Ansible: `lookup(name, terms..., wantlist=False)`,
//! `query(...)`/`q(...)` (always a list). Plugins: `file` (relative paths searched in the
//! role's `files/`, the role, the playbook's `files/`, the playbook directory; trailing
//! newline stripped unless `rstrip=False`), `template` (same search under `templates/`,
//! rendered with the task's variables), `env` (unset gives `''`, or `default=`), `pipe`
//! (`sh -c`, stdout without its trailing newline, a non-zero exit is an error),
//! `first_found` (`files`/`paths`, `skip`), `fileglob`, `items`/`list`, `vars`, `dict`.
//!
//! The search directories come from the template context (`role_path`, `playbook_dir`).
//! Errors name the lookup and the path (`lookup('file'): could not find 'x.conf' in ...`).
//! Must not: run anything on a target.

use std::path::{Path, PathBuf};

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};

use super::filters::text::py_str;

pub fn register(env: &mut Environment<'static>) {
    env.add_function(
        "lookup",
        |state: &State, name: String, terms: Rest<Value>, kw: Kwargs| {
            let wantlist = kw.get::<Option<bool>>("wantlist")?.unwrap_or(false);
            let out = run(state, &name, &terms, &kw)?;
            kw.assert_all_used()?;
            Ok::<_, Error>(if wantlist {
                Value::from(out)
            } else {
                joined(out)
            })
        },
    );
    for q in ["query", "q"] {
        env.add_function(
            q,
            |state: &State, name: String, terms: Rest<Value>, kw: Kwargs| {
                let _ = kw.get::<Option<bool>>("wantlist")?;
                let out = run(state, &name, &terms, &kw)?;
                kw.assert_all_used()?;
                Ok::<_, Error>(Value::from(out))
            },
        );
    }
}

/// How deep `lookup('template')` may nest: each level renders on the same thread's stack,
/// and a template that looks itself up would otherwise overflow it.
const MAX_DEPTH: usize = 16;

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One level of template lookups; leaving it (drop) frees the level.
struct Depth;

impl Depth {
    fn enter() -> Option<Depth> {
        DEPTH.with(|d| {
            if d.get() >= MAX_DEPTH {
                return None;
            }
            d.set(d.get() + 1);
            Some(Depth)
        })
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// What `lookup()` returns without `wantlist`: a single result as itself, several joined
/// with commas (Ansible's behaviour), none as an empty string... except when the only
/// result is a list or mapping, which stays one.
fn joined(out: Vec<Value>) -> Value {
    match out.len() {
        0 => Value::from(""),
        1 => out.into_iter().next().unwrap_or_default(),
        _ => Value::from(out.iter().map(py_str).collect::<Vec<_>>().join(",")),
    }
}

fn err(lookup: &str, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("lookup('{lookup}'): {why}"),
    )
}

/// Terms flattened one level (`lookup('file', ['a', 'b'])` is two terms), as strings.
fn terms_as_strings(lookup: &str, terms: &[Value]) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for t in terms {
        match t.kind() {
            ValueKind::Seq | ValueKind::Iterable => {
                for x in t.try_iter()? {
                    out.push(term_str(lookup, &x)?);
                }
            }
            _ => out.push(term_str(lookup, t)?),
        }
    }
    Ok(out)
}

fn term_str(lookup: &str, v: &Value) -> Result<String, Error> {
    match v.kind() {
        ValueKind::String | ValueKind::Number | ValueKind::Bool => Ok(py_str(v)),
        _ => Err(err(
            lookup,
            format!(
                "expected a string term, got {}",
                super::filters::describe(v)
            ),
        )),
    }
}

fn run(state: &State, name: &str, terms: &[Value], kw: &Kwargs) -> Result<Vec<Value>, Error> {
    let short = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    match short {
        "file" => {
            let rstrip = kw.get::<Option<bool>>("rstrip")?.unwrap_or(true);
            let lstrip = kw.get::<Option<bool>>("lstrip")?.unwrap_or(false);
            let mut out = Vec::new();
            for t in terms_as_strings("file", terms)? {
                let path = find(state, "file", "files", &t)?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| err("file", format!("cannot read '{}': {e}", path.display())))?;
                let text = if rstrip { text.trim_end() } else { &text };
                let text = if lstrip { text.trim_start() } else { text };
                out.push(Value::from(text));
            }
            Ok(out)
        }
        "template" => {
            let mut out = Vec::new();
            for t in terms_as_strings("template", terms)? {
                let path = find(state, "template", "templates", &t)?;
                let src = std::fs::read_to_string(&path).map_err(|e| {
                    err("template", format!("cannot read '{}': {e}", path.display()))
                })?;
                let mut ctx = Vec::new();
                for name in state.known_variables() {
                    if let Some(v) = state.lookup(&name) {
                        ctx.push((name.to_string(), v));
                    }
                }
                let _depth = Depth::enter().ok_or_else(|| {
                    err(
                        "template",
                        format!("'{}': templates looked up inside each other {MAX_DEPTH} deep (a template that looks itself up?)", path.display()),
                    )
                })?;
                let rendered = state
                    .env()
                    .render_str(&src, super::filters::collections::map_of(ctx))
                    .map_err(|e| {
                        let detail = match e.kind() {
                            ErrorKind::UndefinedError => undefined_in(state, &src),
                            _ => e
                                .detail()
                                .map_or_else(|| e.kind().to_string(), str::to_string),
                        };
                        // An error from a nested lookup already names its template.
                        if detail.starts_with("lookup('") {
                            Error::new(ErrorKind::InvalidOperation, detail)
                        } else {
                            err("template", format!("'{}': {detail}", path.display()))
                        }
                    })?;
                out.push(Value::from(rendered));
            }
            Ok(out)
        }
        "env" => {
            let default: Option<Value> = kw.get("default")?;
            terms_as_strings("env", terms)?
                .into_iter()
                .map(|t| match std::env::var(&t) {
                    Ok(v) => Ok(Value::from(v)),
                    Err(_) => Ok(default.clone().unwrap_or(Value::from(""))),
                })
                .collect()
        }
        "pipe" => {
            let mut out = Vec::new();
            for t in terms_as_strings("pipe", terms)? {
                let o = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(&t)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(|e| err("pipe", format!("cannot run sh: {e}")))?;
                if !o.status.success() {
                    return Err(err(
                        "pipe",
                        format!(
                            "'{t}' exited with {}",
                            o.status.code().map_or("a signal".into(), |c| c.to_string())
                        ),
                    ));
                }
                let s = String::from_utf8_lossy(&o.stdout);
                out.push(Value::from(s.trim_end_matches('\n')));
            }
            Ok(out)
        }
        "first_found" => first_found(state, terms, kw),
        "fileglob" => {
            let mut out = Vec::new();
            for t in terms_as_strings("fileglob", terms)? {
                out.extend(fileglob(state, &t)?.into_iter().map(Value::from));
            }
            Ok(out)
        }
        "items" | "list" | "flattened" => {
            let mut out = Vec::new();
            for t in terms {
                match t.kind() {
                    ValueKind::Seq | ValueKind::Iterable => out.extend(t.try_iter()?),
                    _ => out.push(t.clone()),
                }
            }
            Ok(out)
        }
        "vars" => {
            let default: Option<Value> = kw.get("default")?;
            terms_as_strings("vars", terms)?
                .into_iter()
                .map(|t| match state.lookup(&t).filter(|v| !v.is_undefined()) {
                    Some(v) => Ok(v),
                    None => default.clone().ok_or_else(|| {
                        err("vars", format!("no variable found with this name: {t}"))
                    }),
                })
                .collect()
        }
        "dict" => {
            let mut out = Vec::new();
            for t in terms {
                if t.kind() != ValueKind::Map {
                    return Err(err(
                        "dict",
                        format!("expected a mapping, got {}", super::filters::describe(t)),
                    ));
                }
                for k in t.try_iter()? {
                    let v = t.get_item(&k)?;
                    out.push(super::filters::collections::map_of([
                        ("key", k),
                        ("value", v),
                    ]));
                }
            }
            Ok(out)
        }
        other => Err(err(
            other,
            "unknown or unsupported lookup (supported: file, template, env, pipe, first_found, fileglob, items, list, vars, dict)",
        )),
    }
}

/// Which variable a looked-up template uses without it being defined.
fn undefined_in(state: &State, src: &str) -> String {
    let Ok(t) = state.env().template_from_str(src) else {
        return "undefined value".into();
    };
    let mut names: Vec<String> = t.undeclared_variables(false).into_iter().collect();
    names.sort();
    names
        .into_iter()
        .find(|n| state.lookup(n).is_none_or(|v| v.is_undefined()))
        .map_or_else(
            || "undefined value".into(),
            |n| format!("'{n}' is undefined"),
        )
}

/// Directories searched for a relative path, in Ansible's order: the role, then the play.
fn search_dirs(state: &State, subdir: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["role_path", "playbook_dir"] {
        if let Some(d) = state
            .lookup(var)
            .as_ref()
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            dirs.push(Path::new(d).join(subdir));
            dirs.push(PathBuf::from(d));
        }
    }
    dirs
}

fn find(state: &State, lookup: &str, subdir: &str, name: &str) -> Result<PathBuf, Error> {
    let p = Path::new(name);
    if p.is_absolute() {
        return if p.exists() {
            Ok(p.to_path_buf())
        } else {
            Err(err(lookup, format!("could not find '{name}'")))
        };
    }
    let dirs = search_dirs(state, subdir);
    for d in &dirs {
        let c = d.join(p);
        if c.is_file() {
            return Ok(c);
        }
    }
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(err(
        lookup,
        if searched.is_empty() {
            format!("could not find '{name}' (no playbook_dir or role_path to search)")
        } else {
            format!("could not find '{name}' in {}", searched.join(", "))
        },
    ))
}

fn first_found(state: &State, terms: &[Value], kw: &Kwargs) -> Result<Vec<Value>, Error> {
    let skip = kw.get::<Option<bool>>("skip")?.unwrap_or(false);
    let mut files: Vec<String> = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    let add_spec =
        |spec: &Value, files: &mut Vec<String>, paths: &mut Vec<String>| -> Result<(), Error> {
            for key in ["files", "paths"] {
                let v = spec.get_attr(key)?;
                let list = match v.kind() {
                    ValueKind::Undefined | ValueKind::None => continue,
                    ValueKind::String => v
                        .as_str()
                        .unwrap_or("")
                        .split([',', ';'])
                        .map(str::to_string)
                        .collect(),
                    _ => terms_as_strings("first_found", &[v])?,
                };
                if key == "files" {
                    files.extend(list)
                } else {
                    paths.extend(list)
                }
            }
            Ok(())
        };
    for key in ["files", "paths"] {
        if let Some(v) = kw.get::<Option<Value>>(key)? {
            let spec = super::filters::collections::map_of([(key, v)]);
            add_spec(&spec, &mut files, &mut paths)?;
        }
    }
    for t in terms {
        match t.kind() {
            ValueKind::Map => add_spec(t, &mut files, &mut paths)?,
            ValueKind::Seq | ValueKind::Iterable => {
                for x in t.try_iter()? {
                    if x.kind() == ValueKind::Map {
                        add_spec(&x, &mut files, &mut paths)?;
                    } else {
                        files.push(term_str("first_found", &x)?);
                    }
                }
            }
            _ => files.push(term_str("first_found", t)?),
        }
    }
    let mut candidates = Vec::new();
    for f in &files {
        if paths.is_empty() || Path::new(f).is_absolute() {
            candidates.push((f.clone(), None));
        } else {
            for p in &paths {
                candidates.push((f.clone(), Some(p.clone())));
            }
        }
    }
    for (f, p) in &candidates {
        let full = match p {
            Some(p) => Path::new(p).join(f),
            None => PathBuf::from(f),
        };
        if full.is_absolute() {
            if full.exists() {
                return Ok(vec![Value::from(full.display().to_string())]);
            }
            continue;
        }
        for d in search_dirs(state, "files") {
            let c = d.join(&full);
            if c.exists() {
                return Ok(vec![Value::from(c.display().to_string())]);
            }
        }
    }
    if skip {
        return Ok(vec![]);
    }
    Err(err(
        "first_found",
        format!("no file was found among: {}", files.join(", ")),
    ))
}

/// Files (not directories) matching a shell glob in one directory; relative globs are
/// looked up in the search directories' `files/`.
fn fileglob(state: &State, pattern: &str) -> Result<Vec<String>, Error> {
    let p = Path::new(pattern);
    let dirs: Vec<PathBuf> = if p.is_absolute() {
        vec![PathBuf::new()]
    } else {
        search_dirs(state, "files")
    };
    for base in dirs {
        let full = base.join(p);
        let dir = full.parent().map(Path::to_path_buf).unwrap_or_default();
        let Some(file_pat) = full.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        let Some(re) = glob_regex(file_pat) else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_file())
            .filter(|e| e.file_name().to_str().is_some_and(|n| re.is_match(n)))
            .map(|e| e.path().display().to_string())
            .collect();
        if !found.is_empty() {
            found.sort();
            return Ok(found);
        }
    }
    Ok(vec![])
}

fn glob_regex(pat: &str) -> Option<regex::Regex> {
    let mut re = String::from("^");
    for c in pat.chars() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value as Json, json};

    use crate::run::template::{Context, Templar};

    /// A fresh directory for one test, removed at the end.
    struct Dir(std::path::PathBuf);
    impl Dir {
        fn new(name: &str) -> Dir {
            let d =
                std::env::temp_dir().join(format!("cairn-filters-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
        fn write(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        fn path(&self, rel: &str) -> String {
            self.0.join(rel).display().to_string()
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn ctx(v: Json) -> Context {
        Context::new(v.as_object().cloned().unwrap())
    }

    #[test]
    fn file_and_template_search_the_role_then_the_playbook() {
        let d = Dir::new("search");
        d.write("pb/files/both.txt", "from playbook files\n");
        d.write("pb/only-pb.txt", "from playbook dir\n\n");
        d.write("pb/roles/r/files/both.txt", "from role files\n");
        d.write(
            "pb/roles/r/templates/t.j2",
            "name={{ name }} {{ items | join(',') }}\n",
        );
        d.write("pb/templates/t2.j2", "{{ lookup('file', 'both.txt') }}");
        d.write(
            "pb/templates/self.j2",
            "x{{ lookup('template', 'self.j2') }}",
        );
        d.write("pb/templates/undef.j2", "a\n{{ name }} {{ nope }}\n");
        let c = ctx(json!({
            "playbook_dir": d.path("pb"), "role_path": d.path("pb/roles/r"),
            "name": "web", "items": [1, 2],
        }));
        let t = Templar::new();
        let run = |s: &str| t.template(&json!(s), &c);
        assert_eq!(
            run("{{ lookup('file', 'both.txt') }}"),
            Ok(json!("from role files"))
        );
        assert_eq!(
            run("{{ lookup('file', 'only-pb.txt') }}"),
            Ok(json!("from playbook dir"))
        );
        assert_eq!(
            run("{{ lookup('file', 'only-pb.txt', rstrip=false) }}"),
            Ok(json!("from playbook dir\n\n"))
        );
        assert_eq!(
            run(&format!(
                "{{{{ lookup('file', '{}') }}}}",
                d.path("pb/files/both.txt")
            )),
            Ok(json!("from playbook files"))
        );
        assert_eq!(
            run("{{ lookup('file', 'both.txt', 'only-pb.txt') }}"),
            Ok(json!("from role files,from playbook dir"))
        );
        assert_eq!(
            run("{{ query('file', 'both.txt', 'only-pb.txt') }}"),
            Ok(json!(["from role files", "from playbook dir"]))
        );
        assert_eq!(
            run("{{ lookup('template', 't.j2') }}"),
            Ok(json!("name=web 1,2\n"))
        );
        // A template looked up renders its own lookups with the same search path.
        assert_eq!(
            run("{{ lookup('template', 't2.j2') }}"),
            Ok(json!("from role files"))
        );
        assert_eq!(
            run("{{ lookup('template', 'undef.j2') }}"),
            Err(format!(
                "error in \"lookup('template', 'undef.j2')\": lookup('template'): '{}': 'nope' is undefined",
                d.path("pb/templates/undef.j2")
            ))
        );
        let looped = run("{{ lookup('template', 'self.j2') }}").unwrap_err();
        assert_eq!(
            looped,
            format!(
                "error in \"lookup('template', 'self.j2')\": lookup('template'): '{}': templates looked up inside each other 16 deep (a template that looks itself up?)",
                d.path("pb/templates/self.j2")
            )
        );
        assert_eq!(
            run("{{ lookup('first_found', ['nope.txt', 'only-pb.txt', 'both.txt']) }}"),
            Ok(json!(d.path("pb/only-pb.txt")))
        );
        assert_eq!(
            run("{{ lookup('first_found', files=['nope.txt'], skip=true) }}"),
            Ok(json!(""))
        );
        assert_eq!(
            run("{{ query('fileglob', '*.txt') }}"),
            Ok(json!([d.path("pb/roles/r/files/both.txt")]))
        );
        assert_eq!(
            run("{{ lookup('file', 'gone.txt') }}"),
            Err(format!(
                "error in \"lookup('file', 'gone.txt')\": lookup('file'): could not find 'gone.txt' in {}, {}, {}, {}",
                d.path("pb/roles/r/files"),
                d.path("pb/roles/r"),
                d.path("pb/files"),
                d.path("pb")
            ))
        );
    }

    #[test]
    fn env_pipe_and_plain_lookups() {
        let c = ctx(json!({"d": {"a": 1}, "x": 5}));
        let t = Templar::new();
        let run = |s: &str| t.template(&json!(s), &c);
        // PATH is set for any test process.
        assert_eq!(
            run("{{ lookup('env', 'PATH') }}"),
            Ok(json!(std::env::var("PATH").unwrap()))
        );
        assert_eq!(
            run("{{ lookup('env', 'CAIRN_UNSET_FOR_TEST', default='dflt') }}"),
            Ok(json!("dflt"))
        );
        assert_eq!(
            run("{{ lookup('pipe', 'printf \"a\\nb\\n\"') }}"),
            Ok(json!("a\nb"))
        );
        assert_eq!(run("{{ q('items', [1, 2], 3) }}"), Ok(json!([1, 2, 3])));
        assert_eq!(run("{{ lookup('vars', 'x') }}"), Ok(json!(5)));
        assert_eq!(
            run("{{ query('dict', d) }}"),
            Ok(json!([{"key": "a", "value": 1}]))
        );
        assert_eq!(
            run("{{ lookup('ansible.builtin.pipe', 'echo ok') }}"),
            Ok(json!("ok"))
        );
    }
}
