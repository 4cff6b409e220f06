//! A small HTTP load client for the "load while installing" checks (issue 8): N clients, each
//! on its own keep-alive HTTP/1.1 connection, GET the installer's packages and registry blobs
//! in turn for a fixed time, every response checked (status 200, whole body, sha256 when the
//! path's digest is known). Also finds those paths on a running `cairn serve`/`cairn install`
//! (the apt index's `Filename`/`SHA256`, the registry's manifests' blobs).
//!
//! Must not: judge speed (benchmarks report numbers; tests assert only errors = 0).

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A path to GET and, when known, the sha256 (hex) its body must have.
#[derive(Clone, Debug)]
pub struct Target {
    pub path: String,
    pub sha256: Option<String>,
}

/// What the clients did.
#[derive(Debug, Default)]
pub struct Report {
    pub requests: u64,
    pub bytes: u64,
    pub errors: u64,
    /// The first few errors, for the failure message.
    pub first_errors: Vec<String>,
    pub elapsed: Duration,
}

impl Report {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `clients` threads GET `targets` round robin (each starting at its own offset) on `addr`
/// until `duration` has passed.
pub fn run(addr: SocketAddr, targets: &[Target], clients: usize, duration: Duration) -> Report {
    assert!(!targets.is_empty(), "nothing to load");
    let targets = Arc::new(targets.to_vec());
    let requests = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (targets, requests, bytes, errors) = (
                targets.clone(),
                requests.clone(),
                bytes.clone(),
                errors.clone(),
            );
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut seen = Vec::new();
                    let mut conn: Option<BufReader<TcpStream>> = None;
                    let mut n = i;
                    while Instant::now() < deadline {
                        let t = &targets[n % targets.len()];
                        n += 1;
                        match get(addr, &mut conn, t) {
                            Ok(len) => {
                                requests.fetch_add(1, Ordering::Relaxed);
                                bytes.fetch_add(len, Ordering::Relaxed);
                            }
                            Err(e) => {
                                conn = None;
                                requests.fetch_add(1, Ordering::Relaxed);
                                errors.fetch_add(1, Ordering::Relaxed);
                                if seen.len() < 3 {
                                    seen.push(format!("{}: {e}", t.path));
                                }
                            }
                        }
                    }
                    seen
                })
                .expect("start a load client")
        })
        .collect();
    let mut first_errors = Vec::new();
    for t in threads {
        let seen = t
            .join()
            .unwrap_or_else(|_| vec!["a client panicked".into()]);
        if first_errors.len() < 10 {
            first_errors.extend(seen);
        }
    }
    Report {
        requests: requests.load(Ordering::Relaxed),
        bytes: bytes.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        first_errors,
        elapsed: t0.elapsed(),
    }
}

/// One GET on the kept connection (opened when there is none); the body's length.
fn get(
    addr: SocketAddr,
    conn: &mut Option<BufReader<TcpStream>>,
    t: &Target,
) -> Result<u64, String> {
    if conn.is_none() {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        *conn = Some(BufReader::new(s));
    }
    let r = conn.as_mut().expect("connected above");
    r.get_mut()
        .write_all(format!("GET {} HTTP/1.1\r\nHost: {addr}\r\n\r\n", t.path).as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
    let status = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (mut length, mut chunked, mut close) = (None, false, false);
    loop {
        line.clear();
        r.read_line(&mut line).map_err(|e| format!("read: {e}"))?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap_or((l, ""));
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse::<u64>().ok();
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.contains("chunked");
        } else if k.eq_ignore_ascii_case("connection") {
            close = v.eq_ignore_ascii_case("close");
        }
    }
    let mut hash = Sha256::new();
    let mut got = 0u64;
    let mut take = |r: &mut BufReader<TcpStream>, n: u64| -> Result<(), String> {
        let mut left = n;
        let mut buf = [0u8; 64 * 1024];
        while left > 0 {
            let want = buf.len().min(left as usize);
            let k = r.read(&mut buf[..want]).map_err(|e| format!("body: {e}"))?;
            if k == 0 {
                return Err(format!("body ended after {} of {n} bytes", n - left));
            }
            hash.update(&buf[..k]);
            left -= k as u64;
            got += k as u64;
        }
        Ok(())
    };
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).map_err(|e| format!("chunk: {e}"))?;
            let n = u64::from_str_radix(line.trim(), 16).map_err(|e| format!("chunk size: {e}"))?;
            if n > 0 {
                take(r, n)?;
            }
            line.clear();
            r.read_line(&mut line)
                .map_err(|e| format!("chunk end: {e}"))?;
            if n == 0 {
                break;
            }
        }
    } else {
        let n = length.ok_or("neither Content-Length nor chunked")?;
        take(r, n)?;
    }
    if close {
        *conn = None;
    }
    if status != "200" {
        return Err(format!("status {status}"));
    }
    if let Some(want) = &t.sha256
        && hex::encode(hash.finalize()) != *want
    {
        return Err(format!("sha256 differs from {want}"));
    }
    Ok(got)
}

/// The packages of the apt repository served at `addr` (`/repo/deb/` + each `Filename` of its
/// `Packages` index, with its `SHA256`) and the blobs of the given registry repositories and
/// tags (`/v2/REPO/blobs/DIGEST` of each manifest's config and layers, and the manifests).
pub fn installer_targets(addr: SocketAddr, images: &[(&str, &str)]) -> Vec<Target> {
    let mut out = Vec::new();
    let packages = crate::http::request(addr, "GET", "/repo/deb/Packages", &[], None);
    assert_eq!(packages.status, 200, "{}", packages.body);
    for para in packages.body.split("\n\n") {
        let field = |name: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        if let Some(file) = field("Filename:") {
            out.push(Target {
                path: format!("/repo/deb/{file}"),
                sha256: field("SHA256:"),
            });
        }
    }
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    for (repo, tag) in images {
        let path = format!("/v2/{repo}/manifests/{tag}");
        let m = crate::http::request(addr, "GET", &path, &[("Accept", accept)], None);
        assert_eq!(m.status, 200, "{path}: {}", m.body);
        let v = m.json();
        out.push(Target { path, sha256: None });
        let blobs =
            std::iter::once(&v["config"]).chain(v["layers"].as_array().into_iter().flatten());
        for b in blobs {
            let d = b["digest"].as_str().expect("a blob digest");
            out.push(Target {
                path: format!("/v2/{repo}/blobs/{d}"),
                sha256: d.strip_prefix("sha256:").map(str::to_string),
            });
        }
    }
    out
}
