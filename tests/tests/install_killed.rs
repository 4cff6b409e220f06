//! The installer and a host's disk failing under a real install (issue 8's fault suite, the
//! installer's side), each checked on the host and in the store:
//!
//! - `killed_mid_package_install`: `cairn install` of the lab bundle on lab51 (monitoring) is
//!   SIGKILLed while `dpkg` unpacks Prometheus on the host, and apt and dpkg are killed there
//!   too (dpkg's database left half-way); `--resume` completes it (the package system is
//!   consistent: `dpkg --audit` says nothing), no task that had finished is redone with a
//!   change, and Prometheus runs.
//! - `killed_mid_upload`: an install whose playbook uploads 1 GiB to lab52 is SIGKILLed while
//!   the file is arriving: the host is left with neither the file nor a temporary one (the
//!   upload goes to a temporary file renamed only once its sha256 matches); `--resume` leaves
//!   out the task that had finished and uploads the whole file.
//! - `killed_while_recording`: `cairn play` runs of many events on lab53 are SIGKILLed at
//!   several moments while the store records them; each time the SQLite database passes
//!   `PRAGMA integrity_check`, the killed run is marked `interrupted`, and what it recorded is
//!   a prefix of what it printed.
//! - `disk_full_during_an_upload`: a file larger than the free space of a small filesystem on
//!   lab53 is copied over an existing one: the task fails naming the host, the path and
//!   "No space left on device"; the existing file is intact and no temporary file is left.
//!
//! Host use: lab51, lab52, lab53 (cleaned before and after by guards).

use cairn_tests::installed::{
    CleanOnDrop, JsonRun, Kill, clean, install_json, install_json_killed, lab_bundle, run_ok,
    runs_line, text,
};
use cairn_tests::{BRIDGE, Lab, cairn_bin, free_tcp_port, free_udp_port, scratch};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The lab bundle, built once for the tests of this file.
fn bundle() -> &'static Path {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        let dir = scratch("install-killed-bundle");
        let t0 = Instant::now();
        let (bundle, _) = lab_bundle(&dir);
        eprintln!("lab bundle built in {:?}", t0.elapsed());
        bundle
    })
}

/// A cluster.yaml for `hosts` (name, roles) with this lab's key and the installer's ports.
fn config(lab: &Lab, dir: &Path, hosts: &[(&str, &[&str])]) -> PathBuf {
    let mut y = String::from(
        "apiVersion: cairn/v1\nkind: Cluster\nname: killed\ndefaults:\n  user: root\n",
    );
    y.push_str(&format!(
        "  auth: {{ key: {}, agent: false }}\nhosts:\n",
        lab.key("id_ed25519").display()
    ));
    for (h, _) in hosts {
        y.push_str(&format!(
            "  - {{ name: {h}, address: {} }}\n",
            lab.address(h)
        ));
    }
    y.push_str("roles:\n");
    for role in ["etcd", "registry", "ci", "monitoring"] {
        let on: Vec<&str> = hosts
            .iter()
            .filter(|(_, r)| r.contains(&role))
            .map(|(h, _)| *h)
            .collect();
        y.push_str(&format!("  {role}: [{}]\n", on.join(", ")));
    }
    y.push_str(&format!(
        "installer: {{ address: {BRIDGE}, port: {}, ntp_port: {} }}\nbundle: {}\n\
         network:\n  pod_cidr: 10.244.0.0/16\n  service_cidr: 10.96.0.0/12\n",
        free_tcp_port(BRIDGE),
        free_udp_port(BRIDGE),
        bundle().display()
    ));
    let p = dir.join("cluster.yaml");
    std::fs::write(&p, y).unwrap();
    p
}

#[test]
fn killed_mid_package_install() {
    const HOST: &str = "lab51";
    const TASK: &str = "prometheus : Install Prometheus";
    let lab = Lab::from_env();
    let dir = scratch("install-killed-dpkg");
    clean(&lab, &[HOST]);
    // Prometheus not installed, so that dpkg has it to unpack (the guard's clean-up keeps
    // packages; a host from an earlier run may have it).
    lab.ssh(HOST, "dpkg --purge prometheus >/dev/null 2>&1; true");
    let _guard = CleanOnDrop {
        lab: lab.clone(),
        hosts: vec![HOST],
    };
    let config = config(&lab, &dir, &[(HOST, &["monitoring"])]);
    let state = dir.join("state");

    let watch = lab.clone();
    let dpkg_runs = move || watch.ssh(HOST, "pgrep -x dpkg >/dev/null").status.success();
    let t = Instant::now();
    let killed = install_json_killed(
        &lab,
        &state,
        &config,
        &cairn_tests::repo_root().join("playbooks"),
        &[],
        Some(Kill::During(TASK, Box::new(dpkg_runs))),
        &dir.join("1-killed"),
    );
    eprintln!("killed after {:?}", t.elapsed());
    assert_eq!(
        killed.code, None,
        "the installer was killed while dpkg ran on {HOST}:\n{}",
        killed.stderr
    );
    assert!(runs_line(&state, killed.run_id()).contains("interrupted"));
    // apt and dpkg outlive the installer's connection (they would finish by themselves, and
    // the resumed install would wait for their lock). The worst case is that they die too
    // (the host's session killed, or power lost): kill them, leaving dpkg's database
    // half-way through the unpacking.
    let killed_there = lab.ssh_stdout(
        HOST,
        "pkill -KILL -x apt-get; pkill -KILL -x dpkg; pkill -KILL -x dpkg-deb; sleep 0.5; \
         dpkg --audit | head -3",
    );
    eprintln!("on {HOST} after the kill: {killed_there:?}");
    assert!(
        !killed_there.trim().is_empty(),
        "dpkg's database is left half-way"
    );

    let t = Instant::now();
    let resumed = install_json(
        &lab,
        &state,
        &config,
        &["--resume"],
        None,
        &dir.join("2-resume"),
    );
    eprintln!("resume took {:?}", t.elapsed());
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    let (left_out, again) = resumed.check_resumes(&killed);
    eprintln!(
        "resume: {left_out} finished tasks left out, {} run again",
        again.len()
    );
    assert!(left_out > 10, "{left_out} left out");
    assert!(
        resumed
            .results()
            .any(|r| r["task"] == TASK && r["resumed"].is_null() && r["outcome"] != "failed"),
        "{TASK} ran again"
    );
    assert_eq!(resumed.recap(HOST, "failed"), 0);
    // The repair is said, as ansible-playbook says a module's warnings.
    assert!(
        resumed.events.iter().any(|e| e["type"] == "warning"
            && e["message"]
                == format!(
                    "{HOST}: dpkg had been interrupted (a package install cut off): Cairn ran \
                     `dpkg --configure -a`, then apt-get again"
                )),
        "no warning about the repair"
    );
    let audit = lab.ssh_stdout(HOST, "dpkg --audit; dpkg -s prometheus | grep '^Status'");
    assert_eq!(audit.trim(), "Status: install ok installed", "{audit}");
    // The packages came from the installer's repository as apt verified it (signed-by, the
    // installer's key), not as `trusted=yes`.
    let list = lab.ssh_stdout(HOST, "grep -v '^#' /etc/apt/sources.list.d/cairn.list");
    assert!(
        list.starts_with("deb [signed-by=/etc/apt/keyrings/cairn.gpg] http://"),
        "{list}"
    );
    let up = lab.ssh(HOST, "systemctl is-active prometheus");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stdout)
    );
}

/// A playbook set whose site.yml writes a small file, then uploads `big`, then another file.
fn upload_playbooks(dir: &Path, big: &Path) -> PathBuf {
    let pb = dir.join("playbooks");
    std::fs::create_dir_all(&pb).unwrap();
    std::fs::write(
        pb.join("site.yml"),
        format!(
            "- name: An upload the installer dies in\n  hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - name: Before\n      copy: {{ dest: {UPLOAD_DIR}/before.txt, content: \"before\\n\" }}\n\
             \x20   - name: Upload the big file\n      copy: {{ src: {}, dest: {UPLOAD_DIR}/big.bin, mode: \"0644\" }}\n\
             \x20   - name: After\n      copy: {{ dest: {UPLOAD_DIR}/after.txt, content: \"after\\n\" }}\n",
            big.display()
        ),
    )
    .unwrap();
    pb
}

const UPLOAD_DIR: &str = "/root/cairn-killed-upload";

#[test]
fn killed_mid_upload() {
    const HOST: &str = "lab52";
    const SIZE: u64 = 1 << 30;
    let lab = Lab::from_env();
    let dir = scratch("install-killed-upload");
    let rm = format!("rm -rf {UPLOAD_DIR}");
    lab.ssh(HOST, &format!("{rm}; mkdir -p {UPLOAD_DIR}"));
    struct Remove(Lab, String);
    impl Drop for Remove {
        fn drop(&mut self) {
            self.0.ssh(HOST, &self.1);
        }
    }
    let _guard = Remove(lab.clone(), rm);
    // 1 GiB that is not all zeros (a pattern repeated), written once here and removed at the
    // end, also on failure (scratch directories are kept).
    let big = dir.join("big.bin");
    struct RemoveFile(PathBuf);
    impl Drop for RemoveFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _big_guard = RemoveFile(big.clone());
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let block: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 7 % 251) as u8).collect();
        for _ in 0..(SIZE >> 20) {
            f.write_all(&block).unwrap();
        }
    }
    let sha = {
        let o = run_ok(Command::new("sha256sum").arg(&big));
        String::from_utf8_lossy(&o.stdout)[..64].to_string()
    };
    let playbooks = upload_playbooks(&dir, &big);
    let config = config(&lab, &dir, &[(HOST, &[])]);
    let state = dir.join("state");

    // Killed once a quarter of the file is on the host (in its temporary file).
    let watch = lab.clone();
    let arriving = move || {
        let size = watch.ssh_stdout(
            HOST,
            &format!("stat -c %s {UPLOAD_DIR}/.big.bin.cairn-tmp-* 2>/dev/null | head -1"),
        );
        size.trim().parse::<u64>().is_ok_and(|n| n > SIZE / 4)
    };
    let killed = install_json_killed(
        &lab,
        &state,
        &config,
        &playbooks,
        &[],
        Some(Kill::During("Upload the big file", Box::new(arriving))),
        &dir.join("1-killed"),
    );
    assert_eq!(
        killed.code, None,
        "the installer was killed during the upload:\n{}",
        killed.stderr
    );
    // The host's side of the upload notices the end of its input, finds the content short
    // (sha256) and removes the temporary file: nothing partial is left, and never under the
    // file's name.
    let t0 = Instant::now();
    let left = loop {
        let left = lab.ssh_stdout(HOST, &format!("ls -A {UPLOAD_DIR}"));
        if !left.contains("cairn-tmp") || t0.elapsed() > Duration::from_secs(30) {
            break left;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("temporary file gone {:?} after the kill", t0.elapsed());
    assert_eq!(left, "before.txt\n", "what the killed upload left");

    let resumed = install_json_killed(
        &lab,
        &state,
        &config,
        &playbooks,
        &["--resume"],
        None,
        &dir.join("2-resume"),
    );
    assert_eq!(resumed.code, Some(0), "{}", resumed.stderr);
    let (left_out, _) = resumed.check_resumes(&killed);
    assert!(left_out >= 1, "the task Before is left out");
    let outcome = |run: &JsonRun, task: &str| {
        run.results()
            .find(|r| r["task"] == task)
            .map(|r| text(&r["outcome"]))
            .unwrap_or_default()
    };
    assert_eq!(outcome(&resumed, "Upload the big file"), "changed");
    assert_eq!(outcome(&resumed, "After"), "changed");
    let on_host = lab.ssh_stdout(
        HOST,
        &format!("ls -A {UPLOAD_DIR}; sha256sum < {UPLOAD_DIR}/big.bin"),
    );
    assert_eq!(
        on_host,
        format!("after.txt\nbefore.txt\nbig.bin\n{sha}  -\n"),
        "after the resume"
    );
}

/// `cairn play --json` of `playbook` on lab53 with state in `state`; killed after `after`
/// (None: runs to its end). Returns its events (as printed) and whether it was killed.
fn play_json(
    lab: &Lab,
    state: &Path,
    config: &Path,
    playbook: &Path,
    after: Option<Duration>,
) -> (Vec<Value>, bool) {
    let mut child = Command::new(cairn_bin())
        .args(["play", "--json", "--config"])
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .arg(playbook)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run cairn play");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .collect::<Vec<_>>()
    });
    if let Some(after) = after {
        std::thread::sleep(after);
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    (reader.join().unwrap(), status.code().is_none())
}

#[test]
fn killed_while_recording() {
    const HOST: &str = "lab53";
    let lab = Lab::from_env();
    let dir = scratch("install-killed-store");
    let config = config(&lab, &dir, &[(HOST, &[])]);
    // Many small results: one per loop item, recorded as they come.
    let playbook = dir.join("events.yml");
    std::fs::write(
        &playbook,
        "- hosts: all\n  gather_facts: false\n  tasks:\n\
         \x20   - name: Many results\n      debug: { msg: \"{{ item }}\" }\n      loop: \"{{ range(0, 3000) | list }}\"\n\
         \x20   - name: A command\n      command: \"true\"\n      loop: \"{{ range(0, 150) | list }}\"\n",
    )
    .unwrap();
    let state = dir.join("state");
    let db = state.join("cairn.db");
    // A run to its end first: how long a whole one takes tells where to kill the others.
    let t0 = Instant::now();
    let (whole, killed) = play_json(&lab, &state, &config, &playbook, None);
    let took = t0.elapsed();
    assert!(!killed && whole.iter().any(|e| e["type"] == "recap"));
    eprintln!("a whole run: {} events in {took:?}", whole.len());
    let mut killed_runs = 0;
    for i in 1..=6u32 {
        let at = took.mul_f64(f64::from(i) / 7.0);
        let (printed, killed) = play_json(&lab, &state, &config, &playbook, Some(at));
        if !killed {
            continue;
        }
        killed_runs += 1;
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "after a kill at {at:?}");
        let Some(id) = printed.first().and_then(|e| e["run"].as_i64()) else {
            continue; // killed before it began
        };
        drop(conn);
        // Opening the store (here through `cairn runs`) marks the run whose process died.
        assert!(runs_line(&state, id).contains("interrupted"), "run {id}");
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut q = conn
            .prepare("SELECT seq, host, outcome FROM results WHERE run_id = ?1 ORDER BY seq")
            .unwrap();
        let stored: Vec<(i64, String, String)> = q
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let shown: Vec<(i64, String, String)> = printed
            .iter()
            .filter(|e| e["type"] == "host_result")
            .map(|e| {
                (
                    e["seq"].as_i64().unwrap(),
                    text(&e["host"]),
                    text(&e["outcome"]),
                )
            })
            .collect();
        eprintln!(
            "killed at {at:?}: {} results printed, {} recorded",
            shown.len(),
            stored.len()
        );
        // What was recorded was printed, as printed: no torn or invented row. (A result may
        // be printed and not yet recorded: the journal writes in batches.)
        for row in &stored {
            assert!(
                shown.contains(row),
                "run {id}: recorded {row:?}, never printed"
            );
        }
    }
    assert!(killed_runs >= 4, "only {killed_runs} runs were killed");
    // The store goes on: a last run records everything.
    let (last, _) = play_json(&lab, &state, &config, &playbook, None);
    let id = last.first().and_then(|e| e["run"].as_i64()).unwrap();
    assert!(runs_line(&state, id).contains("ok"), "run {id}");
}

#[test]
fn disk_full_during_an_upload() {
    const HOST: &str = "lab53";
    const MNT: &str = "/mnt/cairn-full";
    let lab = Lab::from_env();
    let dir = scratch("install-killed-disk");
    // A 4 MiB filesystem holding a 1 MiB file that the copy would replace with 8 MiB.
    let setup = format!(
        "umount {MNT} 2>/dev/null; mkdir -p {MNT} && mount -t tmpfs -o size=4m tmpfs {MNT} && \
         head -c 1048576 /dev/urandom > {MNT}/data.bin && sha256sum < {MNT}/data.bin"
    );
    let before = lab.ssh_stdout(HOST, &setup);
    assert_eq!(before.len(), 68, "{before}");
    struct Unmount(Lab);
    impl Drop for Unmount {
        fn drop(&mut self) {
            self.0.ssh(HOST, &format!("umount {MNT}; rmdir {MNT}"));
        }
    }
    let _guard = Unmount(lab.clone());
    let big = dir.join("data.bin");
    std::fs::write(&big, vec![7u8; 8 << 20]).unwrap();
    let playbook = dir.join("full.yml");
    std::fs::write(
        &playbook,
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - name: Replace the data\n      copy: {{ src: {}, dest: {MNT}/data.bin }}\n",
            big.display()
        ),
    )
    .unwrap();
    let config = config(&lab, &dir, &[(HOST, &[])]);
    let o = Command::new(cairn_bin())
        .args(["play", "--config"])
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .arg(&playbook)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("fatal: [{HOST}]")))
        .unwrap_or_else(|| panic!("no failure line for {HOST}: {out}"));
    assert!(
        line.contains(&format!("writing {MNT}/data.bin failed: "))
            && line.contains("No space left on device"),
        "{line}"
    );
    let after = lab.ssh_stdout(HOST, &format!("ls -A {MNT}; sha256sum < {MNT}/data.bin"));
    assert_eq!(after, format!("data.bin\n{before}"), "the file is intact");
}
