//! The console's pre-flight "Fix" against a real lab host, in headless Chromium
//! (`tests/browser/preflight_fix.mjs`, playwright-core with Debian's `chromium`), then the
//! same endpoint's "fix all safe" over plain HTTP:
//!
//! lab56 gets net.ipv4.ip_forward=0 (a kube role needs 1; `--fix` may set it in a container:
//! it is the container's own network namespace). In the browser: log in, add lab56, accept its
//! key, roles etcd + kube_master, run pre-flight: the check warns with a Fix button (none on
//! `memory`); the button pressed from the keyboard runs pre-flight again with the CLI's
//! `--fix-only` on the server: the page lists what was done (`changed`) and the check passes;
//! broken again (over ssh from the script), a fresh pre-flight warns and "Fix all safe" fixes
//! it the same way. Then, broken again, `POST /api/preflight {"fix": true}` (that button's call):
//! the run's record (`GET /api/runs/ID`) carries the fix (action, outcome, changed) and the
//! re-checked matrix; the host has ip_forward=1 again.
//!
//! Screenshots: `target/console-preflight/`. Needs the console built (`scripts/build-console`),
//! node/npm and /usr/bin/chromium.
//!
//! Host use: lab56 (ip_forward and /etc/sysctl.d/90-cairn.conf, restored by a guard).

use cairn_tests::http;
use cairn_tests::{Lab, Served, cairn_bin, npm_ci, repo_root, scratch, small_bundle};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const HOST: &str = "lab56";
const CHECK: &str = "sysctl:net.ipv4.ip_forward";
const TOKEN: &str = "console-preflight-admin-token-0123456789";

/// Put lab56 back: forwarding off (the containers' default), no Cairn sysctl file.
struct Restore<'a>(&'a Lab);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        self.0.ssh_stdout(
            HOST,
            "echo 0 > /proc/sys/net/ipv4/ip_forward; rm -f /etc/sysctl.d/90-cairn.conf; true",
        );
    }
}

fn break_forwarding(lab: &Lab) {
    lab.ssh_stdout(
        HOST,
        "rm -f /etc/sysctl.d/90-cairn.conf; echo 0 > /proc/sys/net/ipv4/ip_forward",
    );
}

/// A bundle with one file (the server needs one; nothing is installed).
fn bundle(dir: &Path) -> PathBuf {
    small_bundle(dir, "pftest", "hello\n", None)
}

/// Log in over the API: the session cookie.
fn login(addr: SocketAddr) -> String {
    http::Session::login(addr, TOKEN).cookie
}

fn cell<'a>(rec: &'a Value, id: &str) -> &'a Value {
    rec["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["host"] == HOST && c["id"] == id)
        .unwrap_or_else(|| panic!("no {HOST} {id} in {rec:#}"))
}

#[test]
fn fix_in_the_console_repairs_a_lab_host_and_shows_what_it_did() {
    let lab = Lab::from_env();
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: apt-get install chromium (.ci/run does)"
    );
    let _restore = Restore(&lab);
    break_forwarding(&lab);
    let dir = scratch("console-preflight");
    let bundle = bundle(&dir);
    let state = dir.join("state");
    let listen: SocketAddr = format!("127.0.0.1:{}", cairn_tests::free_tcp_port("127.0.0.1"))
        .parse()
        .unwrap();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["serve", "--bundle"])
        .arg(&bundle)
        .args(["--listen", &listen.to_string(), "--no-ntp"])
        .env("CAIRN_STATE_DIR", &state)
        .env("CAIRN_ADMIN_TOKEN", TOKEN)
        .env("NO_COLOR", "1");
    let served = Served::spawn(cmd, listen);

    let browser = repo_root().join("tests/browser");
    npm_ci(&browser);
    let shots = repo_root().join("target/console-preflight");
    let _ = std::fs::remove_dir_all(&shots);
    let o = Command::new("node")
        .arg(browser.join("preflight_fix.mjs"))
        .current_dir(&browser)
        .env("URL", format!("http://{listen}"))
        .env("TOKEN", TOKEN)
        .env("ADDRESS", lab.address(HOST))
        .env("NAME", HOST)
        .env("KEY", lab.key("id_ed25519"))
        .env("CHECK", CHECK)
        .env("KNOWN_HOSTS", &lab.known_hosts)
        .env(
            "BREAK",
            "rm -f /etc/sysctl.d/90-cairn.conf; echo 0 > /proc/sys/net/ipv4/ip_forward",
        )
        .env("SHOTS", &shots)
        .output()
        .expect("node is needed for the browser test");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}{stdout}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("RESULT");
    let r: Value = serde_json::from_str(line).unwrap();
    eprintln!("console preflight fix: {r}");
    assert_eq!(r["fix_outcome"], "changed", "{r}");
    assert!(
        r["fix_text"]
            .as_str()
            .unwrap()
            .contains("set 0 -> 1; persisted in /etc/sysctl.d/90-cairn.conf"),
        "{r}"
    );
    assert!(r["before"].as_str().unwrap().contains("warn"), "{r}");
    assert!(r["after"].as_str().unwrap().starts_with("pass"), "{r}");
    assert_eq!(r["fix_all_outcome"], "changed", "{r}");
    assert_eq!(
        lab.ssh_stdout(HOST, "cat /proc/sys/net/ipv4/ip_forward")
            .trim(),
        "1"
    );

    // "Fix all safe" is the same endpoint with `fix: true`: broken again, fixed again, and the
    // run's record says what was done.
    break_forwarding(&lab);
    let cookie = login(listen);
    let r = http::request(
        listen,
        "POST",
        "/api/preflight",
        &[("Cookie", &cookie), ("X-Cairn-Csrf", "1")],
        Some(&json!({ "fix": true }).to_string()),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let run = r.json()["run"].as_i64().unwrap();
    let t0 = Instant::now();
    let rec = loop {
        let got = http::request(
            listen,
            "GET",
            &format!("/api/runs/{run}"),
            &[("Cookie", &cookie)],
            None,
        );
        assert_eq!(got.status, 200, "{}", got.body);
        let v = got.json();
        if v["run"]["finished_ms"].is_i64() {
            break v;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "{v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let fixes = rec["fixes"].as_array().unwrap_or_else(|| panic!("{rec:#}"));
    let fix = fixes
        .iter()
        .find(|f| f["id"] == CHECK)
        .unwrap_or_else(|| panic!("{rec:#}"));
    assert_eq!(
        fix,
        &json!({
            "host": HOST,
            "id": CHECK,
            "action": "sysctl net.ipv4.ip_forward=1, persisted in /etc/sysctl.d/90-cairn.conf",
            "outcome": "changed",
            "changed": true,
            "text": "set 0 -> 1; persisted in /etc/sysctl.d/90-cairn.conf",
        })
    );
    // Nothing --fix did is reported as changed unless it was this.
    for f in fixes {
        assert!(f["id"] == CHECK || f["changed"] == false, "{f}");
    }
    assert_eq!(cell(&rec, CHECK)["status"], "pass", "{rec:#}");
    assert_eq!(
        lab.ssh_stdout(HOST, "cat /proc/sys/net/ipv4/ip_forward")
            .trim(),
        "1"
    );
    drop(served);
}
