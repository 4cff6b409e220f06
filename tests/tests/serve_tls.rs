//! `cairn serve --tls` on loopback, checked with curl (a real TLS client verifying the
//! certificate): the self-signed certificate is made at the first start in the state dir
//! (0600 key), printed with its SHA-256 fingerprint (the same `openssl x509 -fingerprint`
//! computes), reused at the next start; the bundle, the console and the API answer over HTTPS
//! and the session cookie is `Secure`; plain HTTP on the TLS port gets no HTTP answer; a
//! certificate of one's own (`--tls-cert`, `--tls-key`, here from a test CA) is served as
//! given; a key that does not go with its certificate is refused before listening.
//!
//! Host use: none (127.0.0.1 only).

use cairn_tests::{Served, cairn_bin, free_tcp_port, scratch};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;

const TOKEN: &str = "tls-test-token-5b1e9c";

fn serve(bundle: &Path, state: &Path, extra: &[&str]) -> (Served, SocketAddr) {
    let listen: SocketAddr = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"))
        .parse()
        .unwrap();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["serve", "--bundle"])
        .arg(bundle)
        .args(["--listen", &listen.to_string(), "--no-ntp", "--state-dir"])
        .arg(state)
        .args(extra)
        .env("CAIRN_ADMIN_TOKEN", TOKEN);
    (Served::spawn(cmd, listen), listen)
}

/// curl over HTTPS trusting `ca`: (status, headers and body).
fn curl(ca: &Path, url: &str, extra: &[&str]) -> (String, String) {
    let o = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(extra)
        .arg(url)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let status = text.lines().next().unwrap_or("").trim().to_string();
    (
        status,
        format!("{text}{}", String::from_utf8_lossy(&o.stderr)),
    )
}

#[test]
fn https_with_a_self_signed_or_given_certificate() {
    let dir = scratch("serve-tls");
    let bundle = cairn_tests::fuzz::build_fuzz_bundle(&dir);
    let state = dir.join("state");

    // 1. Self-signed, made now.
    let (served, addr) = serve(&bundle, &state, &["--tls"]);
    let cert = state.join("serve/tls-cert.pem");
    let base = format!("https://127.0.0.1:{}", addr.port());
    let (status, text) = curl(&cert, &format!("{base}/files/blob.txt"), &[]);
    assert_eq!(status, "HTTP/1.1 200 OK", "{text}");
    let (status, text) = curl(&cert, &format!("{base}/hosts"), &[]);
    assert!(status.starts_with("HTTP/1.1 "), "{text}");
    // A login from a page of `origin`.
    let login = |origin: &str| {
        curl(
            &cert,
            &format!("{base}/api/login"),
            &[
                "-H",
                "Content-Type: application/json",
                "-H",
                "X-Cairn-Csrf: 1",
                "-H",
                &format!("Origin: {origin}"),
                "--data",
                &format!("{{\"token\":\"{TOKEN}\"}}"),
            ],
        )
    };
    let (status, text) = login(&base);
    assert!(status.starts_with("HTTP/1.1 2"), "{text}");
    let cookie = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {text}"));
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // The same from an http:// page of the same host and port is another origin.
    let (refused, text2) = login(&format!("http://127.0.0.1:{}", addr.port()));
    assert_eq!(refused, "HTTP/1.1 403 Forbidden", "{text2}");
    // Plain HTTP to the HTTPS port: no HTTP answer (the TLS handshake fails).
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    let _ = s.write_all(b"GET /files/blob.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(!got.starts_with(b"HTTP/"), "{got:?}");
    let (_, log) = served.stop();
    let fingerprint = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let fingerprint = String::from_utf8_lossy(&fingerprint.stdout);
    let fingerprint = fingerprint.trim().rsplit('=').next().unwrap();
    assert!(
        log.contains(&format!(
            "TLS certificate {} (self-signed, made now), SHA-256 fingerprint {fingerprint}",
            cert.display()
        )),
        "{log}"
    );
    assert!(log.contains(&format!("on https://{addr}: ")), "{log}");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(state.join("serve/tls-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // 2. The next start reuses it.
    let (served, _) = serve(&bundle, &state, &["--tls"]);
    let (_, log) = served.stop();
    assert!(
        log.contains(&format!("(as found), SHA-256 fingerprint {fingerprint}")),
        "{log}"
    );

    // 3. A certificate of one's own, issued by a CA the client trusts.
    let ca = cairn_tests::tls::TestCa::new("serve-tls test CA");
    let leaf = ca.leaf(&["localhost", "127.0.0.1"]);
    let (c, k) = (dir.join("own-cert.pem"), dir.join("own-key.pem"));
    std::fs::write(&c, &leaf.cert_pem).unwrap();
    std::fs::write(&k, &leaf.key_pem).unwrap();
    let ca_pem = dir.join("ca.pem");
    ca.write_pem(&ca_pem);
    let args = [
        "--tls-cert",
        c.to_str().unwrap(),
        "--tls-key",
        k.to_str().unwrap(),
    ];
    let (served, addr) = serve(&bundle, &state, &args);
    let (status, text) = curl(
        &ca_pem,
        &format!("https://localhost:{}/files/blob.txt", addr.port()),
        &[],
    );
    assert_eq!(status, "HTTP/1.1 200 OK", "{text}");
    drop(served);

    // 4. A key that is not the certificate's: refused, exit 1, before listening.
    std::fs::write(&k, ca.leaf(&["other"]).key_pem).unwrap();
    let o = Command::new(cairn_bin())
        .args(["serve", "--bundle"])
        .arg(&bundle)
        .args(["--listen", "127.0.0.1:0", "--no-ntp", "--state-dir"])
        .arg(&state)
        .args(args)
        .env("CAIRN_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: the TLS certificate and key do not go together: "),
        "{err}"
    );
}
