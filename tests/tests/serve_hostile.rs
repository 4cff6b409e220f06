//! `cairn serve` against hostile and careless clients, on loopback: path traversal in every
//! spelling (dot segments, percent-encoded, double-encoded, backslashes, NUL) reaches nothing
//! outside the bundle; oversized request heads are refused with 431 and the server goes on;
//! slow clients (slowloris) and idle connections are dropped after the request-head timeout
//! while others are served; a thousand connections at once do not stop the server.
//!
//! The bundle (one file, one RPM with repodata, one image) is built in-process with the
//! product's writer (`cairn_tests::fuzz::build_fuzz_bundle`), then served by a real `cairn
//! serve` process. Numbers are printed (`--nocapture`), never asserted beyond generous
//! "still answers" bounds.
//!
//! Host use: none (127.0.0.1 only). No lab and no root needed.

use cairn_tests::{Served, free_tcp_port, scratch};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What a request-head timeout of the server must beat (its own is 10 s): a slow client still
/// connected after this was never dropped.
const DROPPED_WITHIN: Duration = Duration::from_secs(60);
/// A normal request must be answered within this even while the server is under attack.
const ANSWERS_WITHIN: Duration = Duration::from_secs(30);

/// The served bundle's one file (`/files/blob.txt`), as `build_fuzz_bundle` writes it.
fn blob() -> Vec<u8> {
    b"fuzz blob: a small file served under /files/\n".repeat(20)
}

/// A marker no response may ever contain: written beside the bundle and above it.
const SECRET: &str = "cairn-serve-hostile-secret-7f3a";

struct Server {
    served: Option<Served>,
    addr: SocketAddr,
    _dir: PathBuf,
}

impl Server {
    fn start(name: &str) -> Server {
        let dir = scratch(name);
        let bundle = cairn_tests::fuzz::build_fuzz_bundle(&dir.join("b"));
        // Files outside the bundle that traversal would reach: beside it and above it.
        std::fs::write(bundle.with_file_name("secret.txt"), SECRET).unwrap();
        std::fs::write(dir.join("secret.txt"), SECRET).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"))
            .parse()
            .unwrap();
        let state = dir.join("state");
        let served = Served::start(
            &bundle,
            addr,
            &["--no-ntp", "--state-dir", state.to_str().unwrap()],
        );
        Server {
            served: Some(served),
            addr,
            _dir: dir,
        }
    }

    /// Stops the server: it must exit by itself, successfully (it did not crash meanwhile).
    fn stop(mut self) -> String {
        let (code, log) = self.served.take().unwrap().stop();
        assert_eq!(code, Some(0), "cairn serve did not exit cleanly:\n{log}");
        log
    }
}

/// A response's status and body.
struct Resp {
    status: u16,
    body: Vec<u8>,
}

/// Sends `raw` as the whole request (exactly these bytes) and reads the response to the end
/// of the connection; `None` when the server closed without answering.
fn raw(addr: SocketAddr, raw: &[u8]) -> Option<Resp> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(ANSWERS_WITHIN)).unwrap();
    // The server may answer and close before reading a large request: that is fine.
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Resp {
        status,
        body: out[split + 4..].to_vec(),
    })
}

fn get(addr: SocketAddr, target: &[u8]) -> Option<Resp> {
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(b" HTTP/1.1\r\nHost: cairn\r\nConnection: close\r\n\r\n");
    raw(addr, &req)
}

/// The control: the served file, whole.
fn assert_serves_blob(addr: SocketAddr) -> Duration {
    let t0 = Instant::now();
    let r = get(addr, b"/files/blob.txt").expect("an answer for /files/blob.txt");
    assert_eq!((r.status, r.body), (200, blob()));
    t0.elapsed()
}

#[test]
fn traversal_in_any_spelling_reaches_nothing_outside_the_bundle() {
    let server = Server::start("hostile-traversal");
    let addr = server.addr;
    assert_serves_blob(addr);
    let targets: &[&[u8]] = &[
        b"/files/../../etc/passwd",
        b"/files/../secret.txt",
        b"/files/../../secret.txt",
        b"/files/%2e%2e/%2e%2e/etc/passwd",
        b"/files/%2E%2E/secret.txt",
        b"/files/..%2f..%2fetc%2fpasswd",
        b"/files/..%2F..%2Fsecret.txt",
        b"/files/%252e%252e/%252e%252e/etc/passwd",
        b"/files/%252e%252e%252fsecret.txt",
        b"/files/..%5c..%5csecret.txt",
        b"/files/..\\..\\secret.txt",
        b"/files/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        b"/files/blob.txt%00.png",
        b"/files/%00/../../etc/passwd",
        b"/files/blob.txt\x00",
        b"/files//etc/passwd",
        b"/files/%2fetc%2fpasswd",
        b"/files/./blob.txt/../../secret.txt",
        b"/files/",
        b"/files",
        b"/../../etc/passwd",
        b"/%2e%2e/%2e%2e/etc/passwd",
        b"/manifest.json",
        b"/secret.txt",
        b"/repo/deb/../../secret.txt",
        b"/repo/deb/debs/../../../etc/passwd",
        b"/repo/deb/debs/..%2f..%2fsecret.txt",
        b"/repo/deb/./../secret.txt",
        b"/repo/rpm/Packages/../../../etc/passwd",
        b"/repo/rpm/repodata/..%2f..%2f..%2fsecret.txt",
        b"/repo/rpm/../../secret.txt",
        b"/v2/../../etc/passwd",
        b"/v2/cairn/fuzz/blobs/sha256:..%2f..%2f..%2fsecret.txt",
        b"/v2/cairn/fuzz/blobs/sha256%3a..%2f..%2fmanifest.json",
        b"/v2/cairn/fuzz/manifests/..%2f..%2f..%2fetc%2fpasswd",
        b"/v2/..%2f..%2fsecret.txt/manifests/1",
        b"/assets/../../etc/passwd",
        b"/assets/..%2f..%2f..%2fetc%2fpasswd",
        b"/assets/%2e%2e/%2e%2e/secret.txt",
        b"/api/../../etc/passwd",
        b"/api/%2e%2e/%2e%2e/secret.txt",
        b"../../etc/passwd",
        b"http://cairn/files/../../etc/passwd",
        b"//etc/passwd",
        b"/files/blob.txt/",
        b"/files/BLOB.TXT",
    ];
    let mut statuses = Vec::new();
    for t in targets {
        let shown = String::from_utf8_lossy(t).escape_debug().to_string();
        let r = get(addr, t);
        let status = r.as_ref().map(|r| r.status);
        if let Some(r) = &r {
            let body = String::from_utf8_lossy(&r.body);
            assert!(
                !body.contains(SECRET),
                "{shown}: leaked a file beside the bundle"
            );
            assert!(!body.contains("root:x:0:0"), "{shown}: leaked /etc/passwd");
            assert!(
                !body.contains("\"entries\""),
                "{shown}: leaked the bundle's manifest"
            );
        }
        // 404 (no such entry) or 400 (not a request at all); a closed connection counts as
        // refused too, but hyper answers 400 to what it cannot parse.
        assert!(
            matches!(status, Some(400 | 404)),
            "{shown}: {status:?}, expected 404 or 400"
        );
        statuses.push(format!("{shown} -> {}", status.unwrap()));
    }
    eprintln!("{}", statuses.join("\n"));
    assert_serves_blob(addr);
    server.stop();
}

#[test]
fn oversized_request_heads_get_431_and_the_server_keeps_serving() {
    let server = Server::start("hostile-headers");
    let addr = server.addr;
    let big_value = format!(
        "GET /files/blob.txt HTTP/1.1\r\nHost: cairn\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 << 10)
    );
    let many: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /files/blob.txt HTTP/1.1\r\nHost: cairn\r\n{many}\r\n");
    let long_uri = format!(
        "GET /files/{} HTTP/1.1\r\nHost: cairn\r\n\r\n",
        "a".repeat(100 << 10)
    );
    let huge = format!(
        "GET /files/blob.txt HTTP/1.1\r\nHost: cairn\r\nX-Big: {}\r\n\r\n",
        "b".repeat(4 << 20)
    );
    for (what, req) in [
        ("one 100 KiB header", big_value),
        ("500 headers", many),
        ("a 100 KiB URI", long_uri),
        ("one 4 MiB header", huge),
    ] {
        let r = raw(addr, req.as_bytes());
        let status = r.map(|r| r.status);
        eprintln!("{what}: {status:?}");
        assert!(
            matches!(status, Some(431 | 414 | 400)),
            "{what}: {status:?}, expected 431 (or 414/400)"
        );
        assert_serves_blob(addr);
    }
    server.stop();
}

/// A client that sends its request head one byte per second: how long until the server closes
/// the connection (`None`: still open after `DROPPED_WITHIN`).
fn slowloris(addr: SocketAddr, idle: bool) -> Option<Duration> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1000)))
        .unwrap();
    let t0 = Instant::now();
    let head = b"GET /files/blob.txt HTTP/1.1\r\nHost: cairn\r\nX-Slow: ";
    let mut i = 0;
    while t0.elapsed() < DROPPED_WITHIN {
        if !idle {
            let b = head.get(i).copied().unwrap_or(b'a');
            if s.write_all(&[b]).is_err() {
                return Some(t0.elapsed());
            }
            i += 1;
        }
        // Reading waits up to a second: end of stream (or a 408) means the server hung up.
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(_) => return Some(t0.elapsed()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(t0.elapsed()),
        }
    }
    None
}

#[test]
fn slow_clients_are_dropped_while_others_are_served() {
    let server = Server::start("hostile-slow");
    let addr = server.addr;
    let clients: Vec<_> = (0..40)
        .map(|i| std::thread::spawn(move || slowloris(addr, i % 4 == 0)))
        .collect();
    // Meanwhile normal clients are served, every half second.
    let t0 = Instant::now();
    let mut worst = Duration::ZERO;
    let mut served = 0;
    while t0.elapsed() < Duration::from_secs(12) {
        let took = assert_serves_blob(addr);
        assert!(took < ANSWERS_WITHIN, "a normal request took {took:?}");
        worst = worst.max(took);
        served += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    let dropped: Vec<Option<Duration>> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let slowest = dropped.iter().flatten().max().copied();
    eprintln!(
        "40 slow clients (10 idle): dropped after at most {slowest:?}; {served} normal requests \
         meanwhile, the slowest in {worst:?}"
    );
    for (i, d) in dropped.iter().enumerate() {
        assert!(
            d.is_some(),
            "slow client {i} was still connected after {DROPPED_WITHIN:?}"
        );
    }
    server.stop();
}

/// Raises this test process's open-file limit to at least `n` (the hard limit permitting).
fn raise_fd_limit(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
        assert!(
            lim.rlim_cur >= n,
            "the open-file hard limit ({}) is below {n}",
            lim.rlim_max
        );
    }
}

#[test]
fn a_thousand_connections_at_once_do_not_stop_the_server() {
    raise_fd_limit(4096);
    let server = Server::start("hostile-many");
    let addr = server.addr;

    // 1000 connections held open with half a request each, then a normal client.
    let t0 = Instant::now();
    let held: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(b"GET /files/blob.txt HTTP/1.1\r\nHost: ca")
                .unwrap();
            s
        })
        .collect();
    let opened = t0.elapsed();
    let took = assert_serves_blob(addr);
    eprintln!("1000 half-open connections in {opened:?}; a normal request then took {took:?}");
    assert!(took < ANSWERS_WITHIN, "{took:?}");
    drop(held);

    // 1000 whole requests at once, from 1000 threads.
    let start = std::sync::Arc::new(std::sync::Barrier::new(1000));
    let t0 = Instant::now();
    let clients: Vec<_> = (0..1000)
        .map(|_| {
            let start = start.clone();
            std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    start.wait();
                    let t = Instant::now();
                    let ok = get(addr, b"/files/blob.txt")
                        .is_some_and(|r| r.status == 200 && r.body == blob());
                    (ok, t.elapsed())
                })
                .unwrap()
        })
        .collect();
    let results: Vec<(bool, Duration)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let failed = results.iter().filter(|(ok, _)| !ok).count();
    let mut times: Vec<Duration> = results.iter().map(|(_, t)| *t).collect();
    times.sort();
    eprintln!(
        "1000 concurrent requests: {failed} failed, all done in {:?}; per request median {:?}, \
         p99 {:?}, max {:?}",
        t0.elapsed(),
        times[500],
        times[990],
        times[999]
    );
    assert_eq!(
        failed, 0,
        "requests failed under 1000 concurrent connections"
    );
    let took = assert_serves_blob(addr);
    assert!(took < ANSWERS_WITHIN, "{took:?}");
    let log = server.stop();
    assert!(!log.contains("panicked"), "{log}");
}
