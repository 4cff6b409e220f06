//! What the `cairn install` end-to-end tests share: building the lab bundle, running the
//! installer with `--json` (optionally killing it at a given task), reading its results, and
//! putting lab hosts back as they were (every shipped role's services and files).
//!
//! Must not: assert anything about an install (the tests do).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::{Lab, cairn_bin, repo_root};

/// Run `cmd`, which must succeed.
pub fn run_ok(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The `cairn runs` line of run `id` in the store of `state`.
pub fn runs_line(state: &Path, id: i64) -> String {
    let o = run_ok(
        Command::new(cairn_bin())
            .args(["runs", "--state-dir"])
            .arg(state),
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
        .unwrap_or_else(|| panic!("run {id} is not listed"))
        .to_string()
}

/// The lab bundle (`bundle/lab.yaml` with the images `scripts/lab-images` makes) built in
/// `dir`: returns its path and the images' OCI layout.
pub fn lab_bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let images = dir.join("lab-images");
    run_ok(Command::new(repo_root().join("scripts/lab-images")).arg(&images));
    std::fs::copy(repo_root().join("bundle/lab.yaml"), dir.join("lab.yaml")).unwrap();
    run_ok(
        Command::new(cairn_bin())
            .args(["bundle", "build", "lab.yaml", "--out", "."])
            .current_dir(dir),
    );
    (dir.join("lab-0.1.0.cairn"), images)
}

/// Stops and disables every service the shipped roles start, removes their data and Cairn's
/// files (CA in the trust store, apt source, /etc/hosts block, kernel settings), and puts the
/// original apt sources back. Packages stay (reinstalling them would cost minutes).
pub fn clean(lab: &Lab, hosts: &[&str]) {
    const SCRIPT: &str = "systemctl disable --now docker-registry buildbot@cairn buildbot-worker@cairn \
           prometheus prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter \
           etcd chrony containerd haproxy kubelet kube-proxy kube-apiserver \
           kube-controller-manager kube-scheduler >/dev/null 2>&1; \
         rm -rf /var/lib/etcd/member /etc/etcd/pki /etc/prometheus/etcd /etc/prometheus/rules \
           /var/lib/docker-registry/docker /etc/docker/registry/pki /etc/containers/certs.d \
           /var/lib/buildbot/masters/cairn /var/lib/buildbot/workers/cairn \
           /var/lib/prometheus/alertmanager /var/lib/prometheus/metrics2 \
           /etc/kubernetes /var/lib/kubelet /var/lib/kube-proxy /var/log/kubernetes; \
         dpkg -s containerd >/dev/null 2>&1 || rm -rf /etc/containerd; \
         dpkg -s haproxy >/dev/null 2>&1 || rm -rf /etc/haproxy; \
         rm -f /usr/local/share/ca-certificates/cairn-*.crt /etc/apt/sources.list.d/cairn.list \
           /etc/apt/keyrings/cairn.gpg /etc/systemd/system/etcd.service.d/cairn-initial.conf \
           /etc/sysctl.d/90-cairn.conf /etc/modules-load.d/cairn.conf \
           /etc/systemd/system/chrony.service.d/cairn-container.conf; \
         update-ca-certificates --fresh >/dev/null 2>&1; sysctl -qw net.ipv4.ip_forward=0; \
         if [ -d /etc/apt/sources.cairn-backup ]; then \
           for f in /etc/apt/sources.cairn-backup/*; do [ -e \"$f\" ] || continue; \
             case ${f##*/} in sources.list) mv \"$f\" /etc/apt/ ;; *) mv \"$f\" /etc/apt/sources.list.d/ ;; esac; \
           done; rmdir /etc/apt/sources.cairn-backup; fi; \
         sed -i '/CAIRN CLUSTER HOSTS/,/CAIRN CLUSTER HOSTS/d' /etc/hosts; \
         systemctl daemon-reload; true";
    for h in hosts {
        let o = lab.ssh(h, SCRIPT);
        if !o.status.success() {
            eprintln!(
                "cleanup of {h} failed: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

/// Cleans its hosts when dropped: also when the test fails.
pub struct CleanOnDrop {
    pub lab: Lab,
    pub hosts: Vec<&'static str>,
}

impl Drop for CleanOnDrop {
    fn drop(&mut self) {
        clean(&self.lab, &self.hosts);
    }
}

/// One `cairn install --json`: its exit code (None when killed), its events, its stderr.
pub struct JsonRun {
    pub code: Option<i32>,
    pub events: Vec<Value>,
    pub stderr: String,
}

impl JsonRun {
    /// Every host result (events of type `host_result`).
    pub fn results(&self) -> impl Iterator<Item = &Value> {
        self.events.iter().filter(|e| e["type"] == "host_result")
    }

    /// The run's id (from its first event).
    pub fn run_id(&self) -> i64 {
        self.events
            .first()
            .and_then(|e| e["run"].as_i64())
            .unwrap_or(0)
    }

    /// (host, checkpoint) → whether it changed, for the tasks that finished (ok or changed).
    pub fn finished(&self) -> BTreeMap<(String, String), bool> {
        self.results()
            .filter(|r| {
                r["checkpoint"].is_string() && (r["outcome"] == "ok" || r["outcome"] == "changed")
            })
            .map(|r| {
                (
                    (text(&r["host"]), text(&r["checkpoint"])),
                    r["outcome"] == "changed",
                )
            })
            .collect()
    }

    /// Checks that this run resumed `earlier`: each task that finished there is either left
    /// out here (`skipped`, `resumed: "run N"`) or run again without changing anything (it
    /// registers or sets facts). Returns how many were left out and the tasks run again.
    pub fn check_resumes(&self, earlier: &JsonRun) -> (usize, Vec<String>) {
        let done = earlier.finished();
        let mut left_out = 0;
        let mut ran_again = Vec::new();
        for r in self.results() {
            let key = (text(&r["host"]), text(&r["checkpoint"]));
            let Some(was_changed) = done.get(&key) else {
                continue;
            };
            if r["resumed"].is_string() {
                assert_eq!(r["outcome"], "skipped", "{r}");
                assert_eq!(r["resumed"], format!("run {}", earlier.run_id()), "{r}");
                left_out += 1;
            } else {
                assert_ne!(
                    r["outcome"],
                    "changed",
                    "finished in run {} (changed: {was_changed}), redone and changed again: {r}",
                    earlier.run_id()
                );
                ran_again.push(text(&r["task"]));
            }
        }
        (left_out, ran_again)
    }

    /// The recap's counters of `host` (`ok`, `changed`, `failed`...).
    pub fn recap(&self, host: &str, key: &str) -> u64 {
        self.events
            .iter()
            .rev()
            .find(|e| e["type"] == "recap")
            .and_then(|e| e["hosts"][host][key].as_u64())
            .unwrap_or_else(|| panic!("no recap {key} for {host}:\n{}", self.stderr))
    }
}

/// A JSON string's text ("" for anything else).
pub fn text(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

/// What [`install_json_with`]'s hook asks after an event.
pub enum Next {
    /// Keep reading the installer's events.
    Go,
    /// SIGKILL the installer now.
    Kill,
    /// SIGKILL it as soon as this says so: polled every 100 ms from another thread while the
    /// install goes on, since the moment is told by a host's state (a `dpkg` running, a file
    /// growing), not by an event. If the moment never comes the install ends by itself.
    KillWhen(Box<dyn FnMut() -> bool + Send>),
}

/// When a test SIGKILLs the installer ([`install_json_killed`]).
pub enum Kill<'a> {
    /// As soon as a task of this name starts.
    AtTask(&'a str),
    /// Once a task of this name has started, as soon as `now` says so ([`Next::KillWhen`]).
    During(&'a str, Box<dyn FnMut() -> bool + Send>),
}

/// Run `cairn install --json --config CONFIG` with the repository's playbooks, state in
/// `state`, and `extra` arguments. With `kill_at`, the installer is SIGKILLed as soon as a
/// task of that name starts. The output is also written to `log` (`.jsonl` and `.stderr`).
pub fn install_json(
    lab: &Lab,
    state: &Path,
    config: &Path,
    extra: &[&str],
    kill_at: Option<&str>,
    log: &Path,
) -> JsonRun {
    install_json_with(lab, state, config, extra, log, &mut |v| {
        if kill_at.is_some_and(|t| v["type"] == "task_started" && v["name"] == t) {
            Next::Kill
        } else {
            Next::Go
        }
    })
}

/// [`install_json`] with a hook called on each event as it arrives, while the installer keeps
/// running (so a test can act at a given moment, e.g. make a host fail when a task starts),
/// which may also kill the installer.
pub fn install_json_with(
    lab: &Lab,
    state: &Path,
    config: &Path,
    extra: &[&str],
    log: &Path,
    hook: &mut dyn FnMut(&Value) -> Next,
) -> JsonRun {
    let playbooks = repo_root().join("playbooks");
    run_install(lab, state, config, &playbooks, extra, log, hook)
}

/// [`install_json`] with another playbook set and any [`Kill`].
pub fn install_json_killed(
    lab: &Lab,
    state: &Path,
    config: &Path,
    playbooks: &Path,
    extra: &[&str],
    kill: Option<Kill<'_>>,
    log: &Path,
) -> JsonRun {
    let (at, mut now) = match kill {
        Some(Kill::AtTask(t)) => (Some(t), None),
        Some(Kill::During(t, now)) => (Some(t), Some(now)),
        None => (None, None),
    };
    let mut hit = false;
    run_install(lab, state, config, playbooks, extra, log, &mut |v| {
        if hit || !at.is_some_and(|t| v["type"] == "task_started" && v["name"] == t) {
            return Next::Go;
        }
        hit = true;
        match now.take() {
            None => Next::Kill,
            Some(now) => Next::KillWhen(now),
        }
    })
}

fn run_install(
    lab: &Lab,
    state: &Path,
    config: &Path,
    playbooks: &Path,
    extra: &[&str],
    log: &Path,
    hook: &mut dyn FnMut(&Value) -> Next,
) -> JsonRun {
    let mut child = Command::new(cairn_bin())
        .args(["install", "--json", "--config"])
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .arg("--playbooks")
        .arg(playbooks)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cairn install");
    let pid = child.id() as i32;
    let stderr = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let mut watcher = None;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut events = Vec::new();
    let mut lines = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        lines.push_str(&line);
        lines.push('\n');
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let next = hook(&v);
        events.push(v);
        match next {
            Next::Go => {}
            Next::Kill => {
                child.kill().expect("kill cairn install");
                break;
            }
            Next::KillWhen(mut now) if watcher.is_none() => {
                // Reads on: the install goes on until the moment comes (or ends by itself).
                let done = done.clone();
                watcher = Some(std::thread::spawn(move || {
                    use std::sync::atomic::Ordering;
                    while !done.load(Ordering::SeqCst) {
                        if now() && !done.load(Ordering::SeqCst) {
                            // SAFETY: signalling our own child, not yet waited for.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                            return;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }));
            }
            Next::KillWhen(_) => {}
        }
    }
    // The child is not reaped before the watcher has stopped: it never signals a reused pid.
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(w) = watcher {
        let _ = w.join();
    }
    let status = child.wait().expect("wait for cairn install");
    let stderr = err_thread.join().unwrap_or_default();
    std::fs::write(log.with_extension("jsonl"), &lines).unwrap();
    std::fs::write(log.with_extension("stderr"), &stderr).unwrap();
    JsonRun {
        code: status.code(),
        events,
        stderr,
    }
}
