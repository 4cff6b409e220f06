//! `GET /api/runs` (history) and `GET /api/runs/{id}` (one run's full record: tasks × hosts).
//!
//! Owns turning the store's rows into the wire's `RunSummary`/`RunRecord`. Must not: query SQL
//! itself (the store's `query` does).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use cairn_protocol::RunEvent;
use cairn_protocol::api::{ResultCell, RunRecord, RunSummary, TaskRow};
use serde::Deserialize;

use super::Api;
use super::error::Result;
use crate::store::query::{ResultRow, RunRow};

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
}

pub fn summary(r: RunRow) -> RunSummary {
    RunSummary {
        id: r.id,
        kind: r.kind,
        title: r.title,
        started_ms: r.started_ms,
        finished_ms: r.finished_ms,
        status: r.status,
        exit_code: r.exit_code,
        events: r.events,
    }
}

pub async fn list(
    State(api): State<Arc<Api>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<RunSummary>>> {
    let rows = api.store()?.runs(q.limit.unwrap_or(100).min(10_000))?;
    Ok(Json(rows.into_iter().map(summary).collect()))
}

pub async fn record(State(api): State<Arc<Api>>, Path(id): Path<i64>) -> Result<Json<RunRecord>> {
    let (run, results, checks, fixes, events) = {
        let store = api.store()?;
        let run = store.run(id)?;
        let results = store.results(id)?;
        let checks = store.checks(id)?;
        let fixes = store.fixes(id)?;
        // Only the recap is needed from the journal: it is the run's last event.
        let after = u64::try_from(run.events.saturating_sub(1)).unwrap_or(0);
        let events = store.events(id, after)?;
        (run, results, checks, fixes, events)
    };
    let recap = events
        .into_iter()
        .find_map(|e| match e.event {
            RunEvent::Recap { hosts } => Some(hosts),
            _ => None,
        })
        .unwrap_or_default();
    let mut record = build_record(summary(run), results, checks, recap);
    record.fixes = fixes;
    Ok(Json(record))
}

/// What makes a task row of the matrix: (play, task name, file, line).
type TaskKey = (Option<String>, String, Option<String>, Option<i64>);

/// The matrix: tasks and hosts in first-seen order, each result pointing at its task.
pub fn build_record(
    run: RunSummary,
    results: Vec<ResultRow>,
    checks: Vec<cairn_protocol::PreflightCheck>,
    recap: BTreeMap<String, cairn_protocol::Stats>,
) -> RunRecord {
    let mut hosts: Vec<String> = Vec::new();
    let mut seen_hosts = std::collections::HashSet::new();
    let mut tasks: Vec<TaskRow> = Vec::new();
    let mut task_ix: HashMap<TaskKey, usize> = HashMap::new();
    let mut cells = Vec::with_capacity(results.len());
    for r in results {
        if seen_hosts.insert(r.host.clone()) {
            hosts.push(r.host.clone());
        }
        let key = (
            r.play.clone(),
            r.task.clone(),
            r.task_file.clone(),
            r.task_line,
        );
        let task_index = *task_ix.entry(key).or_insert_with(|| {
            tasks.push(TaskRow {
                play: r.play.clone(),
                task: r.task.clone(),
                file: r.task_file.clone(),
                line: r.task_line,
            });
            tasks.len() - 1
        });
        cells.push(ResultCell {
            seq: r.seq,
            task_index,
            host: r.host,
            outcome: r.outcome,
            ignored: r.ignored,
            duration_ms: r.duration_ms,
            msg: r.msg,
        });
    }
    for c in &checks {
        if seen_hosts.insert(c.host.clone()) {
            hosts.push(c.host.clone());
        }
    }
    RunRecord {
        run,
        hosts,
        tasks,
        results: cells,
        checks,
        fixes: Vec::new(),
        recap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, task: &str, host: &str, outcome: &str) -> ResultRow {
        ResultRow {
            seq,
            play: Some("p".into()),
            task: task.into(),
            task_file: Some("site.yml".into()),
            task_line: Some(seq),
            host: host.into(),
            outcome: outcome.into(),
            ignored: false,
            duration_ms: 1,
            msg: None,
        }
    }

    #[test]
    fn results_become_a_task_by_host_matrix_in_first_seen_order() {
        let mut rows = vec![row(3, "a", "h2", "ok"), row(4, "a", "h1", "changed")];
        rows[1].task_line = Some(3);
        rows.push(row(6, "b", "h1", "failed"));
        let run = RunSummary {
            id: 1,
            kind: "play".into(),
            title: "t".into(),
            started_ms: 0,
            finished_ms: None,
            status: "running".into(),
            exit_code: None,
            events: 6,
        };
        let r = build_record(run, rows, vec![], BTreeMap::new());
        assert_eq!(r.hosts, ["h2", "h1"]);
        assert_eq!(r.tasks.len(), 2);
        assert_eq!(
            r.results.iter().map(|c| c.task_index).collect::<Vec<_>>(),
            [0, 0, 1]
        );
    }
}
