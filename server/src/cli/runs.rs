//! `cairn runs`: the runs recorded in the state store (`cairn play`, later `cairn install` and
//! the console), and one run's results or its whole event journal.

use std::path::PathBuf;

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::store::{Store, StoreError};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,

    /// How many runs to list, most recent first.
    #[arg(long, default_value_t = 20)]
    pub last: usize,

    /// The state dir holding cairn.db (default: $CAIRN_STATE_DIR, /var/lib/cairn as root,
    /// ~/.local/state/cairn otherwise).
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,

    /// JSON instead of a table (runs: one object per run; show: the journal as JSON lines).
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// One run: each task's result on each host (or, with --json, every event as JSON lines).
    Show {
        /// The run's id (the first column of `cairn runs`).
        id: i64,
    },
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let dir = crate::state_dir::resolve(args.state_dir.clone());
    if !dir.join("cairn.db").exists() {
        eprintln!(
            "no runs recorded yet in {} (runs are recorded by `cairn play`)",
            dir.display()
        );
        return Ok(EXIT_OK);
    }
    let store = match Store::open_in(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_FAILED);
        }
    };
    let shown = match &args.command {
        None => list(&store, &args),
        Some(Sub::Show { id }) => show(&store, *id, args.json),
    };
    match shown {
        Ok(()) => Ok(EXIT_OK),
        Err(e @ StoreError::NoSuchRun(_)) => {
            eprintln!("error: {e}");
            Ok(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
    }
}

fn when(ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn took(start: i64, end: Option<i64>) -> String {
    match end {
        Some(e) => format!("{:.1}s", (e - start) as f64 / 1000.0),
        None => "-".into(),
    }
}

fn list(store: &Store, args: &Args) -> Result<(), StoreError> {
    let runs = store.runs(args.last)?;
    if args.json {
        for r in runs {
            let v = serde_json::json!({
                "id": r.id, "kind": r.kind, "title": r.title, "status": r.status,
                "exit_code": r.exit_code, "started_ms": r.started_ms,
                "finished_ms": r.finished_ms, "events": r.events,
            });
            outln!("{v}");
        }
        return Ok(());
    }
    outln!(
        "{:>5}  {:<20}  {:>8}  {:<11}  {:<6}  TITLE",
        "ID",
        "STARTED",
        "TOOK",
        "STATUS",
        "KIND"
    );
    for r in runs {
        outln!(
            "{:>5}  {:<20}  {:>8}  {:<11}  {:<6}  {}",
            r.id,
            when(r.started_ms),
            took(r.started_ms, r.finished_ms),
            r.status,
            r.kind,
            r.title
        );
    }
    Ok(())
}

fn show(store: &Store, id: i64, json: bool) -> Result<(), StoreError> {
    let run = store.run(id)?;
    if run.kind == "preflight" {
        // What --fix did first (the checks are the state after it); --json stays one check
        // per line.
        if !json {
            for f in store.fixes(id)? {
                outln!(
                    "fix: {} {}: {}: {} [{}]",
                    f.host,
                    f.id,
                    f.outcome,
                    f.text,
                    f.action
                );
            }
        }
        for c in store.checks(id)? {
            if json {
                if let Ok(line) = serde_json::to_string(&c) {
                    outln!("{line}");
                }
            } else {
                outln!("{:<12} {:<8} {:<32} {}", c.host, c.status, c.id, c.value);
            }
        }
        return Ok(());
    }
    if json {
        for e in store.events(id, 0)? {
            if let Ok(line) = serde_json::to_string(&e) {
                outln!("{line}");
            }
        }
        return Ok(());
    }
    outln!(
        "run {}: {} {} — {} (exit {}), started {}, took {}",
        run.id,
        run.kind,
        run.title,
        run.status,
        run.exit_code.map_or("-".into(), |c| c.to_string()),
        when(run.started_ms),
        took(run.started_ms, run.finished_ms)
    );
    let mut play: Option<String> = None;
    for r in store.results(id)? {
        if r.play != play {
            outln!("\nPLAY [{}]", r.play.as_deref().unwrap_or(""));
            play = r.play.clone();
        }
        let at = match (&r.task_file, r.task_line) {
            (Some(f), Some(l)) => format!("  ({f}:{l})"),
            _ => String::new(),
        };
        let ignored = if r.ignored { " (ignored)" } else { "" };
        let msg = match (&r.outcome[..], &r.msg) {
            ("failed" | "unreachable", Some(m)) if !m.is_empty() => format!(": {m}"),
            _ => String::new(),
        };
        outln!(
            "  {:<11} [{}] {}{at} {}ms{ignored}{msg}",
            r.outcome,
            r.host,
            r.task,
            r.duration_ms
        );
    }
    Ok(())
}
