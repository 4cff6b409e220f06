//! The router without a socket: guards (401, 403), login, secrets never in responses.

use super::*;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

fn setup(dir: &std::path::Path) -> (Arc<Api>, String) {
    let (api, token) = Api::start(Setup {
        state_dir: dir.to_path_buf(),
        tls: false,
        bundle: None,
        bundle_path: None,
        playbooks: None,
    })
    .unwrap();
    (api, token.expect("a new token on a new store"))
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn post(path: &str, json: &str, cookie: Option<&str>, csrf: bool) -> Request<Body> {
    let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if csrf {
        b = b.header("x-cairn-csrf", "1");
    }
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(json.to_string())).unwrap()
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::empty()).unwrap()
}

async fn login(app: &Router, token: &str) -> String {
    let (status, headers, body) = send(
        app,
        post(
            "/api/login",
            &format!(r#"{{"token":"{token}"}}"#),
            None,
            true,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn guards_login_and_logout() {
    let dir = tempfile::tempdir().unwrap();
    let (api, token) = setup(dir.path());
    let app = router(api);
    // No session: 401 with a JSON error.
    let (s, _, body) = send(&app, get("/api/runs", None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body.contains(r#""code":"unauthorized""#), "{body}");
    // Wrong token: 401.
    let (s, _, _) = send(&app, post("/api/login", r#"{"token":"nope"}"#, None, true)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Login without the CSRF header: 403.
    let (s, _, body) = send(
        &app,
        post(
            "/api/login",
            &format!(r#"{{"token":"{token}"}}"#),
            None,
            false,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let cookie = login(&app, &token).await;
    let (s, _, body) = send(&app, get("/api/runs", Some(&cookie))).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, "[]");
    // A forged session id: 401.
    let (s, _, _) = send(&app, get("/api/runs", Some("cairn_session=00"))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Logged in but no CSRF header on a POST: 403.
    let (s, _, _) = send(&app, post("/api/logout", "", Some(&cookie), false)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = send(&app, post("/api/logout", "", Some(&cookie), true)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = send(&app, get("/api/runs", Some(&cookie))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the session ended server-side");
}

#[tokio::test]
async fn secrets_never_come_back_and_never_reach_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (api, token) = setup(dir.path());
    let app = router(api);
    let cookie = login(&app, &token).await;
    let secret = "s3cr3t-Pa55word-xyzzy";
    let (s, _, body) = send(
        &app,
        post(
            "/api/hosts",
            &format!(
                r#"{{"address":"10.213.0.[44:46]","name":"lab[44:46]","user":"ops","auth":{{"kind":"password","password":"{secret}"}},"become":true,"become_password":"{secret}"}}"#
            ),
            Some(&cookie),
            true,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert!(!body.contains(secret));
    for path in [
        "/api/hosts",
        "/api/wizard",
        "/api/cluster.yaml",
        "/api/roles",
    ] {
        let (s, _, body) = send(&app, get(path, Some(&cookie))).await;
        assert_eq!(s, StatusCode::OK, "{path}: {body}");
        assert!(!body.contains(secret), "{path}: {body}");
        if path == "/api/hosts" {
            assert!(body.contains(r#""secret_held":true"#), "{body}");
        }
    }
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds the secret",
                f.display()
            );
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "{} holds the token",
                f.display()
            );
        }
    }
}

#[tokio::test]
async fn every_documented_route_is_routed() {
    let dir = tempfile::tempdir().unwrap();
    let (api, token) = setup(dir.path());
    let app = router(api);
    let cookie = login(&app, &token).await;
    for (method, path, ..) in openapi::ROUTES {
        if *path == "/api/logout" || path.ends_with("/events") {
            continue;
        }
        let path = path.replace("{id}", "999");
        let req = Request::builder()
            .method(*method)
            .uri(&path)
            .header(header::COOKIE, &cookie)
            .header("x-cairn-csrf", "1")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let (s, _, body) = send(&app, req).await;
        assert!(
            !(s == StatusCode::METHOD_NOT_ALLOWED
                || (s == StatusCode::NOT_FOUND && body.is_empty())),
            "{method} {path}: {s} {body:?}"
        );
    }
}

/// The done page's downloads: 401 without a session, a 404 that says why before the install,
/// then the files as the install wrote them, never cached.
#[tokio::test]
async fn ca_and_kubeconfig_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let (api, token) = setup(dir.path());
    let name = api.wizard.snapshot().cluster.name;
    let app = router(api);
    let (s, _, _) = send(&app, get("/api/pki/ca.crt", None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let cookie = login(&app, &token).await;
    let (s, _, body) = send(&app, get("/api/pki/ca.crt", Some(&cookie))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let said: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        said["error"],
        format!("cluster {name:?} has no CA yet: it is made by the install's first run")
    );
    let (s, _, body) = send(&app, get("/api/pki/kubeconfig", Some(&cookie))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let pki = crate::pki::cluster_dir(dir.path(), &name);
    std::fs::create_dir_all(pki.join("kube")).unwrap();
    std::fs::write(pki.join("ca.crt"), "-----BEGIN CERTIFICATE-----\nx\n").unwrap();
    std::fs::write(
        pki.join("kube/admin.conf"),
        "apiVersion: v1\nkind: Config\n",
    )
    .unwrap();
    let (s, h, body) = send(&app, get("/api/pki/ca.crt", Some(&cookie))).await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::OK, "-----BEGIN CERTIFICATE-----\nx\n")
    );
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert_eq!(
        h[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"{name}-ca.crt\"").as_str()
    );
    let (s, _, body) = send(&app, get("/api/pki/kubeconfig", Some(&cookie))).await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::OK, "apiVersion: v1\nkind: Config\n")
    );
}

#[tokio::test]
async fn wrong_tokens_are_rate_limited_per_address() {
    use crate::serve::conn::ClientAddr;
    let dir = tempfile::tempdir().unwrap();
    let (api, token) = setup(dir.path());
    let app = router(api);
    let from = |addr: &str, token: &str| {
        let mut r = post(
            "/api/login",
            &format!(r#"{{"token":"{token}"}}"#),
            None,
            true,
        );
        r.extensions_mut().insert(ClientAddr(addr.parse().unwrap()));
        r
    };
    for _ in 0..throttle::FAILURES {
        let (s, _, _) = send(&app, from("10.1.1.1:4000", "guess")).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    // Blocked: even the right token is not checked from there.
    for t in ["guess", token.as_str()] {
        let (s, headers, body) = send(&app, from("10.1.1.1:4001", t)).await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
        let wait: u64 = headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(body.contains(r#""code":"too_many_attempts""#), "{body}");
        assert!(
            body.contains(&format!(
                "too many wrong tokens from this address: wait {wait} s before trying again"
            )),
            "{body}"
        );
    }
    // Another address logs in.
    let (s, _, body) = send(&app, from("10.1.1.2:4000", &token)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

/// A fresh ed25519 key from `ssh-keygen` (encrypted with `passphrase` when not empty): its
/// private text, public line and `SHA256:` fingerprint.
fn keygen(dir: &std::path::Path, name: &str, passphrase: &str) -> (String, String, String) {
    let path = dir.join(name);
    let run = |args: &[&str]| {
        let o = std::process::Command::new("ssh-keygen")
            .args(args)
            .output()
            .expect("ssh-keygen (openssh-client) is installed");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let p = path.to_str().unwrap();
    run(&["-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f", p]);
    let fp = run(&["-l", "-E", "sha256", "-f", &format!("{p}.pub")]);
    (
        std::fs::read_to_string(&path).unwrap(),
        std::fs::read_to_string(format!("{p}.pub")).unwrap(),
        fp.split_whitespace().nth(1).unwrap().to_string(),
    )
}

#[tokio::test]
async fn pasted_keys_are_checked_kept_in_memory_and_shown_by_fingerprint_only() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (api, token) = setup(dir.path());
    let app = router(api);
    let cookie = login(&app, &token).await;
    let (plain, public, _) = keygen(keys.path(), "plain", "");
    let (locked, _, locked_fp) = keygen(keys.path(), "locked", "open sesame");
    let add = |key: &str, passphrase: Option<&str>, name: &str| {
        let auth =
            serde_json::json!({ "kind": "key", "private_key": key, "passphrase": passphrase });
        post(
            "/api/hosts",
            &serde_json::json!({ "address": "10.213.0.67", "name": name, "user": "root", "auth": auth })
                .to_string(),
            Some(&cookie),
            true,
        )
    };
    let body_of_line = plain.lines().nth(1).unwrap().to_string();
    for (key, pass, message) in [
        (
            public.as_str(),
            None,
            "the private key: this is a public key, not a private key: give the private key (the \
             file without .pub, starting with -----BEGIN OPENSSH PRIVATE KEY-----)",
        ),
        (
            "hello",
            None,
            "the private key: this is not a private key: expected the text of an OpenSSH private \
             key (-----BEGIN OPENSSH PRIVATE KEY-----) or a PEM one (-----BEGIN RSA/EC/ENCRYPTED \
             PRIVATE KEY-----)",
        ),
        (
            locked.as_str(),
            None,
            "the private key: the key is encrypted and no passphrase was given (give its \
             passphrase: auth.passphrase_env / auth.passphrase_file in cluster.yaml, \
             cairn_key_passphrase_env in an inventory, or the passphrase field in the console)",
        ),
        (
            locked.as_str(),
            Some("not it"),
            "the private key: cannot decrypt it: wrong passphrase? (the passphrase given does \
             not open this key)",
        ),
    ] {
        let (s, _, body) = send(&app, add(key, pass, "lab57")).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let e: cairn_protocol::api::ApiError = serde_json::from_str(&body).unwrap();
        assert_eq!(e.error, message);
        for line in key.lines().filter(|l| l.len() > 20) {
            assert!(!body.contains(line), "the error quotes the key: {body}");
        }
    }
    let (s, _, body) = send(&app, add(&locked, Some("open sesame"), "lab57")).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let hosts: Vec<cairn_protocol::api::HostView> = serde_json::from_str(&body).unwrap();
    assert_eq!(hosts[0].auth_kind, "key");
    assert_eq!(
        hosts[0].key_fingerprint.as_deref(),
        Some(locked_fp.as_str())
    );
    assert!(hosts[0].secret_held && !hosts[0].secret_missing, "{body}");
    let (s, _, body) = send(&app, add(&plain, None, "lab58")).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    let locked_line = locked.lines().nth(1).unwrap().to_string();
    for path in ["/api/hosts", "/api/wizard", "/api/cluster.yaml"] {
        let (s, _, body) = send(&app, get(path, Some(&cookie))).await;
        assert_eq!(s, StatusCode::OK, "{path}: {body}");
        for needle in [&locked_line, &body_of_line, "open sesame"] {
            assert!(!body.contains(needle), "{path} returned a secret: {body}");
        }
    }
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            let bytes = std::fs::read(&f).unwrap();
            for needle in [&locked_line, &body_of_line, "open sesame"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{} holds a secret",
                    f.display()
                );
            }
        }
    }
}

#[tokio::test]
async fn fix_only_takes_only_ids_with_a_safe_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let (api, token) = setup(dir.path());
    let app = router(api);
    let cookie = login(&app, &token).await;
    // Never passed on as a flag of the CLI (e.g. one that trusts any host key).
    for bad in ["--accept-new-host-keys", "memory", "sysctl:x,--fix"] {
        let (status, _, body) = send(
            &app,
            post(
                "/api/preflight",
                &format!(r#"{{"fix_only":["{bad}"]}}"#),
                Some(&cookie),
                true,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["error"],
            format!(
                "{bad:?} has no safe remedy: Fix applies only to sysctl:*, module:*, swap, swap_fstab and time_sync"
            )
        );
    }
}
