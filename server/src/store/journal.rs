//! A run's events into the store, off the hot path: [`Journal`] is an `EventSink` that numbers
//! each event, turns it into its wire form and hands it to a writer thread, which commits them
//! in batches (one transaction per burst), so a host's task never waits for the disk.
//!
//! Owns event numbering (`seq`, gapless, in emit order) and the `events`/`results` rows. Must
//! not: fail the run because the store failed (the first write error is kept and reported by
//! [`Journal::finish`]; the run's own outcome stands), or block `emit`.

use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use cairn_engine::event::{Event, EventSink};
use cairn_protocol::{Envelope, RunEvent};
use rusqlite::{Connection, params};

use super::{StoreError, now_ms};

/// The most events written in one transaction (bounds how long a reader can be behind).
const BATCH: usize = 512;

pub struct Journal {
    run: i64,
    /// Numbering and sending under one lock, so `seq` order is channel order.
    tx: Mutex<(u64, Option<Sender<Envelope>>)>,
    writer: Mutex<Option<JoinHandle<Result<u64, StoreError>>>>,
}

impl Journal {
    /// Start writing run `run`'s events into the database at `path` (a connection of its own,
    /// on a thread of its own).
    pub fn start(path: &std::path::Path, run: i64) -> Result<Journal, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_timeout(super::BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("cairn-journal".into())
            .spawn(move || write_all(conn, run, rx))
            .map_err(|e| StoreError::Dir {
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(Journal {
            run,
            tx: Mutex::new((0, Some(tx))),
            writer: Mutex::new(Some(writer)),
        })
    }

    pub fn run_id(&self) -> i64 {
        self.run
    }

    /// Wait until every event emitted so far is committed; the number written, or the first
    /// error the writer met.
    pub fn finish(&self) -> Result<u64, StoreError> {
        if let Ok(mut g) = self.tx.lock() {
            g.1 = None; // closing the channel ends the writer after it drains
        }
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        match handle {
            Some(h) => h.join().unwrap_or(Ok(0)),
            None => Ok(0),
        }
    }

    /// Record one event given in wire form (for events that do not come from the engine).
    pub fn emit_wire(&self, event: RunEvent) {
        let Ok(mut g) = self.tx.lock() else { return };
        g.0 += 1;
        let env = Envelope {
            run: self.run,
            seq: g.0,
            time_ms: now_ms(),
            event,
        };
        if let Some(tx) = &g.1 {
            // A closed channel means the writer stopped on an error it will report.
            let _ = tx.send(env);
        }
    }
}

impl EventSink for Journal {
    fn emit(&self, event: Event) {
        self.emit_wire(crate::wire::event(&event));
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The writer thread: block for one event, take what else is queued (up to [`BATCH`]), commit.
fn write_all(mut conn: Connection, run: i64, rx: Receiver<Envelope>) -> Result<u64, StoreError> {
    let mut written = 0u64;
    let mut play: Option<String> = None;
    let mut task_at: Option<(String, i64)> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let tx = conn.transaction()?;
        {
            let mut ev = tx.prepare_cached(
                "INSERT INTO events (run_id, seq, time_ms, type, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut res = tx.prepare_cached(
                "INSERT INTO results (run_id, seq, play, task, task_file, task_line, host, outcome, ignored, duration_ms, msg, checkpoint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for env in &batch {
                let body = serde_json::to_value(&env.event).unwrap_or_default();
                let kind = body
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("unknown")
                    .to_string();
                let seq = i64::try_from(env.seq).unwrap_or(i64::MAX);
                ev.execute(params![run, seq, env.time_ms, kind, body.to_string()])?;
                match &env.event {
                    RunEvent::PlayStarted { name, .. } => play = Some(name.clone()),
                    RunEvent::TaskStarted { location, .. } => {
                        task_at = Some((
                            location.file.clone(),
                            i64::try_from(location.line).unwrap_or(0),
                        ))
                    }
                    RunEvent::HostResult(r) => {
                        res.execute(params![
                            run,
                            seq,
                            play,
                            r.task,
                            task_at.as_ref().map(|t| &t.0),
                            task_at.as_ref().map(|t| t.1),
                            r.host,
                            r.outcome.as_str(),
                            r.ignored,
                            i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
                            r.msg,
                            r.checkpoint,
                        ])?;
                    }
                    _ => {}
                }
            }
        }
        tx.commit()?;
        written += batch.len() as u64;
    }
    Ok(written)
}
