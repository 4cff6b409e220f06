//! `GET /api/runs/{id}/events?after=SEQ`: a run's events as Server-Sent Events, first those
//! already in the store after `SEQ` (or `Last-Event-ID`), then new ones as they are committed,
//! by this process or another (see [`super::watch`]); `event: end` with the run's summary once
//! it has finished and everything was sent.
//!
//! Owns the stream's framing (`event:`/`id:`/`data:`) and its end. Must not: hold back or
//! reorder events: they go out in `seq` order, as journaled, serialized once by serde from
//! `cairn_protocol::Envelope`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use cairn_protocol::Envelope;
use futures_util::Stream;
use serde::Deserialize;

use super::Api;
use super::error::Result;

#[derive(Deserialize)]
pub struct After {
    after: Option<u64>,
}

/// How many events one query reads at most (a 50k-event replay goes out in slices).
const SLICE: usize = 2000;

struct Follow {
    api: Arc<Api>,
    id: i64,
    after: u64,
    changes: super::watch::Changes,
    pending: VecDeque<Envelope>,
    ended: bool,
}

enum Step {
    Send(Event),
    End(Event),
}

impl Follow {
    fn next_step(&mut self) -> Result<Option<Step>> {
        if let Some(e) = self.pending.pop_front() {
            self.after = e.seq;
            let data = serde_json::to_string(&e).expect("an Envelope always serializes");
            return Ok(Some(Step::Send(
                Event::default()
                    .event("envelope")
                    .id(e.seq.to_string())
                    .data(data),
            )));
        }
        let store = self.api.store()?;
        // Status first, then events: a run marked finished has all its events committed, so
        // "finished and nothing new" really is the end.
        let run = store.run(self.id)?;
        let new = store.events_page(self.id, self.after, SLICE)?;
        drop(store);
        if new.is_empty() {
            if run.status != "running" {
                let data = serde_json::to_string(&super::runs::summary(run))
                    .expect("a summary always serializes");
                return Ok(Some(Step::End(Event::default().event("end").data(data))));
            }
            return Ok(None);
        }
        self.pending.extend(new);
        self.next_step()
    }
}

pub async fn stream(
    State(api): State<Arc<Api>>,
    Path(id): Path<i64>,
    Query(q): Query<After>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    api.store()?.run(id)?; // 404 before the stream starts
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut changes = api.changes.clone();
    changes.mark_unchanged();
    let follow = Follow {
        api,
        id,
        after: last_event_id.or(q.after).unwrap_or(0),
        changes,
        pending: VecDeque::new(),
        ended: false,
    };
    let s = futures_util::stream::unfold(follow, |mut f| async move {
        if f.ended {
            return None;
        }
        loop {
            match f.next_step() {
                Ok(Some(Step::Send(ev))) => return Some((Ok(ev), f)),
                Ok(Some(Step::End(ev))) => {
                    f.ended = true;
                    return Some((Ok(ev), f));
                }
                Ok(None) => {
                    // Wait for a commit anywhere; re-check at least every 2 s in case a
                    // notification was missed between the query and this wait.
                    let _ = tokio::time::timeout(Duration::from_secs(2), f.changes.changed()).await;
                    f.changes.mark_unchanged();
                }
                Err(e) => {
                    f.ended = true;
                    let data = serde_json::to_string(&e.body).expect("serializes");
                    return Some((Ok(Event::default().event("error").data(data)), f));
                }
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
