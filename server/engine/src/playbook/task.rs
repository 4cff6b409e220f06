//! Reading task lists: tasks, blocks, handlers, `import_tasks`/`include_tasks`,
//! `import_role`/`include_role` and `meta`.
//!
//! Owns the task keyword table, the decision of which key is the module, and the task-level
//! errors (unknown module or keyword with a suggestion, two modules, no module, wrong types).
//! Static imports are resolved here, through the [`Loader`]. Must not: read play keys (see
//! `play`) or role directories (see `roles`).

use serde_json::Value;

use super::fields::{self, COMMON};
use super::loader::{FileCtx, Loader, shown_list};
use super::model::{Action, Common, Loop, LoopControl, Task, TaskKind, Vars};
use super::{modules, roles};
use crate::suggest;
use crate::yaml::{Node, NodeValue, Span};

/// Keywords a task accepts besides [`COMMON`] and its module.
const TASK: &[&str] = &[
    "name",
    "loop",
    "loop_control",
    "register",
    "notify",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
    "args",
];

/// Keywords only handlers accept.
const HANDLER: &[&str] = &["listen"];

/// Keywords a block accepts besides [`COMMON`].
const BLOCK: &[&str] = &["name", "block", "rescue", "always"];

/// Lookups `with_<lookup>` may name.
const WITH: &[&str] = &[
    "with_items",
    "with_list",
    "with_dict",
    "with_fileglob",
    "with_indexed_items",
    "with_flattened",
    "with_together",
    "with_sequence",
    "with_subelements",
    "with_nested",
    "with_first_found",
    "with_random_choice",
    "with_lines",
];

/// Ansible task keywords Cairn does not implement: named as such rather than as unknown.
const UNSUPPORTED: &[&str] = &[
    "action",
    "local_action",
    "async",
    "poll",
    "throttle",
    "timeout",
    "delegate_facts",
    "module_defaults",
    "collections",
    "debugger",
    "become_method",
    "become_flags",
    "become_exe",
    "connection",
    "port",
];

/// Every keyword a task may use, for suggestions.
fn task_keywords() -> impl Iterator<Item = &'static str> {
    COMMON
        .iter()
        .chain(TASK)
        .chain(HANDLER)
        .chain(WITH)
        .chain(BLOCK)
        .copied()
}

/// What kind of list is being read: handlers accept `listen`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Tasks,
    Handlers,
}

/// Read a list of tasks (`tasks:`, `block:`, a tasks file). `key` names it in messages.
pub fn tasks(ld: &mut Loader, f: &FileCtx, key: &str, node: &Node, section: Section) -> Vec<Task> {
    let items = match &node.value {
        NodeValue::Null => return Vec::new(),
        NodeValue::Seq(items) => items,
        _ => {
            ld.report(
                f.error(
                    node.span,
                    format!("`{key}` must be a list of tasks, found {}", node.kind()),
                )
                .label("expected a list")
                .help("write each task as a list item starting with `- `"),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items {
        if item.as_map().is_none() {
            ld.report(
                f.error(
                    item.span,
                    format!("a task must be a mapping, found {}", item.kind()),
                )
                .label("expected `name: ...` and a module")
                .help("write a task as `- name: ...` followed by a module like `command: ...`"),
            );
            continue;
        }
        if let Some(task) = task(ld, f, item, section) {
            out.push(task);
        }
    }
    out
}

/// Everything read from one task mapping before deciding what it is.
struct Parts<'a> {
    name: Option<String>,
    common: Common,
    block: Option<&'a Node>,
    rescue: Option<&'a Node>,
    always: Option<&'a Node>,
    modules: Vec<(String, &'static str, Span, &'a Node)>,
    unknown: Vec<(String, Span)>,
    extra_args: Option<Vars>,
}

fn task(ld: &mut Loader, f: &FileCtx, node: &Node, section: Section) -> Option<Task> {
    let mut parts = Parts {
        name: None,
        common: Common::default(),
        block: None,
        rescue: None,
        always: None,
        modules: Vec::new(),
        unknown: Vec::new(),
        extra_args: None,
    };
    let mut t = Task {
        location: f.location(node.span),
        name: None,
        // `action` and `kind` are placeholders until the task's shape (block or module) is
        // known, after all its keys are read.
        action: "block".to_string(),
        kind: TaskKind::Meta(String::new()),
        common: Common::default(),
        role: f.role.as_ref().map(|(n, _)| n.clone()),
        r#loop: None,
        loop_control: None,
        register: None,
        notify: Vec::new(),
        notify_location: None,
        listen: Vec::new(),
        changed_when: Vec::new(),
        failed_when: Vec::new(),
        until: Vec::new(),
        retries: None,
        delay: None,
    };
    let mut loop_keys: Vec<(String, Span)> = Vec::new();
    let mut ok = true;
    for (k, v) in node.as_map().unwrap_or_default() {
        let key = k.key_string();
        let file = &*f.name;
        let read = (|| -> fields::Read<()> {
            match key.as_str() {
                "name" => parts.name = Some(fields::string(file, &key, v)?),
                "block" => parts.block = Some(v),
                "rescue" => parts.rescue = Some(v),
                "always" => parts.always = Some(v),
                "loop" => {
                    loop_keys.push((key.clone(), k.span));
                    t.r#loop = Some(loop_source(f, &key, v)?);
                }
                w if WITH.contains(&w) => {
                    loop_keys.push((key.clone(), k.span));
                    t.r#loop = Some(loop_source(f, &key, v)?);
                }
                "loop_control" => t.loop_control = Some(loop_control(f, v)?),
                "register" => t.register = Some(fields::string(file, &key, v)?),
                "notify" => {
                    t.notify = fields::strings(file, &key, v)?;
                    t.notify_location = Some(f.location(v.span));
                }
                "listen" if section == Section::Handlers => {
                    t.listen = fields::strings(file, &key, v)?
                }
                "listen" => {
                    return Err(Box::new(
                        f.error(k.span, "`listen` is only valid on handlers")
                            .label("on a task")
                            .help("move this task under `handlers:`, or use `notify:` to trigger a handler"),
                    ));
                }
                "changed_when" => t.changed_when = fields::conditions(file, &key, v)?,
                "failed_when" => t.failed_when = fields::conditions(file, &key, v)?,
                "until" => t.until = fields::conditions(file, &key, v)?,
                "retries" => t.retries = Some(fields::count(file, &key, v)?),
                "delay" => t.delay = Some(fields::count(file, &key, v)?),
                "args" => parts.extra_args = Some(fields::mapping(file, &key, v)?),
                _ if fields::common(file, &mut parts.common, &key, v)? => {}
                u if UNSUPPORTED.contains(&u) => {
                    return Err(Box::new(
                        f.error(
                            k.span,
                            format!("the task keyword `{key}` is not supported by Cairn"),
                        )
                        .label("not supported")
                        .help(unsupported_help(&key)),
                    ));
                }
                m => match modules::resolve(m) {
                    Some(short) => parts.modules.push((key.clone(), short, k.span, v)),
                    None => parts.unknown.push((key.clone(), k.span)),
                },
            }
            Ok(())
        })();
        if let Err(d) = read {
            ld.report(d);
            ok = false;
        }
    }
    if loop_keys.len() > 1 {
        let (second, span) = &loop_keys[1];
        ld.report(
            f.error(
                *span,
                format!(
                    "a task loops only once: `{}` and `{second}` both given",
                    loop_keys[0].0
                ),
            )
            .label("second loop")
            .help("keep one of them; use a nested include_tasks to loop twice"),
        );
        ok = false;
    }
    t.name = parts.name.clone();
    t.common = std::mem::take(&mut parts.common);

    if let Some(block) = parts.block {
        // A block is a container: module keys or task-only keywords on it are mistakes.
        for (written, _, span, _) in &parts.modules {
            ld.report(
                f.error(
                    *span,
                    format!("a block cannot also call a module (`{written}`)"),
                )
                .label("module on a block")
                .help("move the module into a task inside `block:`"),
            );
            ok = false;
        }
        let task_only = [
            (t.r#loop.is_some(), "loop"),
            (t.register.is_some(), "register"),
            (!t.notify.is_empty(), "notify"),
            (t.retries.is_some() || !t.until.is_empty(), "retries/until"),
        ];
        for (present, what) in task_only {
            if present {
                ld.report(
                    f.error(node.span, format!("`{what}` is not valid on a block"))
                        .label("this block")
                        .help(format!("put `{what}` on the tasks inside the block")),
                );
                ok = false;
            }
        }
        report_unknown(ld, f, &parts.unknown, true);
        let block = tasks(ld, f, "block", block, section);
        let rescue = parts
            .rescue
            .map_or_else(Vec::new, |n| tasks(ld, f, "rescue", n, section));
        let always = parts
            .always
            .map_or_else(Vec::new, |n| tasks(ld, f, "always", n, section));
        t.kind = TaskKind::Block {
            block,
            rescue,
            always,
        };
        return ok.then_some(t);
    }
    for (key, present) in [("rescue", parts.rescue), ("always", parts.always)] {
        if let Some(n) = present {
            ld.report(
                f.error(n.span, format!("`{key}` without `block`"))
                    .label("belongs to a block")
                    .help(format!(
                        "write `block:` with the tasks to protect, then `{key}:`"
                    )),
            );
            ok = false;
        }
    }

    if parts.modules.len() > 1 {
        let (first, _, _, _) = &parts.modules[0];
        let (second, _, span, _) = &parts.modules[1];
        ld.report(
            f.error(
                *span,
                format!("conflicting action statements: `{first}` and `{second}`"),
            )
            .label("second module")
            .help("a task calls exactly one module; split this into two tasks"),
        );
        ok = false;
    }
    let has_module = !parts.modules.is_empty();
    report_unknown(ld, f, &parts.unknown, has_module);
    if !ok || !parts.unknown.is_empty() {
        return None;
    }
    let Some((written, module, key_span, args)) = parts.modules.into_iter().next() else {
        let span = node
            .as_map()
            .and_then(|m| m.first())
            .map_or(node.span, |(k, _)| k.span);
        ld.report(
            f.error(span, "this task has no module")
                .label("task starts here")
                .help("add the module to run, like `command: uptime` (or `debug: msg=...`)"),
        );
        return None;
    };
    t.action = written.clone();
    t.kind = action(
        ld,
        f,
        section,
        (&written, module, key_span),
        args,
        parts.extra_args,
    )?;
    Some(t)
}

fn unsupported_help(key: &str) -> String {
    match key {
        "action" | "local_action" => {
            "write the module as the key (`copy: ...`); for local_action use `delegate_to: localhost`".into()
        }
        "become_method" => "Cairn becomes another user with sudo only; remove the keyword".into(),
        _ => format!("remove `{key}`; see docs/playbooks.md for the supported keywords"),
    }
}

/// Report keys that are neither keywords nor known modules. With no module on the task, an
/// unknown key is most likely a misspelt or unsupported module, unless it is closer to a
/// keyword; with a module, it is a misspelt keyword.
fn report_unknown(ld: &mut Loader, f: &FileCtx, unknown: &[(String, Span)], has_module: bool) {
    for (key, span) in unknown {
        let spellings = modules::all_spellings();
        let near_module =
            suggest::closest(key, spellings.iter().map(String::as_str)).map(str::to_string);
        let near_keyword = suggest::closest(key, task_keywords());
        let module_wins = match (&near_module, near_keyword) {
            (Some(m), Some(k)) => suggest::distance(key, m) < suggest::distance(key, k),
            (None, Some(_)) => false,
            _ => true,
        };
        let d = if !has_module && module_wins {
            let help = match near_module {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!(
                    "Cairn's modules are: {}",
                    modules::known().collect::<Vec<_>>().join(", ")
                ),
            };
            f.error(*span, format!("unknown module `{key}`"))
                .label("not a module Cairn knows")
                .help(help)
        } else {
            let help = match near_keyword {
                Some(k) => format!("did you mean `{k}`?"),
                None => "remove it; see docs/playbooks.md for the task keywords".to_string(),
            };
            f.error(*span, format!("unknown task keyword `{key}`"))
                .label("not a task keyword")
                .help(help)
        };
        ld.report(d);
    }
}

fn loop_source(f: &FileCtx, key: &str, node: &Node) -> fields::Read<Loop> {
    let kind = key.strip_prefix("with_").unwrap_or(key).to_string();
    let ok = match &node.value {
        NodeValue::Seq(_) => true,
        NodeValue::String(s) => fields::templated(s) || key != "loop",
        NodeValue::Map(_) => key == "with_dict",
        _ => false,
    };
    if !ok {
        let want = if key == "with_dict" {
            "a mapping or a template string"
        } else {
            "a list or a template string"
        };
        let found = match &node.value {
            NodeValue::String(s) => format!("a string {s:?}"),
            _ => node.kind().to_string(),
        };
        return Err(Box::new(
            f.error(node.span, format!("`{key}` must be {want}, found {found}"))
                .label(format!("expected {want}"))
                .help("write a YAML list, or a template that gives one, like \"{{ packages }}\""),
        ));
    }
    Ok(Loop {
        kind,
        source: node.to_json(),
    })
}

fn loop_control(f: &FileCtx, node: &Node) -> fields::Read<LoopControl> {
    let file = &*f.name;
    let Some(entries) = node.as_map() else {
        return fields::mapping(file, "loop_control", node).map(|_| LoopControl::default());
    };
    let mut lc = LoopControl::default();
    for (k, v) in entries {
        let key = k.key_string();
        match key.as_str() {
            "loop_var" => lc.loop_var = Some(fields::string(file, &key, v)?),
            "index_var" => lc.index_var = Some(fields::string(file, &key, v)?),
            "label" => lc.label = Some(fields::string(file, &key, v)?),
            "pause" => lc.pause = Some(fields::count(file, &key, v)?),
            "extended" => lc.extended = Some(fields::flag(file, &key, v)?),
            _ => {
                let known = ["loop_var", "index_var", "label", "pause", "extended"];
                let help = match suggest::closest(&key, known) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("loop_control takes: {}", known.join(", ")),
                };
                return Err(Box::new(
                    f.error(k.span, format!("unknown loop_control key `{key}`"))
                        .label("not a loop_control key")
                        .help(help),
                ));
            }
        }
    }
    Ok(lc)
}

/// Refuse an argument the module does not take (for modules with an argument spec, see
/// [`modules::arguments`]), pointing at the key when it is written as a mapping.
fn known_arguments(
    ld: &mut Loader,
    f: &FileCtx,
    (written, module): (&str, &str),
    value: &Node,
    args: &Vars,
) -> bool {
    let Some(allowed) = modules::arguments(module) else {
        return true;
    };
    let mut ok = true;
    for key in args.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        let span = value
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.key_string() == *key))
            .map_or(value.span, |(k, _)| k.span);
        let help = match suggest::closest(key, allowed.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("`{written}` takes: {}", allowed.join(", ")),
        };
        ld.report(
            f.error(
                span,
                format!("unsupported parameter `{key}` for module `{written}`"),
            )
            .label("not a parameter of this module")
            .help(help),
        );
        ok = false;
    }
    ok
}

/// Build what the task does from its module key and value.
fn action(
    ld: &mut Loader,
    f: &FileCtx,
    section: Section,
    (written, module, key_span): (&str, &'static str, Span),
    value: &Node,
    extra: Option<Vars>,
) -> Option<TaskKind> {
    let mut args = match &value.value {
        NodeValue::Null => Vars::new(),
        NodeValue::Map(_) => match value.to_json() {
            Value::Object(m) => m,
            _ => Vars::new(),
        },
        NodeValue::String(s) => match modules::free_form(module, s) {
            Ok(a) => a,
            Err(word) => {
                ld.report(
                    f.error(
                        value.span,
                        format!("`{written}` takes `key=value` arguments, found {word:?}"),
                    )
                    .label("not key=value")
                    .help(format!(
                        "write arguments as `key=value`, or as a mapping under `{written}:`"
                    )),
                );
                return None;
            }
        },
        NodeValue::Number(_) | NodeValue::Bool(_) if module == "meta" => Vars::new(),
        _ => {
            ld.report(
                f.error(
                    value.span,
                    format!("arguments of `{written}` must be a mapping or a `key=value` string, found {}", value.kind()),
                )
                .label("expected a mapping")
                .help("indent `key: value` pairs under the module name"),
            );
            return None;
        }
    };
    if let Some(extra) = extra {
        // `args:` supplements what is written with the module (Ansible merges them).
        for (k, v) in extra {
            args.entry(k).or_insert(v);
        }
    }
    if !known_arguments(ld, f, (written, module), value, &args) {
        return None;
    }
    let raw = || {
        args.get("_raw_params")
            .or(args.get("file"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match module {
        "meta" => {
            let what = raw().unwrap_or_default();
            const META: &[&str] = &[
                "flush_handlers",
                "noop",
                "refresh_inventory",
                "clear_facts",
                "clear_host_errors",
                "end_play",
                "end_host",
                "end_batch",
                "reset_connection",
            ];
            if !META.contains(&what.as_str()) {
                let help = match suggest::closest(&what, META.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("meta takes one of: {}", META.join(", ")),
                };
                ld.report(
                    f.error(value.span, format!("unknown meta action {what:?}"))
                        .label("not a meta action")
                        .help(help),
                );
                return None;
            }
            Some(TaskKind::Meta(what))
        }
        "include_tasks" => match raw() {
            Some(file) => {
                args.remove("_raw_params");
                args.remove("file");
                Some(TaskKind::IncludeTasks { file, args })
            }
            None => {
                ld.report(missing_file(f, key_span, written));
                None
            }
        },
        "import_tasks" => {
            let Some(file) = raw() else {
                ld.report(missing_file(f, key_span, written));
                return None;
            };
            let tasks = import_tasks(ld, f, &file, value.span, section)?;
            Some(TaskKind::ImportTasks { file, tasks })
        }
        "import_role" | "include_role" => {
            let Some(name) = args.get("name").and_then(Value::as_str).map(str::to_string) else {
                ld.report(
                    f.error(key_span, format!("`{written}` needs a role `name`"))
                        .label("no role named")
                        .help(format!(
                            "write `{written}:` then `name: <role>` indented under it"
                        )),
                );
                return None;
            };
            // Point role errors at the role's name rather than at the whole mapping.
            let name_span = value.get("name").map_or(value.span, |n| n.span);
            let tasks_from = args
                .get("tasks_from")
                .and_then(Value::as_str)
                .map(str::to_string);
            if module == "include_role" {
                // Dynamic: read at run time, but a role that does not exist now will not exist
                // then either, so say so early when the name is not a template.
                if !fields::templated(&name) {
                    roles::find(ld, f, &name, name_span)?;
                }
                return Some(TaskKind::IncludeRole { name, args });
            }
            let role_ref = roles::reference(ld, f, &name, name_span, tasks_from.as_deref())?;
            Some(TaskKind::ImportRole(Box::new(role_ref)))
        }
        _ => Some(TaskKind::Action(Action {
            module: module.to_string(),
            written: written.to_string(),
            args,
        })),
    }
}

fn missing_file(f: &FileCtx, span: Span, written: &str) -> crate::diagnostic::Diagnostic {
    f.error(span, format!("`{written}` needs a file name"))
        .label("no file named")
        .help(format!("write `{written}: tasks/other.yml`"))
}

/// Read the tasks of a statically imported file.
fn import_tasks(
    ld: &mut Loader,
    f: &FileCtx,
    file: &str,
    span: Span,
    section: Section,
) -> Option<Vec<Task>> {
    if fields::templated(file) {
        ld.report(
            f.error(
                span,
                format!("import_tasks needs a file name known when loading, found {file:?}"),
            )
            .label("a template")
            .help("use include_tasks for a file chosen at run time"),
        );
        return None;
    }
    let path = match ld.find_file(f, "tasks", file) {
        Ok(p) => p,
        Err(tried) => {
            ld.report(
                f.error(span, format!("imported file {file:?} not found"))
                    .label("no such file")
                    .help(format!("looked for: {}", shown_list(&tried))),
            );
            return None;
        }
    };
    ld.enter(&path, Some((f, span)))?;
    let node = ld.read_yaml(&path, Some((f, span)));
    let sub = FileCtx {
        name: path.display().to_string().into(),
        dir: path.parent().map(|p| p.to_path_buf()).unwrap_or_default(),
        role: f.role.clone(),
    };
    let tasks = node.map(|n| tasks(ld, &sub, "tasks", &n, section));
    ld.leave();
    tasks
}
