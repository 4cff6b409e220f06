//! Engine events in their wire form: the one place an engine [`Event`] becomes a
//! [`cairn_protocol::RunEvent`] (for `--json`, the store's journal and, later, the console's
//! event stream).
//!
//! Owns the mapping only. Must not: add or drop information (censoring is the engine's job and
//! has already happened), or decide how anything is shown.

use cairn_engine::event::{self, Event};
use cairn_protocol as wire;

pub fn event(e: &Event) -> wire::RunEvent {
    match e {
        Event::RunStarted { playbook, hosts } => wire::RunEvent::RunStarted {
            playbook: playbook.clone(),
            hosts: hosts.clone(),
        },
        Event::PlayStarted {
            name,
            hosts,
            location,
        } => wire::RunEvent::PlayStarted {
            name: name.clone(),
            hosts: hosts.clone(),
            location: self::location(location),
        },
        Event::TaskStarted {
            name,
            action,
            location,
        } => wire::RunEvent::TaskStarted {
            name: name.clone(),
            action: action.clone(),
            location: self::location(location),
        },
        Event::HandlerStarted {
            name,
            action,
            location,
        } => wire::RunEvent::HandlerStarted {
            name: name.clone(),
            action: action.clone(),
            location: self::location(location),
        },
        Event::HostResult(r) => wire::RunEvent::HostResult(host_result(r)),
        Event::Retrying {
            host,
            task,
            retries_left,
        } => wire::RunEvent::Retrying {
            host: host.clone(),
            task: task.clone(),
            retries_left: *retries_left,
        },
        Event::Included { file, hosts } => wire::RunEvent::Included {
            file: file.clone(),
            hosts: hosts.clone(),
        },
        Event::NoMoreHosts { reason } => wire::RunEvent::NoMoreHosts {
            reason: reason.clone(),
        },
        Event::Warning { message, location } => wire::RunEvent::Warning {
            message: message.clone(),
            location: location.as_ref().map(self::location),
        },
        Event::PlayFinished { name } => wire::RunEvent::PlayFinished { name: name.clone() },
        Event::Recap(stats) => wire::RunEvent::Recap {
            hosts: stats
                .iter()
                .map(|(h, s)| (h.clone(), self::stats(s)))
                .collect(),
        },
    }
}

fn location(l: &cairn_engine::playbook::Location) -> wire::Location {
    wire::Location {
        file: l.file.to_string(),
        line: l.line,
        column: l.column,
    }
}

pub fn outcome(o: event::Outcome) -> wire::Outcome {
    match o {
        event::Outcome::Ok { changed: false } => wire::Outcome::Ok,
        event::Outcome::Ok { changed: true } => wire::Outcome::Changed,
        event::Outcome::Failed => wire::Outcome::Failed,
        event::Outcome::Skipped => wire::Outcome::Skipped,
        event::Outcome::Unreachable => wire::Outcome::Unreachable,
    }
}

fn host_result(r: &event::HostResult) -> wire::HostResult {
    wire::HostResult {
        host: r.host.clone(),
        task: r.task.clone(),
        outcome: outcome(r.outcome),
        ignored: r.ignored,
        rc: r.rc,
        stdout: r.stdout.clone(),
        stderr: r.stderr.clone(),
        msg: r.msg.clone(),
        data: r.data.clone(),
        duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        censored: r.censored,
        diff: r
            .diff
            .iter()
            .map(|d| wire::Diff {
                before_header: d.before_header.clone(),
                after_header: d.after_header.clone(),
                before: d.before.clone(),
                after: d.after.clone(),
            })
            .collect(),
        delegated_to: r.delegated_to.clone(),
        item: r.item.clone(),
        looped: r.looped,
        checkpoint: r.checkpoint.clone(),
        resumed: r.resumed.clone(),
    }
}

pub fn stats(s: &event::Stats) -> wire::Stats {
    wire::Stats {
        ok: s.ok,
        changed: s.changed,
        unreachable: s.unreachable,
        failed: s.failed,
        skipped: s.skipped,
        rescued: s.rescued,
        ignored: s.ignored,
    }
}
