//! Reading playbook files: the list of plays, `import_playbook`, and each play's keys.
//!
//! Owns the play keyword table and the play-level errors (no `hosts`, unknown play keyword,
//! `serial: 0`, a bad strategy, a task written where a play belongs). Must not: read task
//! lists or roles itself (see `task` and `roles`).

use std::path::Path;

use serde_json::Value;

use super::fields::{self, COMMON};
use super::loader::{FileCtx, Loader, shown_list};
use super::model::{Batch, Common, Play, Strategy};
use super::task::{self, Section};
use super::{modules, roles};
use crate::suggest;
use crate::yaml::{Node, NodeValue, Span};

/// Keywords a play accepts besides the [`COMMON`] ones it allows.
const PLAY: &[&str] = &[
    "name",
    "hosts",
    "vars_files",
    "gather_facts",
    "serial",
    "max_fail_percentage",
    "strategy",
    "pre_tasks",
    "roles",
    "tasks",
    "post_tasks",
    "handlers",
];

/// [`COMMON`] keywords that make no sense on a play (Ansible refuses them there too).
const NOT_ON_PLAY: &[&str] = &["when", "delegate_to"];

fn play_keywords() -> impl Iterator<Item = &'static str> {
    PLAY.iter()
        .chain(COMMON.iter().filter(|k| !NOT_ON_PLAY.contains(k)))
        .copied()
}

/// The keys that import another playbook (the FQCN too).
const IMPORT_PLAYBOOK: &[&str] = &["import_playbook", "ansible.builtin.import_playbook"];

/// Read a playbook file into plays, splicing `import_playbook`s in place. `from` is the
/// import statement that named it, if any.
pub fn playbook_file(ld: &mut Loader, path: &Path, from: Option<(&FileCtx, Span)>) -> Vec<Play> {
    if ld.enter(path, from).is_none() {
        return Vec::new();
    }
    let plays = match ld.read_yaml(path, from) {
        Some(node) => plays(ld, path, &node),
        None => Vec::new(),
    };
    ld.leave();
    plays
}

fn plays(ld: &mut Loader, path: &Path, node: &Node) -> Vec<Play> {
    let f = FileCtx {
        name: path.display().to_string().into(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        role: None,
    };
    let Some(items) = node.as_seq() else {
        ld.report(
            f.error(
                node.span,
                format!("a playbook must be a list of plays, found {}", node.kind()),
            )
            .label("expected a list")
            .help("start each play with `- hosts: ...`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        if item.as_map().is_none() {
            ld.report(
                f.error(
                    item.span,
                    format!("a play must be a mapping, found {}", item.kind()),
                )
                .label("expected `hosts:` and tasks")
                .help("write a play as `- hosts: all` followed by `tasks:`"),
            );
            continue;
        }
        if let Some((_, v)) = item
            .as_map()
            .unwrap_or_default()
            .iter()
            .find(|(k, _)| IMPORT_PLAYBOOK.contains(&k.key_string().as_str()))
        {
            let mut imported = import_playbook(ld, &f, v);
            import_keywords(ld, &f, item, &mut imported);
            out.extend(imported);
            continue;
        }
        if let Some(p) = play(ld, &f, path, item) {
            out.push(p);
        }
    }
    out
}

/// Apply the keywords written beside `import_playbook` to the imported plays: `tags` are added
/// to theirs and `vars` become play vars (written vars in the play win), as in Ansible.
fn import_keywords(ld: &mut Loader, f: &FileCtx, item: &Node, plays: &mut [Play]) {
    for (k, v) in item.as_map().unwrap_or_default() {
        let key = k.key_string();
        let read = match key.as_str() {
            k if IMPORT_PLAYBOOK.contains(&k) => Ok(()),
            "name" => fields::string(&f.name, &key, v).map(|_| ()),
            "tags" => fields::tags(&f.name, v).map(|tags| {
                for p in plays.iter_mut() {
                    p.common.tags.extend(tags.iter().cloned());
                }
            }),
            "vars" => fields::mapping(&f.name, &key, v).map(|vars| {
                for p in plays.iter_mut() {
                    for (name, value) in &vars {
                        p.common.vars.entry(name.clone()).or_insert(value.clone());
                    }
                }
            }),
            _ => Err(Box::new(
                f.error(k.span, format!("`{key}` is not valid beside `import_playbook`"))
                    .label("not an import_playbook keyword")
                    .help("import_playbook takes `name`, `tags` and `vars`; put other keywords in the imported plays"),
            )),
        };
        if let Err(d) = read {
            ld.report(d);
        }
    }
}

fn import_playbook(ld: &mut Loader, f: &FileCtx, value: &Node) -> Vec<Play> {
    let Some(name) = value.as_str() else {
        ld.report(
            f.error(
                value.span,
                format!(
                    "`import_playbook` must be a file name, found {}",
                    value.kind()
                ),
            )
            .label("expected a file name")
            .help("write `- import_playbook: other.yml`"),
        );
        return Vec::new();
    };
    if fields::templated(name) {
        ld.report(
            f.error(
                value.span,
                format!("import_playbook needs a file name known when loading, found {name:?}"),
            )
            .label("a template")
            .help("write the file name itself"),
        );
        return Vec::new();
    }
    match ld.find_file(f, "", name) {
        Ok(path) => playbook_file(ld, &path, Some((f, value.span))),
        Err(tried) => {
            ld.report(
                f.error(value.span, format!("imported playbook {name:?} not found"))
                    .label("no such file")
                    .help(format!("looked for: {}", shown_list(&tried))),
            );
            Vec::new()
        }
    }
}

fn play(ld: &mut Loader, f: &FileCtx, path: &Path, node: &Node) -> Option<Play> {
    let file = &*f.name;
    let mut p = Play {
        location: f.location(node.span),
        name: None,
        hosts: String::new(),
        common: Common::default(),
        vars_files: Vec::new(),
        gather_facts: None,
        serial: Vec::new(),
        max_fail_percentage: None,
        strategy: Strategy::Linear,
        pre_tasks: Vec::new(),
        roles: Vec::new(),
        tasks: Vec::new(),
        post_tasks: Vec::new(),
        handlers: Vec::new(),
        file: path.to_path_buf(),
    };
    let mut hosts_seen = false;
    let mut ok = true;
    let entries = node.as_map().unwrap_or_default();
    for (k, v) in entries {
        let key = k.key_string();
        let read = (|| -> fields::Read<()> {
            match key.as_str() {
                "name" => p.name = Some(fields::string(file, &key, v)?),
                "hosts" => {
                    hosts_seen = true;
                    p.hosts = fields::strings(file, &key, v)?.join(",");
                    if p.hosts.trim().is_empty() {
                        return Err(Box::new(
                            f.error(v.span, "`hosts` is empty")
                                .label("no host pattern")
                                .help("write a group, a host or `all`"),
                        ));
                    }
                }
                "vars_files" => {
                    // An item that is itself a list names alternatives (Ansible's form).
                    p.vars_files = match &v.value {
                        NodeValue::Null => Vec::new(),
                        NodeValue::Seq(items) => items
                            .iter()
                            .map(|i| fields::strings(file, &key, i))
                            .collect::<Result<_, _>>()?,
                        _ => vec![fields::strings(file, &key, v)?],
                    }
                }
                "gather_facts" => p.gather_facts = Some(fields::flag(file, &key, v)?),
                "serial" => p.serial = serial(f, v)?,
                "max_fail_percentage" => p.max_fail_percentage = Some(percentage(f, v)?),
                "strategy" => p.strategy = strategy(f, v)?,
                "pre_tasks" => p.pre_tasks = task::tasks(ld, f, &key, v, Section::Tasks),
                "tasks" => p.tasks = task::tasks(ld, f, &key, v, Section::Tasks),
                "post_tasks" => p.post_tasks = task::tasks(ld, f, &key, v, Section::Tasks),
                "handlers" => p.handlers = task::tasks(ld, f, &key, v, Section::Handlers),
                "roles" => {
                    match &v.value {
                        NodeValue::Null => {}
                        NodeValue::Seq(items) => {
                            for item in items {
                                if let Some(r) = roles::entry(ld, f, item) {
                                    p.roles.push(r);
                                }
                            }
                        }
                        _ => {
                            return Err(Box::new(
                            f.error(v.span, format!("`roles` must be a list of roles, found {}", v.kind()))
                                .label("expected a list")
                                .help("write each role as a list item: `- chrony` or `- role: chrony`"),
                        ));
                        }
                    }
                }
                c if COMMON.contains(&c) && !NOT_ON_PLAY.contains(&c) => {
                    fields::common(file, &mut p.common, &key, v)?;
                }
                _ => return Err(Box::new(unknown_play_key(f, &key, k.span))),
            }
            Ok(())
        })();
        if let Err(d) = read {
            ld.report(d);
            ok = false;
        }
    }
    if !hosts_seen {
        let span = entries.first().map_or(node.span, |(k, _)| k.span);
        ld.report(
            f.error(span, "this play has no `hosts`")
                .label("play starts here")
                .help("add `hosts: all`, or a group or host pattern, to say where the play runs"),
        );
        ok = false;
    }
    ok.then_some(p)
}

fn unknown_play_key(f: &FileCtx, key: &str, span: Span) -> crate::diagnostic::Diagnostic {
    // A module where a play key belongs: most likely tasks written at the top level.
    if modules::resolve(key).is_some() {
        return f
            .error(span, format!("`{key}` is a module, not a play keyword"))
            .label("a task at the play level")
            .help("put tasks under `tasks:` in a play that has `hosts:`");
    }
    let help = match suggest::closest(key, play_keywords()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "remove it; see docs/playbooks.md for the play keywords".to_string(),
    };
    f.error(span, format!("unknown play keyword `{key}`"))
        .label("not a play keyword")
        .help(help)
}

fn serial(f: &FileCtx, node: &Node) -> fields::Read<Vec<Batch>> {
    let one = |n: &Node| -> fields::Read<Batch> {
        let bad = |msg: String| {
            Box::new(
                f.error(n.span, msg)
                    .label("not a batch size")
                    .help("write a number of hosts (at least 1), a percentage like \"30%\", or a list of them"),
            )
        };
        match (&n.value, n.to_json()) {
            (NodeValue::Number(_), Value::Number(x)) => match x.as_u64() {
                Some(0) => Err(bad("`serial` must be at least 1, found 0".into())),
                Some(k) => Ok(Batch::Hosts(k)),
                None => Err(bad(format!(
                    "`serial` must be a whole number of hosts, found {x}"
                ))),
            },
            (NodeValue::String(s), _) if fields::templated(s) => Ok(Batch::Template(s.clone())),
            (NodeValue::String(s), _) => {
                match s.trim().strip_suffix('%').map(|p| p.trim().parse::<f64>()) {
                    Some(Ok(pc)) if pc > 0.0 && pc <= 100.0 => Ok(Batch::Percent(pc)),
                    Some(_) => Err(bad(format!(
                        "`serial` percentage must be above 0% and at most 100%, found {s:?}"
                    ))),
                    None => match s.trim().parse::<u64>() {
                        Ok(0) => Err(bad("`serial` must be at least 1, found 0".into())),
                        Ok(k) => Ok(Batch::Hosts(k)),
                        Err(_) => Err(bad(format!(
                            "`serial` must be a number or a percentage, found {s:?}"
                        ))),
                    },
                }
            }
            _ => Err(bad(format!(
                "`serial` must be a number or a percentage, found {}",
                n.kind()
            ))),
        }
    };
    match &node.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::Seq(items) => items.iter().map(one).collect(),
        _ => Ok(vec![one(node)?]),
    }
}

fn percentage(f: &FileCtx, node: &Node) -> fields::Read<f64> {
    let value = match (&node.value, node.to_json()) {
        (NodeValue::Number(_), Value::Number(x)) => x.as_f64(),
        (NodeValue::String(s), _) => s.trim().trim_end_matches('%').trim().parse().ok(),
        _ => None,
    };
    match value {
        Some(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(Box::new(
            f.error(
                node.span,
                "`max_fail_percentage` must be a number from 0 to 100",
            )
            .label("not a percentage")
            .help("write a number like `max_fail_percentage: 20`"),
        )),
    }
}

fn strategy(f: &FileCtx, node: &Node) -> fields::Read<Strategy> {
    match node.as_str() {
        Some("linear") => Ok(Strategy::Linear),
        Some("free") => Ok(Strategy::Free),
        _ => Err(Box::new(
            f.error(node.span, "`strategy` must be `linear` or `free`")
                .label("unknown strategy")
                .help("Cairn implements the linear and free strategies"),
        )),
    }
}
