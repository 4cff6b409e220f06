//! What a run reports: the closed [`Event`] enum every consumer (the terminal renderer, later
//! the store and the web stream) reads, and the [`EventSink`] the runner emits into.
//!
//! Owns the shape of progress and results. Must not: serialize for a wire (the API layer
//! decides that), print, or carry secrets: host output is included only when the task did
//! not ask for `no_log`, and connection secrets never reach a result in the first place.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::playbook::Location;

/// One thing that happened during a run, in the order it happened.
// `HostResult` is by far the largest variant and also the most frequent: boxing it would
// allocate for nearly every event and change the type every consumer matches on.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The run begins: the playbook as given and every host any play may touch.
    RunStarted {
        playbook: String,
        hosts: Vec<String>,
    },
    /// A play begins on these hosts (its pattern, `--limit` applied).
    PlayStarted {
        name: String,
        hosts: Vec<String>,
        location: Location,
    },
    /// A task begins on the play's remaining hosts.
    TaskStarted {
        name: String,
        /// The module as written (`ansible.builtin.command`).
        action: String,
        location: Location,
    },
    /// A handler begins on the hosts that notified it (`RUNNING HANDLER [name]`).
    HandlerStarted {
        name: String,
        action: String,
        location: Location,
    },
    /// How one task ended on one host (or one item of a loop, see [`HostResult::item`]).
    HostResult(HostResult),
    /// An `until` condition did not hold yet: the task runs again after its delay.
    Retrying {
        host: String,
        task: String,
        /// Attempts still allowed after this one.
        retries_left: u64,
    },
    /// `include_tasks`/`include_role` read `file` for these hosts (`included: FILE for h1, h2`).
    Included {
        file: String,
        hosts: Vec<String>,
    },
    /// The play stops for every host (`any_errors_fatal`, `max_fail_percentage`, a whole
    /// `serial` batch failed): `NO MORE HOSTS LEFT`.
    NoMoreHosts {
        reason: String,
    },
    /// Something the user should know that is not a host's result (a keyword not executed yet).
    Warning {
        message: String,
        location: Option<Location>,
    },
    PlayFinished {
        name: String,
    },
    /// Per-host tallies, sorted by host name, once at the end.
    Recap(BTreeMap<String, Stats>),
}

/// Ansible's four ways a task ends on a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok { changed: bool },
    Failed,
    Skipped,
    Unreachable,
}

/// One task's result on one host, as renderers show it.
#[derive(Clone, Debug, PartialEq)]
pub struct HostResult {
    pub host: String,
    pub task: String,
    pub outcome: Outcome,
    /// The failure was ignored (`ignore_errors`, `ignore_unreachable`): the host carries on.
    pub ignored: bool,
    /// Exit status of the command the module ran, if it ran one.
    pub rc: Option<i64>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub msg: Option<String>,
    /// Module-specific fields a renderer shows (debug's `var`, assert's `assertion`).
    pub data: serde_json::Map<String, serde_json::Value>,
    pub duration: Duration,
    /// `no_log` was set: output, message and data were left out.
    pub censored: bool,
    /// What changed in files (or would have, in check mode), for `--diff`. Empty when the
    /// module changed no file or the task is `no_log`.
    pub diff: Vec<Diff>,
    /// `delegate_to`: the host the module ran on, when not `host` (`ok: [lab1 -> lab2]`).
    pub delegated_to: Option<String>,
    /// One item of a loop: its label (`loop_control.label`, or the item itself).
    pub item: Option<String>,
    /// The whole of a looped task (after its items' results): renderers show it only when
    /// it failed or every item was skipped, as Ansible does.
    pub looped: bool,
    /// The task's place in this host's run (see [`crate::run::resume`]): set on a task's
    /// final result on a host (not on loop items), so a later run can resume after it.
    pub checkpoint: Option<String>,
    /// Not run: it finished on this host in the run being resumed, named here (`run 12`).
    /// The outcome is `Skipped`.
    pub resumed: Option<String>,
}

/// One file's change, as Ansible's `diff` result holds it: whole texts before and after,
/// with the headers a unified diff shows. Renderers compute the hunks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diff {
    /// `before_header` (usually the path; `(absent)` style markers are the module's choice).
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

/// Ansible's PLAY RECAP counters for one host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

impl Stats {
    /// Count one result the way Ansible's strategy does: a changed result is also ok, an
    /// ignored failure counts as ok and ignored (not failed).
    pub fn count(&mut self, outcome: Outcome, ignored: bool) {
        match (outcome, ignored) {
            (Outcome::Ok { changed }, _) => {
                self.ok += 1;
                self.changed += u32::from(changed);
            }
            (Outcome::Skipped, _) => self.skipped += 1,
            (Outcome::Failed, false) => self.failed += 1,
            (Outcome::Unreachable, false) => self.unreachable += 1,
            (Outcome::Failed, true) => {
                self.ok += 1;
                self.ignored += 1;
            }
            (Outcome::Unreachable, true) => self.ignored += 1,
        }
    }
}

/// Where the runner sends events. Called from the tasks running on hosts concurrently, so it
/// must be `Sync`; it must not block for long (it holds up the host that produced the event).
pub trait EventSink: Sync {
    fn emit(&self, event: Event);
}

/// Collects every event (tests, and callers that render afterwards).
#[derive(Default)]
pub struct Collect(pub std::sync::Mutex<Vec<Event>>);

impl EventSink for Collect {
    fn emit(&self, event: Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push(event);
        }
    }
}
