//! The state store seen from the command line: `cairn play --json` prints the run's events as
//! JSON lines, the same run is recorded in the store (`cairn runs`, `cairn runs show`), and a
//! `no_log` task's output reaches neither the JSON nor the database file.
//!
//! Host use: lab1, lab2, ordinary work only (nothing is changed on them).

use cairn_protocol::{Envelope, Outcome, RunEvent};
use cairn_tests::{Lab, cairn_bin, scratch};
use std::path::Path;
use std::process::Command;

const SECRET: &str = "s3cr3t-value-that-must-not-be-stored";

fn cairn(state: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(cairn_bin())
        .args(args)
        .env("CAIRN_STATE_DIR", state)
        .output()
        .expect("run cairn");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_run_is_printed_as_json_lines_and_recorded_without_secrets() {
    let lab = Lab::from_env();
    let dir = scratch("store-json");
    let state = dir.join("state");
    let mut ini = String::from("[lab]\n");
    for h in ["lab1", "lab2"] {
        ini.push_str(&format!(
            "{h} ansible_host={} ansible_user=root ansible_ssh_private_key_file={}\n",
            lab.address(h),
            lab.key("id_ed25519").display()
        ));
    }
    std::fs::write(dir.join("hosts"), ini).unwrap();
    std::fs::write(
        dir.join("site.yml"),
        format!(
            r#"
- hosts: lab
  gather_facts: false
  tasks:
    - name: say hello
      command: echo hello
    - name: hidden
      shell: echo {SECRET}
      no_log: true
    - name: fail on lab2
      command: "false"
      when: inventory_hostname == 'lab2'
"#
        ),
    )
    .unwrap();
    let (code, out, err) = cairn(
        &state,
        &[
            "play",
            dir.join("site.yml").to_str().unwrap(),
            "-i",
            dir.join("hosts").to_str().unwrap(),
            "--known-hosts",
            lab.known_hosts.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(!out.contains(SECRET) && !err.contains(SECRET));
    let events: Vec<Envelope> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 + 1),
        "seq must be gapless"
    );
    let run = events[0].run;
    assert!(run > 0);
    assert!(matches!(events[0].event, RunEvent::RunStarted { .. }));
    assert!(matches!(
        events.last().unwrap().event,
        RunEvent::Recap { .. }
    ));
    let failed: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::HostResult(r) if r.outcome == Outcome::Failed => Some(r.host.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(failed, vec!["lab2"]);
    let hidden: Vec<bool> = events
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::HostResult(r) if r.task == "hidden" => Some(r.censored && r.stdout.is_none()),
            _ => None,
        })
        .collect();
    assert_eq!(hidden, vec![true, true]);

    // The store has the same run, the same events, and its status.
    let (code, out, _) = cairn(&state, &["runs", "--json"]);
    assert_eq!(code, Some(0));
    let row: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(row["id"], run);
    assert_eq!(row["status"], "failed");
    assert_eq!(row["exit_code"], 2);
    assert_eq!(row["events"], events.len());
    let (code, out, _) = cairn(&state, &["runs", "show", &run.to_string(), "--json"]);
    assert_eq!(code, Some(0));
    let stored: Vec<Envelope> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds = |v: &[Envelope]| -> Vec<String> {
        v.iter()
            .map(|e| format!("{}:{:?}", e.seq, std::mem::discriminant(&e.event)))
            .collect()
    };
    assert_eq!(kinds(&stored), kinds(&events));
    let (code, out, _) = cairn(&state, &["runs", "show", &run.to_string()]);
    assert_eq!(code, Some(0));
    assert!(out.contains("failed      [lab2] fail on lab2"), "{out}");
    assert!(out.contains("changed     [lab1] say hello"), "{out}");

    // Not in the database file, its WAL, or anywhere in the state dir.
    for entry in std::fs::read_dir(&state).unwrap() {
        let p = entry.unwrap().path();
        let bytes = std::fs::read(&p).unwrap_or_default();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "{} holds the secret",
            p.display()
        );
    }

    let (code, _, err) = cairn(&state, &["runs", "show", "999999"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        err,
        "error: no run 999999 in the state store (`cairn runs` lists them)\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
