//! A run as the install page shows it, built by applying the run's events
//! ([`cairn_protocol::Envelope`]s, from the store's replay and then live) in order: the phases
//! (plays), the host × task matrix, each host's state and output, overall progress and ETA.
//!
//! Applying an event is O(1) amortised (one matrix column is added per task started), so 50 000
//! events apply in a few milliseconds of wasm; drawing is the page's business and happens at
//! most once per animation frame. Must not: touch the DOM or the network.

use std::collections::HashMap;

use cairn_protocol::{Envelope, HostResult, Outcome, RunEvent};

/// One cell of the matrix: what a task did on a host so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// The task has not reached this host (or is not for it).
    Pending,
    /// Started and not ended on this host yet.
    Running,
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

impl Cell {
    /// The CSS class, also the word shown to screen readers.
    pub fn class(self) -> &'static str {
        match self {
            Cell::Pending => "pending",
            Cell::Running => "running",
            Cell::Ok => "ok",
            Cell::Changed => "changed",
            Cell::Failed => "failed",
            Cell::Skipped => "skipped",
            Cell::Unreachable => "unreachable",
        }
    }

    fn from_outcome(o: Outcome, ignored: bool) -> Cell {
        match o {
            // An ignored failure let the host carry on: shown as what it was, not as fatal.
            Outcome::Failed if ignored => Cell::Changed,
            Outcome::Ok => Cell::Ok,
            Outcome::Changed => Cell::Changed,
            Outcome::Failed => Cell::Failed,
            Outcome::Skipped => Cell::Skipped,
            Outcome::Unreachable => Cell::Unreachable,
        }
    }

    /// Which of two results for the same cell (loop items, a handler) the cell shows: the worst.
    fn rank(self) -> u8 {
        match self {
            Cell::Pending => 0,
            Cell::Running => 1,
            Cell::Skipped => 2,
            Cell::Ok => 3,
            Cell::Changed => 4,
            Cell::Failed => 5,
            Cell::Unreachable => 6,
        }
    }
}

/// A phase of the install: one play.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    pub name: String,
    /// Index of its first task column.
    pub first_task: usize,
    pub finished: bool,
    /// A task of this play failed on some host (not ignored).
    pub failed: bool,
}

/// One column: a task (or handler) as started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskColumn {
    pub name: String,
    pub phase: Option<usize>,
    pub handler: bool,
}

/// One line of a host's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub seq: u64,
    pub task: String,
    pub cell: Cell,
    pub item: Option<String>,
    /// The module's message, then stdout and stderr, as the host produced them.
    pub text: String,
    pub duration_ms: u64,
}

/// One row: a host.
#[derive(Clone, Debug, Default)]
pub struct HostRow {
    pub name: String,
    /// The matrix row: one cell per task column (shorter when later columns are still pending).
    pub cells: Vec<Cell>,
    pub failed: bool,
    pub unreachable: bool,
    /// The last failure's message.
    pub error: Option<String>,
    pub log: Vec<LogLine>,
    pub ended_tasks: u64,
}

/// The whole run as the page knows it.
#[derive(Clone, Debug, Default)]
pub struct RunModel {
    pub run: i64,
    pub playbook: String,
    pub hosts: Vec<HostRow>,
    by_name: HashMap<String, usize>,
    pub tasks: Vec<TaskColumn>,
    pub phases: Vec<Phase>,
    /// The hosts of the current play (new task columns start as running on them).
    current_play_hosts: Vec<usize>,
    /// Task results applied (loop items included).
    pub results: u64,
    /// Host × task ends (a looped task counts once per host: its closing result).
    pub ended: u64,
    pub last_seq: u64,
    /// Events applied, and those refused because their seq left a gap or repeated one.
    pub applied: u64,
    pub gaps: u64,
    pub started_ms: Option<i64>,
    pub last_event_ms: Option<i64>,
    pub warnings: Vec<String>,
    pub stopped: Option<String>,
    pub recap: bool,
}

/// How many log lines a host keeps (the oldest go first): the tail is what an operator reads.
pub const LOG_LINES: usize = 500;

impl RunModel {
    pub fn new(run: i64) -> RunModel {
        RunModel {
            run,
            ..RunModel::default()
        }
    }

    /// Applies one event. Events must come in `seq` order: a repeated one (a reconnect's
    /// replay) is skipped; after a gap the event is still applied and the gap counted.
    pub fn apply(&mut self, e: &Envelope) {
        if e.seq <= self.last_seq {
            return;
        }
        if e.seq != self.last_seq + 1 {
            self.gaps += 1;
        }
        self.last_seq = e.seq;
        self.applied += 1;
        self.started_ms.get_or_insert(e.time_ms);
        self.last_event_ms = Some(e.time_ms);
        match &e.event {
            RunEvent::RunStarted { playbook, hosts } => {
                self.playbook = playbook.clone();
                for h in hosts {
                    self.host(h);
                }
            }
            RunEvent::PlayStarted { name, hosts, .. } => {
                self.current_play_hosts = hosts.iter().map(|h| self.host(h)).collect();
                self.phases.push(Phase {
                    name: name.clone(),
                    first_task: self.tasks.len(),
                    finished: false,
                    failed: false,
                });
            }
            RunEvent::TaskStarted { name, .. } => self.start_task(name, false),
            RunEvent::HandlerStarted { name, .. } => self.start_task(name, true),
            RunEvent::HostResult(r) => self.result(e.seq, r),
            RunEvent::Retrying {
                host,
                task,
                retries_left,
            } => {
                let h = self.host(host);
                self.push_log(
                    h,
                    LogLine {
                        seq: e.seq,
                        task: task.clone(),
                        cell: Cell::Running,
                        item: None,
                        text: format!("retrying ({retries_left} retries left)"),
                        duration_ms: 0,
                    },
                );
            }
            RunEvent::Included { .. } => {}
            RunEvent::NoMoreHosts { reason } => self.stopped = Some(reason.clone()),
            RunEvent::Warning { message, .. } => self.warnings.push(message.clone()),
            RunEvent::PlayFinished { .. } => {
                if let Some(p) = self.phases.last_mut() {
                    p.finished = true;
                }
                // A task still "running" when its play ends did not run on that host.
                let first = self.phases.last().map_or(0, |p| p.first_task);
                for row in &mut self.hosts {
                    for c in row.cells.iter_mut().skip(first) {
                        if *c == Cell::Running {
                            *c = Cell::Pending;
                        }
                    }
                }
            }
            RunEvent::Recap { .. } => {
                self.recap = true;
                for p in &mut self.phases {
                    p.finished = true;
                }
            }
        }
    }

    fn host(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let i = self.hosts.len();
        self.hosts.push(HostRow {
            name: name.to_owned(),
            ..HostRow::default()
        });
        self.by_name.insert(name.to_owned(), i);
        i
    }

    pub fn host_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    fn start_task(&mut self, name: &str, handler: bool) {
        let col = self.tasks.len();
        self.tasks.push(TaskColumn {
            name: name.to_owned(),
            phase: self.phases.len().checked_sub(1),
            handler,
        });
        // A handler runs only on the hosts that notified it: no cell until a result says so.
        if handler {
            return;
        }
        for &h in &self.current_play_hosts {
            let row = &mut self.hosts[h];
            if row.failed || row.unreachable {
                continue;
            }
            if row.cells.len() <= col {
                row.cells.resize(col + 1, Cell::Pending);
            }
            row.cells[col] = Cell::Running;
        }
    }

    fn result(&mut self, seq: u64, r: &HostResult) {
        self.results += 1;
        let h = self.host(&r.host);
        // The column: the latest task of that name (task names repeat across plays).
        let col = self.tasks.iter().rposition(|t| t.name == r.task);
        let cell = Cell::from_outcome(r.outcome, r.ignored);
        // One loop item is not the task's end on the host; the closing (looped) result is, as is
        // a task without a loop.
        let ends = r.item.is_none() || r.looped;
        let row = &mut self.hosts[h];
        if let Some(col) = col {
            if row.cells.len() <= col {
                row.cells.resize(col + 1, Cell::Pending);
            }
            let old = row.cells[col];
            // The task's end on the host is what the cell shows (a loop's closing result is
            // already the aggregate of its items); an item shows the worst item so far.
            let settled = !matches!(old, Cell::Pending | Cell::Running);
            if ends || !settled || cell.rank() > old.rank() {
                row.cells[col] = cell;
            }
        }
        if ends {
            row.ended_tasks += 1;
            self.ended += 1;
        }
        let fatal = !r.ignored && matches!(r.outcome, Outcome::Failed | Outcome::Unreachable);
        if fatal && ends {
            if r.outcome == Outcome::Unreachable {
                row.unreachable = true;
            } else {
                row.failed = true;
            }
            row.error = Some(
                r.msg
                    .clone()
                    .unwrap_or_else(|| format!("{} failed", r.task)),
            );
            if let Some(p) = col
                .and_then(|c| self.tasks[c].phase)
                .and_then(|p| self.phases.get_mut(p))
            {
                p.failed = true;
            }
        }
        let mut text = String::new();
        for part in [&r.msg, &r.stdout, &r.stderr].into_iter().flatten() {
            if !part.is_empty() {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(part.trim_end());
            }
        }
        if r.censored {
            text = "(output hidden: no_log)".into();
        }
        self.push_log(
            h,
            LogLine {
                seq,
                task: r.task.clone(),
                cell,
                item: r.item.clone(),
                text,
                duration_ms: r.duration_ms,
            },
        );
    }

    fn push_log(&mut self, h: usize, line: LogLine) {
        let log = &mut self.hosts[h].log;
        if log.len() >= LOG_LINES {
            log.drain(..LOG_LINES / 5);
        }
        log.push(line);
    }

    /// Hosts that failed or were unreachable (what "retry failed hosts" runs again).
    pub fn failed_hosts(&self) -> Vec<&str> {
        self.hosts
            .iter()
            .filter(|h| h.failed || h.unreachable)
            .map(|h| h.name.as_str())
            .collect()
    }

    /// The cell of `host` × `task` column.
    pub fn cell(&self, host: usize, task: usize) -> Cell {
        self.hosts[host]
            .cells
            .get(task)
            .copied()
            .unwrap_or(Cell::Pending)
    }
}

/// Overall progress and time left.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// 0.0..=1.0, `None` while the total is unknown (a first run, no estimate yet).
    pub fraction: Option<f64>,
    /// Milliseconds left, from the rate so far; `None` when it cannot be told.
    pub eta_ms: Option<u64>,
}

/// Progress of `m`, with `expected_events`: how many events the run will have (from an earlier
/// finished run of the same playbook, when there is one), and `finished`: the run has ended.
/// A finished run is complete (100 %) whatever it did; an unfinished one never shows 100 %.
pub fn progress(
    m: &RunModel,
    expected_events: Option<u64>,
    finished: bool,
    now_ms: i64,
) -> Progress {
    if finished {
        return Progress {
            fraction: Some(1.0),
            eta_ms: Some(0),
        };
    }
    let Some(total) = expected_events.filter(|&t| t > 0) else {
        return Progress {
            fraction: None,
            eta_ms: None,
        };
    };
    let done = m.last_seq.min(total) as f64;
    let fraction = (done / total as f64).min(0.99);
    let eta_ms = match m.started_ms {
        Some(t0) if done > 0.0 && now_ms > t0 => {
            let rate = done / (now_ms - t0) as f64;
            Some(((total as f64 - done).max(0.0) / rate) as u64)
        }
        _ => None,
    };
    Progress {
        fraction: Some(fraction),
        eta_ms,
    }
}

/// `1 h 02 min`, `3 min 05 s`, `12 s`.
pub fn duration_words(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_protocol::Location;

    fn env(seq: u64, event: RunEvent) -> Envelope {
        Envelope {
            run: 1,
            seq,
            time_ms: 1000 * seq as i64,
            event,
        }
    }
    fn loc() -> Location {
        Location {
            file: "site.yml".into(),
            line: 1,
            column: 1,
        }
    }
    fn result(host: &str, task: &str, outcome: Outcome) -> RunEvent {
        RunEvent::HostResult(HostResult {
            host: host.into(),
            task: task.into(),
            outcome,
            ignored: false,
            rc: None,
            stdout: Some("out".into()),
            stderr: None,
            msg: None,
            data: Default::default(),
            duration_ms: 5,
            censored: false,
            diff: vec![],
            delegated_to: None,
            item: None,
            looped: false,
            checkpoint: None,
            resumed: None,
        })
    }

    /// A run of two plays on a, b: b fails the second task of play 1.
    fn sample() -> Vec<Envelope> {
        let hosts = vec!["a".to_string(), "b".to_string()];
        let evs = vec![
            RunEvent::RunStarted {
                playbook: "site.yml".into(),
                hosts: hosts.clone(),
            },
            RunEvent::PlayStarted {
                name: "base".into(),
                hosts: hosts.clone(),
                location: loc(),
            },
            RunEvent::TaskStarted {
                name: "t1".into(),
                action: "command".into(),
                location: loc(),
            },
            result("a", "t1", Outcome::Ok),
            result("b", "t1", Outcome::Changed),
            RunEvent::TaskStarted {
                name: "t2".into(),
                action: "command".into(),
                location: loc(),
            },
            result("a", "t2", Outcome::Ok),
            result("b", "t2", Outcome::Failed),
            RunEvent::PlayFinished {
                name: "base".into(),
            },
            RunEvent::PlayStarted {
                name: "etcd".into(),
                hosts: hosts.clone(),
                location: loc(),
            },
            RunEvent::TaskStarted {
                name: "t3".into(),
                action: "command".into(),
                location: loc(),
            },
        ];
        evs.into_iter()
            .enumerate()
            .map(|(i, e)| env(i as u64 + 1, e))
            .collect()
    }

    #[test]
    fn the_matrix_phases_and_failures_follow_the_events() {
        let mut m = RunModel::new(1);
        for e in sample() {
            m.apply(&e);
        }
        assert_eq!(m.tasks.len(), 3);
        assert_eq!(m.phases.len(), 2);
        assert!(m.phases[0].finished && m.phases[0].failed);
        assert!(!m.phases[1].finished && !m.phases[1].failed);
        let a = m.host_index("a").unwrap();
        let b = m.host_index("b").unwrap();
        assert_eq!(
            [m.cell(a, 0), m.cell(a, 1), m.cell(a, 2)],
            [Cell::Ok, Cell::Ok, Cell::Running]
        );
        // b failed: later tasks do not start on it.
        assert_eq!(
            [m.cell(b, 0), m.cell(b, 1), m.cell(b, 2)],
            [Cell::Changed, Cell::Failed, Cell::Pending]
        );
        assert_eq!(m.failed_hosts(), vec!["b"]);
        assert_eq!(m.hosts[b].error.as_deref(), Some("t2 failed"));
        assert_eq!(m.hosts[a].log.len(), 2);
        assert_eq!(m.ended, 4);
    }

    #[test]
    fn a_replayed_event_is_skipped_and_a_gap_counted() {
        let evs = sample();
        let mut m = RunModel::new(1);
        for e in &evs[..5] {
            m.apply(e);
        }
        m.apply(&evs[2]); // a reconnect replays from an earlier seq
        assert_eq!((m.applied, m.gaps, m.results), (5, 0, 2));
        m.apply(&evs[7]); // seq 8 after 5
        assert_eq!((m.applied, m.gaps, m.last_seq), (6, 1, 8));
    }

    #[test]
    fn loop_items_show_the_worst_and_count_once() {
        let mut m = RunModel::new(1);
        for e in sample().into_iter().take(3) {
            m.apply(&e);
        }
        let item = |outcome, item: Option<&str>, looped| {
            let RunEvent::HostResult(mut r) = result("a", "t1", outcome) else {
                unreachable!()
            };
            r.item = item.map(Into::into);
            r.looped = looped;
            RunEvent::HostResult(r)
        };
        m.apply(&env(4, item(Outcome::Changed, Some("x"), false)));
        m.apply(&env(5, item(Outcome::Ok, Some("y"), false)));
        let a = m.host_index("a").unwrap();
        assert_eq!(m.cell(a, 0), Cell::Changed);
        assert_eq!(m.ended, 0);
        m.apply(&env(6, item(Outcome::Changed, None, true)));
        assert_eq!((m.cell(a, 0), m.ended, m.results), (Cell::Changed, 1, 3));
    }

    #[test]
    fn ignored_failures_do_not_fail_the_host_and_no_log_output_is_hidden() {
        let mut m = RunModel::new(1);
        for e in sample().into_iter().take(3) {
            m.apply(&e);
        }
        let RunEvent::HostResult(mut r) = result("a", "t1", Outcome::Failed) else {
            unreachable!()
        };
        r.ignored = true;
        r.censored = true;
        m.apply(&env(4, RunEvent::HostResult(r)));
        let a = m.host_index("a").unwrap();
        assert!(!m.hosts[a].failed);
        assert_eq!(m.hosts[a].log[0].text, "(output hidden: no_log)");
    }

    #[test]
    fn progress_is_complete_only_when_finished_and_estimates_time_left() {
        let mut m = RunModel::new(1);
        for e in sample() {
            m.apply(&e); // 11 events at 1 s each
        }
        assert_eq!(
            progress(&m, None, false, 20_000),
            Progress {
                fraction: None,
                eta_ms: None
            }
        );
        let p = progress(&m, Some(22), false, 11_000);
        assert_eq!(p.fraction, Some(0.5));
        assert_eq!(p.eta_ms, Some(10_000)); // 11 events in the 10 s since the first, 11 to go
        // An estimate that was too low never claims 100 % before the end...
        assert_eq!(progress(&m, Some(5), false, 11_000).fraction, Some(0.99));
        // ...and the end is 100 % whatever the estimate.
        assert_eq!(progress(&m, None, true, 11_000).fraction, Some(1.0));
    }

    #[test]
    fn a_host_log_keeps_its_tail() {
        let mut m = RunModel::new(1);
        for e in sample().into_iter().take(3) {
            m.apply(&e);
        }
        for seq in 4..(4 + LOG_LINES as u64 + 50) {
            m.apply(&env(seq, result("a", "t1", Outcome::Ok)));
        }
        let a = m.host_index("a").unwrap();
        let log = &m.hosts[a].log;
        assert!(log.len() <= LOG_LINES);
        assert_eq!(log.last().unwrap().seq, 3 + LOG_LINES as u64 + 50);
    }

    #[test]
    fn durations_read_as_words() {
        for (ms, words) in [
            (0, "0 s"),
            (12_400, "12 s"),
            (185_000, "3 min 05 s"),
            (3_720_000, "1 h 02 min"),
        ] {
            assert_eq!(duration_words(ms), words);
        }
    }
}
