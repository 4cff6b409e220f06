//! The inventory every format loads into: hosts, groups, variables.
//!
//! Owns the `Inventory` model (Ansible's: hosts, groups with child groups, the implicit `all`
//! and `ungrouped` groups) and the questions asked of it: which variables a host sees and in
//! what order they override each other, which groups a host is in, which hosts a group has.
//! Must not: parse files (the format modules do) or resolve secrets (the transport does).

use indexmap::IndexMap;
use serde_json::Value;

/// Variables: names to JSON values, in the order they were written.
pub type Vars = serde_json::Map<String, Value>;

/// The group every host and every group is in.
pub const ALL: &str = "all";
/// The group of hosts that are in no other group.
pub const UNGROUPED: &str = "ungrouped";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Host {
    pub name: String,
    /// Variables given in the inventory source itself (an INI host line, a YAML host entry,
    /// a cluster.yaml host).
    pub vars: Vars,
    /// Variables from `host_vars/NAME` beside the inventory. Kept apart from `vars` because
    /// Ansible ranks them differently (see [`Inventory::host_vars`]).
    pub dir_vars: Vars,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub name: String,
    /// Hosts listed directly in this group, in the order the inventory lists them.
    pub hosts: Vec<String>,
    /// Child groups, in the order the inventory lists them.
    pub children: Vec<String>,
    /// Variables given in the inventory source (`[g:vars]`, a YAML group's `vars:`).
    pub vars: Vars,
    /// Variables from `group_vars/NAME` beside the inventory.
    pub dir_vars: Vars,
}

/// Hosts and groups. `all` and `ungrouped` always exist; after loading, every group is a
/// descendant of `all` and every host that is in no other group is in `ungrouped`.
#[derive(Clone, Debug, PartialEq)]
pub struct Inventory {
    /// In the order the inventory defines them.
    pub hosts: IndexMap<String, Host>,
    /// In the order the inventory defines them, `all` and `ungrouped` first.
    pub groups: IndexMap<String, Group>,
}

impl Default for Inventory {
    fn default() -> Self {
        Self::new()
    }
}

impl Inventory {
    /// An inventory with only `all` and its child `ungrouped`, as Ansible starts.
    pub fn new() -> Self {
        let mut inventory = Inventory {
            hosts: IndexMap::new(),
            groups: IndexMap::new(),
        };
        inventory.add_group(ALL);
        inventory.add_group(UNGROUPED);
        inventory.groups[ALL].children.push(UNGROUPED.to_string());
        inventory
    }

    /// The group `name`, created empty if it does not exist yet.
    pub fn add_group(&mut self, name: &str) -> &mut Group {
        self.groups
            .entry(name.to_string())
            .or_insert_with(|| Group {
                name: name.to_string(),
                ..Group::default()
            })
    }

    /// The host `name`, created if needed, made a member of `group` (created if needed).
    pub fn add_host(&mut self, name: &str, group: &str) -> &mut Host {
        // A host new to the inventory is in no group yet: no need to look (a range of 100 000
        // hosts would otherwise cost 100 000² comparisons).
        let known = self.hosts.contains_key(name);
        let g = self.add_group(group);
        if !known || !g.hosts.iter().any(|h| h == name) {
            g.hosts.push(name.to_string());
        }
        self.hosts.entry(name.to_string()).or_insert_with(|| Host {
            name: name.to_string(),
            ..Host::default()
        })
    }

    /// Make `child` a child group of `parent` (both created if needed). Refuses a loop, which
    /// would make variable precedence and host lists undefined; the error says which groups.
    pub fn add_child(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if parent == child || self.descendants(child).iter().any(|g| g == parent) {
            return Err(format!(
                "group \"{child}\" cannot be a child of \"{parent}\": \"{parent}\" is already inside \"{child}\", which would make a loop"
            ));
        }
        self.add_group(child);
        let p = self.add_group(parent);
        if !p.children.iter().any(|c| c == child) {
            p.children.push(child.to_string());
        }
        Ok(())
    }

    /// Finish loading the way Ansible does: groups without a parent become children of `all`,
    /// hosts in no group but `all`/`ungrouped` go to `ungrouped`, and hosts that are in some
    /// other group leave `ungrouped`.
    pub fn reconcile(&mut self) {
        let orphans: Vec<String> = self
            .groups
            .keys()
            .filter(|g| *g != ALL && self.parents(g).is_empty())
            .cloned()
            .collect();
        for g in orphans {
            self.groups[ALL].children.push(g);
        }
        // One pass over the groups' lists (sets, not a search per host: linear in hosts).
        let grouped: std::collections::HashSet<&str> = self
            .groups
            .values()
            .filter(|g| g.name != ALL && g.name != UNGROUPED)
            .flat_map(|g| g.hosts.iter().map(String::as_str))
            .collect();
        let listed: std::collections::HashSet<&str> = self.groups[UNGROUPED]
            .hosts
            .iter()
            .filter(|h| !grouped.contains(h.as_str()))
            .map(String::as_str)
            .collect();
        // Ungrouped: those it listed that are in no other group (in their order), then the
        // other hosts in no group (in the inventory's order).
        let mut ungrouped: Vec<String> = self.groups[UNGROUPED]
            .hosts
            .iter()
            .filter(|h| listed.contains(h.as_str()))
            .cloned()
            .collect();
        ungrouped.extend(
            self.hosts
                .keys()
                .filter(|h| !grouped.contains(h.as_str()) && !listed.contains(h.as_str()))
                .cloned(),
        );
        self.groups[UNGROUPED].hosts = ungrouped;
    }

    /// Groups that list `group` among their children.
    pub fn parents(&self, group: &str) -> Vec<&str> {
        self.groups
            .values()
            .filter(|g| g.children.iter().any(|c| c == group))
            .map(|g| g.name.as_str())
            .collect()
    }

    /// Child groups of `group`, recursively, breadth first, each once.
    fn descendants(&self, group: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut level: Vec<String> = vec![group.to_string()];
        while !level.is_empty() {
            let mut next = Vec::new();
            for g in &level {
                for c in self
                    .groups
                    .get(g)
                    .map(|g| g.children.as_slice())
                    .unwrap_or(&[])
                {
                    if c != group && !out.contains(c) {
                        out.push(c.clone());
                        next.push(c.clone());
                    }
                }
            }
            level = next;
        }
        out
    }

    /// Ansible's group depth: the longest chain of parents up to `all` (which is 0).
    fn depth(&self, group: &str) -> usize {
        self.parents(group)
            .into_iter()
            .map(|p| self.depth(p) + 1)
            .max()
            .unwrap_or(0)
    }

    /// `ansible_group_priority` (default 1), which orders groups of equal depth before their
    /// names do. Like Ansible, only the inventory's own group vars can set it.
    fn priority(&self, group: &str) -> i64 {
        let value = self
            .groups
            .get(group)
            .and_then(|g| g.vars.get("ansible_group_priority"));
        match value {
            Some(Value::Number(n)) => n.as_i64().unwrap_or(1),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(1),
            _ => 1,
        }
    }

    /// Every group `host` is in, directly or through a child group, `all` included.
    fn all_groups_of(&self, host: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let mut todo: Vec<&str> = self
            .groups
            .values()
            .filter(|g| g.hosts.iter().any(|h| h == host))
            .map(|g| g.name.as_str())
            .collect();
        while let Some(g) = todo.pop() {
            if !out.contains(&g) {
                out.push(g);
                todo.extend(self.parents(g));
            }
        }
        if self.hosts.contains_key(host) && !out.contains(&ALL) {
            out.push(ALL);
        }
        out
    }

    /// The groups a host is in, directly or through child groups, sorted by name, without
    /// `all` and `ungrouped`. This is Ansible's `group_names` except that Ansible keeps
    /// `ungrouped` in it; a playbook-facing `group_names` must add it back for such hosts.
    pub fn groups_of(&self, host: &str) -> Vec<String> {
        let mut groups: Vec<String> = self
            .all_groups_of(host)
            .into_iter()
            .filter(|g| *g != ALL && *g != UNGROUPED)
            .map(str::to_string)
            .collect();
        groups.sort();
        groups
    }

    /// The hosts of `group` and of its child groups, recursively, each once: the group's own
    /// hosts in the order the inventory lists them, then its children's, breadth first,
    /// children in the order they are listed (Ansible's order, which subscripts like
    /// `web[0]` index into). `all` lists every host in the order the inventory defines them.
    /// An unknown group has no hosts.
    pub fn group_hosts(&self, group: &str) -> Vec<String> {
        if group == ALL {
            return self.hosts.keys().cloned().collect();
        }
        if !self.groups.contains_key(group) {
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let groups = std::iter::once(group.to_string()).chain(self.descendants(group));
        for g in groups {
            for h in &self.groups[&g].hosts {
                if seen.insert(h.as_str()) {
                    out.push(h.clone());
                }
            }
        }
        out
    }

    /// The variables `host` sees, merged the way Ansible merges inventory variables (with its
    /// default `hash_behaviour = replace`: a later source replaces a whole top-level value,
    /// dictionaries are not merged). From weakest to strongest:
    ///
    /// 1. `all`'s variables from the inventory source (`[all:vars]`, `all: vars:`,
    ///    cluster.yaml's `vars:`);
    /// 2. the inventory source's variables of every other group the host is in (directly or
    ///    through child groups, `ungrouped` included), parents before children: ordered by
    ///    depth (distance from `all`, longest chain), then `ansible_group_priority` (default
    ///    1, higher wins), then name, so a child group overrides its parent and, at equal
    ///    depth, `b` overrides `a`;
    /// 3. `group_vars/all`;
    /// 4. `group_vars/<group>` for the same groups in the same order;
    /// 5. the host's own variables from the inventory source;
    /// 6. `host_vars/<host>`.
    ///
    /// Note what 3 and 4 imply, as in Ansible: `group_vars/all` beats a `[web:vars]` line.
    /// An unknown host sees nothing.
    pub fn host_vars(&self, host: &str) -> Vars {
        let Some(h) = self.hosts.get(host) else {
            return Vars::new();
        };
        let mut groups: Vec<&str> = self
            .all_groups_of(host)
            .into_iter()
            .filter(|g| *g != ALL)
            .collect();
        groups.sort_by_cached_key(|g| (self.depth(g), self.priority(g), g.to_string()));
        let all = &self.groups[ALL];

        let mut merged = Vars::new();
        let mut layer = |vars: &Vars| {
            for (k, v) in vars {
                merged.insert(k.clone(), v.clone());
            }
        };
        layer(&all.vars);
        for g in &groups {
            layer(&self.groups[*g].vars);
        }
        layer(&all.dir_vars);
        for g in &groups {
            layer(&self.groups[*g].dir_vars);
        }
        layer(&h.vars);
        layer(&h.dir_vars);
        merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(v: Value) -> Vars {
        v.as_object().unwrap().clone()
    }

    /// all → web → {nginx → edge}, all → db; h1 in edge and db, h2 in web, h3 nowhere.
    fn sample() -> Inventory {
        let mut inv = Inventory::new();
        inv.add_host("h1", "edge");
        inv.add_host("h2", "web");
        inv.add_host("h1", "db");
        inv.add_host("h3", UNGROUPED);
        inv.add_child("web", "nginx").unwrap();
        inv.add_child("nginx", "edge").unwrap();
        inv.reconcile();
        inv
    }

    #[test]
    fn implicit_groups() {
        let inv = sample();
        // Only groups without a parent hang off `all`.
        assert_eq!(inv.groups[ALL].children, ["ungrouped", "web", "db"]);
        assert_eq!(inv.parents("edge"), ["nginx"]);
        assert_eq!(inv.groups[UNGROUPED].hosts, ["h3"]);
    }

    #[test]
    fn groups_of_is_sorted_without_all_and_ungrouped() {
        let inv = sample();
        assert_eq!(inv.groups_of("h1"), ["db", "edge", "nginx", "web"]);
        assert_eq!(inv.groups_of("h3"), Vec::<String>::new());
        assert_eq!(inv.groups_of("nope"), Vec::<String>::new());
    }

    #[test]
    fn group_hosts_recurse_in_order_without_duplicates() {
        let mut inv = sample();
        inv.add_host("h4", "web");
        inv.add_host("h1", "web");
        assert_eq!(inv.group_hosts("web"), ["h2", "h4", "h1"]);
        assert_eq!(inv.group_hosts("nginx"), ["h1"]);
        assert_eq!(inv.group_hosts(ALL), ["h1", "h2", "h3", "h4"]);
        assert_eq!(inv.group_hosts("missing"), Vec::<String>::new());
    }

    #[test]
    fn loops_are_refused() {
        let mut inv = sample();
        assert_eq!(
            inv.add_child("edge", "web").unwrap_err(),
            "group \"web\" cannot be a child of \"edge\": \"edge\" is already inside \"web\", which would make a loop"
        );
        assert!(inv.add_child("db", "db").is_err());
    }

    #[test]
    fn var_precedence() {
        let mut inv = sample();
        // Every layer sets `from`; removing layers from the strongest down shows the order.
        inv.groups[ALL].vars = vars(json!({"from": "all", "k_all": 1}));
        inv.groups["web"].vars = vars(json!({"from": "web", "k_web": 1}));
        inv.groups["nginx"].vars = vars(json!({"from": "nginx"}));
        inv.groups["edge"].vars = vars(json!({"from": "edge"}));
        inv.groups["db"].vars = vars(json!({"from": "db"}));
        inv.hosts["h1"].vars = vars(json!({"from": "host"}));
        let v = inv.host_vars("h1");
        assert_eq!(v["from"], "host");
        assert_eq!(v["k_all"], 1);
        assert_eq!(v["k_web"], 1);

        // Without host vars: edge (depth 3) beats nginx (2), web and db (1).
        inv.hosts["h1"].vars.clear();
        assert_eq!(inv.host_vars("h1")["from"], "edge");
        inv.groups["edge"].vars.clear();
        assert_eq!(inv.host_vars("h1")["from"], "nginx");
        inv.groups["nginx"].vars.clear();
        // web and db are both depth 1: names order them, db < web, so web wins...
        assert_eq!(inv.host_vars("h1")["from"], "web");
        // ...unless db has a higher priority.
        inv.groups["db"]
            .vars
            .insert("ansible_group_priority".into(), json!("5"));
        assert_eq!(inv.host_vars("h1")["from"], "db");
        inv.groups["db"].vars.clear();
        inv.groups["web"].vars.clear();
        assert_eq!(inv.host_vars("h1")["from"], "all");
    }

    #[test]
    fn dir_vars_rank_above_all_inventory_group_vars() {
        let mut inv = sample();
        inv.groups["edge"].vars = vars(json!({"x": "edge inventory", "y": "edge inventory"}));
        inv.groups[ALL].dir_vars = vars(json!({"x": "group_vars/all"}));
        inv.groups["web"].dir_vars = vars(json!({"y": "group_vars/web", "z": "group_vars/web"}));
        inv.groups["edge"].dir_vars = vars(json!({"z": "group_vars/edge"}));
        inv.hosts["h1"].vars = vars(json!({"h": "inventory", "d": "inventory"}));
        inv.hosts["h1"].dir_vars = vars(json!({"d": "host_vars"}));
        let v = inv.host_vars("h1");
        assert_eq!(v["x"], "group_vars/all");
        assert_eq!(v["y"], "group_vars/web");
        assert_eq!(v["z"], "group_vars/edge");
        assert_eq!(v["h"], "inventory");
        assert_eq!(v["d"], "host_vars");
        // Replace, not merge: a dict in a stronger layer replaces the weaker dict whole.
        inv.groups[ALL].vars = vars(json!({"m": {"a": 1, "b": 2}}));
        inv.hosts["h1"].vars = vars(json!({"m": {"a": 9}}));
        assert_eq!(inv.host_vars("h1")["m"], json!({"a": 9}));
        assert_eq!(inv.host_vars("unknown"), Vars::new());
    }

    #[test]
    fn ungrouped_vars_apply_to_ungrouped_hosts() {
        let mut inv = sample();
        inv.groups[UNGROUPED].vars = vars(json!({"u": 1}));
        assert_eq!(inv.host_vars("h3")["u"], 1);
        assert!(!inv.host_vars("h1").contains_key("u"));
    }
}
