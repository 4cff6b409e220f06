//! What `--list-tasks` and `--list-hosts` show, in ansible-playbook's shape.
//!
//! Owns the order tasks run in as far as loading can tell (pre_tasks, roles with their
//! dependencies first, tasks, post_tasks; blocks and static imports flattened, `rescue` and
//! `always` left out as ansible-playbook leaves them out) with the tags
//! each inherits, and the text of the listing. Must not: print (the CLI does) or evaluate
//! conditions (a listing shows every task, as Ansible's does).

use std::collections::BTreeSet;

use super::model::{Play, Playbook, RoleRef, Task, TaskKind};
use super::tags::TagFilter;
use crate::inventory::Inventory;

/// One task as listed: its display name (`role : name`) and its effective tags, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub tags: Vec<String>,
}

/// The tasks of `play` in order, with inherited tags, that `filter` selects (by default every
/// task but those tagged `never`, as ansible-playbook).
pub fn play_tasks(play: &Play, filter: &TagFilter) -> Vec<Listed> {
    let mut out = Vec::new();
    let tags: BTreeSet<String> = play.common.tags.iter().cloned().collect();
    walk(&play.pre_tasks, &tags, &mut out);
    for r in &play.roles {
        role(r, &tags, &mut out);
    }
    walk(&play.tasks, &tags, &mut out);
    walk(&play.post_tasks, &tags, &mut out);
    out.retain(|l| filter.selects(&l.tags));
    out
}

fn role(r: &RoleRef, inherited: &BTreeSet<String>, out: &mut Vec<Listed>) {
    let mut tags = inherited.clone();
    tags.extend(r.common.tags.iter().cloned());
    for dep in &r.role.dependencies {
        role(dep, &tags, out);
    }
    walk(&r.role.tasks, &tags, out);
}

fn walk(tasks: &[Task], inherited: &BTreeSet<String>, out: &mut Vec<Listed>) {
    for t in tasks {
        let mut tags = inherited.clone();
        tags.extend(t.common.tags.iter().cloned());
        match &t.kind {
            // ansible-playbook lists a block's main tasks only, not `rescue` or `always`.
            TaskKind::Block { block, .. } => walk(block, &tags, out),
            TaskKind::ImportTasks { tasks, .. } => walk(tasks, &tags, out),
            TaskKind::ImportRole(r) => {
                let mut r = (**r).clone();
                r.common.tags.extend(tags.iter().cloned());
                role(&r, inherited, out);
            }
            _ => {
                // Ansible prefixes the role to task names, not to bare actions.
                let name = match (&t.role, &t.name) {
                    (Some(role), Some(name)) => format!("{role} : {name}"),
                    _ => t.display_name().to_string(),
                };
                out.push(Listed {
                    name,
                    tags: tags.into_iter().collect(),
                });
            }
        }
    }
}

/// What a listing shows besides the playbook's name.
#[derive(Clone, Debug, Default)]
pub struct ListOptions<'a> {
    /// Show each play's pattern and the hosts it matches in this inventory...
    pub inventory: Option<&'a Inventory>,
    /// ...that also match this pattern (`--limit`).
    pub limit: Option<&'a str>,
    /// Show each play's tasks that this filter selects (`--tags`, `--skip-tags`).
    pub tasks: Option<TagFilter>,
}

/// The `--syntax-check` / `--list-*` text for one playbook, in ansible-playbook's shape. A
/// pattern the inventory cannot evaluate is an `Err` naming the play.
pub fn render(shown: &str, playbook: &Playbook, options: &ListOptions) -> Result<String, String> {
    let mut out = format!("\nplaybook: {shown}\n");
    if options.inventory.is_none() && options.tasks.is_none() {
        return Ok(out);
    }
    let limit = match (options.inventory, options.limit) {
        (Some(inv), Some(limit)) => Some(
            inv.select(limit)
                .map_err(|e| format!("--limit {limit:?}: {e}"))?,
        ),
        _ => None,
    };
    for (i, play) in playbook.plays.iter().enumerate() {
        let play_tags: Vec<&str> = play.common.tags.iter().map(String::as_str).collect();
        out.push_str(&format!(
            "\n  play #{} ({}): {}\tTAGS: [{}]\n",
            i + 1,
            play.hosts,
            play.display_name(),
            play_tags.join(",")
        ));
        if let Some(inv) = options.inventory {
            let mut hosts = inv.select(&play.hosts).map_err(|e| {
                format!(
                    "play #{} ({}): hosts {:?}: {e}",
                    i + 1,
                    play.location,
                    play.hosts
                )
            })?;
            if let Some(limit) = &limit {
                let limit: std::collections::HashSet<&String> = limit.iter().collect();
                hosts.retain(|h| limit.contains(h));
            }
            out.push_str(&format!(
                "    pattern: ['{}']\n    hosts ({}):\n",
                play.hosts,
                hosts.len()
            ));
            for h in hosts {
                out.push_str(&format!("      {h}\n"));
            }
        }
        if let Some(filter) = &options.tasks {
            out.push_str("    tasks:\n");
            for l in play_tasks(play, filter) {
                out.push_str(&format!(
                    "      {}\tTAGS: [{}]\n",
                    l.name,
                    l.tags.join(", ")
                ));
            }
        }
    }
    Ok(out)
}
