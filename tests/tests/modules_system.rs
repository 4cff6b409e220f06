//! The system modules end to end: `tests/playbooks/system/site.yml` (apt from a served bundle,
//! package, group, user, systemd/service, sysctl, modprobe, hostname, mount, wait_for, uri,
//! get_url, pause; each result checked with `register` + `assert`) run twice on two hosts, the
//! second run changing nothing; check mode through the module API changing nothing; a real
//! hostname change and back; then `cleanup.yml` twice, undoing it all (the second run changes
//! nothing), and the hosts checked to be as they were.
//!
//! Host use: lab8 and lab9 only (apt source and the tree and curl packages, user and group
//! `cairnsys`, unit `cairn-system-test`, sysctl net.ipv4.conf.all.log_martians, a tmpfs on
//! /mnt/cairn-system-test, the hostname for a moment; all restored at the end).

use cairn_engine::modules::{self, Call, ModuleResult};
use cairn_engine::run::template::{Context, Templar};
use cairn_engine::ssh::Connection;
use cairn_tests::{BRIDGE, Lab, Served, cairn_bin, free_tcp_port, scratch};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const HOSTS: &[&str] = &["lab8", "lab9"];
const BLOB_LEN: u32 = 100_000;

fn playbook(name: &str) -> PathBuf {
    cairn_tests::repo_root()
        .join("tests/playbooks/system")
        .join(name)
}

/// A bundle with tree and curl (and their dependencies the lab base lacks) and `blob.bin`.
fn build_bundle(dir: &Path) -> (PathBuf, String) {
    let blob: Vec<u8> = (0..BLOB_LEN).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("blob.bin"), &blob).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&blob))
    };
    std::fs::write(
        dir.join("sys.yaml"),
        format!(
            "apiVersion: cairn/v1\nkind: Bundle\nname: sys\nversion: 0.0.1\n\
             platforms: [linux/amd64]\ndebs:\n  packages: [tree, curl]\n\
             files:\n  - path: blob.bin\n    sha256: {sha}\n"
        ),
    )
    .unwrap();
    let o = Command::new(cairn_bin())
        .args(["bundle", "build", "sys.yaml", "--out", "."])
        .current_dir(dir)
        .output()
        .expect("run cairn bundle build");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (dir.join("sys-0.0.1.cairn"), sha)
}

/// The INI inventory: lab8 and lab9 as `cairn` (sudo), the server and blob as group vars
/// (`-e` is not in `cairn play` yet).
fn inventory(lab: &Lab, dir: &Path, addr: SocketAddr, sha: &str) -> PathBuf {
    let mut ini = String::from("[lab]\n");
    for h in HOSTS {
        ini.push_str(&format!(
            "{h} ansible_host={} ansible_user=cairn ansible_ssh_private_key_file={}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    ini.push_str(&format!("[lab:vars]\nrepo={addr}\nblob_sha={sha}\n"));
    let p = dir.join("hosts");
    std::fs::write(&p, ini).unwrap();
    p
}

fn play(lab: &Lab, book: &Path, inv: &Path) -> (Option<i32>, String) {
    let o = Command::new(cairn_bin())
        .arg("play")
        .arg(book)
        .arg("-i")
        .arg(inv)
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .output()
        .expect("run cairn play");
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.code(), out)
}

/// The recap's `changed=N` for `host`.
fn changed(out: &str, host: &str) -> u32 {
    let recap = out.split("PLAY RECAP").last().unwrap();
    let line = recap
        .lines()
        .find(|l| l.starts_with(host))
        .unwrap_or_else(|| panic!("no recap line for {host}:\n{out}"));
    let n = line.split("changed=").nth(1).unwrap();
    n.split_whitespace().next().unwrap().parse().unwrap()
}

async fn sh(conn: &Connection, cmd: &str) -> String {
    let o = conn.run(cmd).await.expect("exec");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Run `module` with `args` through the module API (as root, no become).
async fn call(
    conn: &Connection,
    host: &str,
    module: &str,
    args: Value,
    check: bool,
) -> ModuleResult {
    let args = args.as_object().unwrap().clone();
    let templar = Templar::new();
    let vars = Context::new(Default::default());
    let c = Call {
        args: &args,
        conn,
        become_user: None,
        templar: &templar,
        vars: &vars,
        host,
        check,
        diff: true,
        search: &[],
        environment: &[],
    };
    modules::run(module, &c).await.expect("module ran")
}

#[tokio::test(flavor = "multi_thread")]
async fn system_playbook_twice_check_mode_then_undone() {
    let lab = Lab::from_env();
    let dir = scratch("modules-system");
    let (bundle, sha) = build_bundle(&dir);
    let addr: SocketAddr = format!("{BRIDGE}:{}", free_tcp_port(BRIDGE))
        .parse()
        .unwrap();
    let _server = Served::start(&bundle, addr, &[]);
    let inv = inventory(&lab, &dir, addr, &sha);

    let t0 = Instant::now();
    let (code, first) = play(&lab, &playbook("site.yml"), &inv);
    let first_run = t0.elapsed();
    assert_eq!(code, Some(0), "{first}");
    let t1 = Instant::now();
    let (code, second) = play(&lab, &playbook("site.yml"), &inv);
    let second_run = t1.elapsed();
    assert_eq!(code, Some(0), "{second}");
    for h in HOSTS {
        assert!(changed(&first, h) >= 7, "{first}");
        assert_eq!(
            changed(&second, h),
            0,
            "second run changed something on {h}:\n{second}"
        );
    }
    eprintln!("site.yml on 2 hosts: first run {first_run:?}, second run {second_run:?}");

    // Check mode: each module would change lab9, and lab9 stays as it is.
    let conn = lab.connect(&dir, "lab9", "root").await;
    let before = "dpkg-query -W -f='${Status}' tree; getent passwd cairnsys; getent group cairnsys; \
                  systemctl is-active cairn-system-test; sysctl -n net.ipv4.conf.all.log_martians; \
                  cat /etc/sysctl.d/90-cairn-system-test.conf; findmnt -n /mnt/cairn-system-test; \
                  cat /etc/fstab; hostname; cat /etc/hostname; ls /tmp/cairn-system-check.bin 2>&1";
    let state = sh(&conn, before).await;
    let url = format!("http://{addr}/files/blob.bin");
    let checks = [
        ("apt", json!({"name": "tree", "state": "absent"})),
        ("user", json!({"name": "cairnsys", "state": "absent"})),
        (
            "user",
            json!({"name": "cairnsys", "shell": "/bin/bash", "password": "$6$x$y"}),
        ),
        ("group", json!({"name": "cairnsys", "gid": 4322})),
        (
            "systemd",
            json!({"name": "cairn-system-test", "state": "stopped", "enabled": false}),
        ),
        (
            "service",
            json!({"name": "cairn-system-test", "state": "restarted"}),
        ),
        (
            "sysctl",
            json!({"name": "net.ipv4.conf.all.log_martians", "value": "0",
            "sysctl_file": "/etc/sysctl.d/90-cairn-system-test.conf", "sysctl_set": true}),
        ),
        (
            "mount",
            json!({"path": "/mnt/cairn-system-test", "state": "unmounted"}),
        ),
        (
            "mount",
            json!({"path": "/mnt/cairn-system-test", "src": "tmpfs", "fstype": "tmpfs",
            "opts": "size=2m", "state": "mounted"}),
        ),
        ("hostname", json!({"name": "lab9-cairn-check"})),
        (
            "get_url",
            json!({"url": url, "dest": "/tmp/cairn-system-check.bin"}),
        ),
    ];
    for (module, args) in &checks {
        let r = call(&conn, "lab9", module, args.clone(), true).await;
        assert!(
            r.changed && !r.failed,
            "{module} {args} in check mode: {r:?}"
        );
    }
    assert_eq!(sh(&conn, before).await, state, "check mode changed lab9");
    let sysctl_diff = call(&conn, "lab9", "sysctl", checks[6].1.clone(), true)
        .await
        .diff;
    assert_eq!(sysctl_diff.len(), 1);
    assert_eq!(sysctl_diff[0].after, "net.ipv4.conf.all.log_martians=0\n");

    // Changes the playbook does not make, each applied then found already done.
    let conn_ref = &conn;
    let twice = |module: &'static str, args: Value| async move {
        let first = call(conn_ref, "lab9", module, args.clone(), false).await;
        assert!(first.changed && !first.failed, "{module} {args}: {first:?}");
        let again = call(conn_ref, "lab9", module, args.clone(), false).await;
        assert!(
            !again.changed && !again.failed,
            "{module} {args} again: {again:?}"
        );
    };
    twice(
        "systemd",
        json!({"name": "cairn-system-masked.service", "masked": true}),
    )
    .await;
    assert_eq!(
        sh(&conn, "systemctl is-enabled cairn-system-masked.service").await,
        "masked"
    );
    twice(
        "systemd",
        json!({"name": "cairn-system-masked.service", "masked": false}),
    )
    .await;
    twice(
        "user",
        json!({"name": "cairnsys", "password": "$6$other$hash"}),
    )
    .await;
    assert_eq!(
        sh(&conn, "getent shadow cairnsys | cut -d: -f2").await,
        "$6$other$hash"
    );
    twice(
        "mount",
        json!({"path": "/mnt/cairn-system-test", "src": "tmpfs", "fstype": "tmpfs",
        "opts": "size=2m", "state": "mounted"}),
    )
    .await;
    assert!(
        sh(&conn, "findmnt -n -o OPTIONS /mnt/cairn-system-test")
            .await
            .contains("size=2048k")
    );
    sh(
        &conn,
        "echo cairn_test_mod > /etc/modules-load.d/cairn_test_mod.conf",
    )
    .await;
    twice(
        "modprobe",
        json!({"name": "cairn_test_mod", "state": "absent", "persistent": "absent"}),
    )
    .await;
    assert_eq!(
        sh(
            &conn,
            "ls /etc/modules-load.d/cairn_test_mod.conf 2>&1 >/dev/null | wc -l"
        )
        .await,
        "1"
    );

    // A package file on the host (`deb`), and `latest` when it already is.
    let deb = sh(
        &conn,
        "mkdir -p /tmp/cairn-system-deb && cd /tmp/cairn-system-deb && apt-get download -q tree >/dev/null 2>&1; \
         ls /tmp/cairn-system-deb/*.deb",
    )
    .await;
    assert!(deb.ends_with(".deb"), "{deb}");
    let latest = call(
        &conn,
        "lab9",
        "apt",
        json!({"name": "tree", "state": "latest"}),
        false,
    )
    .await;
    assert!(!latest.changed && !latest.failed, "{latest:?}");
    let removed = call(
        &conn,
        "lab9",
        "apt",
        json!({"name": "tree", "state": "absent"}),
        false,
    )
    .await;
    assert!(removed.changed && !removed.failed, "{removed:?}");
    twice("apt", json!({"deb": deb})).await;
    assert!(
        sh(&conn, "dpkg-query -W -f='${Status}' tree")
            .await
            .ends_with(" installed")
    );
    sh(&conn, "rm -rf /tmp/cairn-system-deb").await;

    // A real hostname change, and back.
    let set = |n: &str| json!({"name": n});
    let r = call(&conn, "lab9", "hostname", set("lab9-cairn"), false).await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert_eq!(
        sh(&conn, "hostname; cat /etc/hostname").await,
        "lab9-cairn\nlab9-cairn"
    );
    let r = call(&conn, "lab9", "hostname", set("lab9"), false).await;
    assert!(r.changed && !r.failed, "{r:?}");
    assert!(
        !call(&conn, "lab9", "hostname", set("lab9"), false)
            .await
            .changed
    );
    assert_eq!(sh(&conn, "hostname; cat /etc/hostname").await, "lab9\nlab9");

    // Errors the playbook does not reach.
    let errors = [
        (
            "pause",
            json!({"prompt": "go on?"}),
            "pause: prompt needs someone at a terminal, and cairn play runs non-interactively; remove prompt and give seconds or minutes",
        ),
        (
            "hostname",
            json!({"name": "bad_name"}),
            "invalid hostname \"bad_name\": use letters, digits and '-' in dot-separated labels of at most 63 characters",
        ),
        (
            "mount",
            json!({"path": "/x", "state": "mounted", "src": "tmpfs"}),
            "state is mounted but all of the following are missing: fstype",
        ),
        (
            "get_url",
            json!({"url": "http://h/x", "dest": "/no/such/dir/x"}),
            "Destination dir /no/such/dir does not exist",
        ),
        (
            "wait_for",
            json!({"path": "/tmp/cairn-never", "timeout": 1}),
            "Timeout when waiting for file /tmp/cairn-never",
        ),
        (
            "yum",
            json!({"name": "tree"}),
            "lab9 has neither dnf nor yum: use the package manager of its distribution (package: picks it)",
        ),
    ];
    for (module, args, msg) in errors {
        let r = call(&conn, "lab9", module, args.clone(), false).await;
        assert!(r.failed, "{module} {args}: {r:?}");
        assert_eq!(r.msg.as_deref(), Some(msg), "{module} {args}");
    }

    // Undo, twice: the second run finds nothing to undo.
    let (code, undo) = play(&lab, &playbook("cleanup.yml"), &inv);
    assert_eq!(code, Some(0), "{undo}");
    let (code, undo2) = play(&lab, &playbook("cleanup.yml"), &inv);
    assert_eq!(code, Some(0), "{undo2}");
    for h in HOSTS {
        assert_eq!(changed(&undo2, h), 0, "{undo2}");
        let c = lab.connect(&dir, h, "root").await;
        let left = sh(
            &c,
            "dpkg-query -W tree curl 2>/dev/null; getent passwd cairnsys; getent group cairnsys; \
             ls /etc/systemd/system/cairn-system-test.service /etc/sysctl.d/9*-cairn-system-test.conf \
             /etc/apt/sources.list.d/cairn-system-test.list /mnt/cairn-system-test /tmp/cairn-system-test.bin 2>/dev/null; \
             grep cairn /etc/fstab; sysctl -n net.ipv4.conf.all.log_martians; hostname",
        )
        .await;
        assert_eq!(left, format!("0\n{h}"), "left behind on {h}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
