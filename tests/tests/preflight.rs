//! `cairn preflight` against real lab hosts: a clean lab passes with only honest
//! "skipped: container" entries, and each failure mode, provoked for real inside a host, is
//! caught with the right value: a tiny tmpfs on /var/lib/etcd, a listener on 2379 (named),
//! a duplicate hostname, a wrong OS release (os-release and debian_version), a repository blocked for one host.
//!
//! Host use: lab4, lab5, lab6 (changed and restored: a tmpfs mount, a transient listener unit,
//! the hostname, a bind mount over os-release, an `ip rule`). Everything is undone by a guard,
//! even when an assertion fails.

use cairn_protocol::PreflightCheck;
use cairn_tests::{Lab, cairn_bin, scratch};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

const HOSTS: [&str; 3] = ["lab4", "lab5", "lab6"];

/// Undo every provocation, whatever happened.
struct Restore<'a>(&'a Lab, u16);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let lab = self.0;
        lab.ssh_stdout("lab4",
            "umount /var/lib/etcd 2>/dev/null; rmdir /var/lib/etcd 2>/dev/null; systemctl stop cairn-pf-listen 2>/dev/null; systemctl reset-failed cairn-pf-listen 2>/dev/null; true",
        );
        lab.ssh_stdout(
            "lab5",
            &format!(
                "hostname lab5; ip rule del to 10.213.0.1 dport {} prohibit 2>/dev/null; true",
                self.1
            ),
        );
        lab.ssh_stdout(
            "lab6",
            "umount /usr/lib/os-release 2>/dev/null; umount /etc/debian_version 2>/dev/null; true",
        );
    }
}

/// A tiny HTTP server on the controller's lab address: the "installer's repo".
fn repo_server() -> u16 {
    let l = TcpListener::bind("10.213.0.1:0").expect("bind on the lab bridge");
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        }
    });
    port
}

fn preflight(
    dir: &Path,
    lab: &Lab,
    port: u16,
    extra: &[&str],
) -> (Option<i32>, Vec<PreflightCheck>, String) {
    let mut yaml = String::from("apiVersion: cairn/v1\nkind: Cluster\nname: pf\nhosts:\n");
    for h in HOSTS {
        yaml.push_str(&format!(
            "  - {{ name: {h}, address: {}, user: root, auth: {{ key: {} }} }}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    yaml.push_str("roles:\n  etcd: [lab4, lab5, lab6]\n");
    let cfg = dir.join("cluster.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let url = format!("http://10.213.0.1:{port}/repo/deb/Release");
    let o = Command::new(cairn_bin())
        .args(["preflight", "--config", cfg.to_str().unwrap()])
        .args(["--known-hosts", lab.known_hosts.to_str().unwrap()])
        .args(["--repo-url", &url, "--json"])
        .args(extra)
        .env("CAIRN_STATE_DIR", dir.join("state"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}\n{err}"));
    let checks = serde_json::from_value(v["checks"].clone()).unwrap();
    (o.status.code(), checks, err)
}

fn get<'a>(checks: &'a [PreflightCheck], host: &str, id: &str) -> &'a PreflightCheck {
    checks
        .iter()
        .find(|c| c.host == host && c.id == id)
        .unwrap_or_else(|| panic!("no {host} {id}"))
}

#[test]
fn a_clean_lab_passes_and_each_provoked_failure_is_caught() {
    let lab = Lab::from_env();
    let dir = scratch("preflight");
    let port = repo_server();
    let _restore = Restore(&lab, port);

    // Clean: nothing fails or warns; what cannot be judged in a container says so.
    let (code, checks, err) = preflight(&dir, &lab, port, &[]);
    // Disk space on the machine's own root file system (shared by every lab host) is whatever
    // this machine has: not under the test's control, so not part of "clean". The disk check
    // itself is proven below on a tmpfs the test mounts.
    let shared_root = |c: &PreflightCheck| c.id.starts_with("disk:") && c.value.contains(" on / ");
    let shared_root_end =
        |c: &PreflightCheck| c.id.starts_with("disk:") && c.value.ends_with(" on /");
    let loud: Vec<String> = checks
        .iter()
        .filter(|c| !shared_root(c) && !shared_root_end(c))
        .filter(|c| c.status == "fail" || c.status == "warn")
        .map(|c| format!("{} {} {} {}", c.host, c.id, c.status, c.value))
        .collect();
    assert!(loud.is_empty(), "{loud:#?}\n{err}");
    let root_full = checks
        .iter()
        .any(|c| (shared_root(c) || shared_root_end(c)) && c.status == "fail");
    assert_eq!(code, Some(if root_full { 2 } else { 0 }), "{err}");
    for c in checks.iter().filter(|c| c.status == "skipped") {
        let why = c.reason.as_deref().unwrap_or("");
        assert!(why.starts_with("container"), "{} {}: {why}", c.host, c.id);
    }
    assert_eq!(get(&checks, "lab5", "repo").status, "pass");
    assert!(get(&checks, "lab4", "port:2379").value.starts_with("free"));

    // Provoke.
    lab.ssh_stdout(
        "lab4",
        "mkdir -p /var/lib/etcd && mount -t tmpfs -o size=64m tmpfs /var/lib/etcd",
    );
    lab.ssh_stdout("lab4",
        "systemd-run --unit cairn-pf-listen perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalPort => 2379, Listen => 5, ReuseAddr => 1) or die; sleep 600' && sleep 0.5",
    );
    lab.ssh_stdout("lab5", "hostname lab6");
    lab.ssh_stdout(
        "lab5",
        &format!("ip rule add to 10.213.0.1 dport {port} prohibit"),
    );
    lab.ssh_stdout("lab6",
        "sed 's/^VERSION_ID=.*/VERSION_ID=\"10\"/; s/^VERSION=.*/VERSION=\"10 (buster)\"/' /usr/lib/os-release > /tmp/cairn-pf-os-release && mount --bind /tmp/cairn-pf-os-release /usr/lib/os-release && echo 10.13 > /tmp/cairn-pf-debian-version && mount --bind /tmp/cairn-pf-debian-version /etc/debian_version",
    );

    let (code, checks, err) = preflight(&dir, &lab, port, &[]);
    assert_eq!(code, Some(2), "{err}");
    let disk = get(&checks, "lab4", "disk:/var/lib/etcd");
    assert_eq!(disk.status, "fail");
    assert!(
        disk.value
            .starts_with("0.1 GiB free of 0.1 GiB (0 % used) on /var/lib/etcd"),
        "{}",
        disk.value
    );
    let p = get(&checks, "lab4", "port:2379");
    assert_eq!(p.status, "fail");
    assert!(
        p.value.starts_with("in use by perl (pid ") && p.value.ends_with("(needed by etcd client)"),
        "{}",
        p.value
    );
    for (h, other) in [("lab5", "lab6"), ("lab6", "lab5")] {
        let c = get(&checks, h, "hostname_unique");
        assert_eq!(c.status, "fail", "{h}");
        assert_eq!(
            c.value,
            format!("same hostname as another host: lab6 (also {other})")
        );
    }
    let os = get(&checks, "lab6", "os");
    assert_eq!(
        (os.status.as_str(), os.value.as_str()),
        ("fail", "Debian 10.13")
    );
    let repo = get(&checks, "lab5", "repo");
    assert_eq!(repo.status, "fail");
    assert!(repo.value.starts_with("perl: connect: "), "{}", repo.value);
    assert_eq!(get(&checks, "lab4", "repo").status, "pass");
    assert_eq!(get(&checks, "lab6", "repo").status, "pass");

    // Ignoring a check reports it as ignored, never as passed.
    let (_, checks, _) = preflight(&dir, &lab, port, &["--ignore-preflight", "port:2379,os"]);
    assert_eq!(get(&checks, "lab4", "port:2379").status, "ignored");
    assert_eq!(get(&checks, "lab6", "os").status, "ignored");
    assert_eq!(get(&checks, "lab4", "disk:/var/lib/etcd").status, "fail");
    let _ = std::fs::remove_dir_all(&dir);
}
