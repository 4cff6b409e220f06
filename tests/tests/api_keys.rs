//! Private keys pasted into the console (`/api/hosts` with `auth.kind = key`), end to end on
//! lab57–58 through a real `cairn serve`.
//!
//! - `pasted_key_connects_installs_and_never_leaks`: a fresh ed25519 key made by `ssh-keygen`
//!   for this run (encrypted with a passphrase), its public half put into root's
//!   authorized_keys on lab57 and lab58 (restored by a guard, also when the test fails); the two
//!   hosts added as one batch with the pasted key; host keys scanned and accepted; "test
//!   connection" logs in with the key; pre-flight and a small install from the API run on both
//!   hosts (files written there are checked over the lab's own ssh). Another fresh key that no
//!   host knows, added for lab57's address, gives an authentication error naming that host and
//!   the key's fingerprint. `cairn serve` restarted on the same state: the hosts show their key
//!   as missing (with its fingerprint) and pre-flight says which key to paste again. Then every
//!   API response, the event streams, both servers' stdout and stderr, and every file of the
//!   state dir (SQLite file and WAL included) are searched for the key's text, each of its
//!   lines and the passphrase: no hit.
//!
//! - `pasted_key_file_in_chromium`: the console's Hosts step in Debian's headless Chromium
//!   (`tests/browser/keys.mjs`): a public key pasted by mistake is refused with the reason; the
//!   private key's file chosen (read by the browser into the form) with its passphrase adds
//!   lab58, shown as `pasted key SHA256:…`; test connection, accept, test again: logged in with
//!   it. The key is then in no page text or form field, and not in the server's log or state.
//!
//! Host use: lab57, lab58 (root's authorized_keys, restored byte for byte; `/tmp/cairn-keys-test`).
//! The two tests take turns (both change lab58's authorized_keys).

use cairn_tests::http::{self, Session as Client};
use cairn_tests::{
    BRIDGE, Lab, Served, cairn_bin, free_tcp_port, free_udp_port, npm_ci, scratch, small_bundle,
};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

const HOSTS: [&str; 2] = ["lab57", "lab58"];
const REMOTE: &str = "/tmp/cairn-keys-test";
const TOKEN: &str = "keys-test-admin-token-0123456789";
const PASSPHRASE: &str = "pasted-key-passphrase-4711";
const AUTHORIZED: &str = "/root/.ssh/authorized_keys";

const SITE: &str = r#"- name: keys test
  hosts: all
  gather_facts: false
  tasks:
    - name: a place for the results
      file: { path: /tmp/cairn-keys-test, state: directory, mode: "0700" }
    - name: record who logged in
      shell: id -un > /tmp/cairn-keys-test/who
"#;

/// Puts back each host's authorized_keys as it was (byte for byte) and removes the test's
/// files, also when the test panics.
struct Restore<'a> {
    lab: &'a Lab,
    saved: Vec<(&'static str, String)>,
}

/// One test at a time on these hosts' authorized_keys.
static HOSTS_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Restore<'_> {
    fn save<'a>(lab: &'a Lab, hosts: &[&'static str]) -> Restore<'a> {
        let saved = hosts
            .iter()
            .map(|h| {
                let o = lab.ssh(h, &format!("base64 -w0 {AUTHORIZED}"));
                assert!(o.status.success(), "{h}: cannot read {AUTHORIZED}");
                (*h, String::from_utf8(o.stdout).unwrap())
            })
            .collect();
        Restore { lab, saved }
    }
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        for (h, b64) in &self.saved {
            // The lab's own key (which this ssh uses) is in the saved file: restoring it keeps
            // the way in.
            let o = self.lab.ssh(
                h,
                &format!(
                    "echo {b64} | base64 -d > {AUTHORIZED}.cairn-restore && \
                     chmod 600 {AUTHORIZED}.cairn-restore && mv {AUTHORIZED}.cairn-restore {AUTHORIZED}; \
                     rm -rf {REMOTE}"
                ),
            );
            if !o.status.success() {
                eprintln!(
                    "{h}: restoring {AUTHORIZED} failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
    }
}

/// A fresh ed25519 key: (private text, public line, `SHA256:` fingerprint).
fn keygen(dir: &Path, name: &str, passphrase: &str) -> (String, String, String) {
    let out = keygen_keep(dir, name, passphrase);
    // Only the pasted copy may exist from now on: the test then looks for the text everywhere.
    std::fs::remove_file(dir.join(name)).unwrap();
    out
}

/// [`keygen`], the private key's file left in place (0600, for the browser to read).
fn keygen_keep(dir: &Path, name: &str, passphrase: &str) -> (String, String, String) {
    let path = dir.join(name);
    let p = path.to_str().unwrap();
    let run = |args: &[&str]| {
        let o = Command::new("ssh-keygen").args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    run(&["-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f", p]);
    let fp = run(&["-l", "-E", "sha256", "-f", &format!("{p}.pub")]);
    (
        std::fs::read_to_string(&path).unwrap(),
        std::fs::read_to_string(format!("{p}.pub")).unwrap(),
        fp.split_whitespace().nth(1).unwrap().to_string(),
    )
}

/// A bundle with one file and the test playbook.
fn bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let b = small_bundle(dir, "keystest", "hello from the keys test\n", Some(SITE));
    (b, dir.join("pb"))
}

/// A run's events to its `end` (each kept), and the end's status.
fn follow(c: &Client, run: i64) -> String {
    let (status, mut s) = http::events(
        c.addr,
        &format!("/api/runs/{run}/events?after=0"),
        &[("Cookie", &c.cookie)],
    );
    assert_eq!(status, 200);
    loop {
        let ev = s.next_event().expect("the stream ended without `end`");
        c.keep(&ev.data);
        if ev.event == "end" {
            let v: Value = serde_json::from_str(&ev.data).unwrap();
            return v["status"].as_str().unwrap_or_default().to_string();
        }
    }
}

/// `cairn serve` on `state`, its stdout (where console runs print) appended to `out`.
fn serve(bundle: &Path, pb: &Path, state: &Path, out: &Path) -> (Served, SocketAddr) {
    let listen: SocketAddr = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"))
        .parse()
        .unwrap();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["serve", "--bundle"])
        .arg(bundle)
        .args(["--listen", &listen.to_string(), "--no-ntp", "--state-dir"])
        .arg(state)
        .args(["--playbooks", pb.to_str().unwrap()])
        .env("CAIRN_ADMIN_TOKEN", TOKEN)
        // Every log line there is (the transport's included), so the search below covers them.
        .env("CAIRN_LOG", "debug")
        .env_remove("SSH_AUTH_SOCK");
    let stdout = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .unwrap();
    (
        Served::spawn_with_stdout(cmd, listen, stdout.into()),
        listen,
    )
}

/// What must never show: each line of the two keys' text (base64: any one of them is a piece
/// of a key), and the passphrase.
fn secret_lines<'a>(key: &'a str, stranger: &'a str) -> Vec<&'a str> {
    let mut out: Vec<&str> = key
        .lines()
        .chain(stranger.lines())
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(out.len() >= 6, "{out:?}");
    out.push(PASSPHRASE);
    out
}

/// Files under `dir` holding `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_containing(&p, needle));
        } else if let Ok(b) = std::fs::read(&p)
            && b.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            out.push(p);
        }
    }
    out
}

#[test]
fn pasted_key_connects_installs_and_never_leaks() {
    let lab = Lab::from_env();
    let dir = scratch("api-keys");
    let (bundle, pb) = bundle(&dir);
    let state = dir.join("state");
    let stdout = dir.join("serve.out");
    let (key, public, fingerprint) = keygen(&dir, "pasted", PASSPHRASE);
    let (stranger, _, stranger_fp) = keygen(&dir, "stranger", "");
    assert!(key.contains("-----BEGIN OPENSSH PRIVATE KEY-----"), "{key}");

    let _turn = HOSTS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _restore = Restore::save(&lab, &HOSTS);
    for h in HOSTS {
        let o = lab.ssh(h, &format!("echo '{}' >> {AUTHORIZED}", public.trim()));
        assert!(o.status.success(), "{h}: installing the test key failed");
    }

    let (server, addr) = serve(&bundle, &pb, &state, &stdout);
    let c = Client::login(addr, TOKEN);
    // One batch, one pasted key (encrypted: its passphrase alongside).
    let added = c.ok(
        "POST",
        "/api/hosts",
        json!({
            "address": format!("{}.[67:68]", lab.net),
            "name": "lab[57:58]",
            "user": "root",
            "auth": { "kind": "key", "private_key": key, "passphrase": PASSPHRASE },
        }),
    );
    for (i, h) in HOSTS.iter().enumerate() {
        assert_eq!(added[i]["id"], *h, "{added}");
        assert_eq!(added[i]["auth_kind"], "key", "{added}");
        assert_eq!(added[i]["key_fingerprint"], fingerprint.as_str(), "{added}");
        assert_eq!(added[i]["secret_held"], true, "{added}");
    }
    // A key no host knows, for lab57's address.
    c.ok(
        "POST",
        "/api/hosts",
        json!({
            "address": lab.address("lab57"),
            "name": "stranger57",
            "user": "root",
            "auth": { "kind": "key", "private_key": stranger },
        }),
    );

    // Host keys accepted; then "test connection" logs in with the pasted key.
    for h in HOSTS {
        let scan = c.ok("POST", &format!("/api/hosts/{h}/scan"), json!({}));
        assert_eq!(scan["host"]["trust"], "scanned", "{scan}");
        let fp = scan["host"]["fingerprint"].clone();
        c.ok(
            "POST",
            &format!("/api/hosts/{h}/accept"),
            json!({ "fingerprint": fp }),
        );
        let test = c.ok("POST", &format!("/api/hosts/{h}/scan"), json!({}));
        assert_eq!(test["host"]["trust"], "trusted", "{test}");
        assert_eq!(
            test["host"]["scan_error"],
            Value::Null,
            "{h} did not log in: {test}"
        );
    }
    // The stranger's host key is lab57's, trusted now: only its login fails, and says so.
    let wrong = c.ok("POST", "/api/hosts/stranger57/scan", json!({}));
    let err = wrong["host"]["scan_error"].as_str().unwrap_or_default();
    assert_eq!(
        err,
        format!(
            "stranger57: authentication failed for user \"root\" (tried: key {stranger_fp} \
             (held in memory); server accepts: publickey)"
        ),
        "{wrong}"
    );
    assert_eq!(
        c.send("DELETE", "/api/hosts/stranger57", json!({})).status,
        204
    );

    // Pre-flight and an install from the API, both authenticating with the pasted key.
    c.ok(
        "PUT",
        "/api/roles",
        json!({ "roles": { "etcd": ["lab57"], "kube_master": ["lab57"], "kube_node": ["lab58"] } }),
    );
    c.ok(
        "PUT",
        "/api/cluster",
        json!({ "name": "keystest", "installer_address": BRIDGE,
                "installer_port": free_tcp_port(BRIDGE), "ntp_port": free_udp_port(BRIDGE) }),
    );
    let pf = c.ok("POST", "/api/preflight", json!({}))["run"]
        .as_i64()
        .unwrap();
    let rec = c.ok("GET", &format!("/api/runs/{pf}"), json!({}));
    for h in HOSTS {
        let ssh = rec["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["host"] == h && k["id"] == "ssh");
        let others = rec["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["host"] == h)
            .count();
        // An unreachable host is a failed `ssh` check and nothing else.
        assert!(
            others > 1 && ssh.is_none_or(|k| k["status"] != "fail"),
            "{h} was not reached by pre-flight: {rec}"
        );
    }
    let run = c.ok("POST", "/api/install", json!({ "ignore_preflight": true }))["run"]
        .as_i64()
        .unwrap();
    assert_eq!(follow(&c, run), "ok");
    for h in HOSTS {
        assert_eq!(
            lab.ssh_stdout(h, &format!("cat {REMOTE}/who")),
            "root\n",
            "{h}"
        );
    }
    let yaml = c.get("/api/cluster.yaml").body;
    assert!(
        yaml.contains("pasted into the console for lab57, lab58 are not in this file"),
        "{yaml}"
    );
    // The store as the running server has it: the SQLite file and its write-ahead log.
    assert!(
        state.join("cairn.db-wal").exists(),
        "no WAL to search while the server runs"
    );
    let wal_time = secret_lines(&key, &stranger)
        .into_iter()
        .flat_map(|n| files_containing(&state, n))
        .collect::<Vec<_>>();
    assert!(wal_time.is_empty(), "the key reached {wal_time:?}");
    let (_, log1) = server.stop();

    // Restarted: the key is gone with the old process; the console is told which one to paste.
    let (server, addr) = serve(&bundle, &pb, &state, &stdout);
    let c2 = Client::login(addr, TOKEN);
    let hosts = c2.ok("GET", "/api/hosts", json!({}));
    for h in hosts.as_array().unwrap() {
        assert_eq!(h["secret_missing"], true, "{h}");
        assert_eq!(h["secret_held"], false, "{h}");
        assert_eq!(h["key_fingerprint"], fingerprint.as_str(), "{h}");
    }
    let r = c2.send("POST", "/api/preflight", json!({}));
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.json()["error"],
        format!(
            "host lab57 needs its private key ({fingerprint}) pasted again (secrets are kept in \
             memory only and the server restarted): remove the host and add it again"
        )
    );
    let (_, log2) = server.stop();

    // Nowhere: not in a response, an event, a log line, or a file of the state dir.
    let out = std::fs::read_to_string(&stdout).unwrap_or_default();
    let seen = format!("{}{}", c.seen(), c2.seen());
    assert!(seen.contains(&fingerprint), "the responses were not kept");
    for needle in secret_lines(&key, &stranger) {
        for (what, text) in [
            ("an API response", &seen),
            ("the server log", &log1),
            ("the restarted server's log", &log2),
            ("the server's stdout", &out),
        ] {
            assert!(!text.contains(needle), "{what} holds the key: {needle}");
        }
        let leaked = files_containing(&state, needle);
        assert!(leaked.is_empty(), "the key reached {leaked:?}");
    }
    assert!(
        state.join("cairn.db").exists(),
        "the store was not where it was searched"
    );
}

#[test]
fn pasted_key_file_in_chromium() {
    let lab = Lab::from_env();
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: apt-get install chromium (.ci/run does)"
    );
    let dir = scratch("api-keys-browser");
    let (bundle, pb) = bundle(&dir);
    let state = dir.join("state");
    let stdout = dir.join("serve.out");
    let (key, public, fingerprint) = keygen_keep(&dir, "chosen", PASSPHRASE);
    let host = "lab58";

    let _turn = HOSTS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _restore = Restore::save(&lab, &[host]);
    let o = lab.ssh(host, &format!("echo '{}' >> {AUTHORIZED}", public.trim()));
    assert!(o.status.success(), "{host}: installing the test key failed");

    let (server, addr) = serve(&bundle, &pb, &state, &stdout);
    let browser = cairn_tests::repo_root().join("tests/browser");
    npm_ci(&browser);
    let o = Command::new("node")
        .arg(browser.join("keys.mjs"))
        .current_dir(&browser)
        .env("URL", format!("http://{addr}"))
        .env("TOKEN", TOKEN)
        .env("ADDRESS", lab.address(host))
        .env("NAME", host)
        .env("KEY_FILE", dir.join("chosen"))
        .env("PASSPHRASE", PASSPHRASE)
        .env("PUBLIC", public.trim())
        .env("FINGERPRINT", &fingerprint)
        .env(
            "SHOTS",
            cairn_tests::repo_root().join("target/console-keys"),
        )
        .output()
        .expect("node is needed for the browser test");
    std::fs::remove_file(dir.join("chosen")).unwrap();
    let (_, log) = server.stop();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}{out}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("RESULT "), "{out}");
    let served_out = std::fs::read_to_string(&stdout).unwrap_or_default();
    let mut needles: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----")).collect();
    needles.push(PASSPHRASE);
    for needle in needles {
        assert!(!log.contains(needle), "the server log holds the key");
        assert!(
            !served_out.contains(needle),
            "the server's stdout holds the key"
        );
        let leaked = files_containing(&state, needle);
        assert!(leaked.is_empty(), "the key reached {leaked:?}");
    }
}
