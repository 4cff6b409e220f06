//! The `cairn` binary against lab hosts: ping, exec, host key handling, faults, exit codes.
//!
//! Host use: lab1–lab3 ordinary work; lab7 network cut (no other test touches it).

use cairn_tests::{Lab, cairn_bin, scratch};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn lab() -> Lab {
    Lab::from_env()
}

/// A cluster.yaml for `hosts`, written by the lab itself.
fn cluster_yaml(dir: &Path, hosts: &[&str]) -> std::path::PathBuf {
    let lab = lab();
    let mut y = String::from("apiVersion: cairn/v1\nkind: Cluster\nname: lab\nhosts:\n");
    for h in hosts {
        y.push_str(&format!(
            "  - name: {h}\n    address: {}\n    user: root\n    auth:\n      key: {}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    y.push_str(&format!("roles:\n  etcd: [{}]\n", hosts[0]));
    let p = dir.join("cluster.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

fn cairn(args: &[&str]) -> Output {
    Command::new(cairn_bin())
        .args(args)
        .output()
        .expect("run cairn")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn ping_every_host_with_the_labs_known_keys() {
    let lab = lab();
    let dir = scratch("cli-ping");
    let cfg = cluster_yaml(&dir, &["lab1", "lab2", "lab3"]);
    let kh = lab.known_hosts.to_str().unwrap();
    let o = cairn(&[
        "ping",
        "--config",
        cfg.to_str().unwrap(),
        "--known-hosts",
        kh,
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    for h in ["lab1", "lab2", "lab3"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(h))
            .unwrap_or_else(|| panic!("{h}: {out}"));
        assert!(
            line.contains(" ok ") && line.contains("user root"),
            "{line}"
        );
    }
    assert!(out.ends_with("3 ok, 0 failed, 0 unreachable\n"), "{out}");

    // --limit with a pattern.
    let o = cairn(&[
        "ping",
        "--config",
        cfg.to_str().unwrap(),
        "--known-hosts",
        kh,
        "-l",
        "~lab[12]:!lab1",
    ]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out.starts_with("lab2 ") && out.ends_with("1 ok, 0 failed, 0 unreachable\n"),
        "{out}"
    );
}

#[test]
fn host_keys_strict_by_default_then_accepted_and_kept_in_the_state_dir() {
    let dir = scratch("cli-tofu");
    let cfg = cluster_yaml(&dir, &["lab2", "lab3"]);
    let state = dir.join("state");
    let base = [
        "ping",
        "--config",
        cfg.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];

    let o = cairn(&base);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(
            "lab2: host key for 10.213.0.12 is not known: the server presented ssh-ed25519 SHA256:"
        ),
        "{out}"
    );
    assert!(out.contains("--accept-new-host-keys"), "{out}");
    assert!(!state.join("known_hosts").exists());

    let o = cairn(&[&base[..], &["--accept-new-host-keys"]].concat());
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let kh = std::fs::read_to_string(state.join("known_hosts")).unwrap();
    assert_eq!(kh.lines().count(), 2, "{kh}");

    let o = cairn(&base);
    assert_eq!(o.status.code(), Some(0), "now known: {:?}", text(&o));
}

#[test]
fn exec_runs_everywhere_and_reports_failures() {
    let lab = lab();
    let dir = scratch("cli-exec");
    let cfg = cluster_yaml(&dir, &["lab1", "lab2"]);
    let kh = lab.known_hosts.to_str().unwrap();
    let o = cairn(&[
        "exec",
        "--config",
        cfg.to_str().unwrap(),
        "--known-hosts",
        kh,
        "echo hi from $(hostname)",
    ]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("lab1 | SUCCESS | rc=0 | ") && out.contains("hi from lab1\n"),
        "{out}"
    );
    assert!(out.contains("hi from lab2\n"), "{out}");

    let o = cairn(&[
        "exec",
        "--config",
        cfg.to_str().unwrap(),
        "--known-hosts",
        kh,
        "-l",
        "lab2",
        "echo oops >&2; exit 7",
    ]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.starts_with("lab2 | FAILED | rc=7 | "), "{out}");
    assert!(out.contains("[stderr] oops\n"), "{out}");

    // An Ansible INI inventory, logging in as the unprivileged user and becoming root.
    let ini = dir.join("hosts.ini");
    std::fs::write(
        &ini,
        format!(
            "[web]\nlab1 ansible_host={}\n\n[web:vars]\nansible_user=cairn\nansible_ssh_private_key_file={}\n",
            lab.address("lab1"),
            lab.key("id_ed25519").display()
        ),
    )
    .unwrap();
    let o = cairn(&[
        "exec",
        "-i",
        ini.to_str().unwrap(),
        "--known-hosts",
        kh,
        "--become",
        "id -un",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("lab1 | SUCCESS | rc=0 | ") && out.contains(">>\nroot\n"),
        "{out}"
    );

    // cluster.yaml's `become: true` applies without --become (like ansible_become).
    let cfg2 = dir.join("become.yaml");
    std::fs::write(
        &cfg2,
        format!(
            "apiVersion: cairn/v1\nkind: Cluster\nname: lab\nhosts:\n  - name: lab2\n    address: {}\n    user: cairn\n    become: true\n    auth:\n      key: {}\n",
            lab.address("lab2"),
            lab.key("id_ed25519").display()
        ),
    )
    .unwrap();
    let o = cairn(&[
        "exec",
        "--config",
        cfg2.to_str().unwrap(),
        "--known-hosts",
        kh,
        "id -un",
    ]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains(">>\nroot\n"), "{out}");

    // A command timeout.
    let o = cairn(&[
        "exec",
        "--config",
        cfg.to_str().unwrap(),
        "--known-hosts",
        kh,
        "-l",
        "lab1",
        "-T",
        "1",
        "sleep 5",
    ]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(
        out.contains("lab1 | UNREACHABLE! => lab1: timed out after 1.0s waiting for the command"),
        "{out}"
    );
}

#[test]
fn a_cut_host_is_unreachable_within_the_timeout_and_the_others_answer() {
    let lab = lab();
    assert!(
        lab.hosts.iter().any(|h| h == "lab7"),
        "this test needs lab7: scripts/lab up 7"
    );
    let dir = scratch("cli-cut");
    let cfg = cluster_yaml(&dir, &["lab1", "lab2", "lab7"]);
    lab.script(&["fail", "lab7", "net"]);
    let started = Instant::now();
    let o = cairn(&[
        "ping",
        "--config",
        cfg.to_str().unwrap(),
        "--known-hosts",
        lab.known_hosts.to_str().unwrap(),
        "--connect-timeout",
        "3",
    ]);
    let took = started.elapsed();
    lab.script(&["heal", "lab7"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("lab7  UNREACHABLE  lab7: ")),
        "{out}"
    );
    assert!(out.ends_with("2 ok, 0 failed, 1 unreachable\n"), "{out}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

#[test]
fn inventory_errors_point_at_the_line_and_nothing_is_attempted() {
    let dir = scratch("cli-bad");
    let cfg = dir.join("cluster.yaml");
    std::fs::write(
        &cfg,
        "apiVersion: cairn/v1\nkind: Cluster\nname: lab\nhosts:\n  - name: lab1\n    address: 10.213.0.11\nroles:\n  etcd: [lab1, node4]\n",
    )
    .unwrap();
    let o = cairn(&["ping", "--config", cfg.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.is_empty(), "{out}");
    assert!(
        err.starts_with("error: unknown host \"node4\" in roles.etcd\n"),
        "{err}"
    );
    assert!(
        err.contains(&format!("--> {}:8:16", cfg.display())),
        "{err}"
    );
    assert!(err.contains("8 |   etcd: [lab1, node4]\n"), "{err}");
    assert!(err.contains("^^^^^"), "{err}");
}
