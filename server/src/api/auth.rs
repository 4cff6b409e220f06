//! Who may use the API: the admin token, sessions, and the CSRF guard.
//!
//! - The admin token is 32 random bytes (hex), made on the first start and printed once on
//!   stderr, or taken from `CAIRN_ADMIN_TOKEN`; the store keeps only `sha256(salt || token)`
//!   (a random 16-byte salt). A 256-bit random token needs no slow hash: guessing it is
//!   hopeless either way; the salt keeps two installs' hashes apart.
//! - `POST /api/login {token}` checks it in constant time (wrong ones rate limited per address:
//!   `throttle`) and sets the session cookie
//!   (`HttpOnly; SameSite=Strict; Path=/`, `Secure` under TLS). The session id is 32 random
//!   bytes; the store keeps its SHA-256 and expiry, so a copy of the database cannot log in.
//! - Every `/api` route but login and the OpenAPI document needs a live session (401).
//! - Every non-GET/HEAD request needs `X-Cairn-Csrf: 1` and, when the browser sends `Origin`,
//!   the server's own origin (403): a cross-site page can neither set the header nor pass the
//!   Origin check, and SameSite=Strict keeps the cookie off cross-site requests anyway.
//!
//! Must not: log or return the token or a session id (only the first start prints the token).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cairn_protocol::api::{CSRF_HEADER, LoginRequest, SESSION_COOKIE, Session};
use sha2::{Digest, Sha256};

use super::Api;
use super::error::{Error, Result};
use crate::serve::conn::ClientAddr;
use crate::store::api_state::TokenHash;

/// How long a session lasts.
pub const SESSION_MS: i64 = 12 * 3600 * 1000;
/// The environment variable that sets the admin token.
pub const TOKEN_ENV: &str = "CAIRN_ADMIN_TOKEN";

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("the OS random source");
    hex::encode(b)
}

pub fn hash_token(salt: &str, token: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

fn session_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Equal without an early exit, so the time taken says nothing about where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token hash to check logins against: from `env_token` when given (stored, replacing any
/// other), else the stored one, else a new token made, stored and returned to be printed once.
pub fn setup_token(
    store: &crate::store::Store,
    env_token: Option<String>,
) -> std::result::Result<(TokenHash, Option<String>), crate::store::StoreError> {
    if let Some(t) = env_token.filter(|t| !t.is_empty()) {
        let salt = random_hex(16);
        let th = TokenHash {
            hash: hash_token(&salt, &t),
            salt,
        };
        store.set_admin_token(&th)?;
        return Ok((th, None));
    }
    if let Some(th) = store.admin_token()? {
        return Ok((th, None));
    }
    let token = random_hex(32);
    let salt = random_hex(16);
    let th = TokenHash {
        hash: hash_token(&salt, &token),
        salt,
    };
    store.set_admin_token(&th)?;
    Ok((th, Some(token)))
}

pub fn token_matches(th: &TokenHash, token: &str) -> bool {
    constant_time_eq(hash_token(&th.salt, token).as_bytes(), th.hash.as_bytes())
}

/// The session cookie's value, if the request has one.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

pub async fn login(
    State(api): State<Arc<Api>>,
    client: Option<Extension<ClientAddr>>,
    Json(req): Json<LoginRequest>,
) -> Result<Response> {
    let addr = client.map(|Extension(ClientAddr(a))| a.ip());
    let now = std::time::Instant::now();
    if let Err(wait) = api.throttle.check(addr, now) {
        let mut resp = Error::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            super::throttle::message(wait),
        )
        .into_response();
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
        return Ok(resp);
    }
    if !token_matches(&api.token, &req.token) {
        api.throttle.failed(addr, now);
        tracing::warn!(
            "api: login refused: wrong token from {}",
            addr.map_or_else(|| "an unknown address".to_string(), |a| a.to_string())
        );
        return Err(Error::unauthorized(
            "wrong token: use the admin token cairn serve printed at its first start (or CAIRN_ADMIN_TOKEN)",
        ));
    }
    api.throttle.succeeded(addr);
    let id = random_hex(32);
    let expires_ms = crate::store::now_ms() + SESSION_MS;
    api.store()?.add_session(&session_hash(&id), expires_ms)?;
    let secure = if api.tls { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        SESSION_MS / 1000
    );
    let mut resp = Json(Session { expires_ms }).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("hex and ASCII"),
    );
    Ok(resp)
}

pub async fn logout(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Response> {
    if let Some(id) = session_cookie(&headers) {
        api.store()?.remove_session(&session_hash(&id))?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        ))
        .expect("ASCII"),
    );
    Ok(resp)
}

pub async fn session(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Json<Session>> {
    let expires_ms = live_session(&api, &headers)?
        .ok_or_else(|| Error::unauthorized("not logged in: POST /api/login"))?;
    Ok(Json(Session { expires_ms }))
}

fn live_session(api: &Api, headers: &HeaderMap) -> Result<Option<i64>> {
    match session_cookie(headers) {
        Some(id) => Ok(api.store()?.session(&session_hash(&id))?),
        None => Ok(None),
    }
}

/// Routes that need no session.
fn is_public(path: &str) -> bool {
    path == "/api/login" || path == "/api/openapi.json"
}

/// The session guard for every `/api` route but [`is_public`] ones.
pub async fn require_session(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    if is_public(req.uri().path()) {
        return next.run(req).await;
    }
    match live_session(&api, req.headers()) {
        Ok(Some(_)) => next.run(req).await,
        Ok(None) => Error::unauthorized("not logged in (or the session expired): POST /api/login")
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Why a request is refused as a possible cross-site request, if it is.
pub fn csrf_refusal(method: &Method, headers: &HeaderMap, tls: bool) -> Option<&'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1") {
        return Some("missing X-Cairn-Csrf: 1 header (every non-GET API request needs it)");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let scheme = if tls { "https" } else { "http" };
        let ok = match (origin.to_str().ok(), host) {
            (Some(o), Some(h)) => o == format!("{scheme}://{h}"),
            _ => false,
        };
        if !ok {
            return Some("cross-origin request refused (Origin is not this server)");
        }
    }
    None
}

pub async fn csrf_guard(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    match csrf_refusal(req.method(), req.headers(), api.tls) {
        Some(why) => {
            tracing::warn!("api: {} {} refused: {why}", req.method(), req.uri().path());
            Error::csrf(why).into_response()
        }
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    /// (method, headers, over TLS, the refusal expected (a part of it) or None).
    type Case = (
        Method,
        &'static [(&'static str, &'static str)],
        bool,
        Option<&'static str>,
    );

    #[test]
    fn csrf_cases() {
        let cases: &[Case] = &[
            (Method::GET, &[], false, None),
            (Method::POST, &[], false, Some("missing X-Cairn-Csrf")),
            (
                Method::POST,
                &[("x-cairn-csrf", "0")],
                false,
                Some("missing"),
            ),
            (Method::POST, &[("x-cairn-csrf", "1")], false, None),
            (
                Method::POST,
                &[
                    ("x-cairn-csrf", "1"),
                    ("host", "h:1"),
                    ("origin", "http://h:1"),
                ],
                false,
                None,
            ),
            (
                Method::POST,
                &[
                    ("x-cairn-csrf", "1"),
                    ("host", "h:1"),
                    ("origin", "http://evil"),
                ],
                false,
                Some("cross-origin"),
            ),
            (
                Method::DELETE,
                &[
                    ("x-cairn-csrf", "1"),
                    ("host", "h:1"),
                    ("origin", "http://h:1"),
                ],
                true,
                Some("cross-origin"),
            ),
            (
                Method::PUT,
                &[("x-cairn-csrf", "1"), ("host", "h:1"), ("origin", "null")],
                false,
                Some("cross-origin"),
            ),
        ];
        for (m, h, tls, want) in cases {
            let got = csrf_refusal(m, &headers(h), *tls);
            match want {
                None => assert_eq!(got, None, "{m} {h:?}"),
                Some(w) => assert!(got.is_some_and(|g| g.contains(w)), "{m} {h:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn token_hash_is_salted_and_checked() {
        let a = hash_token("s1", "tok");
        assert_ne!(a, hash_token("s2", "tok"));
        let th = TokenHash {
            salt: "s1".into(),
            hash: a,
        };
        assert!(token_matches(&th, "tok"));
        assert!(!token_matches(&th, "tok2"));
        assert!(!token_matches(&th, ""));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; cairn_session=abc; b=2")]);
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        assert_eq!(session_cookie(&headers(&[("cookie", "a=1")])), None);
    }

    #[test]
    fn first_start_makes_a_token_once_and_env_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::Store::open_in(dir.path()).unwrap();
        let (th, printed) = setup_token(&s, None).unwrap();
        let token = printed.expect("printed on the first start");
        assert!(token_matches(&th, &token));
        assert!(!s.admin_token().unwrap().unwrap().hash.contains(&token));
        let (th2, again) = setup_token(&s, None).unwrap();
        assert_eq!(again, None);
        assert_eq!(th2, th);
        let (th3, _) = setup_token(&s, Some("mine".into())).unwrap();
        assert!(token_matches(&th3, "mine"));
        assert!(!token_matches(&th3, &token));
    }
}
