//! What per-task resume reads back: the chain of runs a `--resume` run continues, and the
//! tasks those runs finished on each host (their checkpoints).
//!
//! Owns these queries and the one write that links a resumed run to the run it resumes. Must
//! not: decide what is skipped (the engine's `run::resume` does) or which hosts run again
//! (`install::resume`).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// One task that ended `ok` or `changed` on a host, with its checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedTask {
    pub run: i64,
    pub seq: i64,
    pub host: String,
    pub checkpoint: String,
    pub changed: bool,
}

impl Store {
    /// Record that run `id` resumes run `resumed`.
    pub fn set_resumes(&self, id: i64, resumed: i64) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE runs SET resumes = ?2 WHERE id = ?1",
            params![id, resumed],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchRun(id));
        }
        Ok(())
    }

    /// Run `id`, then the run it resumes, and so on back to a run that resumed nothing.
    pub fn resume_chain(&self, id: i64) -> Result<Vec<i64>, StoreError> {
        let mut chain = vec![id];
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT resumes FROM runs WHERE id = ?1")?;
        let mut at = id;
        while let Some(prev) = stmt
            .query_row(params![at], |r| r.get::<_, Option<i64>>(0))
            .optional()?
            .flatten()
        {
            // A loop cannot be written by cairn (a run resumes an older one), but a hand-edited
            // database must not hang us.
            if chain.contains(&prev) {
                break;
            }
            chain.push(prev);
            at = prev;
        }
        Ok(chain)
    }

    /// The tasks that ended `ok` or `changed` (a failure ignored does not count) in `runs`,
    /// with a checkpoint, in the order they were recorded.
    pub fn finished_tasks(&self, runs: &[i64]) -> Result<Vec<FinishedTask>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT run_id, seq, host, checkpoint, outcome FROM results
             WHERE run_id = ?1 AND checkpoint IS NOT NULL AND outcome IN ('ok', 'changed')
             ORDER BY seq",
        )?;
        let mut out = Vec::new();
        for run in runs {
            let rows = stmt.query_map(params![run], |r| {
                Ok(FinishedTask {
                    run: r.get(0)?,
                    seq: r.get(1)?,
                    host: r.get(2)?,
                    checkpoint: r.get(3)?,
                    changed: r.get::<_, String>(4)? == "changed",
                })
            })?;
            for row in rows {
                out.push(row?);
            }
        }
        Ok(out)
    }
}
