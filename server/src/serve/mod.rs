//! `cairn serve`: the bundle over HTTP, straight from the bundle file (no unpacking).
//!
//! One concept per file: [`index`] (where each verified entry lies in the file), [`range`]
//! (the `Range` header), [`deb_repo`] (the apt repository's generated metadata), [`apt_sign`]
//! (its OpenPGP signing key, `InRelease`/`Release.gpg`/`cairn.gpg`), [`yum_repo`]
//! (the yum repository's entries, metadata generated at bundle build), [`registry`] (the OCI
//! distribution pull API over the bundle's images), [`routes`] (URLs, status codes,
//! streaming), [`metrics`] (`/metrics` and the layer that counts), [`ntp`] (the SNTP server on
//! UDP), [`open`] (verify and index a bundle before serving it), [`console`] (the web console's
//! embedded files, `cairn serve` only), [`conn`] (accepting connections: the request-head
//! timeout and size limit, graceful shutdown). This file wires them to the listeners with an access log and
//! graceful shutdown. Must not: parse bundles or `.deb`s (that is `cairn-bundle`, which in turn
//! knows nothing of HTTP), or print for a terminal (that is `cli/serve.rs`).

pub mod apt_sign;
pub mod conn;
pub mod console;
pub mod deb_repo;
pub mod index;
pub mod metrics;
pub mod ntp;
pub mod open;
pub mod range;
pub mod registry;
pub mod routes;
pub mod tls;
pub mod yum_repo;

use axum::body::HttpBody as _;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::{TcpListener, UdpSocket};

/// Target of the access log lines (`CAIRN_LOG=cairn::access=info`, on by default for serve).
pub const ACCESS_LOG: &str = "cairn::access";

/// The time service, when `cairn serve` runs one.
pub struct Ntp {
    pub socket: UdpSocket,
    pub config: ntp::Config,
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish (NTP stops with them).
pub async fn run(
    listener: TcpListener,
    served: Arc<routes::Served>,
    ntp: Option<Ntp>,
    extra: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    // `cairn serve` only: the web console's pages and assets beside the API.
    run_with(
        listener,
        served,
        ntp,
        extra.merge(console::router()),
        tls,
        shutdown_signal(),
    )
    .await
}

/// [`run`], stopping when `stop` completes instead of on a signal (`cairn install` serves the
/// bundle only while it installs).
pub async fn run_until(
    listener: TcpListener,
    served: Arc<routes::Served>,
    ntp: Option<Ntp>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, served, ntp, axum::Router::new(), None, stop).await
}

/// [`run_until`] with more routes on the same port (`cairn serve`'s `/api`).
pub async fn run_with(
    listener: TcpListener,
    served: Arc<routes::Served>,
    ntp: Option<Ntp>,
    extra: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metrics = Arc::new(metrics::Metrics::default());
    let time = ntp.map(|n| tokio::spawn(ntp::run(n.socket, n.config, metrics.clone())));
    let app = routes::router(served)
        .merge(extra)
        .merge(metrics::router(metrics.clone()))
        .layer(middleware::from_fn_with_state(metrics, metrics::track))
        .layer(middleware::from_fn(access_log));
    // Many clients at once (a whole cluster's apt and containerd) need more descriptors than
    // the usual soft limit of 1024.
    let fds = conn::raise_fd_limit();
    tracing::debug!("open file limit: {fds}");
    let served = conn::serve(listener, app, tls, stop).await;
    if let Some(t) = time {
        t.abort();
    }
    served
}

/// One line per request: method, path, status, bytes (the response's length: what was sent
/// unless the client went away), and the time to produce the response head.
async fn access_log(req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let bytes = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .or_else(|| resp.body().size_hint().exact())
        .unwrap_or(0);
    tracing::info!(
        target: ACCESS_LOG,
        "{method} {path} {} {bytes} {:.1}ms",
        resp.status().as_u16(),
        t0.elapsed().as_secs_f64() * 1e3
    );
    resp
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            // Without a SIGTERM handler, only Ctrl-C stops the server.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::warn!("shutting down: finishing requests in flight");
}
