//! One event stream to several sinks (the terminal or `--json`, and the store's journal), in
//! the same order for all: the fan-out happens under one lock, so every sink sees events in
//! the same sequence and numbers them alike.

use std::sync::Mutex;

use cairn_engine::event::{Event, EventSink};

pub struct Tee<'a> {
    sinks: Vec<&'a dyn EventSink>,
    order: Mutex<()>,
}

impl<'a> Tee<'a> {
    pub fn new(sinks: Vec<&'a dyn EventSink>) -> Tee<'a> {
        Tee {
            sinks,
            order: Mutex::new(()),
        }
    }
}

impl EventSink for Tee<'_> {
    fn emit(&self, event: Event) {
        let _order = self.order.lock();
        if let Some((last, rest)) = self.sinks.split_last() {
            for s in rest {
                s.emit(event.clone());
            }
            last.emit(event);
        }
    }
}
