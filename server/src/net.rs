//! The HTTP client of `cairn bundle build`: one `reqwest` client (rustls with the ring
//! provider) for `files:`/`rpms.urls` downloads and `docker://` pulls (`pull.rs`), and the
//! [`Net`] that lends both to the bundle writer as its [`Fetch`].
//!
//! Owns: trust (the system's roots plus `--ca-cert` files; certificates are always checked,
//! there is no option to skip that), proxies (`HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/
//! `NO_PROXY` from the environment, as reqwest reads them), timeouts, and streaming a URL
//! into a file while hashing it.
//!
//! Must not: keep anything unverified (the writer compares digests and owns the scratch
//! directory), or print a token or credential in an error.

use cairn_bundle::fetch::{Downloaded, Fetch, Transfer};
use cairn_bundle::images::reference::RegistryRef;
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Connecting must not take longer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A response head or a body chunk must come within this time (a stalled mirror fails the
/// build instead of hanging it; a slow but moving download is fine).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Errors building the client (bad `--ca-cert`).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--ca-cert {path}: {message}")]
    CaCert { path: PathBuf, message: String },
    #[error("the HTTP client cannot start: {0}")]
    Build(String),
}

/// The client: system roots plus the PEM certificates in `ca_certs` as trust anchors.
pub fn client(ca_certs: &[PathBuf]) -> Result<reqwest::Client, ClientError> {
    // Several calls (tests) may race to install it; any installed ring provider will do.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")));
    for path in ca_certs {
        let ca_err = |message: String| ClientError::CaCert {
            path: path.clone(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ca_err(format!("not PEM certificates: {}", describe(&e))))?;
        if certs.is_empty() {
            return Err(ca_err(
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| ClientError::Build(describe(&e)))
}

/// A reqwest error with its causes (`error sending request: … invalid peer certificate:
/// UnknownIssuer`), and what to do when the cause is an untrusted certificate.
pub fn describe(e: &reqwest::Error) -> String {
    // The URL is named by the caller's message already.
    let mut out = e.to_string();
    if let Some(url) = e.url() {
        out = out.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    if out.contains("invalid peer certificate") {
        out.push_str(
            " (if the server's certificate is issued by a private CA, pass that CA's certificate \
             with --ca-cert FILE)",
        );
    }
    out
}

/// Streams `url` into `into`, hashing on the way; fails on a non-2xx status or a body that
/// ends before its announced length.
pub async fn download(
    client: &reqwest::Client,
    url: &str,
    into: &Path,
    progress: &mut dyn FnMut(Transfer),
) -> Result<Downloaded, String> {
    let mut resp = client.get(url).send().await.map_err(|e| describe(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("the server answered {status}"));
    }
    let total = resp.content_length();
    progress(Transfer::Started {
        what: url.to_string(),
        total,
    });
    let file = std::fs::File::create(into).map_err(|e| format!("{}: {e}", into.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        hasher.update(&chunk);
        size += chunk.len() as u64;
        out.write_all(&chunk)
            .map_err(|e| format!("{}: {e}", into.display()))?;
        progress(Transfer::Bytes(chunk.len() as u64));
    }
    out.flush()
        .map_err(|e| format!("{}: {e}", into.display()))?;
    if let Some(total) = total
        && size != total
    {
        return Err(format!(
            "the connection closed after {size} of {total} bytes"
        ));
    }
    Ok(Downloaded {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// The network `cairn bundle build` lends the writer. The writer is synchronous code running
/// on a runtime thread: each request runs on the same runtime from a scoped plain thread (no
/// runtime context there, so `block_on` is allowed).
pub struct Net {
    pub client: reqwest::Client,
    pub handle: tokio::runtime::Handle,
}

impl Fetch for Net {
    fn fetch(
        &mut self,
        image: &RegistryRef,
        insecure: bool,
        platforms: &[String],
        into: &Path,
        progress: &mut dyn FnMut(Transfer),
    ) -> Result<String, String> {
        let client = self.client.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = self.handle.clone();
        std::thread::scope(|s| {
            let worker = s.spawn(move || {
                let mut send = |t| {
                    let _ = tx.send(t);
                };
                handle.block_on(crate::pull::pull(
                    &client, image, insecure, platforms, into, &mut send,
                ))
            });
            for t in rx {
                progress(t);
            }
            worker
                .join()
                .unwrap_or_else(|_| Err("the pull thread panicked".into()))
        })
    }

    fn download(
        &mut self,
        url: &str,
        into: &Path,
        progress: &mut dyn FnMut(Transfer),
    ) -> Result<Downloaded, String> {
        let client = self.client.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = self.handle.clone();
        std::thread::scope(|s| {
            let worker = s.spawn(move || {
                handle.block_on(download(&client, url, into, &mut |t| {
                    let _ = tx.send(t);
                }))
            });
            // Progress is drawn here, on the caller's thread, as the bytes arrive.
            for t in rx {
                progress(t);
            }
            worker
                .join()
                .unwrap_or_else(|_| Err("the download thread panicked".into()))
        })
    }
}
