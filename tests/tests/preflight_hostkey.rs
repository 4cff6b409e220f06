//! `cairn preflight` and host keys, and what `--fix` did, against real lab hosts:
//!
//! - `an_unknown_host_key_is_pending_until_accepted`: a state dir whose known_hosts lacks lab54:
//!   its `ssh:hostkey` check is `pending` (never a pass) with the key's type and the host's own
//!   `ssh-keygen -l` fingerprint, the exact accept command, exit 4, stored with the fingerprint;
//!   `cairn hosts accept` refuses another fingerprint and takes exactly this one; lab54 is then
//!   checked; a changed key is a failure of `ssh` naming both fingerprints and is never
//!   accepted. `cairn install` (a one-file bundle, a playbook leaving a mark) stops at
//!   pre-flight on the pending key, even with `--ignore-preflight ssh:hostkey`: no mark.
//! - `fix_is_recorded_per_host`: lab55 with net.ipv4.ip_forward=0 (a kube role needs 1):
//!   `--fix-only` that check: the terminal, `--json` and the store (`cairn runs show`) carry the
//!   action, its outcome and whether it changed the host; a second run changes nothing.
//!
//! Host use: lab54 (its host key read; the install's mark checked absent), lab55 (ip_forward and Cairn's sysctl file,
//! restored by a guard).

use cairn_tests::{BRIDGE, Lab, cairn_bin, free_tcp_port, free_udp_port, scratch};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn config(dir: &Path, lab: &Lab, host: &str, role: &str) -> String {
    let y = format!(
        "apiVersion: cairn/v1\nkind: Cluster\nname: pfkey\nhosts:\n  - {{ name: {host}, address: {}, user: root, auth: {{ key: {} }} }}\nroles:\n  {role}: [{host}]\n",
        lab.address(host),
        lab.key("id_ed25519").display()
    );
    let cfg = dir.join("cluster.yaml");
    std::fs::write(&cfg, y).unwrap();
    cfg.display().to_string()
}

/// A one-file bundle and a playbook that leaves a mark on the host (which must never appear:
/// the install is to stop at pre-flight), and a cluster.yaml for `cairn install` on `host`.
fn install_setup(dir: &Path, lab: &Lab, host: &str) -> (String, String) {
    let pb = dir.join("pb");
    std::fs::create_dir_all(&pb).unwrap();
    std::fs::write(
        pb.join("site.yml"),
        format!("- hosts: all\n  gather_facts: false\n  tasks:\n    - copy: {{ dest: {MARK}, content: installed }}\n"),
    )
    .unwrap();
    let hello = b"hello\n";
    std::fs::write(dir.join("hello.txt"), hello).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(hello))
    };
    std::fs::write(
        dir.join("b.yaml"),
        format!(
            "apiVersion: cairn/v1\nkind: Bundle\nname: pfkey\nversion: 0.0.1\n\
             platforms: [linux/amd64]\nfiles:\n  - path: hello.txt\n    sha256: {sha}\n"
        ),
    )
    .unwrap();
    let o = Command::new(cairn_bin())
        .args(["bundle", "build", "b.yaml", "--out", "."])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let y = format!(
        "apiVersion: cairn/v1\nkind: Cluster\nname: pfkey\nhosts:\n  - {{ name: {host}, address: {}, user: root, auth: {{ key: {} }} }}\n\
         roles:\n  etcd: [{host}]\ninstaller: {{ address: {BRIDGE}, port: {}, ntp_port: {} }}\nbundle: {}\n",
        lab.address(host),
        lab.key("id_ed25519").display(),
        free_tcp_port(BRIDGE),
        free_udp_port(BRIDGE),
        dir.join("pfkey-0.0.1.cairn").display()
    );
    let cfg = dir.join("cluster-install.yaml");
    std::fs::write(&cfg, y).unwrap();
    (cfg.display().to_string(), pb.display().to_string())
}

/// What the install's playbook would write: its absence proves the install stopped.
const MARK: &str = "/tmp/cairn-pfkey-installed";

/// `cairn ARGS...` with the state dir `state`: exit code, stdout, stderr.
fn cairn(state: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(cairn_bin())
        .args(args)
        .env("CAIRN_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(out: &str, err: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}\n{out}\n{err}"))
}

fn find<'a>(v: &'a Value, host: &str, id: &str) -> Option<&'a Value> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["host"] == host && c["id"] == id)
}

/// The newest run's id in `state` (first column of `cairn runs`).
fn last_run(state: &Path) -> String {
    let (code, out, err) = cairn(state, &["runs"]);
    assert_eq!(code, Some(0), "{err}");
    out.lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run in {out}"))
        .to_string()
}

#[test]
fn an_unknown_host_key_is_pending_until_accepted() {
    let lab = Lab::from_env();
    let dir = scratch("preflight-hostkey");
    let state = dir.join("state");
    let cfg = config(&dir, &lab, "lab54", "etcd");
    let kh = state.join("known_hosts");
    // The host's own view of its key, as the operator would compare it.
    let keygen = lab.ssh_stdout("lab54", "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
    let fp = keygen.split_whitespace().nth(1).unwrap().to_string();
    assert!(fp.starts_with("SHA256:"), "{keygen}");

    let (code, out, err) = cairn(&state, &["preflight", "--config", &cfg, "--json"]);
    assert_eq!(
        code,
        Some(4),
        "pending: not checked, like unreachable\n{out}\n{err}"
    );
    let v = json(&out, &err);
    let c = find(&v, "lab54", "ssh:hostkey").unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(c["status"], "pending", "{c}");
    assert_eq!(
        c["value"],
        format!(
            "ssh-ed25519 {fp}: not in {}, not accepted yet",
            kh.display()
        )
    );
    let accept_cmd = format!("cairn hosts accept --config {cfg} lab54 {fp}");
    assert_eq!(
        c["remedy"],
        format!(
            "compare {fp} with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on lab54 itself, \
             then accept exactly that key: `{accept_cmd}` \
             (or in the console: Hosts → Accept); pre-flight checks lab54 after that"
        )
    );
    assert_eq!(v["summary"]["pending"], 1, "{v:#}");
    assert_eq!(v["summary"]["pass"], 0, "nothing about lab54 passes: {v:#}");
    assert!(find(&v, "lab54", "ssh").is_none(), "{v:#}");
    // Stored with its fingerprint, for the console.
    let (code, shown, err) = cairn(&state, &["runs", "show", &last_run(&state), "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let stored: Value = serde_json::from_str(shown.lines().next().unwrap()).unwrap();
    assert_eq!(stored["status"], "pending");
    assert_eq!(stored["value"], c["value"]);
    // The terminal says it too, and never as a pass.
    let (code, out, _) = cairn(&state, &["preflight", "--config", &cfg]);
    assert_eq!(code, Some(4));
    assert!(
        out.contains(&format!("  PENDING ssh:hostkey  ssh-ed25519 {fp}: not in ")),
        "{out}"
    );
    assert!(
        out.lines()
            .last()
            .unwrap()
            .ends_with(", 0 ignored, 1 pending (host keys to accept: `cairn hosts accept`)"),
        "{out}"
    );
    // --ignore-preflight does not make a pending key go away.
    let (code, out, _) = cairn(
        &state,
        &[
            "preflight",
            "--config",
            &cfg,
            "--ignore-preflight",
            "ssh:hostkey",
        ],
    );
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("PENDING ssh:hostkey"), "{out}");

    // `cairn install` stops at pre-flight on a pending key, before anything runs on any host,
    // even told to ignore that check.
    lab.ssh_stdout("lab54", &format!("rm -f {MARK}"));
    let (install_cfg, pb) = install_setup(&dir, &lab, "lab54");
    let (code, out, err) = cairn(
        &state,
        &[
            "install",
            "--config",
            &install_cfg,
            "--playbooks",
            &pb,
            "--ignore-preflight",
            "ssh:hostkey",
        ],
    );
    assert_eq!(code, Some(4), "{out}\n{err}");
    assert!(
        err.lines().any(|l| l.starts_with("  PENDING ssh:hostkey ")
            && l.contains(&format!(" ssh-ed25519 {fp}: not in "))),
        "{err}"
    );
    assert!(
        err.contains("error: pre-flight failed: the install stops before changing anything"),
        "{err}"
    );
    assert_eq!(
        lab.ssh_stdout("lab54", &format!("cat {MARK} 2>/dev/null")),
        ""
    );

    // Accept: another fingerprint is refused, the file untouched.
    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (code, _, err) = cairn(
        &state,
        &["hosts", "accept", "--config", &cfg, "lab54", wrong],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "error: lab54 presents ssh-ed25519 {fp}, not {wrong}: not accepted. Compare again with \
             `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on lab54 itself\n"
        )),
        "{err}"
    );
    assert!(
        !std::fs::read_to_string(&kh)
            .unwrap_or_default()
            .contains(&lab.address("lab54"))
    );
    let (code, _, err) = cairn(
        &state,
        &["hosts", "accept", "--config", &cfg, "lab54", "nope"],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.ends_with("error: \"nope\" is not a host key fingerprint: give it as SHA256:... (as pre-flight and `ssh-keygen -l` show it)\n"),
        "{err}"
    );
    let (code, _, err) = cairn(
        &state,
        &[
            "hosts",
            "accept",
            "--config",
            &cfg,
            "--accept-new-host-keys",
            "lab54",
            &fp,
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.ends_with("error: --accept-new-host-keys does not apply to `cairn hosts accept`, which trusts only the fingerprint given\n"),
        "{err}"
    );
    assert!(
        !std::fs::read_to_string(&kh)
            .unwrap_or_default()
            .contains(&lab.address("lab54"))
    );
    // The remedy's command, as printed, accepts exactly that key.
    let argv: Vec<&str> = accept_cmd.split(' ').skip(1).collect();
    let (code, out, err) = cairn(&state, &argv);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_eq!(
        out,
        format!("lab54: accepted ssh-ed25519 {fp} into {}\n", kh.display())
    );
    let text = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with(&format!("{} ssh-ed25519 ", lab.address("lab54"))),
        "{text}"
    );
    let (code, out, _) = cairn(&state, &argv);
    assert_eq!(code, Some(0));
    assert_eq!(
        out,
        format!(
            "lab54: its host key is already trusted ({}): nothing to accept\n",
            kh.display()
        )
    );
    // Now lab54 is checked: connected, no host key check left.
    let (code, out, err) = cairn(&state, &["preflight", "--config", &cfg, "--json"]);
    let v = json(&out, &err);
    assert!(find(&v, "lab54", "ssh:hostkey").is_none(), "{v:#}");
    assert_eq!(find(&v, "lab54", "ssh").unwrap()["status"], "pass");
    assert_ne!(code, Some(4), "{out}");

    // A changed key: another host's key recorded for lab54's address.
    let other = std::fs::read_to_string(&lab.known_hosts).unwrap();
    let lab55_line = other
        .lines()
        .find(|l| l.starts_with(&format!("{} ssh-ed25519 ", lab.address("lab55"))))
        .expect("lab55's ed25519 key in the lab's known_hosts");
    let old_fp = {
        let kg = Command::new("ssh-keygen")
            .args(["-lf", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        kg.stdin
            .as_ref()
            .unwrap()
            .write_all(lab55_line.as_bytes())
            .unwrap();
        let o = kg.wait_with_output().unwrap();
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    };
    let changed = state.join("changed_known_hosts");
    std::fs::write(
        &changed,
        format!(
            "{}\n",
            lab55_line.replacen(&lab.address("lab55"), &lab.address("lab54"), 1)
        ),
    )
    .unwrap();
    let ch = changed.display().to_string();
    let (code, out, err) = cairn(
        &state,
        &[
            "preflight",
            "--config",
            &cfg,
            "--known-hosts",
            &ch,
            "--json",
        ],
    );
    assert_eq!(code, Some(4), "{out}\n{err}");
    let v = json(&out, &err);
    assert!(
        find(&v, "lab54", "ssh:hostkey").is_none(),
        "not pending: {v:#}"
    );
    let c = find(&v, "lab54", "ssh").unwrap();
    assert_eq!(c["status"], "fail");
    let value = c["value"].as_str().unwrap();
    assert!(
        value.starts_with(&format!(
            "lab54: HOST KEY CHANGED for {}! The server presented ssh-ed25519 {fp}, but {ch}:1 records ssh-ed25519 {old_fp}.",
            lab.address("lab54")
        )),
        "{value}"
    );
    assert!(
        c["remedy"].as_str().unwrap().contains(&format!(
            "remove the old one with `ssh-keygen -R {} -f {ch}`",
            lab.address("lab54")
        )),
        "{c}"
    );
    let (code, _, err) = cairn(
        &state,
        &[
            "hosts",
            "accept",
            "--config",
            &cfg,
            "--known-hosts",
            &ch,
            "lab54",
            &fp,
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("HOST KEY CHANGED")
            && err.ends_with("  not accepted: cairn hosts accept never replaces a recorded key\n"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&changed).unwrap().lines().count(),
        1
    );
}

/// Put lab55 back: forwarding off (the containers' default), no Cairn sysctl file.
struct RestoreLab55<'a>(&'a Lab);

impl Drop for RestoreLab55<'_> {
    fn drop(&mut self) {
        self.0.ssh_stdout(
            "lab55",
            "echo 0 > /proc/sys/net/ipv4/ip_forward; rm -f /etc/sysctl.d/90-cairn.conf; true",
        );
    }
}

#[test]
fn fix_is_recorded_per_host() {
    let lab = Lab::from_env();
    let dir = scratch("preflight-fix-record");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::copy(&lab.known_hosts, state.join("known_hosts")).unwrap();
    let _restore = RestoreLab55(&lab);
    let cfg = config(&dir, &lab, "lab55", "kube_master");
    lab.ssh_stdout(
        "lab55",
        "rm -f /etc/sysctl.d/90-cairn.conf; echo 0 > /proc/sys/net/ipv4/ip_forward",
    );
    let id = "sysctl:net.ipv4.ip_forward";

    let (_, out, err) = cairn(&state, &["preflight", "--config", &cfg, "--json"]);
    let v = json(&out, &err);
    let c = find(&v, "lab55", id).unwrap();
    assert_eq!(
        (&c["status"], &c["fixable"]),
        (&Value::from("warn"), &Value::from(true))
    );
    assert!(v.get("fixed").is_none(), "no --fix, no record: {v:#}");

    let (code, out, err) = cairn(
        &state,
        &["preflight", "--config", &cfg, "--json", "--fix-only", id],
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    let v = json(&out, &err);
    assert_eq!(
        v["fixed"],
        serde_json::json!([{
            "host": "lab55",
            "id": id,
            "action": "sysctl net.ipv4.ip_forward=1, persisted in /etc/sysctl.d/90-cairn.conf",
            "outcome": "changed",
            "changed": true,
            "text": "set 0 -> 1; persisted in /etc/sysctl.d/90-cairn.conf",
        }])
    );
    let c = find(&v, "lab55", id).unwrap();
    assert_eq!(c["status"], "pass", "checked again after the fix: {c}");
    assert!(c.get("fixable").is_none(), "a pass has nothing to fix: {c}");
    assert_eq!(
        lab.ssh_stdout("lab55", "cat /proc/sys/net/ipv4/ip_forward")
            .trim(),
        "1"
    );
    // Stored: `cairn runs show` prints what was done before the checks.
    let (code, shown, err) = cairn(&state, &["runs", "show", &last_run(&state)]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        shown.lines().next().unwrap(),
        "fix: lab55 sysctl:net.ipv4.ip_forward: changed: set 0 -> 1; persisted in /etc/sysctl.d/90-cairn.conf [sysctl net.ipv4.ip_forward=1, persisted in /etc/sysctl.d/90-cairn.conf]"
    );

    // Again, in the terminal: nothing left to change for that check.
    let (code, out, err) = cairn(&state, &["preflight", "--config", &cfg, "--fix-only", id]);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.starts_with("fix: nothing to change\n"), "{out}");
    let (_, shown, _) = cairn(&state, &["runs", "show", &last_run(&state)]);
    assert!(
        !shown.contains("fix: "),
        "nothing done, nothing recorded: {shown}"
    );
}
