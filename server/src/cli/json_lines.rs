//! `--json`: a run's events on stdout as JSON lines, one [`cairn_protocol::Envelope`] per line
//! (the same shape the store's journal and the console's stream carry), for scripts and CI.
//!
//! Owns numbering for the printed stream (the same `seq` the journal gives, since both sit
//! behind one [`super::tee::Tee`]). Must not: print anything that is not one JSON object per
//! line on stdout (human messages go to stderr).

use std::io::Write;
use std::sync::Mutex;

use cairn_engine::event::{Event, EventSink};
use cairn_protocol::Envelope;

pub struct JsonLines {
    run: i64,
    seq: Mutex<u64>,
}

impl JsonLines {
    pub fn new(run: i64) -> JsonLines {
        JsonLines {
            run,
            seq: Mutex::new(0),
        }
    }
}

impl EventSink for JsonLines {
    fn emit(&self, event: Event) {
        let Ok(mut seq) = self.seq.lock() else { return };
        *seq += 1;
        let env = Envelope {
            run: self.run,
            seq: *seq,
            time_ms: crate::store::now_ms(),
            event: crate::wire::event(&event),
        };
        if let Ok(line) = serde_json::to_string(&env) {
            let mut out = std::io::stdout().lock();
            // A closed stdout (`| head`) must not kill the run: the hosts' work goes on.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}
