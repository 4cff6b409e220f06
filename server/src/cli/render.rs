//! The terminal renderer for a playbook run: reads the engine's [`Event`]s and prints them the
//! way ansible-playbook does (`PLAY [..] ***`, `ok: [host]`, `fatal: [host]: FAILED! => {..}`,
//! `PLAY RECAP`), results on stdout, warnings on stderr; in a terminal, a progress bar per
//! play below them (`play_progress`).
//!
//! Owns the text only. Must not: decide outcomes or exit codes beyond reading the recap.

use super::play_progress::PlayProgress;
use cairn_engine::event::{Event, EventSink, HostResult, Outcome, Stats};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

/// Prints each event as it arrives; one lock so lines from hosts finishing together do not
/// interleave.
pub struct Terminal {
    /// The lock for printing, and the progress bar (when stderr is a terminal).
    out: Mutex<Option<PlayProgress>>,
    /// `--diff`: print each result's file diffs before its line.
    diff: bool,
}

impl Terminal {
    pub fn new() -> Terminal {
        Terminal {
            out: Mutex::new(None),
            diff: false,
        }
    }

    pub fn with_diff(mut self, diff: bool) -> Terminal {
        self.diff = diff;
        self
    }

    /// A progress bar per play on stderr (only when it is a terminal), for plays of these
    /// task counts in run order (see [`play_tasks`]).
    pub fn with_progress(self, plays: Vec<u64>) -> Terminal {
        Terminal {
            out: Mutex::new(PlayProgress::for_terminal(plays)),
            diff: self.diff,
        }
    }
}

/// The tasks of each play of `books` as `--list-tasks` counts them (the bar's estimate).
pub fn play_tasks<'a>(
    books: impl IntoIterator<Item = &'a cairn_engine::playbook::Playbook>,
    filter: &cairn_engine::playbook::TagFilter,
) -> Vec<u64> {
    books
        .into_iter()
        .flat_map(|b| b.plays.iter())
        .map(|p| cairn_engine::playbook::play_tasks(p, filter).len() as u64)
        .collect()
}

impl EventSink for Terminal {
    fn emit(&self, event: Event) {
        let mut progress = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let suspend = |progress: &Option<PlayProgress>, print: &dyn Fn()| match progress {
            Some(p) => p.suspend(print),
            None => print(),
        };
        if let Event::Warning { message, location } = &event {
            suspend(&progress, &|| match location {
                Some(l) => eprintln!("[WARNING]: {message} ({l})"),
                None => eprintln!("[WARNING]: {message}"),
            });
            return;
        }
        let mut text = render(&event);
        if let (true, Event::HostResult(r)) = (self.diff, &event) {
            use std::io::IsTerminal as _;
            text = super::diff::render(&r.diff, std::io::stdout().is_terminal()) + &text;
        }
        if let Some(p) = progress.as_mut() {
            match &event {
                Event::PlayStarted { name, .. } => p.play_started(name),
                Event::TaskStarted { name, .. } => p.task_started(name),
                Event::Recap(_) | Event::NoMoreHosts { .. } => p.finish(),
                _ => {}
            }
        }
        suspend(&progress, &|| {
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
        });
    }
}

/// The text for one event (empty for events the terminal does not show).
pub fn render(event: &Event) -> String {
    match event {
        Event::RunStarted { .. } | Event::PlayFinished { .. } | Event::Warning { .. } => {
            String::new()
        }
        Event::PlayStarted { name, .. } => banner(&format!("PLAY [{name}]")),
        Event::TaskStarted { name, .. } => banner(&format!("TASK [{name}]")),
        Event::HandlerStarted { name, .. } => banner(&format!("RUNNING HANDLER [{name}]")),
        Event::HostResult(r) => host_line(r),
        Event::Retrying {
            host,
            task,
            retries_left,
        } => format!("FAILED - RETRYING: [{host}]: {task} ({retries_left} retries left).\n"),
        Event::Included { file, hosts } => format!("included: {file} for {}\n", hosts.join(", ")),
        Event::NoMoreHosts { .. } => banner("NO MORE HOSTS LEFT"),
        Event::Recap(stats) => recap(stats),
    }
}

/// `\nTITLE ****` filled to 80 columns, at least three stars.
fn banner(title: &str) -> String {
    let stars = 79usize.saturating_sub(title.len()).max(3);
    format!("\n{title} {}\n", "*".repeat(stars))
}

fn host_line(r: &HostResult) -> String {
    // `lab1 -> lab2` for a delegated task, as ansible-playbook shows it.
    let h = &match &r.delegated_to {
        Some(d) => format!("{} -> {d}", r.host),
        None => r.host.clone(),
    };
    if r.looped {
        // A loop's items were shown one by one; the whole shows only when it failed or
        // every item was skipped, as ansible-playbook does.
        return match r.outcome {
            Outcome::Ok { .. } => String::new(),
            Outcome::Skipped => format!("skipping: [{h}]\n"),
            Outcome::Failed | Outcome::Unreachable => {
                let mut s = format!("fatal: [{h}]: FAILED! => {}\n", py_json(fields(r)));
                if r.ignored {
                    s.push_str("...ignoring\n");
                }
                s
            }
        };
    }
    // ` => (item=label)` after the host for one item of a loop.
    let item = r
        .item
        .as_ref()
        .map(|l| format!(" => (item={l})"))
        .unwrap_or_default();
    if let Some(from) = &r.resumed {
        return format!("done: [{h}] (in {from})\n");
    }
    match r.outcome {
        Outcome::Skipped => format!("skipping: [{h}]{item}\n"),
        Outcome::Ok { changed } => {
            let tag = if changed { "changed" } else { "ok" };
            // Like ansible-playbook without -v: only what the module asks to show (debug).
            // A censored result has no data, so it is a plain line.
            if r.data.is_empty() {
                format!("{tag}: [{h}]{item}\n")
            } else {
                let json = serde_json::to_string_pretty(&Value::Object(r.data.clone()))
                    .unwrap_or_default()
                    .replace("\n  ", "\n    ");
                format!("{tag}: [{h}]{item} => {json}\n")
            }
        }
        Outcome::Failed => {
            let mut s = match &r.item {
                Some(l) => format!("failed: [{h}] (item={l}) => {}\n", py_json(fields(r))),
                None => format!("fatal: [{h}]: FAILED! => {}\n", py_json(fields(r))),
            };
            if r.ignored {
                s.push_str("...ignoring\n");
            }
            s
        }
        Outcome::Unreachable => {
            let mut f = fields(r);
            f.insert("unreachable".into(), true.into());
            let mut s = format!("fatal: [{h}]: UNREACHABLE! => {}\n", py_json(f));
            if r.ignored {
                s.push_str("...ignoring\n");
            }
            s
        }
    }
}

/// A result as Ansible prints it after `=>`: keys sorted.
fn fields(r: &HostResult) -> Map<String, Value> {
    let mut f: BTreeMap<String, Value> = BTreeMap::new();
    f.insert(
        "changed".into(),
        matches!(r.outcome, Outcome::Ok { changed: true }).into(),
    );
    if r.censored {
        f.insert("censored".into(), r.msg.clone().unwrap_or_default().into());
        return f.into_iter().collect();
    }
    if let Some(m) = &r.msg {
        f.insert("msg".into(), m.clone().into());
    }
    if let Some(rc) = r.rc {
        f.insert("rc".into(), rc.into());
    }
    for (k, v) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        if let Some(v) = v {
            f.insert(k.into(), v.clone().into());
        }
    }
    f.into_iter().collect()
}

/// JSON on one line as Python's `json.dumps` writes it (`{"a": 1, "b": 2}`), which is what
/// Ansible prints after `=>`.
fn py_json(m: Map<String, Value>) -> String {
    struct Py;
    impl serde_json::ser::Formatter for Py {
        fn begin_object_key<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
            w.write_all(b": ")
        }
        fn begin_array_value<W: ?Sized + Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
    }
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, Py);
    let _ = serde::Serialize::serialize(&Value::Object(m), &mut ser);
    String::from_utf8(buf).unwrap_or_default()
}

fn recap(stats: &BTreeMap<String, Stats>) -> String {
    let mut s = banner("PLAY RECAP");
    for (host, t) in stats {
        let line = format!(
            "{host:<26} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={}",
            t.ok, t.changed, t.unreachable, t.failed, t.skipped, t.rescued, t.ignored
        );
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result(outcome: Outcome) -> HostResult {
        HostResult {
            host: "lab1".into(),
            task: "t".into(),
            outcome,
            ignored: false,
            rc: Some(1),
            stdout: Some(String::new()),
            stderr: Some("boom".into()),
            msg: Some("non-zero return code".into()),
            data: Map::new(),
            duration: Duration::ZERO,
            censored: false,
            diff: Vec::new(),
            delegated_to: None,
            item: None,
            looped: false,
            checkpoint: None,
            resumed: None,
        }
    }

    #[test]
    fn lines_like_ansible() {
        assert_eq!(
            render(&Event::HostResult(result(Outcome::Failed))),
            "fatal: [lab1]: FAILED! => {\"changed\": false, \"msg\": \"non-zero return code\", \"rc\": 1, \"stderr\": \"boom\", \"stdout\": \"\"}\n"
        );
        let mut ok = result(Outcome::Ok { changed: true });
        assert_eq!(render(&Event::HostResult(ok.clone())), "changed: [lab1]\n");
        ok.data.insert("msg".into(), "hi".into());
        assert_eq!(
            render(&Event::HostResult(ok)),
            "changed: [lab1] => {\n    \"msg\": \"hi\"\n}\n"
        );
        let mut resumed = result(Outcome::Skipped);
        resumed.resumed = Some("run 12".into());
        assert_eq!(
            render(&Event::HostResult(resumed)),
            "done: [lab1] (in run 12)\n"
        );
        let mut delegated = result(Outcome::Ok { changed: true });
        delegated.delegated_to = Some("lab2".into());
        assert_eq!(
            render(&Event::HostResult(delegated)),
            "changed: [lab1 -> lab2]\n"
        );
        let mut item = result(Outcome::Ok { changed: false });
        item.item = Some("a".into());
        assert_eq!(
            render(&Event::HostResult(item.clone())),
            "ok: [lab1] => (item=a)\n"
        );
        item.outcome = Outcome::Failed;
        assert!(
            render(&Event::HostResult(item.clone())).starts_with("failed: [lab1] (item=a) => {")
        );
        item.item = None;
        item.looped = true;
        item.msg = Some("One or more items failed".into());
        item.rc = None;
        item.stdout = None;
        item.stderr = None;
        assert_eq!(
            render(&Event::HostResult(item.clone())),
            "fatal: [lab1]: FAILED! => {\"changed\": false, \"msg\": \"One or more items failed\"}\n"
        );
        item.outcome = Outcome::Ok { changed: true };
        assert_eq!(render(&Event::HostResult(item)), "");
        assert_eq!(
            render(&Event::HandlerStarted {
                name: "restart".into(),
                action: "service".into(),
                location: cairn_engine::playbook::Location {
                    file: "x".into(),
                    line: 1,
                    column: 1
                }
            }),
            format!("\nRUNNING HANDLER [restart] {}\n", "*".repeat(54))
        );
        assert_eq!(
            render(&Event::Retrying {
                host: "lab1".into(),
                task: "wait".into(),
                retries_left: 2
            }),
            "FAILED - RETRYING: [lab1]: wait (2 retries left).\n"
        );
        assert_eq!(
            render(&Event::Included {
                file: "/p/x.yml".into(),
                hosts: vec!["lab1".into(), "lab2".into()]
            }),
            "included: /p/x.yml for lab1, lab2\n"
        );
        let mut stats = BTreeMap::new();
        stats.insert(
            "lab1".to_string(),
            Stats {
                ok: 5,
                changed: 2,
                ignored: 1,
                ..Stats::default()
            },
        );
        assert_eq!(
            render(&Event::Recap(stats)),
            format!(
                "\nPLAY RECAP {}\nlab1                       : ok=5    changed=2    unreachable=0    failed=0    skipped=0    rescued=0    ignored=1\n",
                "*".repeat(69)
            )
        );
    }
}
