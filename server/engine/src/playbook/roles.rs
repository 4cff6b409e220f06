//! Roles: finding a role on the search path and loading its directory.
//!
//! Owns the role search order (`roles/` beside the playbook, then the configured roles path,
//! then the playbook's own directory, as Ansible does), the role layout (`tasks/`, `handlers/`,
//! `defaults/`, `vars/`, `meta/main.yml` dependencies, `templates/`, `files/`) and role entries
//! (`- chrony`, `- role: chrony` with keywords and parameters). Dependencies are loaded
//! recursively with cycle detection. Must not: read task keywords (see `task`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fields;
use super::loader::{FileCtx, Loader, shown_list};
use super::model::{Common, Role, RoleRef, Vars};
use super::task::{self, Section};
use crate::yaml::{Node, NodeValue, Span};

/// Where a role named `name` may be, in search order.
fn candidates(ld: &Loader, f: &FileCtx, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if Path::new(name).is_absolute() {
        return vec![PathBuf::from(name)];
    }
    if let Some((_, role_dir)) = &f.role {
        // A dependency may sit beside the role that needs it (roles/<dep>).
        if let Some(parent) = role_dir.parent() {
            out.push(parent.join(name));
        }
    }
    out.push(ld.playbook_dir.join("roles").join(name));
    for dir in &ld.options.roles_path {
        out.push(dir.join(name));
    }
    out.push(ld.playbook_dir.join(name));
    out.dedup();
    out
}

/// The directory of role `name`, or an error (written at `span`) saying where it looked.
pub fn find(ld: &mut Loader, f: &FileCtx, name: &str, span: Span) -> Option<PathBuf> {
    let tried = candidates(ld, f, name);
    if let Some(found) = tried.iter().find(|p| p.is_dir()) {
        return Some(found.clone());
    }
    ld.report(
        f.error(span, format!("role {name:?} not found"))
            .label("no such role")
            .help(format!(
                "looked in: {}; create the role there or add its parent directory to the roles path (--roles-path)",
                shown_list(&tried)
            )),
    );
    None
}

/// Find and load role `name` for an `import_role` or a bare reference.
pub fn reference(
    ld: &mut Loader,
    f: &FileCtx,
    name: &str,
    span: Span,
    tasks_from: Option<&str>,
) -> Option<RoleRef> {
    let path = find(ld, f, name, span)?;
    let role = load(ld, f, name, &path, span, tasks_from)?;
    Some(RoleRef {
        location: f.location(span),
        name: name.to_string(),
        common: Common::default(),
        params: Vars::new(),
        role,
    })
}

/// One item of a play's `roles:` or a role's `dependencies:`.
pub fn entry(ld: &mut Loader, f: &FileCtx, node: &Node) -> Option<RoleRef> {
    let file = &*f.name;
    if let NodeValue::String(name) = &node.value {
        return reference(ld, f, name, node.span, None);
    }
    let Some(entries) = node.as_map() else {
        ld.report(
            f.error(
                node.span,
                format!(
                    "a role entry must be a name or a mapping, found {}",
                    node.kind()
                ),
            )
            .label("expected a role")
            .help("write `- rolename` or `- role: rolename` with keywords under it"),
        );
        return None;
    };
    let mut common = Common::default();
    let mut params = Vars::new();
    let mut name: Option<(String, Span)> = None;
    let mut ok = true;
    for (k, v) in entries {
        let key = k.key_string();
        let read = (|| -> fields::Read<()> {
            match key.as_str() {
                "role" | "name" => name = Some((fields::string(file, &key, v)?, v.span)),
                _ if fields::common(file, &mut common, &key, v)? => {}
                // Anything else is a role parameter (Ansible's older style), like a role var.
                _ => {
                    params.insert(key.clone(), v.to_json());
                }
            }
            Ok(())
        })();
        if let Err(d) = read {
            ld.report(d);
            ok = false;
        }
    }
    let Some((name, span)) = name else {
        ld.report(
            f.error(node.span, "role entry without `role:`")
                .label("which role?")
                .help("add `role: <name>` to this entry"),
        );
        return None;
    };
    let mut r = reference(ld, f, &name, span, None)?;
    r.common = common;
    r.params = params;
    ok.then_some(r)
}

/// `dir/main.yml`, `dir/main.yaml` or `dir/main`, or with `tasks_from`, that file.
fn main_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    let names = if Path::new(stem).extension().is_some() {
        vec![stem.to_string()]
    } else {
        vec![
            format!("{stem}.yml"),
            format!("{stem}.yaml"),
            stem.to_string(),
        ]
    };
    names.into_iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// Load a role directory (cached: a role used twice is read once per `tasks_from`).
fn load(
    ld: &mut Loader,
    f: &FileCtx,
    name: &str,
    path: &Path,
    span: Span,
    tasks_from: Option<&str>,
) -> Option<Arc<Role>> {
    let key = path.join(tasks_from.unwrap_or(""));
    if let Some(role) = ld.roles.get(&key) {
        return Some(role.clone());
    }
    // Cycle detection runs on the role directory: a role depending on itself through others.
    ld.enter(path, Some((f, span)))?;
    let ctx = |file: &Path| FileCtx {
        name: file.display().to_string().into(),
        dir: file.parent().map(Path::to_path_buf).unwrap_or_default(),
        role: Some((name.to_string(), path.to_path_buf())),
    };
    let mut role = Role {
        name: name.to_string(),
        path: path.to_path_buf(),
        tasks: Vec::new(),
        handlers: Vec::new(),
        defaults: Vars::new(),
        vars: Vars::new(),
        dependencies: Vec::new(),
        allow_duplicates: false,
        templates_dir: Some(path.join("templates")).filter(|p| p.is_dir()),
        files_dir: Some(path.join("files")).filter(|p| p.is_dir()),
    };
    if let Some(meta) = main_file(&path.join("meta"), "main")
        && let Some(node) = ld.read_yaml(&meta, None)
    {
        let mf = ctx(&meta);
        role.allow_duplicates = node
            .get("allow_duplicates")
            .is_some_and(|n| matches!(n.to_json(), serde_json::Value::Bool(true)));
        if let Some(deps) = node.get("dependencies") {
            match &deps.value {
                NodeValue::Null => {}
                NodeValue::Seq(items) => {
                    for item in items {
                        if let Some(dep) = entry(ld, &mf, item) {
                            role.dependencies.push(dep);
                        }
                    }
                }
                _ => ld.report(
                    mf.error(
                        deps.span,
                        format!(
                            "`dependencies` must be a list of roles, found {}",
                            deps.kind()
                        ),
                    )
                    .label("expected a list")
                    .help("write each role as a list item: `- role: name`"),
                ),
            }
        }
    }
    for (sub, target) in [("defaults", &mut role.defaults), ("vars", &mut role.vars)] {
        if let Some(file) = main_file(&path.join(sub), "main")
            && let Some(node) = ld.read_yaml(&file, None)
        {
            let vf = ctx(&file);
            match fields::mapping(&vf.name, sub, &node) {
                Ok(vars) => *target = vars,
                Err(d) => ld.report(d),
            }
        }
    }
    let tasks_dir = path.join("tasks");
    match (
        tasks_from,
        main_file(&tasks_dir, tasks_from.unwrap_or("main")),
    ) {
        (_, Some(file)) => {
            if let Some(node) = ld.read_yaml(&file, None) {
                role.tasks = task::tasks(ld, &ctx(&file), "tasks", &node, Section::Tasks);
            }
        }
        (Some(from), None) => ld.report(
            f.error(span, format!("role {name:?} has no tasks file {from:?}"))
                .label("tasks_from names a missing file")
                .help(format!("looked for {from}.yml in {}", tasks_dir.display())),
        ),
        (None, None) => {}
    }
    if let Some(file) = main_file(&path.join("handlers"), "main")
        && let Some(node) = ld.read_yaml(&file, None)
    {
        role.handlers = task::tasks(ld, &ctx(&file), "handlers", &node, Section::Handlers);
    }
    ld.leave();
    let role = Arc::new(role);
    ld.roles.insert(key, role.clone());
    Some(role)
}
