//! `docker://` in a bundle spec against a REAL registry: Debian's `docker-registry`
//! (distribution 2.8) on loopback, over TLS with a certificate from a test CA (rcgen), behind
//! token authentication (`auth: token:`), as Docker Hub, ghcr.io or Harbor run it. The token
//! server is the test's: it answers the registry's `WWW-Authenticate: Bearer` challenge with a
//! JWT (ES256, signed with a key whose certificate the same CA issued, sent as `x5c`), which
//! the registry itself verifies against its `rootcertbundle` before it serves anything.
//!
//! The image is pushed first with skopeo (`--preserve-digests`, registry without auth), then the registry restarts
//! with token auth on the same storage and `cairn bundle build --ca-cert` pulls it: the stored
//! manifest is the pushed one (same digest), the token was asked for with the registry's own
//! service and scope, and never printed. An image the token server refuses to grant fails the
//! build with the realm's answer; a token signed under another CA is refused by the registry.
//!
//! Host use: none (the controller only, 127.0.0.1). Needs `docker-registry` and `skopeo`.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cairn_tests::oci::image_layout;
use cairn_tests::tls::{Leaf, TestCa, background, tls_front};
use cairn_tests::{cairn_bin, free_tcp_port, scratch};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SERVICE: &str = "cairn-test-registry";
const ISSUER: &str = "cairn-test-token-issuer";

/// The token server: grants `pull` on `lib/img`, for the registry's service; for `lib/forged`
/// it answers a token signed by a key of another CA (which the registry must refuse).
struct Tokens {
    signer: Leaf,
    forger: Leaf,
    queries: Mutex<Vec<String>>,
}

fn b64url(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// A JWT as distribution's `registry/auth/token` verifies it: ES256 over `header.claims`, the
/// signature as r||s, the signing certificate chain in `x5c`.
fn jwt(signer: &Leaf, repository: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({
        "typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&signer.cert_der)],
    });
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "", "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
        "iat": now, "jti": format!("cairn-test-{now}"),
        "access": [{"type": "repository", "name": repository, "actions": ["pull"]}],
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let rng = ring::rand::SystemRandom::new();
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &signer.key_pkcs8,
        &rng,
    )
    .unwrap();
    let sig = key.sign(&rng, signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64url(sig.as_ref()))
}

async fn token(State(t): State<Arc<Tokens>>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    t.queries.lock().unwrap().push(q.clone());
    let wanted = format!("service={SERVICE}&scope=repository%3Alib%2Fimg%3Apull");
    let forged = format!("service={SERVICE}&scope=repository%3Alib%2Fforged%3Apull");
    if q == wanted {
        serde_json::json!({"token": jwt(&t.signer, "lib/img"), "expires_in": 300})
            .to_string()
            .into_response()
    } else if q == forged {
        serde_json::json!({"token": jwt(&t.forger, "lib/forged")})
            .to_string()
            .into_response()
    } else {
        (StatusCode::FORBIDDEN, "no such grant").into_response()
    }
}

/// `docker-registry serve CONFIG`, stopped when dropped.
struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn registry(dir: &Path, name: &str, addr: SocketAddr, auth: &str) -> Registry {
    let config = dir.join(format!("{name}.yml"));
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {addr}\n  secret: cairn-test\n  tls:\n    certificate: {}\n    \
             key: {}\n{auth}",
            dir.join("storage").display(),
            dir.join("registry.crt").display(),
            dir.join("registry.key").display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("docker-registry (apt-get install docker-registry)");
    let registry = Registry(child);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "docker-registry did not listen on {addr}: {}",
            std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    registry
}

fn build(dir: &Path, spec: &str, args: &[&str]) -> Output {
    std::fs::write(dir.join("spec.yaml"), spec).unwrap();
    let mut cmd = Command::new(cairn_bin());
    cmd.args(["bundle", "build", "spec.yaml", "--out", "out"])
        .args(args)
        .current_dir(dir);
    for v in ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
        cmd.env_remove(v);
    }
    cmd.output().expect("run cairn bundle build")
}

#[test]
fn docker_images_come_from_a_real_registry_over_tls_with_token_auth() {
    let dir = scratch("bundle-pull-registry");
    std::fs::create_dir_all(dir.join("pb")).unwrap();
    let ca = TestCa::new("cairn test CA");
    ca.write_pem(&dir.join("ca.pem"));
    let leaf = ca.leaf(&["127.0.0.1"]);
    std::fs::write(dir.join("registry.crt"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.join("registry.key"), &leaf.key_pem).unwrap();
    // skopeo's --dest-cert-dir takes the CA as *.crt.
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    ca.write_pem(&dir.join("certs/ca.crt"));
    let digest = image_layout(&dir.join("img"), b"a layer kept by a real registry");
    let addr: SocketAddr = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"))
        .parse()
        .unwrap();

    // 1. Push with skopeo while the registry takes anonymous pushes.
    {
        let _open = registry(&dir, "open", addr, "");
        let o = Command::new("skopeo")
            .args(["copy", "--quiet", "--preserve-digests", "--dest-cert-dir"])
            .arg(dir.join("certs"))
            .arg(format!("oci:{}:1", dir.join("img").display()))
            .arg(format!("docker://{addr}/lib/img:1"))
            .output()
            .expect("skopeo");
        assert!(o.status.success(), "skopeo copy: {o:?}");
    }

    // 2. The same storage behind token auth; the token server over TLS from the same CA.
    let tokens = Arc::new(Tokens {
        signer: ca.leaf(&["cairn-test-token-issuer"]),
        forger: TestCa::new("another CA").leaf(&["cairn-test-token-issuer"]),
        queries: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/token", get(token))
        .with_state(tokens.clone());
    let plain = background(move |listener| async move {
        let _ = axum::serve(listener, app).await;
    });
    let realm = tls_front(ca.server_config(&["127.0.0.1"]), plain.addr);
    let _locked = registry(
        &dir,
        "token",
        addr,
        &format!(
            "auth:\n  token:\n    realm: https://{}/token\n    service: {SERVICE}\n    \
             issuer: {ISSUER}\n    rootcertbundle: {}\n",
            realm.addr,
            dir.join("ca.pem").display()
        ),
    );

    let spec = format!(
        "apiVersion: cairn/v1\nkind: Bundle\nname: pulled\nversion: '1'\nplaybooks: pb\n\
         images:\n  - from: docker://{addr}/lib/img:1\n    name: lib/img:1\n"
    );
    let o = build(&dir, &spec, &["--ca-cert", "ca.pem"]);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "build failed: {stderr}");
    // The path printed is relative to the build's directory.
    let bundle = dir.join(String::from_utf8_lossy(&o.stdout).trim());
    let bundle = bundle.to_str().unwrap();
    // The registry's own challenge named service and scope; the token was asked for once.
    assert_eq!(
        *tokens.queries.lock().unwrap(),
        [format!(
            "service={SERVICE}&scope=repository%3Alib%2Fimg%3Apull"
        )]
    );
    assert!(!stderr.contains("eyJ"), "a token was printed: {stderr}");
    let inspect = Command::new(cairn_bin())
        .args(["bundle", "inspect", "--json", bundle])
        .output()
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let hex = digest.trim_start_matches("sha256:");
    assert!(
        m["manifest"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == format!("images/blobs/sha256/{hex}")),
        "the pushed manifest {digest} is in the bundle: {m}"
    );
    let v = Command::new(cairn_bin())
        .args(["bundle", "verify", bundle])
        .output()
        .unwrap();
    assert!(v.status.success(), "{v:?}");

    // A repository the token server does not grant: the build fails with the realm's answer.
    let spec = spec.replace("/lib/img:1", "/lib/other:1");
    let o = build(&dir, &spec, &["--ca-cert", "ca.pem"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "images: lib/img:1: docker://{addr}/lib/other:1: token realm https://{}/token: \
             403 Forbidden",
            realm.addr
        )),
        "{err}"
    );

    // A token the registry cannot trust (signed under another CA): the registry refuses it.
    let spec = spec.replace("/lib/other:1", "/lib/forged:1");
    let o = build(&dir, &spec, &["--ca-cert", "ca.pem"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "images: lib/img:1: docker://{addr}/lib/forged:1: GET \
             https://{addr}/v2/lib/forged/manifests/1: 401 Unauthorized: "
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
