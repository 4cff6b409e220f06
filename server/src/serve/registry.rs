//! The OCI distribution spec's **pull** API over the bundle's images, read-only:
//! `GET /v2/`, manifests by tag or digest (GET/HEAD, content negotiation on `Accept`), blobs
//! (GET/HEAD, `Range`), `/v2/_catalog` and `/v2/<name>/tags/list` (both with `n`/`last`),
//! OCI error bodies, `405 UNSUPPORTED` for every push method.
//!
//! Owns: the repository model built once at start from `images/index.json` (repository →
//! tags → manifest digest; each repository's set of manifests and blobs, so a blob is served
//! only under a repository that references it), request path parsing, negotiation, and the
//! registry's headers (`Docker-Content-Digest`, `Docker-Distribution-API-Version`).
//! Must not: rewrite or convert a manifest (its digest would change), serve anything the
//! verified manifest does not list, or buffer a blob (blobs stream through `routes::entry`).

use super::index::Index;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_bundle::images::{BLOBS_DIR, IMAGE_NAME, INDEX_PATH, is_index, is_manifest, reference};
use oci_spec::image::{ImageIndex, ImageManifest};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read as _;

/// A manifest as stored: its exact bytes (small, held in memory) and what it is.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub media_type: String,
    pub bytes: Bytes,
    /// For an index: (`os/arch`, digest) of each child, in order.
    pub children: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default)]
pub struct Repo {
    /// Tag → manifest digest (`sha256:…`).
    pub tags: BTreeMap<String, String>,
    /// Every manifest reachable from a tag, by digest.
    pub manifests: HashMap<String, Manifest>,
    /// Every config and layer digest reachable from a tag.
    pub blobs: BTreeSet<String>,
}

/// The registry: every repository of the bundle.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    pub repos: BTreeMap<String, Repo>,
}

impl Registry {
    /// Number of (repository, tag) pairs.
    pub fn tag_count(&self) -> usize {
        self.repos.values().map(|r| r.tags.len()).sum()
    }
}

/// A bundle whose images cannot be served (every check names the entry).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RegistryError {
    pub path: String,
    pub message: String,
}

fn err(path: &str, message: impl Into<String>) -> RegistryError {
    RegistryError {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Reads `images/index.json` and every manifest it reaches (a bundle without images gives an
/// empty registry).
pub fn build(index: &Index) -> Result<Registry, RegistryError> {
    let mut reg = Registry::default();
    let Some(loc) = index.lookup("images", "index.json") else {
        return Ok(reg);
    };
    let mut bytes = Vec::new();
    index
        .reader(loc)
        .take(16 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| err(INDEX_PATH, e.to_string()))?;
    let top: ImageIndex =
        serde_json::from_slice(&bytes).map_err(|e| err(INDEX_PATH, e.to_string()))?;
    for d in top.manifests() {
        let name = d
            .annotations()
            .as_ref()
            .and_then(|a| a.get(IMAGE_NAME))
            .ok_or_else(|| err(INDEX_PATH, format!("{} has no {IMAGE_NAME}", d.digest())))?;
        let (repo, tag) = match reference::split_tag(name) {
            (r, Some(t)) if reference::check_image_name(name).is_ok() => (r, t),
            _ => return Err(err(INDEX_PATH, format!("{name:?} is not repository:tag"))),
        };
        let r = reg.repos.entry(repo.to_string()).or_default();
        let digest = d.digest().to_string();
        walk(index, r, &digest, d.media_type().as_ref())?;
        r.tags.insert(tag.to_string(), digest);
    }
    Ok(reg)
}

/// Adds manifest `digest` and what it references to `repo`.
fn walk(
    index: &Index,
    repo: &mut Repo,
    digest: &str,
    desc_type: &str,
) -> Result<(), RegistryError> {
    if repo.manifests.contains_key(digest) {
        return Ok(());
    }
    let path =
        blob_path(digest).ok_or_else(|| err(INDEX_PATH, format!("bad digest {digest:?}")))?;
    let loc = index
        .lookup("images", &path["images/".len()..])
        .ok_or_else(|| err(&path, "referenced by a manifest but not in the bundle"))?;
    let mut bytes = Vec::new();
    index
        .reader(loc)
        .take(4 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| err(&path, e.to_string()))?;
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    let probe: Probe = serde_json::from_slice(&bytes).map_err(|e| err(&path, e.to_string()))?;
    let media_type = probe.media_type.unwrap_or_else(|| desc_type.to_string());
    if !is_manifest(&media_type) {
        return Err(err(
            &path,
            format!("unsupported manifest type {media_type:?}"),
        ));
    }
    let mut children = Vec::new();
    if is_index(&media_type) {
        let idx: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| err(&path, e.to_string()))?;
        for c in idx.manifests() {
            let platform = c
                .platform()
                .as_ref()
                .map(|p| format!("{}/{}", p.os(), p.architecture()))
                .unwrap_or_default();
            children.push((platform, c.digest().to_string()));
            walk(index, repo, c.digest().as_ref(), c.media_type().as_ref())?;
        }
    } else {
        let m: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| err(&path, e.to_string()))?;
        for b in std::iter::once(m.config()).chain(m.layers()) {
            let d = b.digest().to_string();
            let p = blob_path(&d).ok_or_else(|| err(&path, format!("bad digest {d:?}")))?;
            if index.lookup("images", &p["images/".len()..]).is_none() {
                return Err(err(
                    &p,
                    format!("referenced by {path} but not in the bundle"),
                ));
            }
            repo.blobs.insert(d);
        }
    }
    repo.manifests.insert(
        digest.to_string(),
        Manifest {
            media_type,
            bytes: Bytes::from(bytes),
            children,
        },
    );
    Ok(())
}

/// `images/blobs/sha256/<hex>` for a well-formed sha256 digest.
fn blob_path(digest: &str) -> Option<String> {
    reference::sha256_hex(digest).map(|h| format!("{BLOBS_DIR}/{h}"))
}

/// What a `/v2/…` path asks for (the part after `/v2/`).
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest {
        name: &'a str,
        reference: Reference<'a>,
    },
    Blob {
        name: &'a str,
        hex: &'a str,
    },
    /// `…/blobs/uploads/…`: push only.
    Upload,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Reference<'a> {
    Tag(&'a str),
    /// `sha256:<hex>`.
    Digest(&'a str),
}

/// An OCI error response.
#[derive(Debug, PartialEq, Eq)]
pub struct OciError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

fn oci(status: StatusCode, code: &'static str, message: impl Into<String>) -> OciError {
    OciError {
        status,
        code,
        message: message.into(),
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "errors": [{ "code": self.code, "message": self.message, "detail": null }]
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// Parses the path after `/v2/`. Names may contain slashes; nothing is normalised, so `..`
/// or `%2e%2e` are invalid names, never a way out.
pub fn parse(path: &str) -> Result<Request<'_>, OciError> {
    let name_ok = |name: &str| match reference::name_problem(name) {
        None => Ok(()),
        Some(p) => Err(oci(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            format!("invalid repository name {name:?}: {p}"),
        )),
    };
    match path {
        "" => return Ok(Request::Base),
        "_catalog" => return Ok(Request::Catalog),
        _ => {}
    }
    if let Some(name) = path.strip_suffix("/tags/list") {
        name_ok(name)?;
        return Ok(Request::Tags(name));
    }
    if path.contains("/blobs/uploads/") || path.ends_with("/blobs/uploads") {
        return Ok(Request::Upload);
    }
    if let Some((name, r)) = path.rsplit_once("/manifests/") {
        name_ok(name)?;
        let reference = if reference::looks_like_digest(r) {
            Reference::Digest(digest_ok(r)?)
        } else if reference::tag_problem(r).is_none() {
            Reference::Tag(r)
        } else {
            return Err(oci(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                format!("{r:?} is neither a tag nor a digest"),
            ));
        };
        return Ok(Request::Manifest { name, reference });
    }
    if let Some((name, d)) = path.rsplit_once("/blobs/") {
        name_ok(name)?;
        let d = digest_ok(d)?;
        return Ok(Request::Blob {
            name,
            hex: &d["sha256:".len()..],
        });
    }
    Err(oci(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("/v2/{path} is not a registry endpoint"),
    ))
}

fn digest_ok(d: &str) -> Result<&str, OciError> {
    match reference::sha256_hex(d) {
        Some(_) => Ok(d),
        None => Err(oci(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("{d:?} is not a sha256 digest (sha256:<64 lowercase hex>)"),
        )),
    }
}

/// The media types an `Accept` header list allows (`q=0` excluded); empty means anything.
pub fn accepted(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    for v in headers.get_all(header::ACCEPT) {
        let Ok(v) = v.to_str() else { continue };
        for item in v.split(',') {
            let mut parts = item.split(';');
            let ty = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            if !ty.is_empty() && !refused {
                out.push(ty);
            }
        }
    }
    out
}

fn allows(accept: &[String], media_type: &str) -> bool {
    accept.is_empty()
        || accept
            .iter()
            .any(|a| a == media_type || a == "*/*" || a == "application/*")
}

/// Which stored manifest answers a request: the one asked for when `Accept` allows it; for
/// an index asked by tag that the client cannot take, the `linux/amd64` child (else the
/// first) that it can, as Docker's registry does for old clients. By digest, never another.
pub fn negotiate<'r>(
    repo: &'r Repo,
    digest: &'r str,
    by_tag: bool,
    accept: &[String],
) -> Result<(&'r str, &'r Manifest), OciError> {
    let m = repo.manifests.get(digest).ok_or_else(|| {
        oci(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            format!("manifest {digest} is not in this repository"),
        )
    })?;
    if allows(accept, &m.media_type) {
        return Ok((digest, m));
    }
    if by_tag && is_index(&m.media_type) {
        let mut order: Vec<&(String, String)> =
            m.children.iter().filter(|c| c.0 == "linux/amd64").collect();
        order.extend(m.children.iter().filter(|c| c.0 != "linux/amd64"));
        for (_, d) in order {
            if let Some(c) = repo.manifests.get(d)
                && allows(accept, &c.media_type)
            {
                return Ok((d.as_str(), c));
            }
        }
    }
    Err(oci(
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
        format!(
            "manifest {digest} is {}, which the Accept header ({}) does not allow",
            m.media_type,
            accept.join(", ")
        ),
    ))
}

/// `n` and `last` of a query string (`n` absent: no limit).
pub fn page_params(query: Option<&str>) -> Result<(Option<usize>, Option<String>), OciError> {
    let (mut n, mut last) = (None, None);
    for pair in query.unwrap_or_default().split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "n" => {
                n = Some(v.parse::<usize>().map_err(|_| {
                    oci(
                        StatusCode::BAD_REQUEST,
                        "PAGINATION_NUMBER_INVALID",
                        format!("n={v:?} is not a number"),
                    )
                })?)
            }
            "last" => last = Some(percent_decode(v)),
            _ => {}
        }
    }
    Ok((n, last))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(x) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(x);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One page of sorted `items` after `last`, at most `n`; and whether more follow.
pub fn page<'a>(
    items: impl Iterator<Item = &'a String>,
    n: Option<usize>,
    last: Option<&str>,
) -> (Vec<&'a String>, bool) {
    let mut rest = items.filter(|i| last.is_none_or(|l| i.as_str() > l));
    let limit = n.unwrap_or(usize::MAX);
    let page: Vec<&String> = rest.by_ref().take(limit).collect();
    let more = rest.next().is_some();
    (page, more)
}

/// Headers every registry response carries.
fn api_version(mut r: Response) -> Response {
    r.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    r
}

/// Answers `/v2/<path>`. `blob` streams one verified bundle entry (from `routes`).
pub fn handle(
    registry: &Registry,
    index: &Index,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    blob: impl FnOnce(&super::index::Located) -> Response,
) -> Response {
    api_version(
        match respond(registry, index, method, path, query, headers, blob) {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
    )
}

fn respond(
    registry: &Registry,
    index: &Index,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    blob: impl FnOnce(&super::index::Located) -> Response,
) -> Result<Response, OciError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(oci(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            format!("{method} is not supported: this registry is read-only (pull only)"),
        ));
    }
    let repo_of = |name: &str| {
        registry.repos.get(name).ok_or_else(|| {
            oci(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                format!("repository {name:?} is not in this bundle"),
            )
        })
    };
    let json = |v: serde_json::Value, link: Option<String>| {
        let mut r = ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response();
        if let Some(l) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
            r.headers_mut().insert(header::LINK, l);
        }
        r
    };
    match parse(path)? {
        Request::Base => Ok(json(serde_json::json!({}), None)),
        Request::Upload => Err(oci(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "uploads are not supported: this registry is read-only (pull only)",
        )),
        Request::Catalog => {
            let (n, last) = page_params(query)?;
            let (names, more) = page(registry.repos.keys(), n, last.as_deref());
            let link = (more && !names.is_empty()).then(|| {
                format!(
                    "</v2/_catalog?n={}&last={}>; rel=\"next\"",
                    n.unwrap_or_default(),
                    names[names.len() - 1]
                )
            });
            Ok(json(serde_json::json!({ "repositories": names }), link))
        }
        Request::Tags(name) => {
            let repo = repo_of(name)?;
            let (n, last) = page_params(query)?;
            let (tags, more) = page(repo.tags.keys(), n, last.as_deref());
            let link = (more && !tags.is_empty()).then(|| {
                format!(
                    "</v2/{name}/tags/list?n={}&last={}>; rel=\"next\"",
                    n.unwrap_or_default(),
                    tags[tags.len() - 1]
                )
            });
            Ok(json(
                serde_json::json!({ "name": name, "tags": tags }),
                link,
            ))
        }
        Request::Manifest { name, reference } => {
            let repo = repo_of(name)?;
            let (digest, by_tag) = match reference {
                Reference::Tag(t) => (
                    repo.tags.get(t).cloned().ok_or_else(|| {
                        oci(
                            StatusCode::NOT_FOUND,
                            "MANIFEST_UNKNOWN",
                            format!("{name} has no tag {t:?}"),
                        )
                    })?,
                    true,
                ),
                Reference::Digest(d) => (d.to_string(), false),
            };
            let (digest, m) = negotiate(repo, &digest, by_tag, &accepted(headers))?;
            Response::builder()
                .header(header::CONTENT_TYPE, &m.media_type)
                .header(header::CONTENT_LENGTH, m.bytes.len())
                .header("docker-content-digest", digest)
                .header(header::ETAG, format!("\"{digest}\""))
                .body(Body::from(m.bytes.clone()))
                .map_err(|e| oci(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string()))
        }
        Request::Blob { name, hex } => {
            let repo = repo_of(name)?;
            let digest = format!("sha256:{hex}");
            let unknown = || {
                oci(
                    StatusCode::NOT_FOUND,
                    "BLOB_UNKNOWN",
                    format!("blob {digest} is not in repository {name}"),
                )
            };
            if !repo.blobs.contains(&digest) && !repo.manifests.contains_key(&digest) {
                return Err(unknown());
            }
            let loc = index
                .lookup("images", &format!("blobs/sha256/{hex}"))
                .ok_or_else(unknown)?;
            let mut r = blob(loc);
            r.headers_mut().insert(
                "docker-content-digest",
                HeaderValue::from_str(&digest).expect("hex digits are a valid header"),
            );
            Ok(r)
        }
    }
}

#[cfg(test)]
mod tests;
