//! `cairn play` without a lab: checking and listing playbooks, positioned errors, and the
//! a run refused before anything is attempted when its input is incomplete.

use std::process::{Command, Output};

fn cairn(args: &[&str], dir: &std::path::Path) -> Output {
    Command::new(cairn_tests::cairn_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run cairn")
}

fn fixture() -> std::path::PathBuf {
    cairn_tests::repo_root().join("server/engine/tests/fixtures/kubespray-like")
}

fn out(o: &Output) -> (Option<i32>, String, String) {
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn syntax_check_and_listings() {
    let (code, stdout, stderr) = out(&cairn(&["play", "site.yml", "--syntax-check"], &fixture()));
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (Some(0), "\nplaybook: site.yml\n", "")
    );

    let o = cairn(
        &[
            "play",
            "site.yml",
            "-i",
            "hosts",
            "--list-hosts",
            "--list-tasks",
        ],
        &fixture(),
    );
    let (code, stdout, stderr) = out(&o);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(
            "  play #2 (k8s_cluster:etcd): Prepare nodes\tTAGS: []\n    pattern: ['k8s_cluster:etcd']\n    hosts (3):\n      node1\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("      chrony : Install chrony\tTAGS: [chrony]\n"),
        "{stdout}"
    );
}

#[test]
fn a_run_needs_an_inventory() {
    let (code, stdout, stderr) = out(&cairn(&["play", "site.yml"], &fixture()));
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: running a playbook needs an inventory: add -i INVENTORY or --config cluster.yaml\n"
    );
    let (code, _, stderr) = out(&cairn(
        &["play", "site.yml", "-i", "hosts", "-e", "novalue"],
        &fixture(),
    ));
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: -e \"novalue\": \"novalue\" is not key=value; write -e key=value, -e '{\"key\": ...}' or -e @file.yml\n"
    );
    let (code, _, stderr) = out(&cairn(&["play", "site.yml", "--list-hosts"], &fixture()));
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("--list-hosts needs an inventory"),
        "{stderr}"
    );
}

#[test]
fn errors_point_at_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("cairn-cli-play-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("bad.yml"),
        "- hosts: all\n  tasks:\n    - name: install\n      copyy: src=a dest=b\n",
    )
    .unwrap();
    let (code, stdout, stderr) = out(&cairn(&["play", "bad.yml", "--syntax-check"], &dir));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    assert_eq!(
        stderr,
        "error: unknown module `copyy`\n --> bad.yml:4:7\n  |\n4 |       copyy: src=a dest=b\n  |       ^^^^^ not a module Cairn knows\n  = help: did you mean `copy`?\n\n"
    );
}
