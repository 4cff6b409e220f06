//! The whole platform on the lab cluster of `tests/lab-cluster.yaml` (three etcd members that
//! are also the Kubernetes masters, one node, one host with the registry, the CI server and
//! monitoring), then what an operator does next, each step checked in the run's journal:
//!
//! 1. the installer is SIGKILLed in the middle of the etcd role; the store marks the run
//!    `interrupted`;
//! 2. `--resume` continues it: every host starts again from its first unfinished task; no task
//!    that had finished reports `changed` again; the tasks left out are marked `resumed`; the
//!    etcd cluster is healthy (etcdctl) and Prometheus sees every target up;
//! 3. a second install changes nothing (the kube roles run in check mode: the lab bundle has
//!    no Kubernetes binaries, so they always report what they would do and are not counted);
//! 4. lab33 is added to cluster.yaml as a second node: it is installed, and the other hosts
//!    change only what must know about it (/etc/hosts, Prometheus' targets);
//! 5. `--limit lab31` runs lab31 only, changing nothing.
//!
//! Host use: lab28..lab33 only. Before and after (a guard, also on failure) the hosts are put
//! back (`cairn_tests::installed::clean`).

use cairn_tests::installed::{
    CleanOnDrop, JsonRun, clean, install_json, lab_bundle, runs_line, text as s,
};
use cairn_tests::{Lab, free_tcp_port, free_udp_port, repo_root, scratch};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const FIRST: [&str; 5] = ["lab28", "lab29", "lab30", "lab31", "lab32"];
const ADDED: &str = "lab33";
const ALL: [&str; 6] = ["lab28", "lab29", "lab30", "lab31", "lab32", "lab33"];
/// Where the first install is killed: after the certificates are copied, before etcd starts.
const KILL_AT: &str = "etcd : Write etcd's environment file";

/// tests/lab-cluster.yaml with this lab's key, the installer's ports (`(http, ntp)`: the same
/// for every run, as an operator's would be: they are in every host's apt and chrony
/// configuration), the bundle built here, and `extra` hosts added as kube nodes.
fn write_config(
    lab: &Lab,
    dir: &Path,
    bundle: &Path,
    (port, ntp): (u16, u16),
    extra: &[&str],
) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("tests/lab-cluster.yaml")).unwrap();
    let mut y: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    y["defaults"]["auth"]["key"] = lab.key("id_ed25519").display().to_string().into();
    y["installer"]["port"] = port.into();
    y["installer"]["ntp_port"] = ntp.into();
    y["bundle"] = bundle.display().to_string().into();
    let hosts = y["hosts"].as_sequence_mut().unwrap();
    for h in hosts.iter_mut() {
        let name = h["name"].as_str().unwrap().to_string();
        h["address"] = lab.address(&name).into();
    }
    for h in extra {
        let mut m = serde_yaml::Mapping::new();
        m.insert("name".into(), (*h).into());
        m.insert("address".into(), lab.address(h).into());
        hosts.push(m.into());
    }
    for h in extra {
        y["roles"]["kube_node"]
            .as_sequence_mut()
            .unwrap()
            .push((*h).into());
    }
    let p = dir.join("cluster.yaml");
    std::fs::write(&p, serde_yaml::to_string(&y).unwrap()).unwrap();
    p
}

fn is_kube(task: &str) -> bool {
    task.starts_with("kube_master : ") || task.starts_with("kube_node : ")
}

/// (host, task, item) of the results that changed something, kube roles left out.
fn changed(run: &JsonRun) -> BTreeSet<(String, String, String)> {
    run.results()
        .filter(|r| r["outcome"] == "changed" && !is_kube(&s(&r["task"])))
        .map(|r| (s(&r["host"]), s(&r["task"]), s(&r["item"])))
        .collect()
}

fn wait_for(what: &str, mut ok: impl FnMut() -> Result<(), String>) {
    let t0 = Instant::now();
    loop {
        match ok() {
            Ok(()) => return,
            Err(e) if t0.elapsed() > Duration::from_secs(90) => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_secs(2)),
        }
    }
}

/// Prometheus' active targets all `up`, and the instances of the `node` job.
fn prometheus_nodes_up(lab: &Lab) -> BTreeSet<String> {
    let url = format!(
        "http://{}:9090/api/v1/targets?state=active",
        lab.address("lab32")
    );
    let mut nodes = BTreeSet::new();
    wait_for("Prometheus targets up", || {
        let o = Command::new("curl")
            .args(["-sSf", "--max-time", "10", &url])
            .output()
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&o.stdout).map_err(|e| e.to_string())?;
        let active = v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let down: Vec<String> = active
            .iter()
            .filter(|t| t["health"] != "up")
            .map(|t| format!("{} {}", t["labels"]["job"], t["scrapeUrl"]))
            .collect();
        if active.is_empty() || !down.is_empty() {
            return Err(format!("not up: {down:?} of {}", active.len()));
        }
        nodes = active
            .iter()
            .filter(|t| t["labels"]["job"] == "node")
            .map(|t| s(&t["labels"]["instance"]))
            .collect();
        Ok(())
    });
    nodes
}

fn etcd_healthy(lab: &Lab) {
    let out = lab.ssh(
        "lab28",
        "ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/etcd/pki/ca.crt \
         --cert /etc/etcd/pki/client.crt --key /etc/etcd/pki/client.key endpoint health --cluster 2>&1; \
         ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/etcd/pki/ca.crt \
         --cert /etc/etcd/pki/client.crt --key /etc/etcd/pki/client.key put cairn-test resumed 2>&1",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("is healthy").count(), 3, "{text}");
    assert!(text.contains("OK"), "{text}");
    let got = lab.ssh_stdout(
        "lab30",
        "ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/etcd/pki/ca.crt \
         --cert /etc/etcd/pki/client.crt --key /etc/etcd/pki/client.key get --print-value-only cairn-test",
    );
    assert_eq!(got.trim(), "resumed");
}

#[test]
fn killed_install_resumes_then_reruns_clean_adds_a_host_and_limits() {
    let lab = Lab::from_env();
    let dir = scratch("install-cluster");
    clean(&lab, &ALL);
    let _guard = CleanOnDrop {
        lab: lab.clone(),
        hosts: ALL.to_vec(),
    };
    let t0 = Instant::now();
    let (bundle, _images) = lab_bundle(&dir);
    eprintln!("lab bundle built in {:?}", t0.elapsed());
    let state = dir.join("state");
    let ports = (free_tcp_port("10.213.0.1"), free_udp_port("10.213.0.1"));
    let config = write_config(&lab, &dir, &bundle, ports, &[]);

    // 1. Killed in the middle of the etcd role.
    let t = Instant::now();
    let killed = install_json(
        &lab,
        &state,
        &config,
        &[],
        Some(KILL_AT),
        &dir.join("1-killed"),
    );
    eprintln!("killed after {:?}", t.elapsed());
    assert_eq!(killed.code, None, "killed by a signal:\n{}", killed.stderr);
    let first_run = killed.run_id();
    let done = killed.finished();
    assert!(
        done.len() > 5 * 10 && done.values().any(|c| *c),
        "the first run finished tasks before it was killed: {done:?}"
    );
    let line = runs_line(&state, first_run);
    assert!(line.contains("interrupted"), "{line}");

    // 2. --resume: from the first unfinished task on each host; nothing finished is redone.
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
    assert!(
        resumed.stderr.contains(&format!(
            "resuming install run {first_run} of cluster \"lab\": running again on lab28, lab29, lab30, lab31, lab32 ("
        )),
        "{}",
        resumed.stderr
    );
    let (left_out, ran_again) = resumed.check_resumes(&killed);
    eprintln!(
        "resume: {left_out} finished tasks left out, {} run again (they register or set facts): {:?}",
        ran_again.len(),
        ran_again.iter().collect::<BTreeSet<_>>()
    );
    assert!(
        left_out * 2 > done.len(),
        "most finished tasks are left out: {left_out} of {}",
        done.len()
    );
    // The task it was killed in, and everything after, ran.
    for h in ["lab28", "lab29", "lab30"] {
        assert!(
            resumed
                .results()
                .any(|r| r["host"] == h && r["task"] == KILL_AT && r["resumed"].is_null()),
            "{h} ran {KILL_AT:?}"
        );
    }
    for h in FIRST {
        assert_eq!(resumed.recap(h, "failed"), 0);
        assert_eq!(resumed.recap(h, "unreachable"), 0);
    }
    etcd_healthy(&lab);
    let nodes = prometheus_nodes_up(&lab);
    assert_eq!(nodes.len(), 5, "{nodes:?}");

    // 3. A second install changes nothing (outside the kube roles' check mode).
    let t = Instant::now();
    let again = install_json(&lab, &state, &config, &[], None, &dir.join("3-again"));
    eprintln!("second install took {:?}", t.elapsed());
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(changed(&again), BTreeSet::new(), "{}", again.stderr);

    // 4. lab33 joins as a second node.
    let config = write_config(&lab, &dir, &bundle, ports, &[ADDED]);
    let t = Instant::now();
    let added = install_json(&lab, &state, &config, &[], None, &dir.join("4-added"));
    eprintln!("install with lab33 added took {:?}", t.elapsed());
    assert_eq!(added.code, Some(0), "{}", added.stderr);
    let changed_added = changed(&added);
    assert!(
        changed_added.iter().filter(|(h, _, _)| h == ADDED).count() > 10,
        "lab33 is installed: {changed_added:#?}"
    );
    let elsewhere: BTreeSet<(String, String)> = changed_added
        .iter()
        .filter(|(h, _, _)| h != ADDED)
        .map(|(h, t, _)| (h.clone(), t.clone()))
        .collect();
    for (h, task) in &elsewhere {
        let knows_hosts = task.starts_with("base : ") && task.contains("/etc/hosts");
        let targets = h == "lab32" && task.starts_with("prometheus : ");
        assert!(
            knows_hosts || targets,
            "{h} changed {task:?}, which has nothing to do with a new node: {elsewhere:#?}"
        );
    }
    assert!(
        elsewhere
            .iter()
            .any(|(h, t)| h == "lab32" && t.starts_with("prometheus : ")),
        "Prometheus learns the new node: {elsewhere:#?}"
    );
    let nodes = prometheus_nodes_up(&lab);
    assert_eq!(nodes.len(), 6, "{nodes:?}");
    assert!(
        nodes.iter().any(|n| n.starts_with(&lab.address(ADDED))),
        "{nodes:?}"
    );

    // 5. --limit: only lab31 runs; nothing changes.
    let limited = install_json(
        &lab,
        &state,
        &config,
        &["--limit", "lab31"],
        None,
        &dir.join("5-limit"),
    );
    assert_eq!(limited.code, Some(0), "{}", limited.stderr);
    let recap_hosts: Vec<String> = limited
        .events
        .iter()
        .rev()
        .find(|e| e["type"] == "recap")
        .and_then(|e| e["hosts"].as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(recap_hosts, vec!["lab31".to_string()]);
    assert_eq!(changed(&limited), BTreeSet::new());
    // A pattern that matches no host is bad input, nothing run.
    let none = install_json(
        &lab,
        &state,
        &config,
        &["--limit", "nosuch*"],
        None,
        &dir.join("6-none"),
    );
    assert_eq!(none.code, Some(1));
    assert!(
        none.stderr.contains("error: --limit \"nosuch*\" leaves no host of cluster \"lab\" to run: its hosts are lab28, lab29, lab30, lab31, lab32, lab33"),
        "{}",
        none.stderr
    );
}
