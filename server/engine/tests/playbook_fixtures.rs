//! Real-world playbook shapes (Kubespray/kubeasz-style roles and plays) load and list the way
//! ansible-playbook lists them.

use std::path::PathBuf;

use cairn_engine::inventory;
use cairn_engine::playbook::{self, ListOptions, Options, TagFilter, TaskKind};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

#[test]
fn kubespray_like_site_lists_its_tasks_and_hosts() {
    let path = fixture("kubespray-like/site.yml");
    let loaded =
        playbook::load(&path, &Options::default()).unwrap_or_else(|e| panic!("{}", e.render()));
    let inv = inventory::load(&fixture("kubespray-like/hosts")).unwrap();
    let list = ListOptions {
        inventory: Some(&inv.inventory),
        limit: None,
        tasks: Some(TagFilter::default()),
    };
    let text = playbook::render_listing("site.yml", &loaded.playbook, &list).unwrap();
    assert_eq!(
        text,
        "\nplaybook: site.yml\n\
         \n  play #1 (k8s_cluster:etcd): Gather facts\tTAGS: [always,facts]\n\
         \x20   pattern: ['k8s_cluster:etcd']\n    hosts (3):\n      node1\n      node2\n      node3\n\
         \x20   tasks:\n      Gather minimal facts\tTAGS: [always, facts]\n\
         \n  play #2 (k8s_cluster:etcd): Prepare nodes\tTAGS: []\n\
         \x20   pattern: ['k8s_cluster:etcd']\n    hosts (3):\n      node1\n      node2\n      node3\n\
         \x20   tasks:\n\
         \x20     kubespray-defaults : Set no_proxy to all assigned cluster IPs and hostnames\tTAGS: []\n\
         \x20     os-common : Disable swap\tTAGS: [chrony]\n\
         \x20     chrony : Install chrony\tTAGS: [chrony]\n\
         \x20     chrony : Configure chrony\tTAGS: [chrony]\n\
         \x20     chrony : Check chrony sources\tTAGS: [chrony]\n\
         \x20     ansible.builtin.debug\tTAGS: [chrony]\n\
         \x20     Load br_netfilter\tTAGS: [kernel]\n\
         \x20     Set sysctl\tTAGS: [kernel]\n\
         \x20     Check time sync again\tTAGS: []\n\
         \x20     ansible.builtin.meta\tTAGS: []\n"
    );
}

#[test]
fn tags_and_limit_narrow_the_listing() {
    let path = fixture("kubespray-like/site.yml");
    let loaded = playbook::load(&path, &Options::default()).unwrap();
    let inv = inventory::load(&fixture("kubespray-like/hosts")).unwrap();
    let list = ListOptions {
        inventory: Some(&inv.inventory),
        limit: Some("kube_node"),
        tasks: Some(TagFilter::new(&["debug,chrony".into()], &["kernel".into()])),
    };
    let text = playbook::render_listing("site.yml", &loaded.playbook, &list).unwrap();
    let play2 = text.split("play #2").nth(1).unwrap();
    assert_eq!(
        play2,
        " (k8s_cluster:etcd): Prepare nodes\tTAGS: []\n\
         \x20   pattern: ['k8s_cluster:etcd']\n    hosts (2):\n      node2\n      node3\n\
         \x20   tasks:\n\
         \x20     os-common : Disable swap\tTAGS: [chrony]\n\
         \x20     chrony : Install chrony\tTAGS: [chrony]\n\
         \x20     chrony : Configure chrony\tTAGS: [chrony]\n\
         \x20     chrony : Check chrony sources\tTAGS: [chrony]\n\
         \x20     ansible.builtin.debug\tTAGS: [chrony]\n\
         \x20     Never listed without --tags\tTAGS: [debug, never]\n"
    );
}

#[test]
fn kubespray_like_roles_keep_their_parts() {
    let path = fixture("kubespray-like/site.yml");
    let loaded = playbook::load(&path, &Options::default()).unwrap();
    assert_eq!(loaded.playbook.plays[0].common.vars["facts_subset"], "min");
    let play = &loaded.playbook.plays[1];
    let chrony = &play.roles[1];
    assert_eq!(chrony.common.tags, ["chrony"]);
    assert_eq!(chrony.common.when, ["ntp_enabled"]);
    let role = &chrony.role;
    assert_eq!(role.defaults["local_network"], "0.0.0.0/0");
    assert_eq!(role.vars["chrony_conf"], "/etc/chrony/chrony.conf");
    assert_eq!(role.dependencies[0].name, "os-common");
    assert!(
        role.templates_dir
            .as_ref()
            .unwrap()
            .ends_with("chrony/templates")
    );
    assert_eq!(role.handlers[0].listen, ["restart chrony"]);
    assert_eq!(role.tasks[1].notify, ["restart chrony"]);
    let TaskKind::ImportTasks { file, tasks } = &role.tasks[2].kind else {
        panic!("{:?}", role.tasks[2].kind)
    };
    assert_eq!(file, "check.yml");
    assert_eq!(tasks[0].location.line, 1);
    assert!(
        tasks[0]
            .location
            .file
            .ends_with("roles/chrony/tasks/check.yml")
    );
    let TaskKind::Block {
        block,
        rescue,
        always,
    } = &play.tasks[0].kind
    else {
        panic!()
    };
    assert_eq!((block.len(), rescue.len(), always.len()), (2, 1, 1));
    assert!(matches!(&play.tasks[1].kind, TaskKind::IncludeRole { name, .. } if name == "chrony"));
}
