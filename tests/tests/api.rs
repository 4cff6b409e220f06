//! `cairn serve`'s `/api` end to end, as the console uses it, over real HTTP with lab hosts.
//!
//! - `auth_csrf_and_secrets`: 401 without a session and with a wrong token, 403 without the CSRF
//!   header or from another Origin, login/logout, hosts added with a password (lab34–36, user
//!   ops) whose secret never comes back from any GET nor reaches a file of the state dir; the
//!   bundle endpoints still answer beside the API.
//! - `wizard_tofu_preflight_install_and_live_events`: on a fresh state dir, hosts lab34–36
//!   (root, the lab key): scan (fingerprint = `ssh-keygen -l` of the lab's known key, nothing
//!   trusted), accept with a wrong fingerprint (409), accept (known_hosts written), roles
//!   validated, pre-flight from the API (stored as a run with checks), an install from the API
//!   with a small playbook set and its events followed over SSE to `end`; then `cairn install`
//!   started in ANOTHER process with the cluster.yaml the API generated: its run is followed live
//!   over SSE (latency measured), a second install from the API meanwhile gets 409 (lock), lab36
//!   fails (marker file) and `retry-failed` runs only lab36 again.
//!
//! Host use: lab34, lab35, lab36 (`/tmp/cairn-api-test` and the marker, removed by a guard).

use cairn_tests::http::{self, Session as Client};
use cairn_tests::{
    BRIDGE, Lab, OPS_PASSWORD, Served, cairn_bin, free_tcp_port, free_udp_port, scratch,
    small_bundle,
};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HOSTS: [&str; 3] = ["lab34", "lab35", "lab36"];
const REMOTE: &str = "/tmp/cairn-api-test";
const MARKER: &str = "/tmp/cairn-api-broken";
const TOKEN: &str = "api-test-admin-token-0123456789";

const SITE: &str = r#"- name: api test
  hosts: all
  gather_facts: false
  tasks:
    - name: a place for the results
      file: { path: /tmp/cairn-api-test, state: directory, mode: "0700" }
    - name: record the cluster
      copy: { dest: /tmp/cairn-api-test/cluster, content: "{{ cairn_cluster_name }}\n" }
    - name: take a while
      command: sleep {{ sleep_seconds | default(1) }}
    - name: one more step
      command: "true"
    - name: refuse while broken
      command: test ! -e /tmp/cairn-api-broken
"#;

struct Restore<'a>(&'a Lab);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        for h in HOSTS {
            self.0.ssh(h, &format!("rm -rf {REMOTE} {MARKER}"));
        }
    }
}

/// A bundle with one file and the test playbooks.
fn bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let b = small_bundle(dir, "apitest", "hello from the api test\n", Some(SITE));
    (b, dir.join("pb"))
}

/// The API as a logged-in browser uses it; the session cookie must be HttpOnly and
/// SameSite=Strict.
fn login(addr: SocketAddr, token: &str) -> Client {
    let c = Client::login(addr, token);
    assert!(
        c.set_cookie.contains("HttpOnly") && c.set_cookie.contains("SameSite=Strict"),
        "{}",
        c.set_cookie
    );
    c
}

fn serve(bundle: &Path, state: &Path, extra: &[&str]) -> (Served, SocketAddr) {
    let listen: SocketAddr = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"))
        .parse()
        .unwrap();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["serve", "--bundle"])
        .arg(bundle)
        .args(["--listen", &listen.to_string(), "--no-ntp", "--state-dir"])
        .arg(state)
        .args(extra)
        .env("CAIRN_ADMIN_TOKEN", TOKEN);
    (Served::spawn(cmd, listen), listen)
}

fn files_contain(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_contain(&p, needle));
        } else if let Ok(b) = std::fs::read(&p)
            && b.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            out.push(p);
        }
    }
    out
}

#[test]
fn auth_csrf_and_secrets() {
    let lab = Lab::from_env();
    let dir = scratch("api-auth");
    let (bundle, _) = bundle(&dir);
    let state = dir.join("state");
    let (server, addr) = serve(&bundle, &state, &[]);

    // Without a session: 401, as JSON, for the API and the event stream.
    for path in [
        "/api/runs",
        "/api/hosts",
        "/api/runs/1/events",
        "/api/cluster.yaml",
    ] {
        let r = http::request(addr, "GET", path, &[], None);
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert_eq!(r.json()["code"], "unauthorized", "{path}");
    }
    let wrong = http::request(
        addr,
        "POST",
        "/api/login",
        &[("X-Cairn-Csrf", "1")],
        Some(r#"{"token":"not-the-token"}"#),
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(
        wrong.json()["error"]
            .as_str()
            .unwrap()
            .contains("wrong token")
    );
    // Login needs the CSRF header too.
    let r = http::request(
        addr,
        "POST",
        "/api/login",
        &[],
        Some(&json!({ "token": TOKEN }).to_string()),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["code"], "csrf");

    let c = login(addr, TOKEN);
    // Logged in: a POST without the header, or from another origin, is refused.
    let add = json!({
        "address": format!("{}.[44:46]", lab.net),
        "name": "lab[34:36]",
        "user": "ops",
        "auth": { "kind": "password", "password": OPS_PASSWORD },
        "become": true,
        "become_password": OPS_PASSWORD,
    });
    let r = http::request(
        addr,
        "POST",
        "/api/hosts",
        &[("Cookie", &c.cookie)],
        Some(&add.to_string()),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = http::request(
        addr,
        "POST",
        "/api/hosts",
        &[
            ("Cookie", &c.cookie),
            ("X-Cairn-Csrf", "1"),
            ("Origin", "http://evil.example"),
        ],
        Some(&add.to_string()),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("cross-origin"), "{}", r.body);
    let r = http::request(
        addr,
        "POST",
        "/api/hosts",
        &[
            ("Cookie", &c.cookie),
            ("X-Cairn-Csrf", "1"),
            ("Origin", &format!("http://{addr}")),
        ],
        Some(&add.to_string()),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!r.body.contains(OPS_PASSWORD), "{}", r.body);
    let hosts = r.json();
    assert_eq!(hosts.as_array().unwrap().len(), 3);
    assert_eq!(hosts[0]["id"], "lab34");
    assert_eq!(hosts[0]["secret_held"], true);
    assert_eq!(hosts[0]["trust"], "unknown");

    // Secrets never come back, from any GET.
    for path in [
        "/api/hosts",
        "/api/wizard",
        "/api/cluster.yaml",
        "/api/roles",
        "/api/runs",
    ] {
        let r = c.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert!(
            !r.body.contains(OPS_PASSWORD),
            "{path} returned the secret: {}",
            r.body
        );
    }
    let yaml = c.get("/api/cluster.yaml").body;
    assert!(
        yaml.contains("password_env: CAIRN_PASSWORD_LAB34"),
        "{yaml}"
    );
    // The scan authenticates with the in-memory password only after the key is trusted; here
    // it shows the key and trusts nothing.
    let scan = c.ok("POST", "/api/hosts/lab34/scan", json!({}));
    assert_eq!(scan["host"]["trust"], "scanned", "{scan}");

    // The bundle endpoints still answer on the same port, without a session.
    let r = http::request(addr, "GET", "/files/hello.txt", &[], None);
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "hello from the api test\n")
    );
    let info = c.ok("GET", "/api/bundle", json!({}));
    assert_eq!(info["name"], "apitest");
    assert_eq!(info["verified"], true);
    assert_eq!(info["contents"]["files"], json!(["hello.txt"]));

    // Logout ends the session server-side.
    assert_eq!(c.send("POST", "/api/logout", json!({})).status, 204);
    assert_eq!(c.get("/api/hosts").status, 401);

    let (_, log) = server.stop();
    assert!(
        !log.contains(OPS_PASSWORD),
        "the server logged the secret:\n{log}"
    );
    assert!(!log.contains(TOKEN), "the server logged the token:\n{log}");
    let leaked = files_contain(&state, OPS_PASSWORD);
    assert!(leaked.is_empty(), "the secret reached {leaked:?}");
    let leaked = files_contain(&state, TOKEN);
    assert!(leaked.is_empty(), "the token reached {leaked:?}");
}

/// The lab's recorded fingerprint of `host` (what an operator compares with).
fn lab_fingerprint(lab: &Lab, host: &str) -> String {
    let o = Command::new("ssh-keygen")
        .args(["-l", "-F", &lab.address(host), "-f"])
        .arg(&lab.known_hosts)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint for {host} in {text}"))
        .to_string()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Follow a run's events to `end`: (envelopes, end summary, latency of each event in ms).
fn follow(c: &Client, run: i64) -> (Vec<Value>, Value, Vec<i64>) {
    let (status, mut s) = http::events(
        c.addr,
        &format!("/api/runs/{run}/events?after=0"),
        &[("Cookie", &c.cookie)],
    );
    assert_eq!(status, 200);
    let mut envs = Vec::new();
    let mut lat = Vec::new();
    loop {
        let ev = s.next_event().expect("the stream ended without `end`");
        let v: Value = serde_json::from_str(&ev.data).unwrap();
        match ev.event.as_str() {
            "envelope" => {
                assert_eq!(ev.id.as_deref(), Some(v["seq"].to_string().as_str()));
                lat.push(now_ms() - v["time_ms"].as_i64().unwrap());
                envs.push(v);
            }
            "end" => return (envs, v, lat),
            other => panic!("unexpected event {other}: {}", ev.data),
        }
    }
}

fn gapless(envs: &[Value]) {
    for (i, e) in envs.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "gap at {i}: {e}");
    }
}

#[test]
fn wizard_tofu_preflight_install_and_live_events() {
    let lab = Lab::from_env();
    let _restore = Restore(&lab);
    let dir = scratch("api-wizard");
    let (bundle, pb) = bundle(&dir);
    let state = dir.join("state");
    let (server, addr) = serve(&bundle, &state, &["--playbooks", pb.to_str().unwrap()]);
    let c = login(addr, TOKEN);

    c.ok(
        "POST",
        "/api/hosts",
        json!({
            "address": format!("{}.[44:46]", lab.net),
            "name": "lab[34:36]",
            "user": "root",
            "auth": { "kind": "key_path", "path": lab.key("id_ed25519").display().to_string() },
        }),
    );
    // Host keys: shown, not trusted, until accepted one by one with the fingerprint seen.
    let r = c.send("POST", "/api/preflight", json!({}));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("not accepted yet"), "{}", r.body);
    for h in HOSTS {
        let scan = c.ok("POST", &format!("/api/hosts/{h}/scan"), json!({}));
        assert_eq!(scan["host"]["trust"], "scanned", "{scan}");
        let fp = scan["host"]["fingerprint"].as_str().unwrap().to_string();
        assert_eq!(fp, lab_fingerprint(&lab, h), "{h}");
        assert!(
            !state.join("known_hosts").exists()
                || !std::fs::read_to_string(state.join("known_hosts"))
                    .unwrap()
                    .contains(&lab.address(h))
        );
        let wrong = c.send(
            "POST",
            &format!("/api/hosts/{h}/accept"),
            json!({ "fingerprint": "SHA256:AAAA" }),
        );
        assert_eq!(wrong.status, 409, "{}", wrong.body);
        let v = c.ok(
            "POST",
            &format!("/api/hosts/{h}/accept"),
            json!({ "fingerprint": fp }),
        );
        assert_eq!(v["trust"], "trusted", "{v}");
        let again = c.ok("POST", &format!("/api/hosts/{h}/scan"), json!({}));
        assert_eq!(again["host"]["trust"], "trusted", "{again}");
        assert_eq!(again["host"]["scan_error"], Value::Null, "{again}");
    }
    let kh = std::fs::read_to_string(state.join("known_hosts")).unwrap();
    assert_eq!(kh.lines().count(), 3, "{kh}");

    // Roles, validated live.
    let bad = c.ok(
        "PUT",
        "/api/roles",
        json!({ "roles": { "etcd": ["lab34", "lab35"], "kube_master": ["lab34"] } }),
    );
    assert_eq!(bad["valid"], false);
    assert!(bad["problems"].to_string().contains("odd number"), "{bad}");
    let good = c.ok("PUT", "/api/roles", json!({ "roles": {
        "etcd": ["lab34", "lab35", "lab36"], "kube_master": ["lab34"], "kube_node": ["lab35", "lab36"] } }));
    assert_eq!(good["valid"], true, "{good}");
    let ntp = free_udp_port(BRIDGE);
    let http_port = free_tcp_port(BRIDGE);
    c.ok("PUT", "/api/cluster", json!({
        "name": "apitest", "installer_address": BRIDGE, "installer_port": http_port, "ntp_port": ntp }));

    // Pre-flight, stored as a run with every host's checks.
    let pf = c.ok("POST", "/api/preflight", json!({}));
    let pf_run = pf["run"].as_i64().unwrap();
    let rec = c.ok("GET", &format!("/api/runs/{pf_run}"), json!({}));
    assert_eq!(rec["run"]["kind"], "preflight");
    for h in HOSTS {
        assert!(
            rec["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["host"] == h),
            "{h}: {rec}"
        );
    }

    // An install from the API, followed over SSE to its end.
    let run = c.ok("POST", "/api/install", json!({ "ignore_preflight": true }))["run"]
        .as_i64()
        .unwrap();
    let (envs, end, _) = follow(&c, run);
    gapless(&envs);
    assert_eq!(end["status"], "ok", "{end}");
    assert_eq!(envs.last().unwrap()["type"], "recap");
    let rec = c.ok("GET", &format!("/api/runs/{run}"), json!({}));
    assert_eq!(rec["hosts"].as_array().unwrap().len(), 3, "{rec}");
    assert_eq!(rec["tasks"].as_array().unwrap().len(), 5, "{rec}");
    assert_eq!(rec["results"].as_array().unwrap().len(), 15, "{rec}");
    for h in HOSTS {
        let o = lab.ssh(h, &format!("cat {REMOTE}/cluster"));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "apitest\n", "{h}");
    }
    let runs = c.ok("GET", "/api/runs", json!({}));
    assert_eq!(runs[0]["id"], run, "{runs}");

    // The CLI in another process, with the cluster.yaml the API wrote: followed live.
    let yaml = c.get("/api/cluster.yaml").body;
    let config = dir.join("cluster.yaml");
    std::fs::write(&config, &yaml).unwrap();
    lab.ssh("lab36", &format!("touch {MARKER}"));
    let cli = Command::new(cairn_bin())
        .args(["install", "--config", config.to_str().unwrap(), "--json"])
        .args(["--playbooks", pb.to_str().unwrap(), "--ignore-preflight"])
        .arg(failing_ids(&c, pf_run))
        .args(["-e", "sleep_seconds=3"])
        .env("CAIRN_STATE_DIR", &state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let cli_run = loop {
        let runs = c.ok("GET", "/api/runs", json!({}));
        if let Some(r) = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "install" && r["id"].as_i64().unwrap() > run)
        {
            break r["id"].as_i64().unwrap();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the CLI's run never showed"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // One install per cluster: the API refuses a second one while the CLI's runs.
    let busy = c.send("POST", "/api/install", json!({}));
    assert_eq!(busy.status, 409, "{}", busy.body);
    assert!(
        busy.body.contains("another `cairn install`"),
        "{}",
        busy.body
    );
    let (envs, end, lat) = follow(&c, cli_run);
    let out = cli.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    gapless(&envs);
    assert_eq!(end["status"], "failed", "{end}");
    // Events that arrived while the run went on (not the replayed start): how far behind.
    let mut live: Vec<i64> = lat.iter().copied().filter(|l| *l < 60_000).collect();
    live.sort();
    eprintln!(
        "SSE latency (event emitted in the CLI process -> received by the client), {} events: median {} ms, max {} ms",
        live.len(),
        live[live.len() / 2],
        live.last().unwrap()
    );
    assert!(
        envs.iter().any(|e| e["type"] == "host_result"
            && e["host"] == "lab36"
            && e["outcome"] == "failed")
    );

    // Retry the failed host from the API: only lab36 runs again.
    lab.ssh("lab36", &format!("rm -f {MARKER}"));
    let retry = c.ok(
        "POST",
        &format!("/api/runs/{cli_run}/retry-failed"),
        json!({}),
    )["run"]
        .as_i64()
        .unwrap();
    let (envs, end, _) = follow(&c, retry);
    assert_eq!(end["status"], "ok", "{end}");
    let hosts: std::collections::BTreeSet<&str> = envs
        .iter()
        .filter(|e| e["type"] == "host_result")
        .map(|e| e["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.into_iter().collect::<Vec<_>>(), ["lab36"]);
    // Nothing left to retry.
    let r = c.send(
        "POST",
        &format!("/api/runs/{retry}/retry-failed"),
        json!({}),
    );
    assert_eq!(r.status, 422, "{}", r.body);

    // The wizard survives a restart (secrets would not: none were typed here).
    server.stop();
    let (server, addr) = serve(&bundle, &state, &[]);
    let c = login(addr, TOKEN);
    let w = c.ok("GET", "/api/wizard", json!({}));
    assert_eq!(w["hosts"].as_array().unwrap().len(), 3);
    assert_eq!(w["roles"]["valid"], true);
    assert_eq!(w["install_run"], retry);
    drop(server);
}

/// `a,b,c`: the ids of the checks that failed in pre-flight run `run` (or `none`).
fn failing_ids(c: &Client, run: i64) -> String {
    let rec = c.ok("GET", &format!("/api/runs/{run}"), json!({}));
    let ids: Vec<String> = rec["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join(",")
    }
}
