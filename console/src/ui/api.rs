//! The server's JSON API (`docs/api.md`, types in `cairn_protocol::api`) from the browser:
//! `fetch` with the session cookie (same origin), the CSRF header on every non-GET, errors as
//! [`Fail`]. A 401 anywhere sends the browser to the login page, which comes back here after.

use cairn_protocol::api::{ApiError, CSRF_HEADER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestCredentials, RequestInit, Response};

/// A request that did not give what was asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Fail {
    /// HTTP status, 0 when the server could not be reached.
    pub status: u16,
    pub error: ApiError,
}

impl Fail {
    fn local(code: &str, msg: String) -> Fail {
        Fail {
            status: 0,
            error: ApiError {
                code: code.into(),
                error: msg,
                details: vec![],
            },
        }
    }

    /// The sentence and its details, for a page's error box.
    pub fn text(&self) -> String {
        let mut s = self.error.error.clone();
        for d in &self.error.details {
            s.push('\n');
            s.push_str(d);
        }
        s
    }
}

fn js_err(what: &str, e: JsValue) -> Fail {
    Fail::local(
        "network",
        format!(
            "{what}: {}",
            e.as_string().unwrap_or_else(|| format!("{e:?}"))
        ),
    )
}

/// Sends a request; returns the status and body text of a 2xx answer.
async fn send(method: &str, url: &str, body: Option<String>) -> Result<(u16, String), Fail> {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::SameOrigin);
    let headers = Headers::new().map_err(|e| js_err("headers", e))?;
    headers.set("accept", "application/json").ok();
    if method != "GET" {
        headers.set(CSRF_HEADER, "1").ok();
    }
    if let Some(b) = &body {
        headers.set("content-type", "application/json").ok();
        init.set_body(&JsValue::from_str(b));
    }
    init.set_headers(&headers);
    let req = Request::new_with_str_and_init(url, &init).map_err(|e| js_err(url, e))?;
    let window = web_sys::window().expect("a window");
    let resp: Response = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(|_| {
            Fail::local(
                "network",
                "The Cairn server did not answer: is `cairn serve` still running?".into(),
            )
        })?
        .unchecked_into();
    let status = resp.status();
    let text = match resp.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if (200..300).contains(&status) {
        return Ok((status, text));
    }
    if status == 401 {
        to_login();
    }
    let error = serde_json::from_str::<ApiError>(&text).unwrap_or(ApiError {
        code: "http".into(),
        error: format!("The server answered {status} to {method} {url}."),
        details: text.lines().take(5).map(str::to_owned).collect(),
    });
    Err(Fail { status, error })
}

/// To the login page, remembering where to come back to.
pub fn to_login() {
    let Some(w) = web_sys::window() else { return };
    let loc = w.location();
    let here = loc.pathname().unwrap_or_default();
    if here != "/login" {
        let _ = loc.set_href(&format!(
            "/login?next={}",
            js_sys::encode_uri_component(&here)
        ));
    }
}

fn parse<T: DeserializeOwned>(url: &str, text: &str) -> Result<T, Fail> {
    serde_json::from_str(text)
        .map_err(|e| Fail::local("decode", format!("Unexpected answer from {url}: {e}")))
}

pub async fn get<T: DeserializeOwned>(url: &str) -> Result<T, Fail> {
    let (_, text) = send("GET", url, None).await?;
    parse(url, &text)
}

/// A GET whose answer is text (cluster.yaml).
pub async fn get_text(url: &str) -> Result<String, Fail> {
    Ok(send("GET", url, None).await?.1)
}

pub async fn post<B: Serialize, T: DeserializeOwned>(url: &str, body: &B) -> Result<T, Fail> {
    let b = serde_json::to_string(body).expect("serializable");
    let (_, text) = send("POST", url, Some(b)).await?;
    parse(url, &text)
}

pub async fn put<B: Serialize, T: DeserializeOwned>(url: &str, body: &B) -> Result<T, Fail> {
    let b = serde_json::to_string(body).expect("serializable");
    let (_, text) = send("PUT", url, Some(b)).await?;
    parse(url, &text)
}

/// A POST or DELETE whose answer has no body worth reading (204).
pub async fn call(method: &str, url: &str) -> Result<(), Fail> {
    send(method, url, None).await.map(|_| ())
}

/// Milliseconds since the page loaded (for measurements shown on the page).
pub fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Unix time in milliseconds.
pub fn unix_ms() -> i64 {
    js_sys::Date::now() as i64
}
