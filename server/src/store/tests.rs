use super::journal::Journal;
use super::*;
use cairn_engine::event::{Event, EventSink, HostResult, Outcome};
use cairn_engine::playbook::Location;
use std::time::Duration;

fn loc(line: usize) -> Location {
    Location {
        file: "site.yml".into(),
        line,
        column: 3,
    }
}

fn result(host: &str, task: &str, outcome: Outcome) -> HostResult {
    HostResult {
        host: host.into(),
        task: task.into(),
        outcome,
        ignored: false,
        rc: None,
        stdout: None,
        stderr: None,
        msg: Some(format!("{host} {task}")),
        data: Default::default(),
        duration: Duration::from_millis(12),
        censored: false,
        diff: vec![],
        delegated_to: None,
        item: None,
        looped: false,
        checkpoint: None,
        resumed: None,
    }
}

#[test]
fn a_new_store_has_the_schema_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_in(&dir.path().join("state")).unwrap();
    let mode: String = s
        .conn()
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let v: i64 = s
        .conn()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    assert!(s.runs(10).unwrap().is_empty());
    // Opening again migrates nothing and loses nothing.
    let id = s.begin_run("play", "site.yml").unwrap();
    drop(s);
    let s = Store::open_in(&dir.path().join("state")).unwrap();
    assert_eq!(s.run(id).unwrap().status, "running");
}

#[test]
fn a_run_journal_keeps_every_event_in_order_with_results() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_in(dir.path()).unwrap();
    let id = s.begin_run("play", "site.yml").unwrap();
    let j = Journal::start(s.path(), id).unwrap();
    j.emit(Event::PlayStarted {
        name: "p".into(),
        hosts: vec!["a".into(), "b".into()],
        location: loc(1),
    });
    j.emit(Event::TaskStarted {
        name: "t1".into(),
        action: "command".into(),
        location: loc(4),
    });
    j.emit(Event::HostResult(result(
        "a",
        "t1",
        Outcome::Ok { changed: true },
    )));
    j.emit(Event::HostResult(result("b", "t1", Outcome::Failed)));
    assert_eq!(j.finish().unwrap(), 4);
    s.finish_run(id, RunStatus::Failed, Some(2)).unwrap();

    let run = s.run(id).unwrap();
    assert_eq!(
        (run.status.as_str(), run.exit_code, run.events),
        ("failed", Some(2), 4)
    );
    assert!(run.finished_ms.is_some());
    let seqs: Vec<u64> = s.events(id, 0).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    assert_eq!(s.events(id, 2).unwrap().len(), 2);
    let rows = s.results(id).unwrap();
    let got: Vec<(&str, &str, &str, Option<i64>)> = rows
        .iter()
        .map(|r| {
            (
                r.host.as_str(),
                r.outcome.as_str(),
                r.play.as_deref().unwrap_or(""),
                r.task_line,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", "changed", "p", Some(4)),
            ("b", "failed", "p", Some(4))
        ]
    );
}

#[test]
fn events_from_many_threads_are_numbered_without_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_in(dir.path()).unwrap();
    let id = s.begin_run("play", "x").unwrap();
    let j = Journal::start(s.path(), id).unwrap();
    std::thread::scope(|sc| {
        for t in 0..8 {
            let j = &j;
            sc.spawn(move || {
                for i in 0..250 {
                    j.emit(Event::HostResult(result(
                        &format!("h{t}"),
                        &format!("t{i}"),
                        Outcome::Ok { changed: false },
                    )));
                }
            });
        }
    });
    assert_eq!(j.finish().unwrap(), 2000);
    let ev = s.events(id, 0).unwrap();
    assert_eq!(ev.len(), 2000);
    assert!(ev.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
    assert_eq!(s.results(id).unwrap().len(), 2000);
}

#[test]
fn a_run_whose_process_died_is_marked_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_in(dir.path()).unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = i64::from(child.id());
    child.wait().unwrap();
    s.conn()
        .execute(
            "INSERT INTO runs (kind, title, pid, started_ms) VALUES ('play', 'old', ?1, 0)",
            params![dead],
        )
        .unwrap();
    let mine = s.begin_run("play", "mine").unwrap();
    drop(s);
    let s = Store::open_in(dir.path()).unwrap();
    let statuses: Vec<(String, String)> = s
        .runs(10)
        .unwrap()
        .into_iter()
        .map(|r| (r.title, r.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("mine".to_string(), "running".to_string()),
            ("old".to_string(), "interrupted".to_string())
        ]
    );
    assert_eq!(s.run(mine).unwrap().status, "running");
}

#[test]
fn errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_in(dir.path()).unwrap();
    assert_eq!(
        s.run(42).unwrap_err().to_string(),
        "no run 42 in the state store (`cairn runs` lists them)"
    );
    s.conn().pragma_update(None, "user_version", 99).unwrap();
    drop(s);
    let e = Store::open_in(dir.path()).err().unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "the state store {} has schema version 99, newer than this cairn understands ({SCHEMA_VERSION}): use a newer cairn",
            dir.path().join("cairn.db").display()
        )
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let e = Store::open_in(&file.join("state")).err().unwrap();
    assert!(
        e.to_string().starts_with(&format!(
            "cannot create the state dir {}: ",
            file.join("state").display()
        )),
        "{e}"
    );
    assert!(
        e.to_string()
            .ends_with("(set --state-dir or CAIRN_STATE_DIR to a writable directory)")
    );
}

#[test]
fn a_version_1_store_is_migrated_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO runs (kind, title, pid, started_ms, status) VALUES ('play', 'v1', 1, 0, 'ok')",
            [],
        )
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.runs(5).unwrap()[0].title, "v1");
    let id = s.begin_run("preflight", "hosts").unwrap();
    let check = cairn_protocol::PreflightCheck {
        host: "lab1".into(),
        id: "port:2379".into(),
        status: "fail".into(),
        reason: None,
        value: "in use".into(),
        threshold: None,
        remedy: Some("stop it".into()),
        fixable: false,
    };
    let warn = cairn_protocol::PreflightCheck {
        id: "sysctl:net.ipv4.ip_forward".into(),
        status: "warn".into(),
        fixable: true,
        ..check.clone()
    };
    s.save_checks(id, &[check.clone(), warn.clone()]).unwrap();
    assert_eq!(s.checks(id).unwrap(), vec![check, warn]);
    // What --fix did (schema 6), in order, back as it was saved.
    let fixes = vec![
        cairn_protocol::PreflightFix {
            host: "lab1".into(),
            id: "sysctl:net.ipv4.ip_forward".into(),
            action: "sysctl net.ipv4.ip_forward=1, persisted in /etc/sysctl.d/90-cairn.conf".into(),
            outcome: "changed".into(),
            changed: true,
            text: "set 0 -> 1".into(),
        },
        cairn_protocol::PreflightFix {
            host: "lab1".into(),
            id: "module:overlay".into(),
            action: "modprobe overlay, persisted in /etc/modules-load.d/cairn.conf".into(),
            outcome: "not applied".into(),
            changed: false,
            text: "container".into(),
        },
    ];
    assert_eq!(s.fixes(id).unwrap(), vec![]);
    s.save_fixes(id, &fixes).unwrap();
    assert_eq!(s.fixes(id).unwrap(), fixes);
}

#[test]
fn checkpoints_of_a_resume_chain_come_back_finished_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_in(dir.path()).unwrap();
    let with_cp = |host: &str, cp: &str, outcome: Outcome| {
        let mut r = result(host, "t", outcome);
        r.checkpoint = Some(cp.into());
        Event::HostResult(r)
    };
    let first = s.begin_run("install", "lab").unwrap();
    let j = Journal::start(s.path(), first).unwrap();
    j.emit(with_cp(
        "a",
        "site.yml:4:3#1@00",
        Outcome::Ok { changed: true },
    ));
    j.emit(with_cp("b", "site.yml:4:3#1@00", Outcome::Failed));
    j.emit(Event::HostResult(result(
        "a",
        "loop item",
        Outcome::Ok { changed: false },
    )));
    j.finish().unwrap();
    let second = s.begin_run("install", "lab").unwrap();
    s.set_resumes(second, first).unwrap();
    let j = Journal::start(s.path(), second).unwrap();
    j.emit(with_cp(
        "b",
        "site.yml:4:3#1@00",
        Outcome::Ok { changed: false },
    ));
    j.emit(with_cp("b", "site.yml:9:3#1@11", Outcome::Skipped));
    j.finish().unwrap();
    let unrelated = s.begin_run("install", "lab").unwrap();

    assert_eq!(s.resume_chain(second).unwrap(), vec![second, first]);
    assert_eq!(s.resume_chain(unrelated).unwrap(), vec![unrelated]);
    let got: Vec<(i64, String, bool)> = s
        .finished_tasks(&s.resume_chain(second).unwrap())
        .unwrap()
        .into_iter()
        .map(|f| (f.run, f.host, f.changed))
        .collect();
    assert_eq!(
        got,
        vec![(second, "b".into(), false), (first, "a".into(), true)],
        "ok/changed with a checkpoint only: not failed, skipped or loop items"
    );
    assert!(matches!(
        s.set_resumes(999, first),
        Err(StoreError::NoSuchRun(999))
    ));
}

#[test]
fn the_store_and_its_wal_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let s = Store::open_in(&state).unwrap();
    s.begin_run("play", "site.yml").unwrap();
    assert_eq!(mode(&state), 0o700);
    for f in ["cairn.db", "cairn.db-wal", "cairn.db-shm"] {
        assert_eq!(mode(&state.join(f)), 0o600, "{f}");
    }
    drop(s);
    // A store an older cairn left readable by everyone is narrowed when opened.
    std::fs::set_permissions(
        state.join("cairn.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    drop(Store::open_in(&state).unwrap());
    assert_eq!(mode(&state.join("cairn.db")), 0o600);
    // A store that cannot be created says so and what to do.
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(bad.join("cairn.db")).unwrap();
    let e = Store::open_in(&bad).err().unwrap().to_string();
    assert!(
        e.starts_with(&format!(
            "cannot create the state store {}: ",
            bad.join("cairn.db").display()
        )) && e.ends_with("(is the state dir writable? set --state-dir or CAIRN_STATE_DIR)"),
        "{e}"
    );
}
