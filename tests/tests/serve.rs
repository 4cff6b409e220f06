//! `cairn serve` end to end: a real bundle (with a real Debian package resolved against the lab
//! base), served on the lab bridge, used by apt on a lab host; Range and traversal checked with
//! raw HTTP requests; a tampered bundle refused before anything listens.
//!
//! Host use: lab3 only (apt sources and the `tree` package; both removed again).

use cairn_tests::{BRIDGE, Lab, Served, cairn_bin, free_tcp_port, scratch};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The installer's address on the lab bridge (`cairnbr0`), which lab hosts can reach.
/// A small package with no dependencies beyond the lab base, not in the base itself.
const PKG: &str = "tree";

fn cairn(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(cairn_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run cairn")
}

/// Builds `srv-0.0.1.cairn` in `dir`: the `tree` package and one 3 MB file.
fn build_bundle(dir: &Path) -> (PathBuf, Vec<u8>) {
    let blob: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("blob.bin"), &blob).unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&blob))
    };
    std::fs::write(
        dir.join("srv.yaml"),
        format!(
            "apiVersion: cairn/v1\nkind: Bundle\nname: srv\nversion: 0.0.1\n\
             platforms: [linux/amd64]\ndebs:\n  packages: [{PKG}]\n\
             files:\n  - path: blob.bin\n    sha256: {sha}\n"
        ),
    )
    .unwrap();
    let o = cairn(&["bundle", "build", "srv.yaml", "--out", "."], dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (dir.join("srv-0.0.1.cairn"), blob)
}

/// A response as the test sees it.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a raw socket, `path` sent exactly as given (no normalisation, as
/// an attacker would send it). The server's streamed bodies carry a Content-Length; the
/// connection is closed after the response.
fn request(addr: SocketAddr, method: &str, path: &str, extra: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

#[tokio::test]
async fn apt_on_a_lab_host_installs_from_the_served_bundle() {
    let lab = Lab::from_env();
    let dir = scratch("serve");
    let (bundle, blob) = build_bundle(&dir);
    let addr: SocketAddr = format!("{BRIDGE}:{}", free_tcp_port(BRIDGE))
        .parse()
        .unwrap();
    let server = Served::start(&bundle, addr, &[]);

    // HTTP from here: health, whole file, one range, unsatisfiable, HEAD, traversal, listing.
    let r = request(addr, "GET", "/healthz", &[]);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok\n"[..]));
    let r = request(addr, "GET", "/files/blob.bin", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, blob);
    assert_eq!(r.header("content-length"), Some("3000000"));
    let want_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&blob))
    };
    assert_eq!(r.header("x-checksum-sha256"), Some(want_sha.as_str()));
    let r = request(
        addr,
        "GET",
        "/files/blob.bin",
        &[("Range", "bytes=1000-1999")],
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 1000-1999/3000000"));
    assert_eq!(r.body, &blob[1000..2000]);
    let r = request(addr, "GET", "/files/blob.bin", &[("Range", "bytes=-10")]);
    assert_eq!(
        (r.status, r.body.as_slice()),
        (206, &blob[blob.len() - 10..])
    );
    let r = request(
        addr,
        "GET",
        "/files/blob.bin",
        &[("Range", "bytes=3000000-")],
    );
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */3000000"));
    let r = request(addr, "HEAD", "/files/blob.bin", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("3000000"));
    assert!(r.body.is_empty());
    for path in [
        "/files/../manifest.json",
        "/files/%2e%2e/manifest.json",
        "/files/%2E%2E/%2E%2E/etc/passwd",
        "/files/..%2fmanifest.json",
        "/files/./blob.bin",
        "/files//blob.bin",
        "/files/",
        "/files",
        "/manifest.json",
        "/repo/deb/../../manifest.json",
        "/repo/deb/debs/../files/blob.bin",
        "/repo/deb/debs/",
        "/repo/deb/",
    ] {
        assert_eq!(request(addr, "GET", path, &[]).status, 404, "{path}");
    }
    let r = request(addr, "GET", "/repo/deb/Packages", &[]);
    assert_eq!(r.status, 200);
    let packages = String::from_utf8(r.body).unwrap();
    assert!(
        packages.starts_with(&format!("Package: {PKG}\n")),
        "{packages}"
    );
    let filename = packages
        .lines()
        .find_map(|l| l.strip_prefix("Filename: "))
        .expect("Filename")
        .to_string();
    let r = request(addr, "GET", &format!("/repo/deb/{filename}"), &[]);
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with(b"!<arch>\n"));

    // apt on lab3, against the bridge address. Every step runs, then the host is put back as
    // it was, then the results are judged.
    let c = lab.connect(&dir, "lab3", "root").await;
    let list = "/etc/apt/sources.list.d/cairn-test.list";
    let before = c.run(&format!("dpkg -s {PKG} 2>&1")).await.unwrap();
    assert!(
        !before.success(),
        "{PKG} must not be installed on lab3 before the test"
    );
    let steps = format!(
        "set -e; echo 'deb [trusted=yes] http://{addr}/repo/deb ./' > {list}; \
         apt-get update 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y {PKG} 2>&1; \
         dpkg -s {PKG}"
    );
    let installed = c.run(&steps).await.unwrap();
    let cleanup = c
        .run(&format!(
            "DEBIAN_FRONTEND=noninteractive apt-get purge -y {PKG} 2>&1; rm -f {list}; \
             apt-get update 2>&1; ! dpkg -s {PKG} >/dev/null 2>&1"
        ))
        .await
        .unwrap();
    assert!(
        installed.success(),
        "{}\n{}",
        installed.stdout_str(),
        installed.stderr_str()
    );
    assert!(
        installed
            .stdout_str()
            .contains("Status: install ok installed")
    );
    assert!(cleanup.success(), "{}", cleanup.stdout_str());

    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log}");
    // The repository is signed by default: apt takes InRelease (trusted=yes skips its check).
    assert!(
        log.contains("GET /repo/deb/./InRelease 200")
            || log.contains("GET /repo/deb/./Release 200"),
        "{log}"
    );
    assert!(
        log.contains(&format!("GET /repo/deb/{filename} 200")),
        "{log}"
    );
}

#[test]
fn a_tampered_bundle_is_not_served() {
    let dir = scratch("serve-tampered");
    let (bundle, blob) = build_bundle(&dir);
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes
        .windows(64)
        .position(|w| w == &blob[..64])
        .expect("blob data in the bundle");
    bytes[at + 100] ^= 1;
    let bad = dir.join("bad.cairn");
    std::fs::write(&bad, &bytes).unwrap();

    let addr: SocketAddr = format!("{BRIDGE}:{}", free_tcp_port(BRIDGE))
        .parse()
        .unwrap();
    let o = cairn(
        &[
            "serve",
            "--bundle",
            bad.to_str().unwrap(),
            "--listen",
            &addr.to_string(),
        ],
        &dir,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("verification failed: entry \"files/blob.bin\": sha256 mismatch"),
        "{err}"
    );
    // It exited without ever listening: nothing answers there.
    assert!(TcpStream::connect(addr).is_err());

    let o = cairn(&["serve", "--bundle", "missing.cairn"], &dir);
    assert_eq!(o.status.code(), Some(1));
}
