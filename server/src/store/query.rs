//! Reading runs back: the list of runs, one run's journal, one run's per-host results.
//!
//! Owns the read queries. Must not: write (the journal and the run lifecycle in `mod.rs` do).

use cairn_protocol::Envelope;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// One row of `cairn runs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub status: String,
    pub exit_code: Option<i64>,
    pub events: i64,
}

/// One task's end on one host, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRow {
    pub seq: i64,
    pub play: Option<String>,
    pub task: String,
    pub task_file: Option<String>,
    pub task_line: Option<i64>,
    pub host: String,
    pub outcome: String,
    pub ignored: bool,
    pub duration_ms: i64,
    pub msg: Option<String>,
}

impl Store {
    /// The most recent runs first, at most `limit`.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT id, kind, title, started_ms, finished_ms, status, exit_code,
                    (SELECT COUNT(*) FROM events e WHERE e.run_id = runs.id)
             FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    title: r.get(2)?,
                    started_ms: r.get(3)?,
                    finished_ms: r.get(4)?,
                    status: r.get(5)?,
                    exit_code: r.get(6)?,
                    events: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn run(&self, id: i64) -> Result<RunRow, StoreError> {
        self.conn()
            .query_row(
                "SELECT id, kind, title, started_ms, finished_ms, status, exit_code,
                        (SELECT COUNT(*) FROM events e WHERE e.run_id = runs.id)
                 FROM runs WHERE id = ?1",
                params![id],
                |r| {
                    Ok(RunRow {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        title: r.get(2)?,
                        started_ms: r.get(3)?,
                        finished_ms: r.get(4)?,
                        status: r.get(5)?,
                        exit_code: r.get(6)?,
                        events: r.get(7)?,
                    })
                },
            )
            .optional()?
            .ok_or(StoreError::NoSuchRun(id))
    }

    /// Run `id`'s events after `after_seq`, in order (the console's replay-then-follow).
    pub fn events(&self, id: i64, after_seq: u64) -> Result<Vec<Envelope>, StoreError> {
        self.events_page(id, after_seq, usize::MAX)
    }

    /// At most `limit` of run `id`'s events after `after_seq`, in order (the event stream
    /// replays a long run in such pages: each reads only its own rows).
    pub fn events_page(
        &self,
        id: i64,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<Envelope>, StoreError> {
        self.run(id)?;
        let mut stmt = self.conn().prepare_cached(
            "SELECT seq, time_ms, body FROM events WHERE run_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                id,
                i64::try_from(after_seq).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, time_ms, body) = row?;
            // A journal row this build cannot read (written by a newer cairn) is skipped,
            // not fatal: the rest of the run is still worth showing.
            if let Ok(event) = serde_json::from_str(&body) {
                out.push(Envelope {
                    run: id,
                    seq: u64::try_from(seq).unwrap_or(0),
                    time_ms,
                    event,
                });
            }
        }
        Ok(out)
    }

    /// Run `id`'s per-host results in order.
    pub fn results(&self, id: i64) -> Result<Vec<ResultRow>, StoreError> {
        self.run(id)?;
        let mut stmt = self.conn().prepare(
            "SELECT seq, play, task, task_file, task_line, host, outcome, ignored, duration_ms, msg
             FROM results WHERE run_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok(ResultRow {
                    seq: r.get(0)?,
                    play: r.get(1)?,
                    task: r.get(2)?,
                    task_file: r.get(3)?,
                    task_line: r.get(4)?,
                    host: r.get(5)?,
                    outcome: r.get(6)?,
                    ignored: r.get(7)?,
                    duration_ms: r.get(8)?,
                    msg: r.get(9)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
