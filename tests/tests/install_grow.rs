//! Growing a cluster's etcd from one member to three by adding hosts to cluster.yaml and
//! re-running `cairn install` (the etcd role's membership flow: `member add` on the running
//! member, the new ones start with state `existing`, one at a time):
//!
//! 1. lab51 alone is installed: a one-member cluster; a key is written;
//! 2. lab52 and lab53 are added to the `etcd` role: both join (three started members, all
//!    healthy, the key readable from lab53), and lab51's etcd is not restarted (same process:
//!    its files did not change);
//! 3. a third install changes nothing.
//!
//! Host use: lab51, lab52, lab53 (cleaned before and after).

use cairn_tests::installed::{CleanOnDrop, clean, install_json, lab_bundle};
use cairn_tests::{BRIDGE, Lab, free_tcp_port, free_udp_port, scratch};
use std::path::{Path, PathBuf};
use std::time::Instant;

const HOSTS: [&str; 3] = ["lab51", "lab52", "lab53"];
const ETCDCTL: &str = "ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 \
     --cacert /etc/etcd/pki/ca.crt --cert /etc/etcd/pki/client.crt --key /etc/etcd/pki/client.key";

/// cluster.yaml with `hosts`, all of them etcd members.
fn config(lab: &Lab, dir: &Path, bundle: &Path, ports: (u16, u16), hosts: &[&str]) -> PathBuf {
    let mut y = format!(
        "apiVersion: cairn/v1\nkind: Cluster\nname: grow\ndefaults:\n  user: root\n  \
         auth: {{ key: {}, agent: false }}\nhosts:\n",
        lab.key("id_ed25519").display()
    );
    for h in hosts {
        y.push_str(&format!(
            "  - {{ name: {h}, address: {} }}\n",
            lab.address(h)
        ));
    }
    y.push_str(&format!(
        "roles:\n  etcd: [{}]\ninstaller: {{ address: {BRIDGE}, port: {}, ntp_port: {} }}\n\
         bundle: {}\n",
        hosts.join(", "),
        ports.0,
        ports.1,
        bundle.display()
    ));
    let p = dir.join("cluster.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

#[test]
fn etcd_grows_from_one_member_to_three() {
    let lab = Lab::from_env();
    let dir = scratch("install-grow");
    clean(&lab, &HOSTS);
    let _guard = CleanOnDrop {
        lab: lab.clone(),
        hosts: HOSTS.to_vec(),
    };
    let (bundle, _) = lab_bundle(&dir);
    let state = dir.join("state");
    let ports = (free_tcp_port(BRIDGE), free_udp_port(BRIDGE));

    // 1. One member.
    let one = config(&lab, &dir, &bundle, ports, &HOSTS[..1]);
    let t = Instant::now();
    let first = install_json(&lab, &state, &one, &[], None, &dir.join("1-one"));
    eprintln!("one member installed in {:?}", t.elapsed());
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    let put = lab.ssh_stdout("lab51", &format!("{ETCDCTL} put cairn-grow one 2>&1"));
    assert_eq!(put.trim(), "OK");
    let pid = |h: &str| lab.ssh_stdout(h, "systemctl show -p MainPID --value etcd");
    let pid_before = pid("lab51");

    // 2. Two more.
    let three = config(&lab, &dir, &bundle, ports, &HOSTS);
    let t = Instant::now();
    let grown = install_json(&lab, &state, &three, &[], None, &dir.join("2-three"));
    eprintln!("two members added in {:?}", t.elapsed());
    assert_eq!(grown.code, Some(0), "{}", grown.stderr);
    let members = lab.ssh_stdout("lab51", &format!("{ETCDCTL} member list 2>&1"));
    assert_eq!(
        members
            .lines()
            .filter(|l| l.contains(", started, "))
            .count(),
        3,
        "{members}"
    );
    let health = lab.ssh_stdout(
        "lab53",
        &format!("{ETCDCTL} endpoint health --cluster 2>&1"),
    );
    assert_eq!(health.matches("is healthy").count(), 3, "{health}");
    let got = lab.ssh_stdout(
        "lab53",
        &format!("{ETCDCTL} get --print-value-only cairn-grow"),
    );
    assert_eq!(got.trim(), "one");
    assert_eq!(pid("lab51"), pid_before, "lab51's etcd was restarted");
    // The membership changes ran once, on the running member.
    let added: Vec<String> = grown
        .results()
        .filter(|r| {
            r["task"] == "etcd : Add the new member to the cluster's members"
                && r["outcome"] == "changed"
        })
        .map(|r| format!("{} -> {}", r["host"], r["task"]))
        .collect();
    assert_eq!(added.len(), 2, "{added:?}");

    // 3. Nothing to do.
    let again = install_json(&lab, &state, &three, &[], None, &dir.join("3-again"));
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    let changed: Vec<String> = again
        .results()
        .filter(|r| r["outcome"] == "changed")
        .map(|r| format!("{} {}", r["host"], r["task"]))
        .collect();
    assert_eq!(changed, Vec::<String>::new());
}
