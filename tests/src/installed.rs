//! What the `cairn install` end-to-end tests share: building the lab bundle, running the
//! installer with `--json` (optionally killing it at a given task), reading its results, and
//! putting lab hosts back as they were (every shipped role's services and files).
//!
//! Must not: assert anything about an install (the tests do).

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

/// What [`install_json_with`]'s hook asks after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Keep reading the installer's events.
    Go,
    /// SIGKILL the installer now.
    Kill,
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
    let mut child = Command::new(cairn_bin())
        .args(["install", "--json", "--config"])
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .arg("--known-hosts")
        .arg(&lab.known_hosts)
        .arg("--playbooks")
        .arg(repo_root().join("playbooks"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cairn install");
    let stderr = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
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
        if next == Next::Kill {
            child.kill().expect("kill cairn install");
            break;
        }
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
