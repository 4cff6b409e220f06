//! `cairn inventory`: load and validate an inventory, then show what Cairn understood.

use super::hosts::InventoryArgs;
use super::{EXIT_OK, EXIT_USAGE};
use cairn_engine::inventory::{self, Format, Inventory};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub source: InventoryArgs,

    /// Print everything as JSON, in the shape of `ansible-inventory --list`.
    #[arg(long, conflicts_with_all = ["graph", "host"])]
    pub list: bool,

    /// Print the group tree, like `ansible-inventory --graph`.
    #[arg(long, conflicts_with = "host")]
    pub graph: bool,

    /// Print the merged variables of one host as JSON.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let path = args.source.path();
    let loaded = match args.source.load() {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let inv = &loaded.inventory;
    if let Some(h) = &args.host {
        if !inv.hosts.contains_key(h) {
            eprintln!("error: no host named {h:?} in {}", path.display());
            return Ok(EXIT_USAGE);
        }
        println!("{}", serde_json::to_string_pretty(&inv.host_vars(h))?);
    } else if args.list {
        println!("{}", serde_json::to_string_pretty(&list_json(inv))?);
    } else if args.graph {
        print!("{}", graph(inv, inventory::ALL, 0));
    } else {
        print!(
            "{}",
            summary(inv, loaded.format, &path.display().to_string())
        );
    }
    Ok(EXIT_OK)
}

fn summary(inv: &Inventory, format: Format, name: &str) -> String {
    let kind = match format {
        Format::Cluster => "Cairn cluster.yaml",
        Format::AnsibleYaml => "Ansible YAML inventory",
        Format::AnsibleIni => "Ansible INI inventory",
    };
    let mut out = format!("{name}: {kind}, {} hosts\n", inv.hosts.len());
    for host in inv.hosts.keys() {
        let target = match inv.target(host) {
            Ok(t) => format!("{}@{}:{}", t.user, t.address, t.port),
            Err(e) => format!("cannot be reached as configured: {e}"),
        };
        out.push_str(&format!(
            "  {host:20} {target:32} {}\n",
            inv.groups_of(host).join(",")
        ));
    }
    out
}

fn graph(inv: &Inventory, group: &str, depth: usize) -> String {
    let pad = "  |".repeat(depth);
    let mut out = format!("{pad}--@{group}:\n");
    if let Some(g) = inv.groups.get(group) {
        for child in &g.children {
            out.push_str(&graph(inv, child, depth + 1));
        }
        for h in &g.hosts {
            out.push_str(&format!("{pad}  |--{h}\n"));
        }
    }
    out
}

fn list_json(inv: &Inventory) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let mut root = Map::new();
    let mut hostvars = Map::new();
    for h in inv.hosts.keys() {
        hostvars.insert(h.clone(), Value::Object(inv.host_vars(h)));
    }
    root.insert("_meta".into(), json!({ "hostvars": hostvars }));
    for (name, g) in &inv.groups {
        let mut e = Map::new();
        if !g.hosts.is_empty() {
            e.insert("hosts".into(), json!(g.hosts));
        }
        if !g.children.is_empty() {
            e.insert("children".into(), json!(g.children));
        }
        root.insert(name.clone(), Value::Object(e));
    }
    Value::Object(root)
}
