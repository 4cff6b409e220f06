//! The wire types shared by the server's API, its event stream, the store's journal, the
//! `--json` output and the console (which compiles this crate to wasm).
//!
//! Owns the JSON shape of a run's progress: field names, units (milliseconds), outcome
//! spellings. Must not: depend on the engine or the server (the console cannot), or carry a
//! secret (the engine censors `no_log` results before they get here; connection secrets never
//! reach an event). Changing a field's name or meaning is a wire change: the store keeps old
//! journals, so only add optional fields.

pub mod api;
pub mod pages;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where in a YAML file something was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// One event of a run, numbered and timed: one JSON line of `cairn play --json`, one row of
/// the store's journal, one message of the console's event stream.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The run this event belongs to (the store's id; 0 when the run is not stored).
    pub run: i64,
    /// Position in the run, from 1, without gaps: a consumer that sees a gap lost events.
    pub seq: u64,
    /// Unix time in milliseconds when the event was emitted.
    pub time_ms: i64,
    /// The event's fields beside `type` (one of `RunEvent`'s variants, snake_case).
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub event: RunEvent,
}

/// What happened (mirrors the engine's closed `Event` enum).
// `HostResult` is the largest and by far the most frequent variant: boxing it would allocate
// for nearly every event, as in the engine's enum.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    RunStarted {
        playbook: String,
        hosts: Vec<String>,
    },
    PlayStarted {
        name: String,
        hosts: Vec<String>,
        location: Location,
    },
    TaskStarted {
        name: String,
        action: String,
        location: Location,
    },
    /// A handler begins on the hosts that notified it.
    HandlerStarted {
        name: String,
        action: String,
        location: Location,
    },
    HostResult(HostResult),
    /// An `until` condition did not hold yet: the task runs again after its delay.
    Retrying {
        host: String,
        task: String,
        retries_left: u64,
    },
    /// `include_tasks`/`include_role` read `file` for these hosts.
    Included {
        file: String,
        hosts: Vec<String>,
    },
    /// The play stops for every host (`any_errors_fatal`, `max_fail_percentage`, ...).
    NoMoreHosts {
        reason: String,
    },
    Warning {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        location: Option<Location>,
    },
    PlayFinished {
        name: String,
    },
    Recap {
        hosts: BTreeMap<String, Stats>,
    },
}

/// How a task ended on a host, spelled as Ansible's callback plugins spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Changed => "changed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Unreachable => "unreachable",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostResult {
    pub host: String,
    pub task: String,
    pub outcome: Outcome,
    /// The failure was ignored (`ignore_errors`/`ignore_unreachable`): the host carried on.
    #[serde(default)]
    pub ignored: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rc: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// Module-specific fields (debug's variable, assert's assertion).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub data: serde_json::Map<String, serde_json::Value>,
    pub duration_ms: u64,
    /// `no_log`: output, message and data were left out before this was made.
    #[serde(default)]
    pub censored: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<Diff>,
    /// `delegate_to`: the host the module ran on, when not `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegated_to: Option<String>,
    /// One item of a loop: its label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The whole of a looped task, after its items' results.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub looped: bool,
    /// The task's place in this host's run (`FILE:LINE:COLUMN#N@HASH`), on a task's final
    /// result: what `cairn install --resume` finds finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// Not run: it finished on this host in the run being resumed (e.g. `run 12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<String>,
}

/// One file's change (before/after texts; clients compute hunks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

/// Ansible's PLAY RECAP counters for one host.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_is_one_flat_json_object() {
        let e = Envelope {
            run: 3,
            seq: 7,
            time_ms: 1_700_000_000_000,
            event: RunEvent::PlayFinished { name: "p".into() },
        };
        let s = serde_json::to_string(&e).unwrap();
        assert_eq!(
            s,
            r#"{"run":3,"seq":7,"time_ms":1700000000000,"type":"play_finished","name":"p"}"#
        );
        assert_eq!(serde_json::from_str::<Envelope>(&s).unwrap(), e);
    }

    #[test]
    fn a_host_result_leaves_out_what_it_does_not_have() {
        let r = RunEvent::HostResult(HostResult {
            host: "lab1".into(),
            task: "t".into(),
            outcome: Outcome::Changed,
            ignored: false,
            rc: None,
            stdout: None,
            stderr: None,
            msg: None,
            data: Default::default(),
            duration_ms: 12,
            censored: false,
            diff: vec![],
            delegated_to: None,
            item: None,
            looped: false,
            checkpoint: None,
            resumed: None,
        });
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"type":"host_result","host":"lab1","task":"t","outcome":"changed","ignored":false,"duration_ms":12,"censored":false}"#
        );
    }
}

/// One pre-flight check on one host (`cairn preflight --json`, the store, the console's
/// host × check matrix).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightCheck {
    /// Inventory name, or `installer`.
    pub host: String,
    /// Stable id: `memory`, `disk:/var/lib/etcd`, `port:2379`, ...
    pub id: String,
    /// `pass`, `warn`, `fail`, `skipped` or `ignored`.
    pub status: String,
    /// Why it was skipped (`container: ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    /// `--fix` has a safe remedy for it (a warn or fail of a sysctl, module, swap, time sync):
    /// the console offers a "Fix" button.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixable: bool,
}

/// What `cairn preflight --fix` did for one check on one host (then it checked again).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightFix {
    pub host: String,
    /// The check remedied (`sysctl:net.ipv4.ip_forward`, `swap_fstab`, `time_sync`).
    pub id: String,
    /// The remedy (`sysctl net.ipv4.ip_forward=1, persisted in /etc/sysctl.d/90-cairn.conf`).
    pub action: String,
    /// `changed`, `ok` (already right), `failed` or `not applied`.
    pub outcome: String,
    /// Whether the host was changed.
    pub changed: bool,
    /// What was done, or why it failed or was not applied.
    pub text: String,
}
