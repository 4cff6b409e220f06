//! The URL space and the responses: `/healthz`, `/files/<path>`, `/repo/deb/…`, `/repo/rpm/…`,
//! `/v2/…` (the registry: its logic is `registry`, its blobs stream through [`entry`] here).
//!
//! Owns: status codes, headers (`Content-Length`, `Content-Range`, `Accept-Ranges`, `ETag`,
//! `X-Checksum-Sha256`), streaming entry data from the bundle file. Must not: build metadata
//! (that is `deb_repo`) or decide what a path means beyond an exact manifest lookup (`index`):
//! there are no directory listings and no path normalisation.

use super::deb_repo::DebRepo;
use super::index::{Index, Located};
use super::range::{self, Range};
use super::registry::{self, Registry};
use super::yum_repo;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use std::sync::Arc;

/// Bytes per positioned read when streaming an entry: large enough that the per-read cost
/// (a blocking-pool hop) stays small next to the copy.
const CHUNK: u64 = 256 << 10;

/// What the handlers share.
#[derive(Debug)]
pub struct Served {
    pub index: Index,
    pub deb: DebRepo,
    pub registry: Registry,
}

pub fn router(served: Arc<Served>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/files/{*path}", get(files))
        .route("/repo/deb/{*path}", get(deb))
        .route("/repo/rpm/{*path}", get(rpm))
        .route("/v2", any(v2_base))
        .route("/v2/", any(v2_base))
        .route("/v2/{*path}", any(v2))
        .fallback(|| async { not_found() })
        .with_state(served)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

async fn files(
    State(s): State<Arc<Served>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    match s.index.lookup("files", &path) {
        Some(loc) => entry(&s, loc, &headers),
        None => not_found(),
    }
}

/// `/repo/deb/…`: the generated metadata, and the packages by the `Filename:` (`debs/…`) that
/// `Packages` gives them.
async fn deb(
    State(s): State<Arc<Served>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let text =
        |b: &Bytes, ty: &'static str| ([(header::CONTENT_TYPE, ty)], b.clone()).into_response();
    // A flat repository's distribution is `./`, which apt may keep in the URLs it asks for
    // (`/repo/deb/./Packages`). Only that exact prefix is dropped: nothing is normalised.
    let path = path.strip_prefix("./").unwrap_or(&path);
    match path {
        "Packages" => text(&s.deb.packages, "text/plain; charset=utf-8"),
        "Packages.gz" => text(&s.deb.packages_gz, "application/gzip"),
        "Release" => text(&s.deb.release, "text/plain; charset=utf-8"),
        "InRelease" | "Release.gpg" | "cairn.gpg" => match &s.deb.signed {
            Some(signed) => match path {
                "InRelease" => text(&signed.in_release, "text/plain; charset=utf-8"),
                "Release.gpg" => text(&signed.release_gpg, "application/pgp-signature"),
                _ => text(&signed.keyring, "application/pgp-keys"),
            },
            // Unsigned: apt falls back to Release (and needs trusted=yes).
            None => not_found(),
        },
        _ => match path.strip_prefix("debs/").and_then(|f| {
            f.ends_with(".deb")
                .then(|| s.index.lookup("debs", f))
                .flatten()
        }) {
            Some(loc) => entry(&s, loc, &headers),
            None => not_found(),
        },
    }
}

/// `/repo/rpm/…`: `repodata/…` and `Packages/…`, both verified entries of the bundle (the
/// metadata was generated when the bundle was built).
async fn rpm(
    State(s): State<Arc<Served>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    match yum_repo::lookup(&s.index, &path) {
        Some(loc) => entry(&s, loc, &headers),
        None => not_found(),
    }
}

/// `/v2/…`: the OCI distribution pull API (see `registry`).
async fn v2(
    State(s): State<Arc<Served>>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    registry::handle(
        &s.registry,
        &s.index,
        &method,
        &path,
        uri.query(),
        &headers,
        |loc| entry(&s, loc, &headers),
    )
}

async fn v2_base(State(s): State<Arc<Served>>, method: Method, headers: HeaderMap) -> Response {
    registry::handle(&s.registry, &s.index, &method, "", None, &headers, |_| {
        not_found()
    })
}

/// An entry's data, whole or one range of it.
fn entry(s: &Arc<Served>, loc: &Located, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", loc.sha256);
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // If-Range with another validator: the client's partial copy is of something else, so it
    // gets the whole entity (RFC 9110 §13.1.5). Only strong ETags are ours.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.as_bytes() == etag.as_bytes());
    let range = if if_range_ok {
        range::resolve(range_header, loc.size)
    } else {
        Range::Full
    };
    let mut b = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &etag)
        .header("x-checksum-sha256", &loc.sha256);
    let (status, start, len) = match range {
        Range::Full => (StatusCode::OK, 0, loc.size),
        Range::Partial { start, end } => {
            b = b.header(
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{}", loc.size),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Range::Unsatisfiable => {
            return b
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{}", loc.size))
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
        }
    };
    let media = HeaderValue::from_str(&loc.media_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    b.status(status)
        .header(header::CONTENT_TYPE, media)
        .header(header::CONTENT_LENGTH, len)
        .body(stream(s.clone(), loc.offset + start, len))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `len` bytes of the bundle file from `offset`, read in chunks on the blocking pool (file
/// reads block; positioned, so requests need no shared cursor).
fn stream(s: Arc<Served>, offset: u64, len: u64) -> Body {
    let chunks = futures_util::stream::unfold((s, offset, len), |(s, pos, left)| async move {
        if left == 0 {
            return None;
        }
        let n = left.min(CHUNK) as usize;
        let reader = s.clone();
        let read =
            tokio::task::spawn_blocking(move || reader.index.read_vec(pos, n).map(Bytes::from))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        match read {
            Ok(bytes) => Some((Ok(bytes), (s, pos + n as u64, left - n as u64))),
            // The error aborts the response (the client sees a short body, not a bad one).
            Err(e) => Some((Err(e), (s, pos, 0))),
        }
    });
    Body::from_stream(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    struct Got {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    async fn get(app: &Router, method: &str, uri: &str, range: Option<&str>) -> Got {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(r) = range {
            req = req.header(header::RANGE, r);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Got {
            status,
            headers,
            body,
        }
    }

    fn app(dir: &std::path::Path) -> (Router, Arc<Served>) {
        let index = crate::serve::index::tests::indexed(dir);
        let deb = crate::serve::deb_repo::build(&index).unwrap();
        let registry = crate::serve::registry::build(&index).unwrap();
        let served = Arc::new(Served {
            index,
            deb,
            registry,
        });
        (router(served.clone()), served)
    }

    #[tokio::test]
    async fn files_ranges_and_headers() {
        let tmp = tempfile::tempdir().unwrap();
        let (app, s) = app(tmp.path());
        let loc = s.index.lookup("files", "blob").unwrap().clone();
        let blob: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();

        let g = get(&app, "GET", "/files/blob", None).await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(g.body, blob);
        assert_eq!(g.headers[header::CONTENT_LENGTH], "70000");
        assert_eq!(g.headers["x-checksum-sha256"], loc.sha256.as_str());
        assert_eq!(g.headers[header::ACCEPT_RANGES], "bytes");

        // The entry's tail: the first and last byte of the range land exactly.
        let g = get(&app, "GET", "/files/blob", Some("bytes=65000-69999")).await;
        assert_eq!(g.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(g.headers[header::CONTENT_RANGE], "bytes 65000-69999/70000");
        assert_eq!(g.body, &blob[65000..]);

        let g = get(&app, "GET", "/files/blob", Some("bytes=70000-")).await;
        assert_eq!(g.status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(g.headers[header::CONTENT_RANGE], "bytes */70000");

        let g = get(&app, "HEAD", "/files/blob", None).await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(g.headers[header::CONTENT_LENGTH], "70000");
        assert!(g.body.is_empty());

        let g = get(&app, "GET", "/healthz", None).await;
        assert_eq!(
            (g.status, g.body.as_slice()),
            (StatusCode::OK, &b"ok\n"[..])
        );
    }

    #[tokio::test]
    async fn nothing_outside_the_manifest_and_no_listings() {
        let tmp = tempfile::tempdir().unwrap();
        let (app, _) = app(tmp.path());
        for uri in [
            "/files/../manifest.json",
            "/files/%2e%2e/manifest.json",
            "/files/%2E%2E%2Fmanifest.json",
            "/files/./blob",
            "/files//blob",
            "/files/",
            "/files",
            "/manifest.json",
            "/files/..%2fdebs/hello-cairn_1.0-1_all.deb",
            "/repo/deb/debs/../../files/blob",
            "/repo/deb/../../manifest.json",
            "/repo/deb/debs/",
            "/repo/deb/",
            "/repo/deb/InRelease",
            "/repo/rpm/",
            "/repo/rpm/repodata/",
            "/repo/rpm/Packages/",
            "/repo/rpm/manifest.json",
            "/repo/rpm/../files/blob",
            "/repo/rpm/Packages/../repodata/repomd.xml",
            "/repo/rpm/rpms/Packages/cairn-min-1-1.noarch.rpm",
            "/repo/rpm/./repodata/repomd.xml",
        ] {
            let g = get(&app, "GET", uri, None).await;
            assert_eq!(g.status, StatusCode::NOT_FOUND, "{uri}");
        }
    }

    #[tokio::test]
    async fn yum_repository_metadata_and_packages() {
        let tmp = tempfile::tempdir().unwrap();
        let (app, s) = app(tmp.path());
        assert_eq!(yum_repo::check(&s.index).unwrap().count, 1);
        let g = get(&app, "GET", "/repo/rpm/repodata/repomd.xml", None).await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(g.headers[header::CONTENT_TYPE], "application/xml");
        let repomd = String::from_utf8(g.body).unwrap();
        // Every file repomd.xml points at is served, with the checksum it gives.
        let mut hrefs = 0;
        for part in repomd.split("<location href=\"").skip(1) {
            let href = part.split('"').next().unwrap();
            let g = get(&app, "GET", &format!("/repo/rpm/{href}"), None).await;
            assert_eq!(g.status, StatusCode::OK, "{href}");
            let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&g.body));
            assert!(href.contains(&sha), "{href} {sha}");
            assert!(repomd.contains(&format!("<checksum type=\"sha256\">{sha}</checksum>")));
            hrefs += 1;
        }
        assert_eq!(hrefs, 3);
        let uri = "/repo/rpm/Packages/cairn-min-1-1.noarch.rpm";
        let g = get(&app, "GET", uri, None).await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(g.headers[header::CONTENT_TYPE], "application/x-rpm");
        assert!(
            g.body.starts_with(&[0xed, 0xab, 0xee, 0xdb]),
            "RPM lead magic"
        );
        let g2 = get(&app, "GET", uri, Some("bytes=4504-4511")).await;
        assert_eq!(g2.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(g2.body, &g.body[4504..4512]);
    }

    #[tokio::test]
    async fn apt_repository_urls_with_and_without_the_flat_dot() {
        let tmp = tempfile::tempdir().unwrap();
        let (app, s) = app(tmp.path());
        for prefix in ["/repo/deb/", "/repo/deb/./"] {
            let g = get(&app, "GET", &format!("{prefix}Packages"), None).await;
            assert_eq!(g.status, StatusCode::OK);
            assert_eq!(g.body, s.deb.packages.to_vec());
            let g = get(&app, "GET", &format!("{prefix}Release"), None).await;
            assert_eq!(g.body, s.deb.release.to_vec());
            let g = get(&app, "GET", &format!("{prefix}Packages.gz"), None).await;
            assert_eq!(g.body, s.deb.packages_gz.to_vec());
            let g = get(
                &app,
                "GET",
                &format!("{prefix}debs/hello-cairn_1.0-1_all.deb"),
                None,
            )
            .await;
            assert_eq!(g.status, StatusCode::OK);
            assert!(g.body.starts_with(b"!<arch>\n"));
        }
    }
}
