//! Accepting and serving connections for `cairn serve` (and the serving inside `cairn
//! install`): hyper's HTTP/1 server with the limits a server on a shared network needs, and
//! graceful shutdown.
//!
//! Why not `axum::serve`: it gives hyper no timer, so hyper's request-head timeout never runs
//! and a client that sends its headers one byte at a time (slowloris), or connects and sends
//! nothing, holds a task and a file descriptor for as long as it likes; nor can its limits be
//! set. Here every connection gets [`HEADER_READ_TIMEOUT`] and [`MAX_HEAD_BYTES`]; an
//! accept that fails (out of file descriptors under a flood of connections) waits a moment and
//! goes on instead of ending the server.
//!
//! Owns: the accept loop, TLS handshakes when serving HTTPS, per-connection HTTP/1 settings, the file descriptor limit raised at
//! start, draining on shutdown. Must not: route or answer requests (that is the router given).

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::TcpListener;

/// The address a request came from, in its extensions (put there by the accept loop).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// A client must send a whole request head within this time, counted from when the server
/// starts waiting for it (a new connection, or the end of the previous response on a kept-alive
/// one); then the connection is closed. Hosts on the installer's LAN send a head in one packet.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A request head larger than this is refused with `431 Request Header Fields Too Large`
/// (without it hyper's limit is its read buffer, about 400 KiB, and a 100 KiB header was
/// accepted; nginx's is 32 KiB). Bodies are streamed, not limited by this.
pub const MAX_HEAD_BYTES: usize = 64 << 10;

/// How long to wait after an accept fails before accepting again (the usual cause is running
/// out of file descriptors: waiting lets connections close).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `app` on `listener` until `stop` completes, then stops accepting and lets the open
/// connections finish their requests (kept-alive connections are closed after theirs).
/// With `tls`, every connection is HTTPS (a client that does not finish its TLS handshake
/// within [`HEADER_READ_TIMEOUT`] is dropped, as a slow request head is).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, tls, stop, HEADER_READ_TIMEOUT).await
}

/// [`serve`] with another request-head timeout (the unit tests' short one).
async fn serve_with(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    header_timeout: Duration,
) -> std::io::Result<()> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_header_size(MAX_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Each request knows its client's address (the API's login throttle).
                    let service = TowerToHyperService::new(tower::ServiceExt::map_request(
                        app.clone(),
                        move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(ClientAddr(peer));
                            req
                        },
                    ));
                    match &tls {
                        None => {
                            let conn = builder.serve_connection(TokioIo::new(stream), service);
                            spawn_conn(graceful.watch(conn));
                        }
                        Some(acceptor) => {
                            // The handshake runs on the connection's own task: a slow client
                            // must not hold up the accept loop.
                            let (acceptor, builder) = (acceptor.clone(), builder.clone());
                            let watcher = graceful.watcher();
                            tokio::spawn(async move {
                                let shaken =
                                    tokio::time::timeout(header_timeout, acceptor.accept(stream)).await;
                                match shaken {
                                    Ok(Ok(stream)) => {
                                        let conn =
                                            builder.serve_connection(TokioIo::new(stream), service);
                                        if let Err(e) = watcher.watch(conn).await {
                                            tracing::debug!("connection ended: {e}");
                                        }
                                    }
                                    Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                                    Err(_) => tracing::debug!("TLS handshake timed out"),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e} (retrying)");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            () = &mut stop => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Serves one plain connection on its own task.
fn spawn_conn<F, E>(conn: F)
where
    F: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display,
{
    tokio::spawn(async move {
        // A client that goes away or breaks the protocol ends only its own connection:
        // nothing to report beyond hyper's trace.
        if let Err(e) = conn.await {
            tracing::debug!("connection ended: {e}");
        }
    });
}

/// Raises this process's open-file limit to its hard limit (a server with many clients needs
/// more than the usual soft limit of 1024; systemd and most shells allow far more). Returns the
/// limit now in force; failing leaves the limit as it was.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
    }
    lim.rlim_cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    /// A client that stops sending in the middle of its request head is disconnected after
    /// the timeout (a short one here), while the server keeps answering others.
    #[tokio::test]
    async fn a_stalled_request_head_is_dropped_after_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let timeout = Duration::from_millis(300);
        let server = tokio::spawn(serve_with(
            listener,
            app,
            None,
            async {
                let _ = rx.await;
            },
            timeout,
        ));
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut slow, b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let t0 = std::time::Instant::now();
        let mut buf = Vec::new();
        let n = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::io::AsyncReadExt::read_to_end(&mut slow, &mut buf),
        )
        .await
        .expect("the server closes a stalled connection");
        assert!(t0.elapsed() >= timeout / 2, "{:?}", t0.elapsed());
        // Closed by the server: end of stream, possibly after hyper's 408 response.
        assert!(n.is_ok(), "{n:?}");
        let text = String::from_utf8_lossy(&buf);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    /// A head over the limit is answered 431; the next connection is served as usual.
    #[tokio::test]
    async fn an_oversized_head_is_refused_with_431() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, None, async {
            let _ = rx.await;
        }));
        let status = |req: Vec<u8>| {
            tokio::task::spawn_blocking(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                // The server may close before reading everything: a failed write is fine.
                let _ = s.write_all(&req);
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                out.lines().next().unwrap_or_default().to_string()
            })
        };
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES + 1)
        );
        let first = status(big.into_bytes()).await.unwrap();
        assert_eq!(first, "HTTP/1.1 431 Request Header Fields Too Large");
        let ok = status(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec())
            .await
            .unwrap();
        assert_eq!(ok, "HTTP/1.1 200 OK");
        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
