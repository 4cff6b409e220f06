//! The install's image push (issue 6, step 9): while `site.yml` runs, push every image of the
//! bundle into each host of the `registry` group as soon as that registry answers over HTTPS
//! with a certificate the cluster CA issued, then stop. The registry role waits on the host
//! until the images are there (`cairn_registry_push`), so the plays after it (Kubernetes
//! nodes) find them; the push itself is Cairn's (`crate::push`), from the verified bundle.
//!
//! Until the role has configured TLS and (re)started the registry, attempts fail (refused, or
//! a TLS handshake with the package's plain-HTTP default): they are retried every
//! [`RETRY`], quietly; only the last error is kept, for the report when the run ends without
//! a successful push. A push is idempotent (already-present blobs and manifests are skipped),
//! so a retry after a registry restart mid-push completes it.
//!
//! Must not: print (the caller is told through `on_pushed` and the targets left unfilled).

use crate::push::{self, Report};
use crate::serve::routes::Served;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const RETRY: Duration = Duration::from_secs(2);

/// One registry to fill: its inventory name and `ADDRESS:PORT`.
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub registry: String,
}

/// A target the run ended without filling, and the last attempt's error (if one was made).
#[derive(Debug)]
pub struct NotPushed {
    pub target: Target,
    pub last_error: Option<String>,
}

/// The push running beside the playbook.
pub struct Pusher {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<NotPushed>>,
}

impl Pusher {
    /// Start pushing `served`'s images into every target (one after another, each retried
    /// until it succeeds or [`Pusher::finish`] is called). `on_pushed` is called once per
    /// target that was filled, right away.
    pub fn start(
        served: Arc<Served>,
        targets: Vec<Target>,
        tls: rustls::ClientConfig,
        on_pushed: impl Fn(&Target, &Report, Duration) + Send + 'static,
    ) -> Pusher {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut out = Vec::new();
            for target in targets {
                let t0 = Instant::now();
                let mut last_error = None;
                let mut pushed = None;
                while !*stopped.borrow() {
                    match push::push_all(
                        &served.index,
                        &served.registry,
                        &target.registry,
                        tls.clone(),
                    )
                    .await
                    {
                        Ok(report) => {
                            pushed = Some(report);
                            break;
                        }
                        Err(e) => last_error = Some(e.to_string()),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => {}
                        _ = stopped.changed() => {}
                    }
                }
                match pushed {
                    Some(report) => on_pushed(&target, &report, t0.elapsed()),
                    None => out.push(NotPushed { target, last_error }),
                }
            }
            out
        });
        Pusher { stop, task }
    }

    /// Stop retrying (the playbook has ended) and return the targets left unfilled.
    pub async fn finish(self) -> Vec<NotPushed> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}
