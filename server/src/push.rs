//! Cairn's OCI **push** client: copies every image of a verified bundle into a registry over
//! HTTPS, trusting only the CA it is given (the cluster CA; rustls with ring, no system
//! roots). The sibling of `pull.rs` (which reads from registries into a bundle).
//!
//! What it speaks is the distribution spec's push API: per blob, `HEAD` (already there: not
//! sent again), else a cross-repository mount (`POST …/blobs/uploads/?mount=&from=`) from a
//! repository this push already filled, else `POST …/blobs/uploads/` and either one
//! monolithic `PUT …?digest=` (small blobs) or `PATCH` chunks with `Content-Range` and a
//! closing `PUT` (large ones); then manifests by digest (image manifests before the indexes
//! that list them, as the registry checks the references of an index), then each tag by
//! `PUT …/manifests/<tag>`, skipped when `HEAD` already shows the same digest. Every
//! manifest the registry accepts must come back with our digest (`Docker-Content-Digest`):
//! a registry that rewrites a manifest is an error, not a success.
//!
//! Idempotent by construction: a second push of the same bundle sends no blob and no
//! manifest (the report counts what was already present). Anonymous only (the lab's
//! registry has no authentication; a registry that answers 401 is reported as such).
//!
//! Must not: change the bundle's bytes (manifests are sent exactly as stored), trust anything
//! but the given CA, or print (the caller reports).

use crate::serve::index::Index;
use crate::serve::registry::Registry;
use cairn_bundle::images::{BLOBS_DIR, is_index, reference};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use std::time::Duration;

/// Blobs up to this size go in one `PUT`; larger ones in `PATCH` chunks of this size.
pub const CHUNK: usize = 8 << 20;
/// No request may hang the install: each response must come within this time.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Why a push stopped (each names the registry, and the request where there is one).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("the CA file {path}: {message}")]
    Ca { path: String, message: String },
    #[error("{registry}: {message}")]
    Connect { registry: String, message: String },
    #[error("{method} https://{registry}{path}: {status}: {body}")]
    Status {
        registry: String,
        method: Method,
        path: String,
        status: StatusCode,
        body: String,
    },
    #[error("{method} https://{registry}{path}: {message}")]
    Protocol {
        registry: String,
        method: Method,
        path: String,
        message: String,
    },
    #[error("the bundle: {0}")]
    Bundle(String),
}

/// What one push did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// (repository, tag) pairs now in the registry.
    pub tags: usize,
    pub blobs_sent: usize,
    pub blobs_mounted: usize,
    pub blobs_present: usize,
    pub bytes_sent: u64,
    pub manifests_sent: usize,
    pub manifests_present: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tags; blobs: {} sent ({} bytes), {} mounted, {} already there; manifests: {} sent, {} already there",
            self.tags,
            self.blobs_sent,
            self.bytes_sent,
            self.blobs_mounted,
            self.blobs_present,
            self.manifests_sent,
            self.manifests_present
        )
    }
}

/// The rustls client configuration trusting only the certificates in `ca_pem`.
pub fn tls_config(ca_pem: &[u8], path: &str) -> Result<rustls::ClientConfig, PushError> {
    let ca_err = |message: String| PushError::Ca {
        path: path.to_string(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| ca_err(format!("not PEM certificates: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| ca_err(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(ca_err("holds no certificate".into()));
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| ca_err(e.to_string()))
}

/// One HTTPS connection to the registry (HTTP/1.1, kept alive; opened again when the
/// registry closes it).
struct Conn {
    registry: String,
    host: String,
    port: u16,
    tls: tokio_rustls::TlsConnector,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    fn new(registry: &str, tls: rustls::ClientConfig) -> Result<Conn, PushError> {
        let bad = |message: &str| PushError::Connect {
            registry: registry.to_string(),
            message: message.to_string(),
        };
        let (host, port) = match registry.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() => (
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number (HOST:PORT)"))?,
            ),
            _ => (registry, 443),
        };
        Ok(Conn {
            registry: registry.to_string(),
            host: host.to_string(),
            port,
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            sender: None,
        })
    }

    async fn connect(&mut self) -> Result<(), PushError> {
        let fail = |message: String| PushError::Connect {
            registry: self.registry.clone(),
            message,
        };
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| fail(format!("{}: not a host name or address: {e}", self.host)))?;
        let tcp = tokio::time::timeout(
            TIMEOUT,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| fail(format!("no TCP connection within {TIMEOUT:?}")))?
        .map_err(|e| fail(format!("cannot connect: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(TIMEOUT, self.tls.connect(name, tcp))
            .await
            .map_err(|_| fail(format!("no TLS handshake within {TIMEOUT:?}")))?
            .map_err(|e| fail(format!("TLS: {e} (is the registry's certificate issued by the cluster CA, for this name?)")))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| fail(format!("HTTP handshake: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    /// One request; returns the status, headers and (limited) body.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, String)],
        body: Bytes,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes), PushError> {
        let registry = self.registry.clone();
        let proto = |message: String| PushError::Protocol {
            registry: registry.clone(),
            method: method.clone(),
            path: path.to_string(),
            message,
        };
        let alive = self
            .sender
            .as_mut()
            .is_some_and(|s| !s.is_closed() && s.is_ready());
        if !alive {
            self.connect().await?;
        }
        let sender = self.sender.as_mut().expect("connected above");
        sender
            .ready()
            .await
            .map_err(|e| proto(format!("connection: {e}")))?;
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, &registry)
            .header(header::CONTENT_LENGTH, body.len());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| proto(e.to_string()))?;
        let resp: Response<hyper::body::Incoming> =
            tokio::time::timeout(TIMEOUT, sender.send_request(req))
                .await
                .map_err(|_| proto(format!("no response within {TIMEOUT:?}")))?
                .map_err(|e| proto(e.to_string()))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = tokio::time::timeout(TIMEOUT, resp.into_body().collect())
            .await
            .map_err(|_| proto(format!("no complete response body within {TIMEOUT:?}")))?
            .map_err(|e| proto(e.to_string()))?
            .to_bytes();
        Ok((status, headers, body))
    }

    fn status_error(
        &self,
        method: Method,
        path: &str,
        status: StatusCode,
        body: &[u8],
    ) -> PushError {
        let mut text = String::from_utf8_lossy(&body[..body.len().min(2048)])
            .trim()
            .to_string();
        if status == StatusCode::UNAUTHORIZED {
            text.push_str(" (the registry wants authentication; Cairn pushes anonymously)");
        }
        PushError::Status {
            registry: self.registry.clone(),
            method,
            path: path.to_string(),
            status,
            body: text,
        }
    }

    /// The path (and query) of an upload `Location`, which may be absolute or relative.
    fn location(
        &self,
        method: &Method,
        path: &str,
        headers: &hyper::HeaderMap,
    ) -> Result<String, PushError> {
        let loc = headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| PushError::Protocol {
                registry: self.registry.clone(),
                method: method.clone(),
                path: path.to_string(),
                message: "no Location header on an upload".into(),
            })?;
        if loc.starts_with('/') {
            return Ok(loc.to_string());
        }
        let uri: hyper::Uri = loc.parse().map_err(|e| PushError::Protocol {
            registry: self.registry.clone(),
            method: method.clone(),
            path: path.to_string(),
            message: format!("Location {loc:?}: {e}"),
        })?;
        if uri.authority().is_some_and(|a| a.as_str() != self.registry) {
            return Err(PushError::Protocol {
                registry: self.registry.clone(),
                method: method.clone(),
                path: path.to_string(),
                message: format!("the upload continues on another host ({loc}); not followed"),
            });
        }
        Ok(uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |p| p.as_str().to_string()))
    }
}

fn with_query(path: &str, query: &str) -> String {
    if path.contains('?') {
        format!("{path}&{query}")
    } else {
        format!("{path}?{query}")
    }
}

/// Push every image of the bundle (`index`, `registry` as `serve::open` built them) into the
/// registry at `target` (`HOST:PORT`), trusting `tls` (see [`tls_config`]).
pub async fn push_all(
    index: &Index,
    images: &Registry,
    target: &str,
    tls: rustls::ClientConfig,
) -> Result<Report, PushError> {
    let mut conn = Conn::new(target, tls)?;
    let mut report = Report::default();
    // Which repository already holds a blob (for cross-repository mounts).
    let mut holder: std::collections::HashMap<String, String> = Default::default();
    let ping = "/v2/";
    let (status, _, body) = conn.send(Method::GET, ping, &[], Bytes::new()).await?;
    if status != StatusCode::OK {
        return Err(conn.status_error(Method::GET, ping, status, &body));
    }
    for (repo, r) in &images.repos {
        for digest in &r.blobs {
            push_blob(&mut conn, index, repo, digest, &mut holder, &mut report).await?;
        }
        // Image manifests first, then indexes (which the registry checks against them).
        let mut order: Vec<(&String, &crate::serve::registry::Manifest)> =
            r.manifests.iter().collect();
        order.sort_by_key(|(d, m)| (is_index(&m.media_type), d.to_string()));
        let tagged: std::collections::BTreeSet<&String> = r.tags.values().collect();
        for (digest, m) in &order {
            if tagged.contains(digest) {
                continue; // sent under its tag below
            }
            put_manifest(&mut conn, repo, digest, digest, m, &mut report).await?;
        }
        for (tag, digest) in &r.tags {
            let m = r.manifests.get(digest).ok_or_else(|| {
                PushError::Bundle(format!("{repo}:{tag}: manifest {digest} missing"))
            })?;
            put_manifest(&mut conn, repo, tag, digest, m, &mut report).await?;
            report.tags += 1;
        }
    }
    Ok(report)
}

async fn push_blob(
    conn: &mut Conn,
    index: &Index,
    repo: &str,
    digest: &str,
    holder: &mut std::collections::HashMap<String, String>,
    report: &mut Report,
) -> Result<(), PushError> {
    let head = format!("/v2/{repo}/blobs/{digest}");
    let (status, _, body) = conn.send(Method::HEAD, &head, &[], Bytes::new()).await?;
    match status {
        StatusCode::OK => {
            report.blobs_present += 1;
            holder
                .entry(digest.to_string())
                .or_insert_with(|| repo.to_string());
            return Ok(());
        }
        StatusCode::NOT_FOUND => {}
        s => return Err(conn.status_error(Method::HEAD, &head, s, &body)),
    }
    let hex = reference::sha256_hex(digest)
        .ok_or_else(|| PushError::Bundle(format!("digest {digest:?} is not sha256")))?;
    let loc = index
        .lookup("images", &format!("{BLOBS_DIR}/{hex}")["images/".len()..])
        .ok_or_else(|| {
            PushError::Bundle(format!("blob {digest} of {repo} is not in the bundle"))
        })?;
    let (offset, size) = (loc.offset, loc.size);
    // Start an upload; offer a mount when another repository of this push has the blob.
    let mut start = format!("/v2/{repo}/blobs/uploads/");
    if let Some(from) = holder.get(digest).filter(|f| f.as_str() != repo) {
        start = format!("{start}?mount={digest}&from={from}");
    }
    let (status, headers, body) = conn.send(Method::POST, &start, &[], Bytes::new()).await?;
    match status {
        StatusCode::CREATED => {
            report.blobs_mounted += 1;
            return Ok(());
        }
        StatusCode::ACCEPTED => {}
        s => return Err(conn.status_error(Method::POST, &start, s, &body)),
    }
    let mut upload = conn.location(&Method::POST, &start, &headers)?;
    let read = |from: u64, len: usize| {
        index
            .read_vec(offset + from, len)
            .map(Bytes::from)
            .map_err(|e| PushError::Bundle(format!("reading blob {digest}: {e}")))
    };
    let octets = (header::CONTENT_TYPE, "application/octet-stream".to_string());
    let last = if size as usize <= CHUNK {
        read(0, size as usize)?
    } else {
        let mut sent = 0u64;
        while size - sent > CHUNK as u64 {
            let chunk = read(sent, CHUNK)?;
            let range = format!("{}-{}", sent, sent + chunk.len() as u64 - 1);
            let (status, headers, body) = conn
                .send(
                    Method::PATCH,
                    &upload,
                    &[octets.clone(), (header::CONTENT_RANGE, range)],
                    chunk,
                )
                .await?;
            if status != StatusCode::ACCEPTED {
                return Err(conn.status_error(Method::PATCH, &upload, status, &body));
            }
            upload = conn.location(&Method::PATCH, &upload, &headers)?;
            sent += CHUNK as u64;
        }
        read(sent, (size - sent) as usize)?
    };
    let put = with_query(&upload, &format!("digest={digest}"));
    let (status, headers, body) = conn.send(Method::PUT, &put, &[octets], last).await?;
    if status != StatusCode::CREATED {
        return Err(conn.status_error(Method::PUT, &put, status, &body));
    }
    check_digest(conn, &Method::PUT, &put, &headers, digest)?;
    report.blobs_sent += 1;
    report.bytes_sent += size;
    holder.insert(digest.to_string(), repo.to_string());
    Ok(())
}

fn check_digest(
    conn: &Conn,
    method: &Method,
    path: &str,
    headers: &hyper::HeaderMap,
    want: &str,
) -> Result<(), PushError> {
    match headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    {
        Some(got) if got != want => Err(PushError::Protocol {
            registry: conn.registry.clone(),
            method: method.clone(),
            path: path.to_string(),
            message: format!("the registry stored {got}, not {want}"),
        }),
        _ => Ok(()),
    }
}

/// `PUT /v2/<repo>/manifests/<reference>` unless `HEAD` shows the same digest there already.
async fn put_manifest(
    conn: &mut Conn,
    repo: &str,
    reference: &str,
    digest: &str,
    m: &crate::serve::registry::Manifest,
    report: &mut Report,
) -> Result<(), PushError> {
    let path = format!("/v2/{repo}/manifests/{reference}");
    let accept = (header::ACCEPT, m.media_type.clone());
    let (status, headers, body) = conn
        .send(
            Method::HEAD,
            &path,
            std::slice::from_ref(&accept),
            Bytes::new(),
        )
        .await?;
    match status {
        StatusCode::OK
            if headers
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                == Some(digest) =>
        {
            report.manifests_present += 1;
            return Ok(());
        }
        StatusCode::OK | StatusCode::NOT_FOUND => {}
        s => return Err(conn.status_error(Method::HEAD, &path, s, &body)),
    }
    let (status, headers, body) = conn
        .send(
            Method::PUT,
            &path,
            &[(header::CONTENT_TYPE, m.media_type.clone())],
            m.bytes.clone(),
        )
        .await?;
    if status != StatusCode::CREATED {
        return Err(conn.status_error(Method::PUT, &path, status, &body));
    }
    check_digest(conn, &Method::PUT, &path, &headers, digest)?;
    report.manifests_sent += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_file_must_hold_certificates() {
        let e = tls_config(b"not pem", "/x/ca.crt").unwrap_err();
        assert_eq!(e.to_string(), "the CA file /x/ca.crt: holds no certificate");
    }

    #[test]
    fn upload_queries_are_appended() {
        assert_eq!(
            with_query("/v2/a/blobs/uploads/u", "digest=d"),
            "/v2/a/blobs/uploads/u?digest=d"
        );
        assert_eq!(
            with_query("/v2/a/blobs/uploads/u?_state=x", "digest=d"),
            "/v2/a/blobs/uploads/u?_state=x&digest=d"
        );
    }

    #[test]
    fn a_bad_port_is_refused() {
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let e = Conn::new("lab25:http", cfg).err().unwrap();
        assert_eq!(
            e.to_string(),
            "lab25:http: the port is not a number (HOST:PORT)"
        );
    }
}
