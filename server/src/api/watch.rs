//! Noticing new events in the store, whoever wrote them: this process's journal thread or a
//! `cairn install`/`cairn play` in another process (one SQLite database in WAL mode).
//!
//! SQLite has no cross-process notification, so one thread polls `PRAGMA data_version` (a
//! counter in shared memory that changes when another connection commits: no table is read)
//! every [`POLL`], and bumps a `tokio::sync::watch` channel; event streams wait on that channel
//! and only then query their run's new rows. The cost when nothing happens is one pragma per
//! poll for the whole server, not one query per open stream; the latency added is at most
//! [`POLL`] (plus the journal's own batching).
//!
//! Must not: read events itself (each stream reads its own run after `seq`).

use std::time::Duration;

use crate::store::Store;

/// How often the data version is read.
pub const POLL: Duration = Duration::from_millis(20);

/// A receiver that changes whenever the store did; clone one per stream.
pub type Changes = tokio::sync::watch::Receiver<u64>;

/// Start the watcher thread on its own connection. It ends when every receiver is gone.
pub fn start(store: Store) -> Changes {
    let (tx, rx) = tokio::sync::watch::channel(0u64);
    // Read before the thread starts: a commit made right after `start` returns is a change.
    let mut last = store.data_version().unwrap_or(0);
    std::thread::Builder::new()
        .name("cairn-api-watch".into())
        .spawn(move || {
            let mut n = 0u64;
            loop {
                std::thread::sleep(POLL);
                if tx.is_closed() {
                    return;
                }
                match store.data_version() {
                    Ok(v) if v != last => {
                        last = v;
                        n += 1;
                        tx.send_replace(n);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("api: cannot watch the state store: {e}");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        })
        .expect("spawn a thread");
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_by_another_connection_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let mut rx = start(Store::open_in(dir.path()).unwrap());
        let writer = Store::open_in(dir.path()).unwrap();
        writer.begin_run("play", "t").unwrap();
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .expect("noticed within 5 s")
            .unwrap();
    }
}
