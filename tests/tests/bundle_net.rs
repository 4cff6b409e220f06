//! `cairn bundle build` over the network, on loopback only: `files:` and `rpms.urls` from
//! http:// and https:// URLs and `docker://` images over HTTPS, from a first bundle served by
//! `cairn serve` behind a TLS front end whose certificate comes from a test CA (rcgen), trusted
//! with `--ca-cert`; the anonymous Bearer-token flow against a fake registry over TLS; the
//! HTTPS proxy from the environment (a CONNECT proxy in the test); and the refusals: an
//! untrusted certificate, a sha256 mismatch (nothing left in the output directory), a 404, a
//! `--ca-cert` that is not PEM.
//!
//! Host use: none (the controller only, 127.0.0.1). No lab and no root needed.

use axum::Router;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_tests::oci::{OCI_MANIFEST, image_layout as oci_image};
use cairn_tests::tls::{TestCa, background, connect_proxy, tls_front};
use cairn_tests::{Served, cairn_bin, free_tcp_port, repo_root, scratch};
use sha2::{Digest as _, Sha256};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// `cairn bundle build SPEC --out OUT ARGS`, with no proxy from the test's environment (CI
/// machines may have one; these tests talk to loopback only) plus `env`.
fn build(dir: &Path, spec: &str, out: &Path, args: &[&str], env: &[(&str, String)]) -> Output {
    std::fs::write(dir.join("spec.yaml"), spec).unwrap();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["bundle", "build"])
        .arg(dir.join("spec.yaml"))
        .arg("--out")
        .arg(out)
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1795406400");
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run cairn bundle build")
}

fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "build failed: {err}");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The one `error:` line of a failed build, with the spec path prefix removed.
fn error_of(o: &Output, spec: &Path) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {err}"));
    line.replacen(&format!("error: {}: ", spec.display()), "", 1)
}

fn manifest(bundle: &Path) -> serde_json::Value {
    let o = Command::new(cairn_bin())
        .args(["bundle", "inspect", "--json"])
        .arg(bundle)
        .output()
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["manifest"].clone()
}

fn entry_sha(m: &serde_json::Value, path: &str) -> Option<String> {
    m["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == path)
        .map(|e| e["sha256"].as_str().unwrap().to_string())
}

const RPM: &str = "cairn-min-1-1.noarch.rpm";

/// Bundle A (a file, an RPM as a file, an image) built from local inputs and served on
/// loopback; a TLS front end with a certificate for 127.0.0.1 and `tls.example` in front.
struct Origin {
    _served: Served,
    _front: cairn_tests::tls::Background,
    http: SocketAddr,
    https: SocketAddr,
    file: Vec<u8>,
    rpm: Vec<u8>,
    image_digest: String,
}

fn origin(dir: &Path, ca: &TestCa) -> Origin {
    let file: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(dir.join("kubeadm"), &file).unwrap();
    let rpm = std::fs::read(repo_root().join("bundle/src/repodata/fixtures").join(RPM)).unwrap();
    std::fs::write(dir.join(RPM), &rpm).unwrap();
    let image_digest = oci_image(&dir.join("img"), b"layer bytes of the test image");
    std::fs::create_dir_all(dir.join("pb")).unwrap();
    let spec = format!(
        "apiVersion: cairn/v1\nkind: Bundle\nname: origin\nversion: '1'\nplaybooks: pb\n\
         files:\n  - path: kubeadm\n    sha256: {}\n  - path: {RPM}\n    sha256: {}\n\
         images:\n  - from: oci:img:1\n    name: lib/img:1\n",
        sha(&file),
        sha(&rpm)
    );
    let bundle = ok(&build(dir, &spec, &dir.join("a"), &[], &[]));
    let http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"))
        .parse()
        .unwrap();
    let served = Served::start(Path::new(&bundle), http, &["--no-ntp"]);
    let front = tls_front(ca.server_config(&["127.0.0.1", "tls.example"]), http);
    Origin {
        https: front.addr,
        _served: served,
        _front: front,
        http,
        file,
        rpm,
        image_digest,
    }
}

#[test]
fn files_rpms_and_images_come_over_http_and_https() {
    let dir = scratch("bundle-net-ok");
    let ca = TestCa::new("cairn test CA");
    ca.write_pem(&dir.join("ca.pem"));
    let o = origin(&dir, &ca);
    let https = o.https;
    let spec = format!(
        "apiVersion: cairn/v1\nkind: Bundle\nname: fetched\nversion: '1'\nplaybooks: pb\n\
         files:\n  - url: https://{https}/files/kubeadm\n    sha256: {}\n\
         \x20 - url: http://{}/files/kubeadm\n    sha256: {}\n    name: kubeadm-plain\n\
         rpms:\n  urls:\n    - url: https://{https}/files/{RPM}\n      sha256: {}\n\
         images:\n  - from: docker://{https}/lib/img:1\n    name: mirror/img:1\n",
        sha(&o.file),
        o.http,
        sha(&o.file),
        sha(&o.rpm)
    );
    let out = dir.join("b");
    let ca_arg = dir.join("ca.pem").display().to_string();
    let bundle = ok(&build(&dir, &spec, &out, &["--ca-cert", &ca_arg], &[]));
    let m = manifest(Path::new(&bundle));
    assert_eq!(entry_sha(&m, "files/kubeadm"), Some(sha(&o.file)));
    assert_eq!(entry_sha(&m, "files/kubeadm-plain"), Some(sha(&o.file)));
    assert_eq!(
        entry_sha(&m, &format!("rpms/Packages/{RPM}")),
        Some(sha(&o.rpm))
    );
    assert!(entry_sha(&m, "rpms/repodata/repomd.xml").is_some());
    let hex = o.image_digest.trim_start_matches("sha256:");
    assert!(
        entry_sha(&m, &format!("images/blobs/sha256/{hex}")).is_some(),
        "the pulled manifest is stored under its digest: {m}"
    );
    let v = Command::new(cairn_bin())
        .args(["bundle", "verify", &bundle])
        .output()
        .unwrap();
    assert!(v.status.success(), "{v:?}");
    // Only the bundle is left in the output directory: no scratch, no partial file.
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["fetched-1.cairn"]);

    // Without --ca-cert the test CA is not trusted: refused, and the message says what to do.
    let out = dir.join("c");
    let spec = format!(
        "apiVersion: cairn/v1\nkind: Bundle\nname: untrusted\nversion: '1'\nplaybooks: pb\n\
         files:\n  - url: https://{https}/files/kubeadm\n    sha256: {}\n",
        sha(&o.file)
    );
    let e = error_of(&build(&dir, &spec, &out, &[], &[]), &dir.join("spec.yaml"));
    assert_eq!(
        e,
        format!(
            "files: https://{https}/files/kubeadm: download failed: error sending request: client \
             error (Connect): invalid peer certificate: UnknownIssuer (if the server's certificate \
             is issued by a private CA, pass that CA's certificate with --ca-cert FILE)"
        )
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);

    // The same for an image: the registry's certificate is checked too.
    let spec = format!(
        "apiVersion: cairn/v1\nkind: Bundle\nname: untrusted\nversion: '1'\nplaybooks: pb\n\
         images:\n  - from: docker://{https}/lib/img:1\n    name: mirror/img:1\n"
    );
    let e = error_of(&build(&dir, &spec, &out, &[], &[]), &dir.join("spec.yaml"));
    assert_eq!(
        e,
        format!(
            "images: mirror/img:1: docker://{https}/lib/img:1: GET https://{https}/v2/lib/img/manifests/1: \
             error sending request: client error (Connect): invalid peer certificate: \
             UnknownIssuer (if the server's certificate is issued by a private CA, pass that \
             CA's certificate with --ca-cert FILE)"
        )
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);

    // A sha256 that does not match what the server sends: refused naming the URL, expected
    // and got; nothing is left in the output directory.
    let wrong = "0".repeat(64);
    let spec = format!(
        "apiVersion: cairn/v1\nkind: Bundle\nname: wrong\nversion: '1'\nplaybooks: pb\n\
         files:\n  - url: https://{https}/files/kubeadm\n    sha256: {wrong}\n"
    );
    let e = error_of(
        &build(&dir, &spec, &out, &["--ca-cert", &ca_arg], &[]),
        &dir.join("spec.yaml"),
    );
    assert_eq!(
        e,
        format!(
            "files: https://{https}/files/kubeadm: sha256 mismatch: expected {wrong} (the spec), \
             got {} (300000 bytes downloaded, not kept)",
            sha(&o.file)
        )
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);

    // A URL the server does not have.
    let spec = format!(
        "apiVersion: cairn/v1\nkind: Bundle\nname: missing\nversion: '1'\nplaybooks: pb\n\
         rpms:\n  urls:\n    - url: http://{}/files/nothing.rpm\n      sha256: {wrong}\n",
        o.http
    );
    let e = error_of(&build(&dir, &spec, &out, &[], &[]), &dir.join("spec.yaml"));
    assert_eq!(
        e,
        format!(
            "rpms.urls: http://{}/files/nothing.rpm: download failed: the server answered 404 Not Found",
            o.http
        )
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);

    // HTTPS_PROXY from the environment is used: the host name does not even resolve, only the
    // proxy (tunnelling to the TLS front end) can reach it.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = connect_proxy(https, seen.clone());
    let spec = format!(
        "apiVersion: cairn/v1\nkind: Bundle\nname: proxied\nversion: '1'\nplaybooks: pb\n\
         files:\n  - url: https://tls.example/files/kubeadm\n    sha256: {}\n",
        sha(&o.file)
    );
    let bundle = ok(&build(
        &dir,
        &spec,
        &dir.join("d"),
        &["--ca-cert", &ca_arg],
        &[("HTTPS_PROXY", format!("http://{}", proxy.addr))],
    ));
    assert_eq!(
        entry_sha(&manifest(Path::new(&bundle)), "files/kubeadm"),
        Some(sha(&o.file))
    );
    assert_eq!(*seen.lock().unwrap(), ["tls.example:443"]);

    // A --ca-cert that holds no certificate.
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let o = build(
        &dir,
        &spec,
        &out,
        &["--ca-cert", not_pem.to_str().unwrap()],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim(),
        format!(
            "error: --ca-cert {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            not_pem.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A registry that wants an anonymous Bearer token (as Docker Hub or ghcr.io do): 401 with a
/// challenge naming realm, service and scope; the token only for that service and scope.
struct Fake {
    realm: OnceLock<String>,
    manifest: Vec<u8>,
    blobs: Vec<(String, Vec<u8>)>,
    token_queries: Mutex<Vec<String>>,
}

async fn token(State(f): State<Arc<Fake>>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    f.token_queries.lock().unwrap().push(q.clone());
    if q == "service=fake.registry&scope=repository%3Alib%2Fimg%3Apull" {
        r#"{"token":"secret-t0ken","expires_in":300}"#.into_response()
    } else {
        (StatusCode::FORBIDDEN, "wrong scope").into_response()
    }
}

async fn v2(State(f): State<Arc<Fake>>, UrlPath(p): UrlPath<String>, h: HeaderMap) -> Response {
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer secret-t0ken") {
        let challenge = format!(
            "Bearer realm=\"{}\",service=\"fake.registry\",scope=\"repository:lib/img:pull\"",
            f.realm.get().unwrap()
        );
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", challenge)],
            r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
        )
            .into_response();
    }
    if p == "lib/img/manifests/1" {
        return ([("content-type", OCI_MANIFEST)], f.manifest.clone()).into_response();
    }
    match p.strip_prefix("lib/img/blobs/sha256:") {
        Some(hex) => match f.blobs.iter().find(|(h, _)| h == hex) {
            Some((_, b)) => b.clone().into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[test]
fn images_over_https_with_the_bearer_token_flow() {
    let dir = scratch("bundle-net-bearer");
    std::fs::create_dir_all(dir.join("pb")).unwrap();
    let ca = TestCa::new("cairn test CA");
    ca.write_pem(&dir.join("ca.pem"));
    let layout = dir.join("img");
    let digest = oci_image(&layout, b"a layer behind a token");
    let blobs: Vec<(String, Vec<u8>)> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    let hex = digest.trim_start_matches("sha256:");
    let manifest_bytes = blobs.iter().find(|(h, _)| h == hex).unwrap().1.clone();
    let fake = Arc::new(Fake {
        realm: OnceLock::new(),
        manifest: manifest_bytes,
        blobs,
        token_queries: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/token", get(token))
        .route("/v2/{*p}", get(v2))
        .with_state(fake.clone());
    let plain = background(move |listener| async move {
        let _ = axum::serve(listener, app).await;
    });
    let front = tls_front(ca.server_config(&["127.0.0.1"]), plain.addr);
    fake.realm
        .set(format!("https://{}/token", front.addr))
        .unwrap();

    let spec = format!(
        "apiVersion: cairn/v1\nkind: Bundle\nname: bearer\nversion: '1'\nplaybooks: pb\n\
         images:\n  - from: docker://{}/lib/img:1\n    name: lib/img:1\n",
        front.addr
    );
    let ca_arg = dir.join("ca.pem").display().to_string();
    let o = build(&dir, &spec, &dir.join("out"), &["--ca-cert", &ca_arg], &[]);
    let bundle = ok(&o);
    // The token is asked for once, for the challenge's service and scope, and never printed.
    assert_eq!(
        *fake.token_queries.lock().unwrap(),
        ["service=fake.registry&scope=repository%3Alib%2Fimg%3Apull"]
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("secret-t0ken"));
    let m = manifest(Path::new(&bundle));
    assert!(entry_sha(&m, &format!("images/blobs/sha256/{hex}")).is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
