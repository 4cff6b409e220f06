//! `cairn install` end to end on two lab hosts, with a small bundle built here (one file and
//! the test playbooks) and a test `site.yml` that records the variables it received, fetches a
//! file from the installer's bundle server over the lab network, and copies the etcd
//! certificates from `cairn_pki_dir` to the host.
//!
//! In order: `cairn init` (the example, and no overwrite); a version pin the bundle does not
//! carry (refused, positioned); a listener on 2379 on lab14 (pre-flight stops the install with
//! exit 2 before any task runs); `--ignore-preflight port:2379` with lab14 broken by a marker
//! file (lab13 finishes, lab14 fails; meanwhile a second install is refused by the lock); the
//! marker removed and `--resume` (only lab14 runs, and finishes); `--resume` again (nothing to
//! do). Then: the variables on the hosts, the certificates' modes and chain (OpenSSL on the
//! controller against the CA), the server stopped.
//!
//! Host use: lab13, lab14 (a transient listener unit and `/tmp/cairn-install-test`, both
//! removed by a guard, even when an assertion fails).

use cairn_tests::{Lab, cairn_bin, scratch};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HOSTS: [&str; 2] = ["lab13", "lab14"];
const BRIDGE: &str = "10.213.0.1";
const CLUSTER: &str = "insttest";
const REMOTE: &str = "/tmp/cairn-install-test";

/// Undo every change on the hosts, whatever happened.
struct Restore<'a>(&'a Lab);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        for h in HOSTS {
            self.0.ssh(h,
                &format!(
                    "systemctl stop cairn-install-listen 2>/dev/null; systemctl reset-failed cairn-install-listen 2>/dev/null; rm -rf {REMOTE} /tmp/cairn-install-broken; true"
                ),
            );
        }
    }
}

const SITE: &str = r#"- name: install test
  hosts: all
  gather_facts: false
  tasks:
    - name: a place for the results
      file: { path: /tmp/cairn-install-test, state: directory, mode: "0700" }
    - name: record the variables install passed
      copy:
        dest: /tmp/cairn-install-test/vars.json
        content: "{{ {'repo': cairn_repo_url, 'ntp': cairn_ntp_server, 'ntp_port': cairn_ntp_port, 'pki': cairn_pki_dir, 'cluster': cairn_cluster_name, 'pod_cidr': cairn_pod_cidr, 'marker': test_marker} | to_json }}"
    - name: fetch a file from the installer's bundle server
      shell: |
        exec 3<>/dev/tcp/{{ cairn_ntp_server }}/{{ test_port }}
        printf 'GET /files/hello.txt HTTP/1.0\r\n\r\n' >&3
        cat <&3 > /tmp/cairn-install-test/fetched.txt
      args: { executable: /bin/bash }
    - name: copy the etcd certificates from the installer's PKI
      copy:
        src: "{{ cairn_pki_dir }}/{{ item.src }}"
        dest: "/tmp/cairn-install-test/{{ item.dest }}"
        mode: "{{ item.mode }}"
      loop:
        - { src: "ca.crt", dest: ca.crt, mode: "0644" }
        - { src: "etcd/{{ inventory_hostname }}/server.crt", dest: server.crt, mode: "0644" }
        - { src: "etcd/{{ inventory_hostname }}/server.key", dest: server.key, mode: "0600" }
        - { src: "etcd/{{ inventory_hostname }}/peer.crt", dest: peer.crt, mode: "0644" }
        - { src: "etcd/{{ inventory_hostname }}/peer.key", dest: peer.key, mode: "0600" }
    - name: take a while (for the lock test)
      command: sleep {{ sleep_seconds | default(0) }}
    - name: refuse while broken
      command: test ! -e /tmp/cairn-install-broken
"#;

const HELLO: &str = "hello from the installer\n";

fn free_tcp() -> u16 {
    TcpListener::bind((BRIDGE, 0))
        .and_then(|l| l.local_addr())
        .expect("bind on the lab bridge: is the lab up?")
        .port()
}

fn free_udp() -> u16 {
    UdpSocket::bind((BRIDGE, 0))
        .and_then(|s| s.local_addr())
        .unwrap()
        .port()
}

/// The bundle (`insttest-0.0.1.cairn`: hello.txt and the playbooks), the playbooks dir and the
/// config.
struct Setup {
    dir: PathBuf,
    playbooks: PathBuf,
    config: PathBuf,
    port: u16,
}

fn setup(lab: &Lab, dir: &Path) -> Setup {
    let playbooks = dir.join("pb");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(playbooks.join("site.yml"), SITE).unwrap();
    std::fs::write(dir.join("hello.txt"), HELLO).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(HELLO.as_bytes()))
    };
    std::fs::write(
        dir.join("b.yaml"),
        format!(
            "apiVersion: cairn/v1\nkind: Bundle\nname: {CLUSTER}\nversion: 0.0.1\n\
             platforms: [linux/amd64]\nfiles:\n  - path: hello.txt\n    sha256: {sha}\n\
             playbooks: pb\n"
        ),
    )
    .unwrap();
    let o = Command::new(cairn_bin())
        .args(["bundle", "build", "b.yaml", "--out", "."])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let port = free_tcp();
    let config = dir.join("cluster.yaml");
    write_config(lab, &config, port, "");
    Setup {
        dir: dir.to_path_buf(),
        playbooks,
        config,
        port,
    }
}

fn write_config(lab: &Lab, path: &Path, port: u16, extra: &str) {
    let mut y = format!("apiVersion: cairn/v1\nkind: Cluster\nname: {CLUSTER}\nhosts:\n");
    for h in HOSTS {
        y.push_str(&format!(
            "  - {{ name: {h}, address: {}, user: root, auth: {{ key: {}, agent: false }} }}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    y.push_str(&format!(
        "roles:\n  etcd: [lab13, lab14]\n\
         installer: {{ address: {BRIDGE}, port: {port}, ntp_port: {} }}\n\
         bundle: {CLUSTER}-0.0.1.cairn\n\
         pki: {{ validity_days: 30 }}\n\
         vars: {{ test_marker: from-cluster-yaml, test_port: {port} }}\n{extra}",
        free_udp()
    ));
    std::fs::write(path, y).unwrap();
}

fn install_cmd(lab: &Lab, s: &Setup, config: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(cairn_bin());
    c.args(["install", "--config", config.to_str().unwrap()])
        .args(["--known-hosts", lab.known_hosts.to_str().unwrap()])
        .args(extra)
        .env("CAIRN_STATE_DIR", s.dir.join("state"))
        .env("NO_COLOR", "1");
    c
}

fn install(lab: &Lab, s: &Setup, extra: &[&str]) -> (Option<i32>, String, String) {
    let o = install_cmd(lab, s, &s.config, extra).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn no_task_ran(lab: &Lab) {
    for h in HOSTS {
        let o = lab.ssh(h, &format!("test -e {REMOTE}"));
        assert!(!o.status.success(), "{h}: {REMOTE} exists: a task ran");
    }
}

#[test]
fn init_writes_an_example_and_never_overwrites() {
    let dir = scratch("install-init");
    let o = Command::new(cairn_bin()).arg("init").output().unwrap();
    assert!(o.status.success());
    let example = String::from_utf8(o.stdout).unwrap();
    assert!(
        example.starts_with("# cluster.yaml: one cluster"),
        "{example}"
    );
    let path = dir.join("cluster.yaml");
    std::fs::write(&path, &example).unwrap();
    // It loads as it is.
    let o = Command::new(cairn_bin())
        .args(["inventory", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let o = Command::new(cairn_bin())
        .args(["init", "--out", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: {} already exists; cairn init does not overwrite files: choose another --out, or remove it first\n",
            path.display()
        )
    );
    let fresh = dir.join("new.yaml");
    let o = Command::new(cairn_bin())
        .args(["init", "--out", fresh.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&fresh).unwrap(), example);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn install_preflight_stop_lock_resume_and_certificates() {
    let lab = Lab::from_env();
    let dir = scratch("install");
    // Leftovers of an interrupted earlier run first, then again at the end.
    drop(Restore(&lab));
    let _restore = Restore(&lab);
    let s = setup(&lab, &dir);
    let pb = s.playbooks.to_str().unwrap().to_string();

    // Not a cluster.yaml with an installer: refused before anything.
    let bare = dir.join("bare.yaml");
    std::fs::write(
        &bare,
        format!(
            "apiVersion: cairn/v1\nkind: Cluster\nname: {CLUSTER}\nhosts:\n  - {{name: lab13, address: {}}}\n",
            lab.address("lab13")
        ),
    )
    .unwrap();
    let o = install_cmd(&lab, &s, &bare, &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: {} has no installer: section; add `installer: {{address: <this machine's IP, as the hosts reach it>}}` (docs/cluster-yaml.md)\n",
            bare.display()
        )
    );

    // A version the bundle does not carry: refused, pointing at the line.
    let pinned = dir.join("pinned.yaml");
    write_config(&lab, &pinned, s.port, "versions: { etcd: \"3.4.23\" }\n");
    let o = install_cmd(&lab, &s, &pinned, &[]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "error: versions.etcd is \"3.4.23\", but the bundle {CLUSTER}-0.0.1 carries no etcd (no package named etcd-server or etcd)\n  --> {}:",
            pinned.display()
        )) && err.contains("= help: build a bundle that includes etcd, or remove versions.etcd"),
        "{err}"
    );
    no_task_ran(&lab);

    // Pre-flight: a listener on etcd's client port on lab14 stops the install, exit 2, before
    // any task runs.
    lab.ssh("lab14",
        "systemd-run --unit cairn-install-listen perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(LocalPort => 2379, Listen => 5, ReuseAddr => 1) or die; sleep 600' && sleep 0.5",
    );
    let (code, out, err) = install(&lab, &s, &["--playbooks", &pb]);
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("  FAIL    port:2379 ") && l.contains(" in use by perl (pid ")),
        "{err}"
    );
    assert!(
        err.contains("error: pre-flight failed: the install stops before changing anything; fix what the table shows (or list a check in --ignore-preflight / preflight.ignore), then run cairn install again\n"),
        "{err}"
    );
    no_task_ran(&lab);
    // Not even the PKI was made.
    assert!(!dir.join("state/pki").exists());
    // The server is gone.
    assert!(TcpStream::connect((BRIDGE, s.port)).is_err());

    // Ignored (shown as such), with lab14 broken: lab13 finishes, lab14 fails. The bundle's
    // own playbooks run (no --playbooks). Meanwhile a second install is refused.
    lab.ssh("lab14", "touch /tmp/cairn-install-broken");
    let first = install_cmd(
        &lab,
        &s,
        &s.config,
        &["--ignore-preflight", "port:2379", "-e", "sleep_seconds=6"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let lockfile = dir.join(format!("state/locks/install-{CLUSTER}.lock"));
    let t0 = Instant::now();
    while std::fs::read_to_string(&lockfile)
        .map(|t| t.trim() != first.id().to_string())
        .unwrap_or(true)
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "no lock taken");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, _, err) = install(&lab, &s, &["--playbooks", &pb]);
    assert_eq!(code, Some(1));
    // After the (expected) even-etcd warning, the refusal.
    assert!(
        err.ends_with(&format!(
            "error: another `cairn install` of cluster \"{CLUSTER}\" is running (pid {}) (lock {}); wait for it to finish, or stop it\n",
            first.id(),
            lockfile.display()
        )),
        "{err}"
    );
    let o = first.wait_with_output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(2), "{out}\n{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("  ignored port:2379 ") && l.contains(" in use by perl (pid ")),
        "{out}"
    );
    assert!(out.contains("pki: ca.crt: created\n"), "{out}");
    assert!(out.contains("pki: etcd/lab14/peer.crt: created\n"), "{out}");
    assert!(
        out.contains(&format!(
            "playbook {}/state/install/{CLUSTER}/playbooks/site.yml",
            dir.display()
        )),
        "{out}"
    );
    let recap_line = |h: &str| {
        out.lines()
            .rev()
            .find(|l| l.starts_with(h) && l.contains(" : ok="))
            .unwrap_or_else(|| panic!("no recap for {h} in {out}"))
            .split_whitespace()
            .filter(|w| w.starts_with("ok=") || w.starts_with("failed="))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(recap_line("lab13"), "ok=6 failed=0");
    assert_eq!(recap_line("lab14"), "ok=5 failed=1");
    assert!(
        err.contains(&format!(
            "install of cluster \"{CLUSTER}\" did not finish (run "
        )),
        "{err}"
    );

    // Fixed; --resume runs lab14 only, and finishes.
    lab.ssh("lab14", "rm -f /tmp/cairn-install-broken");
    let lab13_vars = lab.ssh_stdout("lab13", &format!("stat -c %Y.%i {REMOTE}/vars.json"));
    let (code, out, err) = install(
        &lab,
        &s,
        &[
            "--resume",
            "--json",
            "--ignore-preflight",
            "port:2379",
            "--playbooks",
            &pb,
        ],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    // Runs 1 and 2 are the two pre-flights; 3 the install that failed on lab14.
    assert!(
        err.contains(&format!(
            "resuming install run 3 of cluster \"{CLUSTER}\": running again on lab14 (5 tasks already done there are left out)\n"
        )),
        "{err}"
    );
    assert!(err.contains("pki: "), "{err}");
    let recap = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "recap")
        .unwrap_or_else(|| panic!("no recap in {out}"));
    let hosts: Vec<&String> = recap["hosts"].as_object().unwrap().keys().collect();
    assert_eq!(hosts, ["lab14"]);
    assert_eq!(recap["hosts"]["lab14"]["failed"], 0);
    assert_eq!(
        lab.ssh_stdout("lab13", &format!("stat -c %Y.%i {REMOTE}/vars.json")),
        lab13_vars,
        "lab13 was run again"
    );
    let (code, out, err) = install(&lab, &s, &["--resume", "--playbooks", &pb]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with("nothing to resume: install run ")
            && out.ends_with(&format!(
                " of cluster \"{CLUSTER}\" finished on every host\n"
            )),
        "{out}"
    );

    // What the hosts received.
    let pki = dir.join(format!("state/pki/{CLUSTER}"));
    for h in HOSTS {
        let vars: serde_json::Value =
            serde_json::from_str(&lab.ssh_stdout(h, &format!("cat {REMOTE}/vars.json"))).unwrap();
        assert_eq!(
            vars,
            serde_json::json!({
                "repo": format!("http://{BRIDGE}:{}", s.port),
                "ntp": BRIDGE,
                "ntp_port": vars["ntp_port"].as_u64().filter(|p| *p > 0).unwrap(),
                "pki": pki.display().to_string(),
                "cluster": CLUSTER,
                "pod_cidr": "10.244.0.0/16",
                "marker": "from-cluster-yaml",
            }),
            "{h}"
        );
        let fetched = lab.ssh_stdout(h, &format!("cat {REMOTE}/fetched.txt"));
        assert!(
            fetched.starts_with("HTTP/1.0 200 OK\r\n") && fetched.ends_with(HELLO),
            "{h}: {fetched}"
        );
        let modes = lab.ssh_stdout(
            h,
            &format!(
                "cd {REMOTE} && stat -c '%n %a' ca.crt server.crt server.key peer.crt peer.key"
            ),
        );
        assert_eq!(
            modes, "ca.crt 644\nserver.crt 644\nserver.key 600\npeer.crt 644\npeer.key 600\n",
            "{h}"
        );
        // The certificates on the host are the installer's, and verify against the CA.
        let fetched_dir = dir.join(format!("fetched-{h}"));
        std::fs::create_dir_all(&fetched_dir).unwrap();
        for f in ["ca.crt", "server.crt", "peer.crt"] {
            let body = lab.ssh(h, &format!("cat {REMOTE}/{f}")).stdout;
            std::fs::write(fetched_dir.join(f), &body).unwrap();
        }
        assert_eq!(
            std::fs::read(fetched_dir.join("server.crt")).unwrap(),
            std::fs::read(pki.join(format!("etcd/{h}/server.crt"))).unwrap()
        );
        for (f, purpose) in [("server.crt", "sslserver"), ("peer.crt", "sslclient")] {
            let o = Command::new("openssl")
                .args(["verify", "-purpose", purpose, "-CAfile"])
                .arg(fetched_dir.join("ca.crt"))
                .arg(fetched_dir.join(f))
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{h} {f}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let o = Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(fetched_dir.join("server.crt"))
            .output()
            .unwrap();
        let sans = String::from_utf8_lossy(&o.stdout);
        assert!(
            sans.contains(&format!("DNS:{h}"))
                && sans.contains("DNS:localhost")
                && sans.contains(&format!("IP Address:{}", lab.address(h)))
                && sans.contains("IP Address:127.0.0.1"),
            "{h}: {sans}"
        );
    }
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(pki.join(p)).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(
        (
            mode(""),
            mode("ca.key"),
            mode("etcd/lab14"),
            mode("etcd/client.key")
        ),
        (0o700, 0o600, 0o700, 0o600)
    );
    // The server stopped with the install.
    assert!(TcpStream::connect((BRIDGE, s.port)).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
