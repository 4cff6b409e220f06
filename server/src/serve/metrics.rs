//! `/metrics`: what the server did, in the Prometheus/OpenMetrics text format
//! (`prometheus-client`, the Prometheus project's own crate).
//!
//! Owns: the metric names and labels, the middleware that counts every HTTP request (a tower
//! layer around the whole router), and the NTP counters [`super::ntp`] reports into. Must not:
//! decide responses (that is `routes`), or let a label take unbounded values: `endpoint` is a
//! small fixed set chosen by path prefix, `status` a status class, `outcome` a fixed enum.
//!
//! Names (all `cairn_`): `http_requests_total{endpoint,status}`,
//! `http_response_bytes_total{endpoint}` (body bytes handed to the connection),
//! `http_responses_incomplete_total{endpoint}` (body not sent to its end: the client went away
//! or a read failed), `http_request_duration_seconds{endpoint}` (request to the last body byte),
//! `ntp_requests_total{outcome}`.

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// Which part of the URL space a request was for (by path prefix; a fixed set).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Endpoint {
    /// `/files/…`
    Files,
    /// `/repo/deb/…`
    Deb,
    /// `/repo/rpm/…`
    Rpm,
    /// `/v2/…` (OCI distribution)
    Registry,
    /// `/healthz`, `/metrics`
    Ops,
    /// anything else (all 404)
    Other,
}

impl Endpoint {
    pub fn of(path: &str) -> Endpoint {
        if path.starts_with("/files/") {
            Endpoint::Files
        } else if path.starts_with("/repo/deb/") {
            Endpoint::Deb
        } else if path.starts_with("/repo/rpm/") {
            Endpoint::Rpm
        } else if path == "/v2" || path.starts_with("/v2/") {
            Endpoint::Registry
        } else if path == "/healthz" || path == "/metrics" {
            Endpoint::Ops
        } else {
            Endpoint::Other
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Endpoint::Files => "files",
            Endpoint::Deb => "deb",
            Endpoint::Rpm => "rpm",
            Endpoint::Registry => "registry",
            Endpoint::Ops => "ops",
            Endpoint::Other => "other",
        }
    }
}

impl EncodeLabelValue for Endpoint {
    fn encode(&self, e: &mut LabelValueEncoder) -> std::fmt::Result {
        e.write_str(self.as_str())
    }
}

/// What became of one NTP datagram.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum NtpOutcome {
    Answered,
    /// Shorter than a header, or an NTP version that does not exist.
    Malformed,
    /// Not a client (mode 3) request: server, broadcast, control (`ntpq`) or private mode.
    NotClient,
    /// Over the per-source allowance.
    RateLimited,
    SendFailed,
}

impl NtpOutcome {
    const ALL: [NtpOutcome; 5] = [
        NtpOutcome::Answered,
        NtpOutcome::Malformed,
        NtpOutcome::NotClient,
        NtpOutcome::RateLimited,
        NtpOutcome::SendFailed,
    ];
}

impl EncodeLabelValue for NtpOutcome {
    fn encode(&self, e: &mut LabelValueEncoder) -> std::fmt::Result {
        e.write_str(match self {
            NtpOutcome::Answered => "answered",
            NtpOutcome::Malformed => "malformed",
            NtpOutcome::NotClient => "not_client",
            NtpOutcome::RateLimited => "rate_limited",
            NtpOutcome::SendFailed => "send_failed",
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    endpoint: Endpoint,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: Endpoint,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NtpLabels {
    outcome: NtpOutcome,
}

type Durations = Family<EndpointLabels, Histogram, fn() -> Histogram>;

/// The server's metrics (cheap to update from any task).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    bytes: Family<EndpointLabels, Counter>,
    incomplete: Family<EndpointLabels, Counter>,
    duration: Durations,
    ntp: Family<NtpLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("cairn");
        let requests = Family::<HttpLabels, Counter>::default();
        let bytes = Family::<EndpointLabels, Counter>::default();
        let incomplete = Family::<EndpointLabels, Counter>::default();
        // 0.5 ms to about 2 min, ×4 a bucket: from a health check to a large file on a slow link.
        let duration: Durations =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 4.0, 10)));
        let ntp = Family::<NtpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by endpoint and status class",
            requests.clone(),
        );
        registry.register(
            "http_response_bytes",
            "HTTP response body bytes handed to the connection",
            bytes.clone(),
        );
        registry.register(
            "http_responses_incomplete",
            "HTTP responses whose body was not sent to its end (client gone or read error)",
            incomplete.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request to the last byte of its response body",
            duration.clone(),
        );
        registry.register(
            "ntp_requests",
            "NTP datagrams received, by what was done with them",
            ntp.clone(),
        );
        // Every outcome shows from the start (at 0), so a rate of "dropped" is never absent.
        for outcome in NtpOutcome::ALL {
            let _ = ntp.get_or_create(&NtpLabels { outcome });
        }
        Metrics {
            registry,
            requests,
            bytes,
            incomplete,
            duration,
            ntp,
        }
    }
}

impl Metrics {
    pub fn ntp(&self, outcome: NtpOutcome) {
        self.ntp.get_or_create(&NtpLabels { outcome }).inc();
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The `/metrics` route, to merge into the server's router.
pub fn router(m: Arc<Metrics>) -> Router {
    Router::new().route("/metrics", get(expose)).with_state(m)
}

async fn expose(State(m): State<Arc<Metrics>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        m.render(),
    )
        .into_response()
}

/// The middleware (`axum::middleware::from_fn_with_state`): counts the request when its
/// response head is ready, and its body bytes and duration when the body is done or dropped.
pub async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let endpoint = Endpoint::of(req.uri().path());
    let resp = next.run(req).await;
    let status = match resp.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    m.requests
        .get_or_create(&HttpLabels { endpoint, status })
        .inc();
    let expected = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .or_else(|| resp.body().size_hint().exact());
    let (parts, body) = resp.into_parts();
    let counted = Counted {
        inner: body,
        m,
        endpoint,
        t0,
        bytes: 0,
        expected,
        ended: false,
        recorded: false,
    };
    Response::from_parts(parts, Body::new(counted))
}

/// A response body that counts what passes through it and records once, when it ends or is
/// dropped (the connection closed early).
struct Counted {
    inner: Body,
    m: Arc<Metrics>,
    endpoint: Endpoint,
    t0: Instant,
    bytes: u64,
    expected: Option<u64>,
    ended: bool,
    recorded: bool,
}

impl Counted {
    fn record(&mut self) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let labels = EndpointLabels {
            endpoint: self.endpoint,
        };
        self.m.bytes.get_or_create(&labels).inc_by(self.bytes);
        self.m
            .duration
            .get_or_create(&labels)
            .observe(self.t0.elapsed().as_secs_f64());
        // The connection may stop polling once the promised length is sent, without asking
        // for the end: that is complete too.
        let complete = self.ended || self.expected == Some(self.bytes);
        if !complete {
            self.m.incomplete.get_or_create(&labels).inc();
        }
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                this.ended = true;
                this.record();
            }
            Poll::Ready(Some(Err(_))) => this.record(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.ended = true;
        }
        self.record();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::middleware;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    fn app(m: &Arc<Metrics>) -> Router {
        Router::new()
            .route("/files/{*p}", get(|| async { "0123456789" }))
            .route("/healthz", get(|| async { "ok\n" }))
            .merge(router(m.clone()))
            .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
            .layer(middleware::from_fn_with_state(m.clone(), track))
    }

    async fn get_body(app: &Router, uri: &str) -> (StatusCode, String) {
        let resp = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    /// The value of one sample line `name{labels} value` in the exposition.
    fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
            .map(|v| v.parse().unwrap())
    }

    /// The exposition is well formed: every sample belongs to a family declared by `# TYPE`
    /// before it, names and labels are in the allowed alphabet, values are numbers, and it
    /// ends with `# EOF` (OpenMetrics).
    fn check_exposition(text: &str) {
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.last(), Some(&"# EOF"), "{text}");
        let mut families: Vec<(String, String)> = Vec::new();
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !n.starts_with(|c: char| c.is_ascii_digit())
        };
        for l in &lines[..lines.len() - 1] {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let (name, ty) = rest.split_once(' ').unwrap();
                assert!(name_ok(name), "{l}");
                assert!(["counter", "histogram", "gauge"].contains(&ty), "{l}");
                families.push((name.into(), ty.into()));
                continue;
            }
            if l.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = l.rsplit_once(' ').unwrap();
            value.parse::<f64>().unwrap_or_else(|_| panic!("{l}"));
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}').unwrap()),
                None => (series, ""),
            };
            for pair in labels.split(',').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap();
                assert!(name_ok(k), "{l}");
                assert!(v.starts_with('"') && v.ends_with('"'), "{l}");
            }
            let (family, ty) = families.last().unwrap_or_else(|| panic!("{l}: no TYPE"));
            let suffixes: &[&str] = match ty.as_str() {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            assert!(
                suffixes.iter().any(|s| name == format!("{family}{s}")),
                "{l} is not of family {family} ({ty})"
            );
        }
    }

    #[tokio::test]
    async fn counters_move_with_requests_and_the_text_is_well_formed() {
        let m = Arc::new(Metrics::default());
        let app = app(&m);
        for _ in 0..3 {
            assert_eq!(get_body(&app, "/files/a").await.0, StatusCode::OK);
        }
        assert_eq!(get_body(&app, "/nope").await.0, StatusCode::NOT_FOUND);
        m.ntp(NtpOutcome::Answered);
        m.ntp(NtpOutcome::Answered);
        m.ntp(NtpOutcome::NotClient);
        let (status, text) = get_body(&app, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        check_exposition(&text);
        for (series, want) in [
            (
                r#"cairn_http_requests_total{endpoint="files",status="2xx"}"#,
                3.0,
            ),
            (
                r#"cairn_http_requests_total{endpoint="other",status="4xx"}"#,
                1.0,
            ),
            (r#"cairn_http_response_bytes_total{endpoint="files"}"#, 30.0),
            (r#"cairn_http_response_bytes_total{endpoint="other"}"#, 10.0),
            (
                r#"cairn_http_request_duration_seconds_count{endpoint="files"}"#,
                3.0,
            ),
            (
                r#"cairn_http_request_duration_seconds_bucket{le="+Inf",endpoint="files"}"#,
                3.0,
            ),
            (r#"cairn_ntp_requests_total{outcome="answered"}"#, 2.0),
            (r#"cairn_ntp_requests_total{outcome="not_client"}"#, 1.0),
            (r#"cairn_ntp_requests_total{outcome="rate_limited"}"#, 0.0),
        ] {
            assert_eq!(sample(&text, series), Some(want), "{series}\n{text}");
        }
        assert_eq!(
            sample(
                &text,
                r#"cairn_http_responses_incomplete_total{endpoint="files"}"#
            ),
            None,
            "{text}"
        );
        // The scrape itself is counted by the next one.
        let (_, text) = get_body(&app, "/metrics").await;
        assert_eq!(
            sample(
                &text,
                r#"cairn_http_requests_total{endpoint="ops",status="2xx"}"#
            ),
            Some(1.0)
        );
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_is_incomplete() {
        let m = Arc::new(Metrics::default());
        let resp = app(&m)
            .oneshot(Request::get("/files/a").body(Body::empty()).unwrap())
            .await
            .unwrap();
        drop(resp); // the client went away before reading anything
        let text = m.render();
        assert_eq!(
            sample(
                &text,
                r#"cairn_http_responses_incomplete_total{endpoint="files"}"#
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                r#"cairn_http_response_bytes_total{endpoint="files"}"#
            ),
            Some(0.0)
        );
    }

    #[test]
    fn endpoints_are_a_fixed_set_by_prefix() {
        for (path, want) in [
            ("/files/a/b", Endpoint::Files),
            ("/files", Endpoint::Other),
            ("/repo/deb/Packages", Endpoint::Deb),
            ("/repo/rpm/repodata/repomd.xml", Endpoint::Rpm),
            ("/v2/", Endpoint::Registry),
            ("/v2", Endpoint::Registry),
            ("/v2x", Endpoint::Other),
            ("/healthz", Endpoint::Ops),
            ("/metrics", Endpoint::Ops),
            ("/", Endpoint::Other),
            ("/../etc/passwd", Endpoint::Other),
        ] {
            assert_eq!(Endpoint::of(path), want, "{path}");
        }
    }
}
