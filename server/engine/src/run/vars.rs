//! The variables a task sees on a host, merged in Ansible's precedence order (weakest first):
//! role defaults, inventory variables, play `vars` and `vars_files`, role vars and
//! parameters, block, include and task `vars`, then facts (gathered, `set_fact`) and
//! registered results, then `-e` extra variables, then the magic variables
//! (`inventory_hostname`, `groups`, `group_names`, `hostvars`, `ansible_play_hosts`,
//! `ansible_play_batch`, `playbook_dir`, `ansible_check_mode`).
//!
//! Owns that merge and the resolution of variables whose values are templates. Must not:
//! evaluate conditions, touch hosts, or let a connection secret reach a template (see
//! [`HIDDEN`]).

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use super::template::{Context, Shared, Templar};
use crate::inventory::{Inventory, UNGROUPED};
use crate::playbook::Vars;

/// Inventory variables that hold connection secrets inline. Templates do not see them (in
/// Ansible they could), so no `debug`, `msg` or command line can carry them into an event:
/// the transport reads them from the inventory itself.
pub const HIDDEN: &[&str] = &[
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_become_password",
    "ansible_become_pass",
];

/// What stays the same for a whole run: the inventory's view of every host and group.
pub struct Base {
    pub host_vars: HashMap<String, Vars>,
    pub groups: Vars,
    pub group_names: HashMap<String, Json>,
    pub playbook_dir: String,
    /// `-e`: above everything but the magic variables.
    pub extra: Vars,
}

/// What differs per task in what a host sees.
pub struct Layers<'a> {
    /// Role defaults (weakest).
    pub defaults: &'a Vars,
    /// Play, role, block and task vars merged.
    pub vars: &'a Vars,
    pub facts: Option<&'a Vars>,
    /// Shared by every host for the same task (see [`Base::shared`]).
    pub shared: &'a Shared,
    pub check_mode: bool,
}

impl Base {
    pub fn new(inventory: &Inventory, playbook_dir: String) -> Base {
        let mut groups = Vars::new();
        for g in inventory.groups.keys() {
            groups.insert(g.clone(), inventory.group_hosts(g).into());
        }
        let mut host_vars = HashMap::new();
        let mut group_names = HashMap::new();
        for h in inventory.hosts.keys() {
            let mut vars = inventory.host_vars(h);
            vars.retain(|k, _| !HIDDEN.contains(&k.as_str()));
            host_vars.insert(h.clone(), vars);
            let mut names = inventory.groups_of(h);
            // Ansible's group_names keeps `ungrouped` for hosts in no other group.
            if names.is_empty() && inventory.group_hosts(UNGROUPED).contains(h) {
                names.push(UNGROUPED.to_string());
            }
            group_names.insert(h.clone(), names.into());
        }
        Base {
            host_vars,
            groups,
            group_names,
            playbook_dir,
            extra: Vars::new(),
        }
    }

    /// The magic variables every host sees alike for a task, built once for all of them:
    /// `hostvars`, `groups`, `ansible_play_hosts` (and `play_hosts`), the hosts of the play
    /// still running, and `ansible_play_batch`, those of the batch.
    pub fn shared(
        &self,
        facts: &HashMap<String, Vars>,
        play_hosts: &[String],
        batch: &[String],
    ) -> Shared {
        let mut v = Vars::new();
        v.insert("hostvars".into(), self.hostvars(facts));
        v.insert("groups".into(), Json::Object(self.groups.clone()));
        v.insert("ansible_play_hosts".into(), play_hosts.to_vec().into());
        v.insert("play_hosts".into(), play_hosts.to_vec().into());
        v.insert("ansible_play_batch".into(), batch.to_vec().into());
        Shared::new(v)
    }

    /// What `hostvars[h]` shows: inventory variables and facts, for every host.
    pub fn hostvars(&self, facts: &HashMap<String, Vars>) -> Json {
        let mut all = Vars::new();
        for (h, vars) in &self.host_vars {
            let mut v = vars.clone();
            if let Some(f) = facts.get(h) {
                v.extend(f.clone());
            }
            v.insert("inventory_hostname".into(), h.clone().into());
            all.insert(h.clone(), Json::Object(v));
        }
        Json::Object(all)
    }

    /// The variables `host` sees for a task, layered as the module doc says.
    pub fn context(&self, templar: &Templar, host: &str, l: &Layers<'_>) -> Context {
        let mut v = l.defaults.clone();
        v.extend(self.host_vars.get(host).cloned().unwrap_or_default());
        v.extend(l.vars.clone());
        if let Some(f) = l.facts {
            v.extend(f.clone());
        }
        v.extend(self.extra.clone());
        v.insert("inventory_hostname".into(), host.into());
        let short = host.split('.').next().unwrap_or(host);
        v.insert("inventory_hostname_short".into(), short.into());
        v.insert(
            "group_names".into(),
            self.group_names
                .get(host)
                .cloned()
                .unwrap_or(Json::Array(vec![])),
        );
        v.insert("playbook_dir".into(), self.playbook_dir.clone().into());
        v.insert("ansible_check_mode".into(), l.check_mode.into());
        // the run-wide magic variables win over these as they did when they were copied in
        for k in l.shared.json().keys() {
            v.remove(k);
        }
        resolve(templar, v, l.shared)
    }
}

/// Variables may hold templates (`vars: {url: "http://{{ host }}"}`). Ansible renders them
/// lazily, when used. Here each is rendered once, after the variables it refers to (in
/// dependency order, so chains of any length resolve). A variable that refers to itself
/// through others is a loop, and one whose template fails (an undefined reference) cannot
/// be rendered: both are left undefined, with the reason kept in the context, so `is
/// defined` and `default(...)` treat them as Ansible does and using one reports why
/// (`recursive loop detected in template: a -> b -> a`).
fn resolve(templar: &Templar, mut vars: Vars, shared: &Shared) -> Context {
    let has_template = |v: &Json| match v {
        Json::String(s) => s.contains("{{") || s.contains("{%"),
        Json::Array(_) | Json::Object(_) => {
            let t = v.to_string();
            t.contains("{{") || t.contains("{%")
        }
        _ => false,
    };
    let pending: Vec<String> = vars
        .iter()
        .filter(|(_, v)| has_template(v))
        .map(|(k, _)| k.clone())
        .collect();
    if pending.is_empty() {
        return Context::with_shared(vars, shared);
    }
    let deps: HashMap<String, Vec<String>> = pending
        .iter()
        .map(|k| {
            let mut d: Vec<String> = templar
                .referenced(&vars[k])
                .into_iter()
                .filter(|n| pending.contains(n))
                .collect();
            d.sort();
            (k.clone(), d)
        })
        .collect();
    let mut broken: HashMap<String, String> = HashMap::new();
    let mut seen = HashSet::new();
    for k in &pending {
        find_loop(&deps, &mut vec![k.clone()], &mut seen, &mut broken);
    }
    for k in broken.keys() {
        vars.remove(k);
    }
    let mut done: Vec<String> = Vec::new();
    loop {
        let ready: Vec<String> = pending
            .iter()
            .filter(|k| !done.contains(k) && !broken.contains_key(*k))
            .filter(|k| {
                deps[*k]
                    .iter()
                    .all(|d| done.contains(d) || broken.contains_key(d))
            })
            .cloned()
            .collect();
        if ready.is_empty() {
            break;
        }
        let ctx = Context::with_broken(vars.clone(), shared.clone(), broken.clone());
        for k in ready {
            match templar.template(&vars[&k], &ctx) {
                Ok(v) => {
                    vars.insert(k.clone(), v);
                }
                Err(why) => {
                    vars.remove(&k);
                    broken.insert(k.clone(), format!("error while resolving '{k}': {why}"));
                }
            }
            done.push(k);
        }
    }
    // Variables still waiting depend on a loop the search did not walk through.
    for k in &pending {
        if !done.contains(k) && !broken.contains_key(k) {
            vars.remove(k);
            let msg = format!("recursive loop detected in template involving '{k}'");
            broken.insert(k.clone(), msg);
        }
    }
    Context::with_broken(vars, shared.clone(), broken)
}

/// Depth-first search from the last variable of `path`, each variable explored once
/// (`seen`); an edge back into the path is a loop, and every variable on it is marked
/// broken with the loop written out.
fn find_loop(
    deps: &HashMap<String, Vec<String>>,
    path: &mut Vec<String>,
    seen: &mut HashSet<String>,
    broken: &mut HashMap<String, String>,
) {
    let Some(cur) = path.last().cloned() else {
        return;
    };
    if !seen.insert(cur.clone()) {
        return;
    }
    for d in deps.get(&cur).map(Vec::as_slice).unwrap_or(&[]) {
        if let Some(start) = path.iter().position(|p| p == d) {
            let mut chain = path[start..].to_vec();
            chain.push(d.clone());
            let msg = format!(
                "recursive loop detected in template: {}",
                chain.join(" -> ")
            );
            for n in &path[start..] {
                broken.entry(n.clone()).or_insert_with(|| msg.clone());
            }
        } else {
            path.push(d.clone());
            find_loop(deps, path, seen, broken);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_variables_and_magic_ones_are() {
        let inv = crate::inventory::load_str(
            "hosts",
            "lone\n[web]\nw1 ansible_password=hunter2 ansible_become_pass=pw colour=blue\n",
        )
        .unwrap()
        .inventory;
        let base = Base::new(&inv, "/pb".into());
        let t = Templar::new();
        let facts = HashMap::new();
        let shared = base.shared(&facts, &[], &[]);
        let mut scope = Vars::new();
        scope.insert("greeting".into(), "hi {{ colour }}".into());
        let empty = Vars::new();
        let layers = |vars| Layers {
            defaults: &empty,
            vars,
            facts: None,
            shared: &shared,
            check_mode: false,
        };
        let ctx = base.context(&t, "w1", &layers(&scope));
        let text = serde_json::to_string(&ctx.json).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("\"pw\""),
            "{text}"
        );
        assert_eq!(ctx.json["greeting"], "hi blue");
        assert_eq!(ctx.json["group_names"], serde_json::json!(["web"]));
        let seen = |v: &str| t.template(&serde_json::json!(v), &ctx).unwrap();
        assert_eq!(seen("{{ groups['web'] }}"), serde_json::json!(["w1"]));
        assert_eq!(seen("{{ hostvars['lone']['inventory_hostname'] }}"), "lone");
        // and not copied into each host's own variables (they are as large as the inventory)
        assert!(!ctx.json.contains_key("hostvars") && !ctx.json.contains_key("groups"));
        assert_eq!(
            t.template(&serde_json::json!("{{ hostvars.lone.nope }}"), &ctx),
            Err("'hostvars.lone' has no attribute 'nope'".into())
        );
        let lone = base.context(&t, "lone", &layers(&scope));
        assert_eq!(lone.json["group_names"], serde_json::json!(["ungrouped"]));
    }

    #[test]
    fn precedence_defaults_inventory_vars_facts_extra() {
        let inv = crate::inventory::load_str("hosts", "[web]\nw1 a=inv b=inv c=inv d=inv\n")
            .unwrap()
            .inventory;
        let mut base = Base::new(&inv, "/pb".into());
        base.extra.insert("e".into(), "extra".into());
        base.extra.insert("d".into(), "extra".into());
        let obj = |v: serde_json::Value| v.as_object().cloned().unwrap();
        let defaults = obj(serde_json::json!({"a": "def", "z": "def"}));
        let vars = obj(serde_json::json!({"b": "play", "c": "play", "e": "play"}));
        let facts = obj(serde_json::json!({"c": "fact"}));
        let shared = base.shared(&HashMap::new(), &[], &[]);
        let ctx = base.context(
            &Templar::new(),
            "w1",
            &Layers {
                defaults: &defaults,
                vars: &vars,
                facts: Some(&facts),
                shared: &shared,
                check_mode: true,
            },
        );
        for (k, want) in [
            ("z", "def"),
            ("a", "inv"),
            ("b", "play"),
            ("c", "fact"),
            ("d", "extra"),
            ("e", "extra"),
        ] {
            assert_eq!(ctx.json[k], want, "{k}");
        }
        assert_eq!(ctx.json["ansible_check_mode"], true);
    }
}

#[cfg(test)]
mod lazy_tests {
    use serde_json::json;

    use super::*;

    fn resolved(v: serde_json::Value) -> Context {
        resolve(
            &Templar::new(),
            v.as_object().cloned().unwrap(),
            &Shared::default(),
        )
    }

    #[test]
    fn chains_resolve_in_dependency_order() {
        let c = resolved(json!({
            "e": "{{ d }}!", "d": "{{ c }}d", "c": "{{ b }}c", "b": "{{ a }}b", "a": "a",
            "nested": {"url": "http://{{ host }}:{{ port }}", "list": ["{{ port + 1 }}"]},
            "host": "h", "port": 80, "typed": "{{ [port] }}",
        }));
        assert_eq!(c.json["e"], "abcd!");
        assert_eq!(
            c.json["nested"],
            json!({"url": "http://h:80", "list": [81]})
        );
        assert_eq!(c.json["typed"], json!([80]));
    }

    #[test]
    fn loops_and_broken_references_are_errors_when_used() {
        let c = resolved(json!({
            "a": "{{ b }}", "b": "{{ c }}", "c": "{{ a }}", "me": "{{ me }}x",
            "uses_loop": "{{ a }}", "bad": "{{ nope }}", "ok": "fine",
        }));
        let t = Templar::new();
        let run = |s: &str| t.template(&json!(s), &c);
        assert_eq!(
            run("{{ a }}"),
            Err("recursive loop detected in template: a -> b -> c -> a".into())
        );
        assert_eq!(
            run("x {{ me }}"),
            Err("recursive loop detected in template: me -> me".into())
        );
        assert_eq!(
            run("{{ uses_loop }}"),
            Err("error while resolving 'uses_loop': recursive loop detected in template: a -> b -> c -> a".into())
        );
        assert_eq!(
            run("{{ bad }}"),
            Err("error while resolving 'bad': 'nope' is undefined".into())
        );
        // As with Ansible's lazy templating, a variable that cannot be rendered is
        // undefined to `default` and `is defined`, and harmless when not used.
        assert_eq!(run("{{ bad | default('d') }}"), Ok(json!("d")));
        assert_eq!(run("{{ a is defined }}"), Ok(json!(false)));
        assert_eq!(run("{{ ok }}"), Ok(json!("fine")));
    }
}
