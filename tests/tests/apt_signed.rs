//! The signed apt repository with real apt: a bundle holding a package built here with
//! `dpkg-deb`, served by `cairn serve --apt-key` on the lab bridge; lab18's apt gets the public
//! key from `/repo/deb/cairn.gpg` (fetched here, copied over SSH: hosts have no curl) and uses
//! the repository with `signed-by=` and WITHOUT `trusted=yes`: `apt-get update` verifies
//! `InRelease` with gpgv and the package installs. With another key's keyring apt refuses the
//! repository (NO_PUBKEY), so the check is real. A mirror in the test that serves the same
//! files with one byte of the signed text changed (`InRelease`; or, with no `InRelease`,
//! `Release` beside the untouched `Release.gpg`) is refused by apt (BADSIG) and the package is
//! then not installable. A `--apt-key` that is not a key is refused.
//!
//! Host use: lab18 only (an apt source, a keyring and the test package; all removed again).

use cairn_tests::{BRIDGE, Lab, Served, cairn_bin, free_tcp_port, scratch};
use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

const HOST: &str = "lab18";
const PKG: &str = "cairn-signed-test";

/// A tiny `.deb` (one file, no dependencies) made with dpkg-deb.
fn make_deb(dir: &Path) -> PathBuf {
    let root = dir.join("pkg");
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/cairn-signed-test")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {PKG}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Cairn tests \
             <cairn@localhost>\nDescription: signed apt repository test package\n"
        ),
    )
    .unwrap();
    std::fs::write(root.join("usr/share/cairn-signed-test/hello"), "hello\n").unwrap();
    std::fs::create_dir_all(dir.join("debs")).unwrap();
    let deb = dir.join(format!("debs/{PKG}_1.0-1_all.deb"));
    let o = Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb)
        .output()
        .expect("dpkg-deb");
    assert!(o.status.success(), "{o:?}");
    deb
}

fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, raw[split + 4..].to_vec())
}

fn b64(b: &[u8]) -> String {
    let o = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8(o.stdout).unwrap()
}

/// Flips one hex digit in the first line after `SHA256:` (the `Packages` digest an attacker
/// would replace) of a `Release` text, signed or not.
fn tamper(release: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(release.to_vec()).unwrap();
    let at = text.find("SHA256:\n").expect("a SHA256 section") + "SHA256:\n ".len();
    let mut bytes = text.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    assert_ne!(bytes, release);
    bytes
}

/// A static HTTP server on the lab bridge answering each path of `files` (with `/./` as `/`)
/// and 404 otherwise: the repository as a mirror an attacker controls would serve it. Runs
/// on the test's runtime, while the test awaits.
async fn mirror(files: HashMap<String, Vec<u8>>) -> SocketAddr {
    use axum::http::{StatusCode, Uri};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind((BRIDGE, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let files = std::sync::Arc::new(files);
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let files = files.clone();
        async move {
            match files.get(&uri.path().replace("/./", "/")) {
                Some(b) => b.clone().into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test]
async fn apt_verifies_the_signed_repository_without_trusted_yes() {
    let lab = Lab::from_env();
    let dir = scratch("apt-signed");
    make_deb(&dir);
    std::fs::write(
        dir.join("s.yaml"),
        "apiVersion: cairn/v1\nkind: Bundle\nname: signed\nversion: '1'\ndebs:\n  dirs: [debs]\n",
    )
    .unwrap();
    let o = Command::new(cairn_bin())
        .args(["bundle", "build", "s.yaml", "--out", "."])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let bundle = dir.join("signed-1.cairn");

    // A --apt-key that is not a key: refused before anything listens.
    std::fs::write(dir.join("bad.asc"), "not a key\n").unwrap();
    let addr: SocketAddr = format!("{BRIDGE}:{}", free_tcp_port(BRIDGE))
        .parse()
        .unwrap();
    let o = Command::new(cairn_bin())
        .args([
            "serve",
            "--no-ntp",
            "--listen",
            &addr.to_string(),
            "--apt-key",
        ])
        .arg(dir.join("bad.asc"))
        .arg("--bundle")
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!(
            "error: apt signing key {}: not an OpenPGP secret key: ",
            dir.join("bad.asc").display()
        )),
        "{err}"
    );

    // Another key, for the negative case: its keyring must not open the repository.
    let other = Served::start(
        &bundle,
        addr,
        &[
            "--no-ntp",
            "--apt-key",
            dir.join("other.asc").to_str().unwrap(),
        ],
    );
    let (status, other_keyring) = get(addr, "/repo/deb/cairn.gpg");
    assert_eq!(status, 200);
    drop(other);

    let addr: SocketAddr = format!("{BRIDGE}:{}", free_tcp_port(BRIDGE))
        .parse()
        .unwrap();
    let key = dir.join("apt.asc");
    let server = Served::start(
        &bundle,
        addr,
        &["--no-ntp", "--apt-key", key.to_str().unwrap()],
    );
    let (status, keyring) = get(addr, "/repo/deb/cairn.gpg");
    assert_eq!(status, 200);
    assert_ne!(keyring, other_keyring);
    let (status, in_release) = get(addr, "/repo/deb/InRelease");
    assert_eq!(status, 200);
    let in_release = String::from_utf8(in_release).unwrap();
    assert!(in_release.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n"));
    assert!(in_release.contains("SHA256:\n"), "{in_release}");
    assert_eq!(get(addr, "/repo/deb/Release.gpg").0, 200);

    // The repository as it is served, for the tampering mirrors.
    let deb_path = format!("/repo/deb/debs/{PKG}_1.0-1_all.deb");
    let mut served = HashMap::new();
    for p in [
        "/repo/deb/InRelease",
        "/repo/deb/Release",
        "/repo/deb/Release.gpg",
        "/repo/deb/Packages",
        "/repo/deb/Packages.gz",
        deb_path.as_str(),
    ] {
        let (status, body) = get(addr, p);
        assert_eq!(status, 200, "{p}");
        served.insert(p.to_string(), body);
    }
    // InRelease with one byte of its signed text changed.
    let mut bad_inrelease = served.clone();
    bad_inrelease.insert(
        "/repo/deb/InRelease".into(),
        tamper(&served["/repo/deb/InRelease"]),
    );
    // No InRelease (apt falls back to Release + Release.gpg), Release changed.
    let mut bad_release = served.clone();
    bad_release.remove("/repo/deb/InRelease");
    bad_release.insert(
        "/repo/deb/Release".into(),
        tamper(&served["/repo/deb/Release"]),
    );
    let bad_inrelease = mirror(bad_inrelease).await;
    let bad_release = mirror(bad_release).await;

    let c = lab.connect(&dir, HOST, "root").await;
    let list = "/etc/apt/sources.list.d/cairn-signed-test.list";
    let ring = "/etc/apt/keyrings/cairn-signed-test.gpg";
    let source = format!("deb [signed-by={ring}] http://{addr}/repo/deb ./");
    // With the wrong keyring: apt refuses the repository.
    let wrong = c
        .run(&format!(
            "set -e; mkdir -p /etc/apt/keyrings; echo {} | base64 -d > {ring}; \
             echo '{source}' > {list}; apt-get update 2>&1",
            b64(&other_keyring)
        ))
        .await
        .unwrap();
    // With the right keyring but a tampered InRelease, then a tampered Release: apt refuses
    // the repository, and the package is not installable from it.
    let mut tampered = Vec::new();
    for m in [bad_inrelease, bad_release] {
        let r = c
            .run(&format!(
                "echo {} | base64 -d > {ring}; \
                 echo 'deb [signed-by={ring}] http://{m}/repo/deb ./' > {list}; \
                 apt-get update 2>&1; echo update-exit=$?; \
                 DEBIAN_FRONTEND=noninteractive apt-get install -y {PKG} 2>&1; \
                 echo install-exit=$?",
                b64(&keyring)
            ))
            .await
            .unwrap();
        tampered.push((m, r.stdout_str().to_string()));
    }
    c.run(&format!("echo '{source}' > {list}")).await.unwrap();
    // With the right one: update verifies InRelease, the package installs.
    let right = c
        .run(&format!(
            "set -e; echo {} | base64 -d > {ring}; apt-get update 2>&1; \
             DEBIAN_FRONTEND=noninteractive apt-get install -y {PKG} 2>&1; dpkg -s {PKG}",
            b64(&keyring)
        ))
        .await
        .unwrap();
    let cleanup = c
        .run(&format!(
            "DEBIAN_FRONTEND=noninteractive apt-get purge -y {PKG} 2>&1; rm -f {list} {ring}; \
             apt-get update 2>&1; ! dpkg -s {PKG} >/dev/null 2>&1"
        ))
        .await
        .unwrap();

    let wrong_out = wrong.stdout_str().to_string();
    assert!(
        wrong_out.contains("NO_PUBKEY") || !wrong.success(),
        "apt accepted a repository signed by another key:\n{wrong_out}"
    );
    assert!(
        wrong_out.contains("is not signed") || wrong_out.contains("NO_PUBKEY"),
        "{wrong_out}"
    );
    for (m, out) in &tampered {
        assert!(
            out.contains("BADSIG") && out.contains("update-exit=100"),
            "apt accepted a tampered repository at {m}:\n{out}"
        );
        assert!(
            out.contains(&format!("E: Unable to locate package {PKG}"))
                && out.contains("install-exit=100"),
            "{out}"
        );
    }
    let right_out = right.stdout_str().to_string();
    assert!(right.success(), "{right_out}\n{}", right.stderr_str());
    assert!(
        right_out.contains("Status: install ok installed"),
        "{right_out}"
    );
    assert!(
        !right_out.contains("NO_PUBKEY") && !right_out.contains("W: GPG error"),
        "{right_out}"
    );
    assert!(cleanup.success(), "{}", cleanup.stdout_str());
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("GET /repo/deb/./InRelease 200"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
