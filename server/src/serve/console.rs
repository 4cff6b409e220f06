//! The web console's files, embedded in the binary at build time from `console/dist/` (made
//! by `scripts/build-console`): `index.html` for every console page (`cairn_protocol::pages`,
//! so a reload or a bookmark lands on its wizard step) and the content-hashed `/assets/…`,
//! each sent gzip'd (the `.gz` made at build time) to clients that accept it.
//!
//! Owns: which URLs are console pages, caching (hashed assets forever, pages revalidated), the
//! page's security headers (a Content-Security-Policy that loads nothing from elsewhere). When
//! the binary was built without `console/dist/`, every page is a short 503 page saying how to
//! build the console, so `cargo build` alone still gives a working `cairn`. Must not: serve
//! anything outside `console/dist/`, or answer API or bundle URLs (those 404 as before).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::borrow::Cow;
use std::sync::Arc;

/// `console/dist/` as built when this binary was compiled (empty when it was not built;
/// `server/build.rs` rebuilds the binary when it changes). Only `index.html` and `assets/`
/// are reachable (the build's `.stamp` is embedded but no route leads to it).
#[derive(rust_embed::Embed)]
#[folder = "../console/dist/"]
#[allow_missing = true]
struct Dist;

/// One embedded file.
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    pub mime: Cow<'static, str>,
}

/// Where the console's files come from: the embedded `Dist`, or a map in tests.
pub trait Assets: Send + Sync + 'static {
    fn get(&self, path: &str) -> Option<Asset>;
}

/// The files embedded in this binary.
pub struct Embedded;

impl Assets for Embedded {
    fn get(&self, path: &str) -> Option<Asset> {
        Dist::get(path).map(|f| Asset {
            mime: Cow::Owned(f.metadata.mimetype().to_owned()),
            bytes: f.data,
        })
    }
}

/// What `index.html` may load: only this server (wasm compiled from it), no inline script.
/// Leptos sets `style` attributes, hence `'unsafe-inline'` for styles only.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
                   style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";

/// The page served when the binary carries no console.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Cairn: console not built</title></head><body>\
<h1>The web console is not in this build of cairn</h1>\
<p>This <code>cairn</code> binary was compiled without <code>console/dist/</code>. \
Build the console, then the binary:</p>\
<pre>scripts/build-console\ncargo build --release -p cairn</pre>\
<p>The API under <code>/api</code> and the bundle endpoints work without it.</p>\
</body></html>\n";

/// The console's routes (no fallback: merged into the server's router, whose fallback 404s).
pub fn router() -> Router {
    router_with(Arc::new(Embedded))
}

pub fn router_with(assets: Arc<dyn Assets>) -> Router {
    let mut r = Router::new().route("/assets/{*file}", get(asset));
    for page in cairn_protocol::pages::PAGES {
        r = r.route(page, get(index));
    }
    r.with_state(assets)
}

async fn index(State(assets): State<Arc<dyn Assets>>, headers: HeaderMap) -> Response {
    let Some(mut resp) = send(&*assets, "index.html", &headers) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            NOT_BUILT,
        )
            .into_response();
    };
    let h = resp.headers_mut();
    // The page names the current hashed assets: always revalidate it.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

async fn asset(
    State(assets): State<Arc<dyn Assets>>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    // The `.gz` twins are an encoding of their file, not files of their own.
    if file.ends_with(".gz") {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    match send(&*assets, &format!("assets/{file}"), &headers) {
        Some(mut resp) => {
            // Names carry their content's hash: a new build is a new name.
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            resp
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// `path`, gzip'd when the client accepts it and the build made a `.gz`.
fn send(assets: &dyn Assets, path: &str, headers: &HeaderMap) -> Option<Response> {
    let plain = assets.get(path)?;
    let mime = HeaderValue::from_str(&plain.mime)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let gz = if accepts_gzip(headers) {
        assets.get(&format!("{path}.gz"))
    } else {
        None
    };
    let mut resp = match gz {
        Some(gz) => (
            [(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))],
            gz.bytes,
        )
            .into_response(),
        None => plain.bytes.into_response(),
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, mime);
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Some(resp)
}

/// Whether `Accept-Encoding` allows gzip (`gzip` or `*`, with a q-value other than 0).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let Some(v) = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    v.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let q_zero = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use std::collections::HashMap;
    use tower::ServiceExt as _;

    struct Map(HashMap<&'static str, (&'static [u8], &'static str)>);
    impl Assets for Map {
        fn get(&self, path: &str) -> Option<Asset> {
            self.0.get(path).map(|(b, m)| Asset {
                bytes: Cow::Borrowed(b),
                mime: Cow::Borrowed(m),
            })
        }
    }

    fn built() -> Router {
        let mut m = HashMap::new();
        m.insert("index.html", (&b"<html>console</html>"[..], "text/html"));
        m.insert("index.html.gz", (&b"GZ-INDEX"[..], "application/gzip"));
        m.insert(
            "assets/console_bg-abc.wasm",
            (&b"\0asm"[..], "application/wasm"),
        );
        m.insert(
            "assets/console_bg-abc.wasm.gz",
            (&b"GZ-WASM"[..], "application/gzip"),
        );
        m.insert("assets/style-1.css", (&b"body{}"[..], "text/css"));
        router_with(Arc::new(Map(m)))
    }

    async fn get(app: Router, uri: &str, enc: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::get(uri);
        if let Some(e) = enc {
            req = req.header(header::ACCEPT_ENCODING, e);
        }
        let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, bytes.to_vec())
    }

    #[tokio::test]
    async fn every_page_is_the_index_with_its_security_headers() {
        for page in [
            "/", "/login", "/hosts", "/install", "/runs", "/runs/42", "/import",
        ] {
            let (status, h, body) = get(built(), page, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            assert_eq!(body, b"<html>console</html>", "{page}");
            assert_eq!(h[header::CONTENT_TYPE], "text/html");
            assert_eq!(h[header::CACHE_CONTROL], "no-cache");
            assert!(
                h[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap()
                    .contains("default-src 'self'")
            );
        }
    }

    #[tokio::test]
    async fn other_paths_are_not_pages() {
        for uri in [
            "/hosts/x",
            "/nope",
            "/api/whatever",
            "/assets/missing.js",
            "/assets/console_bg-abc.wasm.gz",
        ] {
            let (status, _, _) = get(built(), uri, Some("gzip")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        }
    }

    #[tokio::test]
    async fn assets_are_gzipped_for_clients_that_accept_it_and_cached_forever() {
        let (status, h, body) = get(
            built(),
            "/assets/console_bg-abc.wasm",
            Some("gzip, deflate, br"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, b"GZ-WASM");
        assert_eq!(h[header::CONTENT_ENCODING], "gzip");
        assert_eq!(h[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(h[header::VARY], "accept-encoding");
        assert!(
            h[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("immutable")
        );

        for enc in [None, Some("br"), Some("gzip;q=0"), Some("identity")] {
            let (_, h, body) = get(built(), "/assets/console_bg-abc.wasm", enc).await;
            assert_eq!(body, b"\0asm", "{enc:?}");
            assert!(h.get(header::CONTENT_ENCODING).is_none());
        }
        // No .gz built for it: plain, whatever the client accepts.
        let (_, h, body) = get(built(), "/assets/style-1.css", Some("gzip")).await;
        assert_eq!(
            (body.as_slice(), h.get(header::CONTENT_ENCODING)),
            (&b"body{}"[..], None)
        );
    }

    #[tokio::test]
    async fn a_binary_without_the_console_says_how_to_build_it() {
        let app = router_with(Arc::new(Map(HashMap::new())));
        let (status, h, body) = get(app, "/hosts", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains("scripts/build-console"), "{body}");
    }

    #[test]
    fn the_embedded_console_if_built_has_an_index_naming_its_assets() {
        let Some(index) = Embedded.get("index.html") else {
            return; // built without console/dist: the 503 page above covers it
        };
        let html = String::from_utf8(index.bytes.into_owned()).unwrap();
        for name in html.split("/assets/").skip(1) {
            let name = &name[..name.find('"').unwrap()];
            assert!(
                Embedded.get(&format!("assets/{name}")).is_some(),
                "{name} not embedded"
            );
        }
    }
}
