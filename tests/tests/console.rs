//! The web console end to end in a real headless Chromium (Debian `chromium`, driven by
//! `tests/browser/console.mjs` with playwright-core): `cairn serve` with a small bundle (one
//! file and a six-task playbook set), then the wizard as an operator uses it: log in (a wrong
//! token first), add lab37–39 as a range, test the connections and accept each host key,
//! assign roles (the live validation seen complaining, then valid; a reload keeps them), run
//! pre-flight, review the cluster.yaml, install, watch the progress reach 100 %, open a host's
//! output, find the run in the history, reload the install page (same run), a `cairn install`
//! started in another process seen in the history and followed live, 401 without the session,
//! the done page. Then the load: a finished synthetic run of 500 hosts × 100 tasks (50 055
//! events) written into the server's store and replayed into the page, and the same run written
//! LIVE (500 events per commit every 25 ms) while the page follows it: every event applied,
//! none missing, the page still answering clicks.
//!
//! A second test needs no lab host and no API: the console served gzip'd with its headers,
//! loaded in Chromium, the login form driven from the keyboard, paint times, and the page's own
//! cost of applying a 500 × 100 run measured in the browser (`tests/browser/smoke.mjs`).
//!
//! Screenshots of every step and `result.json` (step times, the numbers):
//! `target/console-e2e/` (the smoke test: `target/console-smoke/`), CI artifacts. Needs the
//! console built (`scripts/build-console`, which `scripts/test` runs before building `cairn`):
//! without it `cairn` answers 503 and these tests FAIL. Needs node/npm and /usr/bin/chromium.
//!
//! Host use: lab37, lab38, lab39 (`/tmp/cairn-console-test`, removed by a guard).

use cairn_protocol::{HostResult, Location, Outcome, RunEvent, Stats};
use cairn_tests::{Lab, Served, cairn_bin, npm_ci, repo_root, scratch, small_bundle};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HOSTS: [&str; 3] = ["lab37", "lab38", "lab39"];
const BRIDGE: &str = "10.213.0.1";
const REMOTE: &str = "/tmp/cairn-console-test";
const TOKEN: &str = "console-e2e-admin-token-0123456789";

const SITE: &str = r#"- name: console test
  hosts: all
  gather_facts: false
  tasks:
    - name: a place for the results
      file: { path: /tmp/cairn-console-test, state: directory, mode: "0700" }
    - name: write a file
      copy: { dest: /tmp/cairn-console-test/hello.txt, content: "hello from the console\n" }
    - name: the kernel
      command: uname -r
    - name: take a while (the CLI's install, watched live)
      command: sleep {{ sleep_seconds | default(0) }}
    - name: and a while more
      command: sleep {{ sleep_seconds | default(0) }}
    - name: say so
      debug: { msg: "installed {{ inventory_hostname }}" }
"#;

/// Removes what the install wrote on the hosts, whatever happened.
struct Restore<'a>(&'a Lab);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        for h in HOSTS {
            self.0.ssh(h, &format!("rm -rf {REMOTE}"));
        }
    }
}

/// A plain HTTP/1.0 GET: (status line, headers + body as text).
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// The small bundle: one file and the playbook set.
fn bundle(dir: &Path) -> PathBuf {
    small_bundle(dir, "consoletest", "hello\n", Some(SITE))
}

/// The events of a run of `hosts` × `tasks` (host 7 fails at task 50 and stops; every 10th
/// task changes something), as the engine would emit them.
fn synthetic_events(hosts: usize, tasks: usize) -> Vec<RunEvent> {
    let names: Vec<String> = (0..hosts).map(|i| format!("node-{i:03}")).collect();
    let loc = Location {
        file: "synthetic.yml".into(),
        line: 1,
        column: 1,
    };
    let mut events = vec![
        RunEvent::RunStarted {
            playbook: "synthetic.yml".into(),
            hosts: names.clone(),
        },
        RunEvent::PlayStarted {
            name: "synthetic".into(),
            hosts: names.clone(),
            location: loc.clone(),
        },
    ];
    let mut recap: BTreeMap<String, Stats> = BTreeMap::new();
    for t in 0..tasks {
        let task = format!("task {t:03}");
        events.push(RunEvent::TaskStarted {
            name: task.clone(),
            action: "command".into(),
            location: loc.clone(),
        });
        for (i, h) in names.iter().enumerate() {
            // Host 7 fails at task 50 and stops; every 10th task changes something.
            if i == 7 && t > 50 {
                continue;
            }
            let outcome = match (i, t) {
                (7, 50) => Outcome::Failed,
                (_, t) if t % 10 == 0 => Outcome::Changed,
                _ => Outcome::Ok,
            };
            let s = recap.entry(h.clone()).or_default();
            match outcome {
                Outcome::Failed => s.failed += 1,
                Outcome::Changed => s.changed += 1,
                _ => s.ok += 1,
            }
            events.push(RunEvent::HostResult(HostResult {
                host: h.clone(),
                task: task.clone(),
                outcome,
                ignored: false,
                rc: Some(i64::from(outcome == Outcome::Failed)),
                stdout: Some(format!("output of {task} on {h}")),
                stderr: None,
                msg: (outcome == Outcome::Failed).then(|| "synthetic failure".into()),
                data: Default::default(),
                duration_ms: 3,
                censored: false,
                diff: vec![],
                delegated_to: None,
                item: None,
                looped: false,
                checkpoint: None,
                resumed: None,
            }));
        }
    }
    events.push(RunEvent::PlayFinished {
        name: "synthetic".into(),
    });
    events.push(RunEvent::Recap { hosts: recap });
    events
}

/// Appends `events` to run `run` in one transaction, numbered from `first_seq`, stamped with
/// `time_ms` (the journal's columns: seq, time, type, body).
fn write_events(
    conn: &rusqlite::Connection,
    run: i64,
    first_seq: u64,
    events: &[RunEvent],
    time_ms: impl Fn(usize) -> i64,
) {
    let tx = conn.unchecked_transaction().unwrap();
    {
        let mut ev = tx
            .prepare_cached(
                "INSERT INTO events (run_id, seq, time_ms, type, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .unwrap();
        for (i, e) in events.iter().enumerate() {
            let body = serde_json::to_value(e).unwrap();
            let kind = body["type"].as_str().unwrap().to_owned();
            ev.execute(rusqlite::params![
                run,
                (first_seq + i as u64) as i64,
                time_ms(i),
                kind,
                body.to_string()
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

/// Writes a finished run of `hosts` × `tasks` into the store, as the journal would have:
/// returns its id and how many events it has.
fn synthetic_run(db: &Path, hosts: usize, tasks: usize) -> (i64, u64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    let t0: i64 = 1_700_000_000_000;
    conn.execute(
        "INSERT INTO runs (kind, title, pid, started_ms, finished_ms, status, exit_code)
         VALUES ('play', 'synthetic 500x100', 0, ?1, ?2, 'failed', 2)",
        rusqlite::params![t0, t0 + 600_000],
    )
    .unwrap();
    let run = conn.last_insert_rowid();
    let events = synthetic_events(hosts, tasks);
    write_events(&conn, run, 1, &events, |i| t0 + i as i64 * 10);
    (run, events.len() as u64)
}

/// The same run written LIVE, as a running play would: once `go` exists (the browser is
/// ready), the run is recorded as running (its id written to `id_file`), and after 1.5 s (the
/// page opens it) its events are committed `batch` at a time every `every`, stamped with the
/// time of their commit; then it is marked finished. Returns how many events were written.
fn live_synthetic_run(
    db: PathBuf,
    go: PathBuf,
    id_file: PathBuf,
    batch: usize,
    every: Duration,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let t0 = Instant::now();
        while !go.exists() {
            if t0.elapsed() > Duration::from_secs(600) {
                return 0;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.busy_timeout(Duration::from_secs(30)).unwrap();
        let now = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
        };
        // This process's pid: alive, so no store opening marks the run interrupted.
        conn.execute(
            "INSERT INTO runs (kind, title, pid, started_ms, status) VALUES ('play', 'synthetic live 500x100', ?1, ?2, 'running')",
            rusqlite::params![std::process::id(), now()],
        )
        .unwrap();
        let run = conn.last_insert_rowid();
        std::fs::write(&id_file, run.to_string()).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        let events = synthetic_events(500, 100);
        for (n, chunk) in events.chunks(batch).enumerate() {
            let t = now();
            write_events(&conn, run, (n * batch) as u64 + 1, chunk, |_| t);
            std::thread::sleep(every);
        }
        conn.execute(
            "UPDATE runs SET status = 'failed', exit_code = 2, finished_ms = ?2 WHERE id = ?1",
            rusqlite::params![run, now()],
        )
        .unwrap();
        events.len() as u64
    })
}

/// The console alone (no lab host): the binary serves it gzip'd with its security headers, it
/// loads in Chromium, the login form works from the keyboard, and the page's own cost of
/// applying 50 104 events of a 500 × 100 run is measured in the browser (`smoke.mjs`).
#[test]
fn the_console_loads_in_chromium_and_applies_a_500_by_100_run() {
    let dir = scratch("console-smoke");
    let bundle = bundle(&dir);
    let port = cairn_tests::free_tcp_port("127.0.0.1");
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["serve", "--bundle"])
        .arg(&bundle)
        .args(["--listen", &listen.to_string(), "--no-ntp"])
        .env("CAIRN_STATE_DIR", dir.join("state"))
        .env("CAIRN_ADMIN_TOKEN", TOKEN);
    let served = Served::spawn(cmd, listen);

    let index = http_get(listen, "/hosts");
    assert!(
        index.contains(" 200 OK"),
        "the console is not built in: {index}"
    );
    let head = index.to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    let wasm = index_asset(listen, ".wasm");
    let wasm_head = http_get(listen, &wasm).to_ascii_lowercase();
    assert!(
        wasm_head.contains("content-type: application/wasm"),
        "{wasm}"
    );
    assert!(wasm_head.contains("immutable"), "{wasm}");

    let browser = repo_root().join("tests/browser");
    npm_ci(&browser);
    let shots = repo_root().join("target/console-smoke");
    let o = Command::new("node")
        .arg(browser.join("smoke.mjs"))
        .current_dir(&browser)
        .env("URL", format!("http://{listen}"))
        .env("SHOTS", &shots)
        .output()
        .expect("node is needed for the browser test");
    drop(served);
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
    let r: serde_json::Value = serde_json::from_str(line).unwrap();
    eprintln!("console smoke: {r}");
    assert_eq!(r["apply"]["hosts"], 500);
    assert_eq!(r["apply"]["tasks"], 100);
}

/// The path of the first `/assets/…` file with this extension that index.html names.
fn index_asset(addr: SocketAddr, ext: &str) -> String {
    let index = http_get_plain(addr, "/");
    let end = index.find(ext).expect("an asset of that kind") + ext.len();
    let start = index[..end]
        .rfind("/assets/")
        .expect("index.html names its assets");
    index[start..end].to_string()
}

/// A GET without gzip (to read the body as text).
fn http_get_plain(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_wizard_installs_three_lab_hosts_in_chromium_and_applies_50k_events() {
    let lab = Lab::from_env();
    let _restore = Restore(&lab);
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: apt-get install chromium (.ci/run does)"
    );
    let dir = scratch("console");
    let bundle = bundle(&dir);
    let state = dir.join("state");
    let port = cairn_tests::free_tcp_port("127.0.0.1");
    let listen: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["serve", "--bundle"])
        .arg(&bundle)
        .args(["--listen", &listen.to_string(), "--no-ntp"])
        .env("CAIRN_STATE_DIR", &state)
        .env("CAIRN_ADMIN_TOKEN", TOKEN)
        .env("NO_COLOR", "1");
    let served = Served::spawn(cmd, listen);

    // The binary carries the console (not the "run scripts/build-console" page).
    let index = http_get(listen, "/install");
    assert!(
        index.starts_with("HTTP/1.0 200") || index.starts_with("HTTP/1.1 200"),
        "the console is not built into {}: {}",
        cairn_bin().display(),
        &index[..index.len().min(600)]
    );

    // The synthetic run goes into the server's own store (created when it started).
    let db = state.join("cairn.db");
    let t0 = Instant::now();
    while !db.exists() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (synth, synth_events) = synthetic_run(&db, 500, 100);

    let browser = repo_root().join("tests/browser");
    npm_ci(&browser);
    let shots = repo_root().join("target/console-e2e");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    // The live one: 500 events per commit every 25 ms (20 000 events/s) while the page follows.
    let live = live_synthetic_run(
        db.clone(),
        shots.join("live-go"),
        shots.join("live-id"),
        500,
        Duration::from_millis(25),
    );
    let [a, _, c] = HOSTS.map(|h| lab.address(h));
    let (first, last) = (a.rsplit('.').next().unwrap(), c.rsplit('.').next().unwrap());
    let prefix = &a[..a.len() - first.len()];
    let o = Command::new("node")
        .arg(browser.join("console.mjs"))
        .current_dir(&browser)
        .env("URL", format!("http://{listen}"))
        .env("TOKEN", TOKEN)
        .env("HOSTS_RANGE", format!("{prefix}[{first}:{last}]"))
        .env("NAMES_RANGE", "lab[37:39]")
        .env("HOST_NAMES", HOSTS.join(","))
        .env("KEY", lab.key("id_ed25519"))
        .env("INSTALLER", BRIDGE)
        .env(
            "INSTALLER_PORT",
            cairn_tests::free_tcp_port(BRIDGE).to_string(),
        )
        .env("NTP_PORT", cairn_tests::free_udp_port(BRIDGE).to_string())
        .env("SHOTS", &shots)
        .env("CAIRN_BIN", cairn_bin())
        .env("STATE_DIR", &state)
        .env("SYNTH_RUN", synth.to_string())
        .env("SYNTH_EVENTS", synth_events.to_string())
        .env("LIVE_GO", shots.join("live-go"))
        .env("LIVE_ID", shots.join("live-id"))
        .output()
        .expect("node is needed for the browser test");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Unblock the writer if the browser never got there (the test fails below then).
    let _ = std::fs::write(shots.join("live-go"), "");
    let live_events = live.join().unwrap();
    let (_, server_log) = served.stop();
    assert!(
        o.status.success(),
        "the browser test failed (screenshots in {}):\n{stderr}\n{stdout}\n--- cairn serve ---\n{}",
        shots.display(),
        server_log
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("a RESULT line");
    let result: serde_json::Value = serde_json::from_str(line).unwrap();
    eprintln!("console e2e: {result:#}");
    assert_eq!(result["install_status"], "ok");
    assert_eq!(result["load"]["events"], synth_events);
    assert_eq!(result["load"]["gaps"], 0, "{result}");
    // The live 500 × 100 run: every event drawn, none missing.
    assert_eq!(result["live_load"]["events"], live_events, "{result}");
    assert_eq!(result["live_load"]["gaps"], 0, "{result}");
    // The CLI's install, in another process, was drawn live (no event missing).
    assert!(result["live"]["frames"].as_u64().unwrap() > 1, "{result}");
    assert_eq!(result["live"]["gaps"], 0, "{result}");
    // Only the rows in view (plus a margin) exist: the matrix is virtualised.
    assert!(
        result["load"]["dom_rows"].as_u64().unwrap() < 60,
        "{result}"
    );

    // The install really ran on the hosts.
    for h in HOSTS {
        let o = lab.ssh(h, &format!("cat {REMOTE}/hello.txt"));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "hello from the console\n",
            "{h}"
        );
    }
    // A secret never reaches the page's store: the token is not in the database.
    let mut db_bytes = Vec::new();
    for f in ["cairn.db", "cairn.db-wal"] {
        if let Ok(b) = std::fs::read(state.join(f)) {
            db_bytes.extend(b);
        }
    }
    assert!(
        !String::from_utf8_lossy(&db_bytes).contains(TOKEN),
        "the admin token is in the store"
    );
}
