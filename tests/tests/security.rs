//! Security end to end (issue 8) on lab48, lab49, lab50, with the real lab bundle and the
//! shipped `site.yml`:
//!
//! - `secrets_never_leak_files_are_private_and_load_does_not_disturb`: the `ops` user's password
//!   is set to a string made for this run; `cairn install` connects as `ops` with that password
//!   (SSH password auth, from a file) and becomes root through sudo with it (from an
//!   environment variable). While it installs, 50 clients pull packages and registry blobs from
//!   the installer for 10 s (every body's sha256 checked): 0 errors. Then `cairn serve` with an
//!   admin token from `CAIRN_ADMIN_TOKEN` installs the same cluster again from the API (hosts
//!   added with the password and sudo password, keys scanned and accepted, events followed over
//!   SSE), and replays the first install's events. Each secret (the password, the token, the
//!   generated CI passwords, every private key of the PKI, the apt signing key) is looked for in
//!   every output: both processes' stdout and stderr, the `--json` events, every API response
//!   and event stream, and every file of the state dir (the SQLite db with its -wal and -shm
//!   while the server runs, and after): the password and the token appear nowhere, a generated
//!   secret or key only in its own 0600 file. The hosts' sshd logged password logins of `ops`.
//!   Then the modes: the state dir 0700, everything in it owned by the running user, every file
//!   0600 except the few listed in [`READABLE`] (with why).
//! - `a_changed_host_key_is_refused_during_install`: lab50 gets new host keys
//!   (`scripts/lab rekey`: a different sshd key on the same address, which is what a
//!   man-in-the-middle presents) while the install trusts the keys recorded before. The install
//!   stops at pre-flight naming lab50 and both fingerprints, nothing runs anywhere; with
//!   `--ignore-preflight ssh` lab48 and lab49 are installed and lab50 is refused again (exit 4),
//!   nothing ran there (no file, and its sshd logged no login). `rekey` keeps the lab's
//!   known_hosts current.
//! - `wrong_admin_tokens_are_rate_limited`: `cairn serve` on loopback (no lab host): ten wrong
//!   admin tokens get 401, then every login from that address gets 429 with `Retry-After`, the
//!   right token included; the server logs the address, never the token.
//!
//! Host use: lab48, lab49, lab50 only, one test at a time (a lock). Before and after (a guard,
//! also on failure) the services are removed (`cairn_tests::installed::clean`) and `ops`'s
//! password is put back.

use cairn_tests::http::{self, Response};
use cairn_tests::installed::{CleanOnDrop, clean, install_json, lab_bundle, run_ok};
use cairn_tests::{
    BRIDGE, Lab, OPS_PASSWORD, Served, cairn_bin, free_tcp_port, free_udp_port, load, repo_root,
    scratch,
};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HOSTS: [&str; 3] = ["lab48", "lab49", "lab50"];
const CLUSTER: &str = "sec";
/// The tests share the three hosts: one at a time.
static HOSTS_IN_USE: Mutex<()> = Mutex::new(());

/// Files of the state dir that may be readable by others than the owner, and why. Everything
/// else must be 0600 (files) or 0700 (directories).
const READABLE: [(&str, &str); 4] = [
    (
        ".crt",
        "certificates are public (the keys beside them are 0600)",
    ),
    (
        ".pub",
        "public keys (Kubernetes' service-account key pair: sa.key is 0600)",
    ),
    (
        "locks/",
        "the install lock holds only the holder's pid, and its directory nothing else",
    ),
    (
        "playbooks/",
        "the bundle's playbooks, as shipped (no secret: passwords are referenced by path)",
    ),
];

/// A string no fixture contains, for this run only.
fn fresh(tag: &str) -> String {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{tag}-{}-{ns:08x}", std::process::id())
}

/// Sets `ops`'s password on the hosts; puts the lab's back when dropped.
struct OpsPassword<'a>(&'a Lab);

impl OpsPassword<'_> {
    fn set<'a>(lab: &'a Lab, pw: &str) -> OpsPassword<'a> {
        for h in HOSTS {
            let o = lab.ssh(h, &format!("echo 'ops:{pw}' | chpasswd"));
            assert!(o.status.success(), "{h}: {o:?}");
        }
        OpsPassword(lab)
    }
}

impl Drop for OpsPassword<'_> {
    fn drop(&mut self) {
        for h in HOSTS {
            self.0
                .ssh(h, &format!("echo 'ops:{OPS_PASSWORD}' | chpasswd"));
        }
    }
}

/// cluster.yaml for the three hosts: etcd on all, registry on lab48, CI on lab49, monitoring on
/// lab50; `defaults` as given (YAML flow mapping entries).
fn write_config(dir: &Path, lab: &Lab, bundle: &Path, defaults: &str, roles: bool) -> PathBuf {
    let mut y = format!(
        "apiVersion: cairn/v1\nkind: Cluster\nname: {CLUSTER}\ndefaults: {{ {defaults} }}\nhosts:\n"
    );
    for h in HOSTS {
        y.push_str(&format!(
            "  - {{ name: {h}, address: {} }}\n",
            lab.address(h)
        ));
    }
    if roles {
        y.push_str(
            "roles:\n  etcd: [lab48, lab49, lab50]\n  registry: [lab48]\n  ci: [lab49]\n  monitoring: [lab50]\n",
        );
    }
    y.push_str(&format!(
        "installer: {{ address: {BRIDGE}, port: {}, ntp_port: {} }}\nbundle: {}\npki: {{ validity_days: 30 }}\n",
        free_tcp_port(BRIDGE),
        free_udp_port(BRIDGE),
        bundle.display()
    ));
    let p = dir.join("cluster.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

/// `installer.port` of the cluster.yaml [`write_config`] wrote.
fn installer_port(config: &Path) -> u16 {
    let text = std::fs::read_to_string(config).unwrap();
    let line = text.lines().find(|l| l.starts_with("installer:")).unwrap();
    let port = line
        .split("port: ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    port.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_containing(&p, needle));
        } else if let Ok(b) = std::fs::read(&p)
            && b.windows(needle.len()).any(|w| w == needle)
        {
            out.push(p);
        }
    }
    out
}

/// Every entry under `dir`, itself included.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    if dir.is_dir() {
        for e in std::fs::read_dir(dir).unwrap() {
            walk(&e.unwrap().path(), out);
        }
    }
}

/// The secrets to look for: (what, the value, the one file allowed to hold it).
fn generated_secrets(state: &Path) -> Vec<(String, String, Option<PathBuf>)> {
    let mut out = Vec::new();
    let mut all = Vec::new();
    walk(state, &mut all);
    for p in all.iter().filter(|p| p.is_file()) {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(p).unwrap_or_default();
        if p.parent().unwrap().ends_with(format!("secrets/{CLUSTER}")) {
            out.push((name, text.trim().to_string(), Some(p.clone())));
        } else if name.ends_with(".key") || name.ends_with(".asc") {
            // A line from the middle of the PEM/armor: key material, not a header.
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.len() >= 40 && !l.contains(' '))
                .collect();
            assert!(!lines.is_empty(), "{}: no key material?", p.display());
            out.push((
                p.strip_prefix(state).unwrap().display().to_string(),
                lines[lines.len() / 2].to_string(),
                Some(p.clone()),
            ));
        }
    }
    out
}

/// The API as a logged-in browser uses it, keeping every body it received.
struct Client {
    addr: SocketAddr,
    cookie: String,
    seen: String,
}

impl Client {
    fn login(addr: SocketAddr, token: &str) -> Client {
        let r = http::request(
            addr,
            "POST",
            "/api/login",
            &[("X-Cairn-Csrf", "1")],
            Some(&json!({ "token": token }).to_string()),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let set = r
            .header("set-cookie")
            .expect("a session cookie")
            .to_string();
        Client {
            addr,
            cookie: set.split(';').next().unwrap().to_string(),
            seen: format!("{:?}\n{}\n", r.headers, r.body),
        }
    }

    fn call(&mut self, method: &str, path: &str, body: Option<Value>) -> Response {
        let body = body.map(|b| b.to_string());
        let r = http::request(
            self.addr,
            method,
            path,
            &[("Cookie", &self.cookie), ("X-Cairn-Csrf", "1")],
            body.as_deref(),
        );
        self.seen.push_str(&format!(
            "{method} {path} {}\n{:?}\n{}\n",
            r.status, r.headers, r.body
        ));
        r
    }

    fn ok(&mut self, method: &str, path: &str, body: Value) -> Value {
        let r = self.call(method, path, (method != "GET").then_some(body));
        assert!(
            (200..300).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
        if r.body.is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    /// A run's events over SSE to `end`: the end summary (the raw stream is kept).
    fn follow(&mut self, run: i64) -> Value {
        let (status, mut s) = http::events(
            self.addr,
            &format!("/api/runs/{run}/events?after=0"),
            &[("Cookie", &self.cookie)],
        );
        assert_eq!(status, 200);
        loop {
            let ev = s.next_event().expect("the stream ended without `end`");
            self.seen.push_str(&format!("{}\n{}\n", ev.event, ev.data));
            if ev.event == "end" {
                return serde_json::from_str(&ev.data).unwrap();
            }
        }
    }
}

/// `CMD` on `host` through nsenter (`scripts/lab exec`), not SSH: no login is added.
fn exec_stdout(host: &str, cmd: &str) -> String {
    let o = Command::new(repo_root().join("scripts/lab"))
        .args(["exec", host, "sh", "-c", cmd])
        .output()
        .expect("scripts/lab exec");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Count of sshd's log lines on `host` containing `what`, logged since `since` (seconds since
/// the epoch: the lab hosts share this machine's clock). Only a window: the hosts' journal is
/// in memory and rotated as the install's sudo lines fill it, so a count over the whole journal
/// can stay flat or even drop. The journal is read through `scripts/lab exec`, which must
/// succeed (an empty answer would count as "no login").
fn sshd_log_count(host: &str, what: &str, since: u64) -> usize {
    let o = Command::new(repo_root().join("scripts/lab"))
        .args([
            "exec",
            host,
            "journalctl",
            "-u",
            "ssh",
            "-o",
            "cat",
            "--no-pager",
        ])
        .arg(format!("--since=@{since}"))
        .output()
        .expect("scripts/lab exec");
    assert!(
        o.status.success(),
        "reading {host}'s journal: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

/// Whether `host`'s sshd logged more than `n` lines containing `what` since `since`, waiting
/// up to 20 s (journald writes what sshd sends it a moment later on a loaded machine).
fn sshd_logged_more(host: &str, what: &str, since: u64, n: usize) -> bool {
    let t0 = Instant::now();
    loop {
        if sshd_log_count(host, what, since) > n {
            return true;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Now, in seconds since the epoch.
fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
}

#[test]
fn secrets_never_leak_files_are_private_and_load_does_not_disturb() {
    let _one = HOSTS_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::from_env();
    let dir = scratch("security");
    clean(&lab, &HOSTS);
    let _clean = CleanOnDrop {
        lab: lab.clone(),
        hosts: HOSTS.to_vec(),
    };
    let password = fresh("ops-pw");
    let token = fresh("admin-token-0123456789abcdef");
    let _restore = OpsPassword::set(&lab, &password);
    let since = epoch_now();

    let t0 = Instant::now();
    let (bundle, _images) = lab_bundle(&dir);
    eprintln!("lab bundle built in {:?}", t0.elapsed());
    let pw_file = dir.join("ops-password");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&pw_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = write_config(
        &dir,
        &lab,
        &bundle,
        &format!(
            "user: ops, become: true, become_password_env: CAIRN_SECURITY_BECOME, auth: {{ password_file: {}, agent: false }}",
            pw_file.display()
        ),
        true,
    );
    let installer: SocketAddr = format!("{BRIDGE}:{}", installer_port(&config))
        .parse()
        .unwrap();
    // SAFETY (of intent): this test's own variable; the other test does not read it.
    unsafe { std::env::set_var("CAIRN_SECURITY_BECOME", &password) };
    let state = dir.join("state");

    // 1. The install from the CLI, 50 clients pulling from its server meanwhile.
    let loader = std::thread::spawn(move || {
        let t0 = Instant::now();
        while std::net::TcpStream::connect(installer).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "the installer never listened on {installer}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let targets = load::installer_targets(
            installer,
            &[("cairn/busybox", "1.36"), ("cairn/hello", "1.0")],
        );
        (
            targets.len(),
            load::run(installer, &targets, 50, Duration::from_secs(10)),
        )
    });
    let t = Instant::now();
    let cli = install_json(&lab, &state, &config, &[], None, &dir.join("1-cli"));
    eprintln!(
        "cairn install (as ops, password and sudo password) took {:?}",
        t.elapsed()
    );
    assert_eq!(cli.code, Some(0), "{}", cli.stderr);
    for h in HOSTS {
        assert_eq!(cli.recap(h, "failed"), 0, "{h}");
    }
    let (paths, report) = loader.join().expect("the load thread");
    eprintln!(
        "load during the install: 50 clients x 10 s over {paths} paths: {} requests ({:.0}/s), {} MB, {} errors",
        report.requests,
        report.per_second(),
        report.bytes / 1_000_000,
        report.errors
    );
    assert!(paths > 100, "packages and blobs to pull: {paths}");
    assert!(report.requests > 0);
    assert_eq!(report.errors, 0, "{:?}", report.first_errors);
    // Password authentication was used (no key was given), and sudo with the password.
    for h in HOSTS {
        assert!(
            sshd_logged_more(h, "Accepted password for ops", since, 0),
            "{h}: no password login of ops"
        );
        assert_eq!(
            sshd_log_count(h, "Accepted publickey for ops", since),
            0,
            "{h}"
        );
    }
    let cli_run = cli.run_id();
    let cli_out = format!(
        "{}\n{}",
        std::fs::read_to_string(dir.join("1-cli.jsonl")).unwrap(),
        cli.stderr
    );

    // 2. The same cluster installed again from the API, secrets typed in.
    let listen: SocketAddr = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"))
        .parse()
        .unwrap();
    let serve_out = dir.join("serve.stdout");
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["serve", "--bundle"])
        .arg(&bundle)
        .args(["--listen", &listen.to_string(), "--no-ntp", "--state-dir"])
        .arg(&state)
        .arg("--playbooks")
        .arg(repo_root().join("playbooks"))
        .env("CAIRN_ADMIN_TOKEN", &token);
    let server = Served::spawn_with_stdout(
        cmd,
        listen,
        Stdio::from(std::fs::File::create(&serve_out).unwrap()),
    );
    let mut c = Client::login(listen, &token);
    c.ok(
        "POST",
        "/api/hosts",
        json!({
            "address": format!("{}.[58:60]", lab.net),
            "name": "lab[48:50]",
            "user": "ops",
            "auth": { "kind": "password", "password": password },
            "become": true,
            "become_password": password,
        }),
    );
    for h in HOSTS {
        let scan = c.ok("POST", &format!("/api/hosts/{h}/scan"), json!({}));
        let fp = scan["host"]["fingerprint"].as_str().unwrap().to_string();
        c.ok(
            "POST",
            &format!("/api/hosts/{h}/accept"),
            json!({ "fingerprint": fp }),
        );
    }
    c.ok(
        "PUT",
        "/api/roles",
        // The console asks for a Kubernetes control plane: the lab bundle has no Kubernetes
        // binaries, so those roles run in check mode (but their PKI is made: more keys).
        json!({ "roles": { "etcd": HOSTS, "kube_master": ["lab48"], "kube_node": ["lab49", "lab50"],
                           "registry": ["lab48"], "ci": ["lab49"], "monitoring": ["lab50"] } }),
    );
    c.ok(
        "PUT",
        "/api/cluster",
        json!({ "name": CLUSTER, "installer_address": BRIDGE,
                "installer_port": free_tcp_port(BRIDGE), "ntp_port": free_udp_port(BRIDGE) }),
    );
    let t = Instant::now();
    // The services of the first install listen on their ports: pre-flight says so.
    let run = c.ok("POST", "/api/install", json!({ "ignore_preflight": true }))["run"]
        .as_i64()
        .unwrap();
    let end = c.follow(run);
    eprintln!("the install from the API took {:?}", t.elapsed());
    assert_eq!(end["status"], "ok", "{end}");
    let end = c.follow(cli_run);
    assert_eq!(end["status"], "ok", "{end}");
    for path in [
        "/api/hosts",
        "/api/wizard",
        "/api/cluster.yaml",
        "/api/roles",
        "/api/runs",
        "/api/bundle",
        &format!("/api/runs/{run}"),
        &format!("/api/runs/{cli_run}"),
    ] {
        let r = c.call("GET", path, None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    for h in HOSTS {
        assert!(
            sshd_logged_more(h, "Accepted password for ops", since, 1),
            "{h}: the API's install did not log in with the password"
        );
    }

    // 3. No secret anywhere but its own file: while the server runs (the store's -wal and
    // -shm exist), then after it stopped.
    let ci_admin = state.join(format!("secrets/{CLUSTER}/ci-admin-password"));
    assert!(
        ci_admin.exists(),
        "the install generated the CI admin password"
    );
    let mut secrets = vec![
        ("the ops password".to_string(), password.clone(), None),
        ("the admin token".to_string(), token.clone(), None),
    ];
    secrets.extend(generated_secrets(&state));
    let names: Vec<&str> = secrets.iter().map(|s| s.0.as_str()).collect();
    for want in [
        "ci-admin-password",
        "ci-worker-password",
        "pki/sec/ca.key",
        "serve/apt-signing-key.asc",
    ] {
        assert!(names.contains(&want), "{want} not among {names:?}");
    }
    assert!(state.join("cairn.db-wal").exists());
    let check_files = |when: &str| {
        for (what, value, home) in &secrets {
            let found = files_containing(&state, value.as_bytes());
            let expected: Vec<PathBuf> = home.iter().cloned().collect();
            assert_eq!(found, expected, "{what} {when}");
        }
    };
    check_files("while cairn serve runs");
    let (_, serve_log) = server.stop();
    check_files("after cairn serve stopped");
    let serve_stdout = std::fs::read_to_string(&serve_out).unwrap();
    // An install started from the API prints its events as JSON lines on the server's stdout.
    assert!(
        serve_stdout.contains(&format!("{{\"run\":{run},"))
            && serve_stdout.contains("\"type\":\"recap\""),
        "the API's install printed its events on the server's stdout: {serve_stdout}"
    );
    for (what, value, _) in &secrets {
        for (output, text) in [
            ("cairn install's stdout (--json) and stderr", &cli_out),
            ("cairn serve's stdout", &serve_stdout),
            ("cairn serve's stderr", &serve_log),
            ("the API's responses and event streams", &c.seen),
        ] {
            assert!(!text.contains(value.as_str()), "{what} is in {output}");
        }
    }

    // 4. Modes: the state dir private, everything owned by this user, secrets 0600.
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mut all = Vec::new();
    walk(&state, &mut all);
    let mut report = String::new();
    let mut bad = Vec::new();
    for p in &all {
        let m = std::fs::metadata(p).unwrap();
        let mode = m.permissions().mode() & 0o7777;
        let rel = p.strip_prefix(&state).unwrap().display().to_string();
        report.push_str(&format!("{mode:04o} {rel}\n"));
        let readable = READABLE.iter().any(|(pat, _)| {
            rel.ends_with(pat) || rel.starts_with(pat) || rel == pat.trim_end_matches('/')
        });
        let want_private = if m.is_dir() { 0o700 } else { 0o600 };
        if m.uid() != me || (!readable && mode != want_private) {
            bad.push(rel);
        }
    }
    eprintln!("the state dir after both installs:\n{report}");
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o7777,
        0o700
    );
    assert!(bad.is_empty(), "not private or not ours: {bad:?}\n{report}");
    for must in [
        "cairn.db",
        "known_hosts",
        "pki/sec/ca.key",
        "secrets/sec/ci-admin-password",
        "serve/apt-signing-key.asc",
        "console/cluster.yaml",
    ] {
        assert!(
            report.contains(&format!("0600 {must}\n")),
            "{must}:\n{report}"
        );
    }
}

/// `ssh-keygen -l` of `host`'s ed25519 key in `known_hosts`.
fn fingerprint(known_hosts: &Path, lab: &Lab, host: &str) -> String {
    let o = Command::new("ssh-keygen")
        .args(["-l", "-F", &lab.address(host), "-f"])
        .arg(known_hosts)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    text.lines()
        .filter(|l| l.contains("ED25519"))
        .flat_map(|l| l.split_whitespace())
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no ed25519 fingerprint for {host} in {text}"))
        .to_string()
}

const MARK: &str = "/tmp/cairn-security-mark";

/// A bundle of one file, built in `dir`.
fn tiny_bundle(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        "apiVersion: cairn/v1\nkind: Bundle\nname: tiny\nversion: 0.0.1\nplatforms: [linux/amd64]\n\
         files:\n  - path: hello.txt\n    sha256: 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\n",
    )
    .unwrap();
    run_ok(
        Command::new(cairn_bin())
            .args(["bundle", "build", "b.yaml", "--out", "."])
            .current_dir(dir),
    );
    dir.join("tiny-0.0.1.cairn")
}

/// Guessing the admin token over HTTP: ten wrong tokens, then 429 with `Retry-After` for every
/// login from that address, the right token included. No lab host is used.
#[test]
fn wrong_admin_tokens_are_rate_limited() {
    let dir = scratch("security-throttle");
    let bundle = tiny_bundle(&dir);
    let token = fresh("throttle-token-0123456789abcdef");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"))
        .parse()
        .unwrap();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["serve", "--bundle"])
        .arg(&bundle)
        .args(["--listen", &listen.to_string(), "--no-ntp", "--state-dir"])
        .arg(dir.join("state"))
        .env("CAIRN_ADMIN_TOKEN", &token);
    let server = Served::spawn(cmd, listen);
    let login = |t: &str| {
        http::request(
            listen,
            "POST",
            "/api/login",
            &[("X-Cairn-Csrf", "1")],
            Some(&json!({ "token": t }).to_string()),
        )
    };
    for i in 0..10 {
        let r = login(&format!("guess-{i}"));
        assert_eq!(r.status, 401, "{}", r.body);
    }
    for t in ["guess-10", token.as_str()] {
        let r = login(t);
        assert_eq!(r.status, 429, "{}", r.body);
        let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(r.json()["code"], "too_many_attempts");
        assert_eq!(
            r.json()["error"],
            format!("too many wrong tokens from this address: wait {wait} s before trying again")
        );
    }
    let (_, log) = server.stop();
    assert!(
        log.contains("api: login refused: wrong token from 127.0.0.1"),
        "{log}"
    );
    assert!(!log.contains(&token), "{log}");
}

#[test]
fn a_changed_host_key_is_refused_during_install() {
    let _one = HOSTS_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::from_env();
    let dir = scratch("security-mitm");
    for h in HOSTS {
        lab.ssh(h, &format!("rm -f {MARK}"));
    }
    // A small bundle (one file) and a one-task playbook: the host key is checked before any.
    let pb = dir.join("pb");
    std::fs::create_dir_all(&pb).unwrap();
    std::fs::write(
        pb.join("site.yml"),
        format!(
            "- name: leave a mark\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: the mark\n      copy: {{ dest: {MARK}, content: \"installed\\n\" }}\n"
        ),
    )
    .unwrap();
    let bundle = tiny_bundle(&dir);
    let config = write_config(
        &dir,
        &lab,
        &bundle,
        &format!(
            "user: root, auth: {{ key: {}, agent: false }}",
            lab.key("id_ed25519").display()
        ),
        false,
    );

    // A state dir that cannot be made private (here: cannot be made at all) stops the install
    // before anything else.
    let not_a_dir = dir.join("hello.txt").join("state");
    let o = Command::new(cairn_bin())
        .args(["install", "--config"])
        .arg(&config)
        .arg("--state-dir")
        .arg(&not_a_dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: cannot create the state dir {}: Not a directory (os error 20)\n",
            not_a_dir.display()
        )
    );

    // What the installer trusts, then lab50 presents another key on the same address.
    let trusted = dir.join("known_hosts");
    std::fs::copy(&lab.known_hosts, &trusted).unwrap();
    let old = fingerprint(&trusted, &lab, "lab50");
    lab.script(&["rekey", "lab50"]);
    let new = fingerprint(&lab.known_hosts, &lab, "lab50");
    assert_ne!(old, new);
    // From the next second on (the journal's `--since` is in whole seconds, and `rekey`
    // itself logged in to check the host).
    std::thread::sleep(Duration::from_millis(1100));
    let since = epoch_now();
    let install = |extra: &[&str]| {
        let o = Command::new(cairn_bin())
            .args(["install", "--config"])
            .arg(&config)
            .arg("--known-hosts")
            .arg(&trusted)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--playbooks")
            .arg(&pb)
            .args(extra)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let out =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.code(), out)
    };
    let line = std::fs::read_to_string(&trusted)
        .unwrap()
        .lines()
        .position(|l| l.starts_with(&format!("{} ssh-ed25519 ", lab.address("lab50"))))
        .unwrap()
        + 1;
    let refusal = format!(
        "lab50: HOST KEY CHANGED for {addr}! The server presented ssh-ed25519 {new}, but {kh}:{line} records ssh-ed25519 {old}.",
        addr = lab.address("lab50"),
        kh = trusted.display()
    );

    // Pre-flight refuses it: the install stops before anything runs, on any host.
    let (code, out) = install(&[]);
    eprintln!("the install, lab50's key changed:\n{out}");
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains(&refusal), "{refusal:?} not in:\n{out}");
    assert!(
        out.contains("error: pre-flight failed: the install stops before changing anything"),
        "{out}"
    );
    for h in HOSTS {
        assert_eq!(
            exec_stdout(h, &format!("cat {MARK} 2>/dev/null")),
            "",
            "{h}"
        );
    }

    // Told to go on without that host: the others are installed, lab50 is refused again.
    let (code, out) = install(&["--ignore-preflight", "ssh"]);
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains(&refusal), "{refusal:?} not in:\n{out}");
    for h in ["lab48", "lab49"] {
        assert_eq!(exec_stdout(h, &format!("cat {MARK}")), "installed\n", "{h}");
    }
    assert_eq!(exec_stdout("lab50", &format!("cat {MARK} 2>/dev/null")), "");
    assert_eq!(
        sshd_log_count("lab50", "Accepted ", since),
        0,
        "the installer logged in to lab50"
    );
    let recap = out.split("PLAY RECAP").last().unwrap();
    assert!(
        recap
            .lines()
            .any(|l| l.starts_with("lab50") && l.contains("unreachable=1")),
        "{recap}"
    );
    // The lab's own record follows the new key (rekey), so the lab stays usable.
    assert!(lab.ssh("lab50", "true").status.success());
    for h in HOSTS {
        lab.ssh(h, &format!("rm -f {MARK}"));
    }
}
