//! What `--list-tasks` and `--list-hosts` show, in ansible-playbook's shape.
//!
//! Owns the order tasks run in as far as loading can tell (pre_tasks, roles with their
//! dependencies first, tasks, post_tasks; blocks and static imports flattened, `rescue` and
//! `always` left out as ansible-playbook leaves them out) with the tags
//! each inherits, and the text of the listing. Must not: print (the CLI does) or evaluate
//! conditions (a listing shows every task, as Ansible's does).

use std::collections::BTreeSet;

use super::model::{Play, Playbook, RoleRef, Task, TaskKind};
use crate::inventory::Inventory;

/// One task as listed: its display name (`role : name`) and its effective tags, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub tags: Vec<String>,
}

/// The tasks of `play` in order, with inherited tags. Tasks tagged `never` are left out, as
/// ansible-playbook leaves them out when no `--tags` are given.
pub fn play_tasks(play: &Play) -> Vec<Listed> {
    let mut out = Vec::new();
    let tags: BTreeSet<String> = play.common.tags.iter().cloned().collect();
    walk(&play.pre_tasks, &tags, &mut out);
    for r in &play.roles {
        role(r, &tags, &mut out);
    }
    walk(&play.tasks, &tags, &mut out);
    walk(&play.post_tasks, &tags, &mut out);
    out.retain(|l| !l.tags.iter().any(|t| t == "never"));
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

/// The `--syntax-check` / `--list-*` text for one playbook. With `inventory`, each play shows
/// its pattern and the hosts it matches; with `tasks`, its tasks. A pattern the inventory
/// cannot evaluate is an `Err` naming the play.
pub fn render(
    shown: &str,
    playbook: &Playbook,
    inventory: Option<&Inventory>,
    tasks: bool,
) -> Result<String, String> {
    let mut out = format!("\nplaybook: {shown}\n");
    if inventory.is_none() && !tasks {
        return Ok(out);
    }
    for (i, play) in playbook.plays.iter().enumerate() {
        let play_tags: Vec<&str> = play.common.tags.iter().map(String::as_str).collect();
        out.push_str(&format!(
            "\n  play #{} ({}): {}\tTAGS: [{}]\n",
            i + 1,
            play.hosts,
            play.display_name(),
            play_tags.join(",")
        ));
        if let Some(inv) = inventory {
            let hosts = inv.select(&play.hosts).map_err(|e| {
                format!(
                    "play #{} ({}): hosts {:?}: {e}",
                    i + 1,
                    play.location,
                    play.hosts
                )
            })?;
            out.push_str(&format!(
                "    pattern: ['{}']\n    hosts ({}):\n",
                play.hosts,
                hosts.len()
            ));
            for h in hosts {
                out.push_str(&format!("      {h}\n"));
            }
        }
        if tasks {
            out.push_str("    tasks:\n");
            for l in play_tasks(play) {
                out.push_str(&format!(
                    "      {}\tTAGS: [{}]\n",
                    l.name,
                    l.tags.join(", ")
                ));
            }
            // ansible-playbook ends each task list with an empty line.
            out.push('\n');
        }
    }
    Ok(out)
}
