//! Cairn's small OCI registry client, for `docker://` images in a bundle spec: pulls one image
//! (a manifest, or an index and the manifests of the spec's platforms, with their configs and
//! layers) into an OCI image layout directory, which `cairn-bundle` then takes as its input.
//!
//! Speaks the distribution spec's pull API over HTTPS (plain HTTP with `insecure: true`)
//! through the build's one HTTP client (`net.rs`: trust, proxies, timeouts), with anonymous
//! bearer-token auth (`WWW-Authenticate: Bearer realm=…,service=…,scope=…`, the token asked of
//! the realm and sent back as `Authorization: Bearer`) and redirects (reqwest drops the
//! `Authorization` header when a redirect leaves the registry's host, e.g. for a CDN).
//! Every manifest and blob is checked against its digest before it is kept.
//!
//! Must not: know the bundle format (that is `cairn-bundle`), keep anything unverified, or
//! print a token.

use crate::net::describe;
use cairn_bundle::fetch::Transfer;
use cairn_bundle::images::reference::{self, RegistryRef};
use cairn_bundle::images::{
    DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, REF_NAME, is_index,
};
use oci_spec::image::{ImageIndex, ImageManifest};
use reqwest::{StatusCode, header};
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::path::Path;

/// The tag the pulled image gets in its layout.
const TAG: &str = "pulled";
const MAX_MANIFEST: usize = 4 << 20;

struct Session<'a> {
    client: &'a reqwest::Client,
    base: String,
    repo: String,
    token: Option<String>,
    progress: &'a mut (dyn FnMut(Transfer) + Send),
}

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Pulls `image` into the OCI layout directory `into`; returns the tag to select it by.
pub async fn pull(
    client: &reqwest::Client,
    image: &RegistryRef,
    insecure: bool,
    platforms: &[String],
    into: &Path,
    progress: &mut (dyn FnMut(Transfer) + Send),
) -> Result<String, String> {
    let scheme = if insecure { "http" } else { "https" };
    let mut s = Session {
        client,
        base: format!("{scheme}://{}", image.host),
        repo: image.repository.clone(),
        token: None,
        progress,
    };
    let blobs = into.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| format!("{}: {e}", blobs.display()))?;
    let (bytes, media_type, digest) = s.manifest(&image.reference).await?;
    let hex = digest_hex(&digest)?;
    std::fs::write(blobs.join(hex), &bytes).map_err(|e| e.to_string())?;
    if is_index(&media_type) {
        let idx: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| format!("index: {e}"))?;
        for m in idx.manifests() {
            let platform = m
                .platform()
                .as_ref()
                .map(|p| format!("{}/{}", p.os(), p.architecture()));
            if !platforms.is_empty() && !platform.is_some_and(|p| platforms.contains(&p)) {
                continue;
            }
            let (b, _, d) = s.manifest(m.digest().as_ref()).await?;
            std::fs::write(blobs.join(digest_hex(&d)?), &b).map_err(|e| e.to_string())?;
            s.blobs_of(&b, &blobs).await?;
        }
    } else {
        s.blobs_of(&bytes, &blobs).await?;
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": media_type, "digest": digest, "size": bytes.len(),
            "annotations": { REF_NAME: TAG },
        }],
    });
    std::fs::write(into.join("index.json"), index.to_string()).map_err(|e| e.to_string())?;
    std::fs::write(
        into.join("oci-layout"),
        "{\"imageLayoutVersion\":\"1.0.0\"}",
    )
    .map_err(|e| e.to_string())?;
    Ok(TAG.into())
}

fn digest_hex(d: &str) -> Result<&str, String> {
    reference::sha256_hex(d).ok_or_else(|| format!("digest {d:?} is not sha256:<64 lowercase hex>"))
}

impl Session<'_> {
    /// GET with auth (one bearer-token round on a 401) and redirects; the successful response.
    async fn get(&mut self, path: &str, accept: Option<&str>) -> Result<reqwest::Response, String> {
        let url = format!("{}{path}", self.base);
        loop {
            let mut req = self.client.get(&url);
            if let Some(a) = accept {
                req = req.header(header::ACCEPT, a);
            }
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| format!("GET {url}: {}", describe(&e)))?;
            match resp.status() {
                StatusCode::UNAUTHORIZED if self.token.is_none() => {
                    let challenge = resp
                        .headers()
                        .get(header::WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    self.token = Some(self.login(&challenge).await?);
                }
                s if s.is_success() => return Ok(resp),
                s => {
                    let body = read_limited(resp, 4096).await.unwrap_or_default();
                    return Err(format!(
                        "GET {url}: {s}: {}",
                        String::from_utf8_lossy(&body).trim()
                    ));
                }
            }
        }
    }

    /// Anonymous bearer token from the challenge's realm (the token itself is never printed).
    async fn login(&mut self, challenge: &str) -> Result<String, String> {
        let Some(params) = challenge.strip_prefix("Bearer ") else {
            return Err(format!(
                "the registry wants {challenge:?} authentication; only anonymous bearer tokens are supported"
            ));
        };
        let mut realm = None;
        let mut query = Vec::new();
        for (k, v) in challenge_params(params) {
            match k.as_str() {
                "realm" => realm = Some(v),
                "service" | "scope" => query.push((k, v)),
                _ => {}
            }
        }
        if !query.iter().any(|(k, _)| k == "scope") {
            query.push(("scope".into(), format!("repository:{}:pull", self.repo)));
        }
        let realm = realm.ok_or("the bearer challenge has no realm")?;
        let mut url =
            reqwest::Url::parse(&realm).map_err(|e| format!("token realm {realm}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("token realm {realm}: not an http(s) url"));
        }
        url.query_pairs_mut().extend_pairs(&query);
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("token realm {realm}: {}", describe(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("token realm {realm}: {}", resp.status()));
        }
        let body = read_limited(resp, 1 << 20).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("token realm {realm}: {e}"))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| format!("token realm {realm}: no token in the answer"))
    }

    /// A manifest by tag or digest: (bytes, media type, digest), digest-checked.
    async fn manifest(&mut self, reference: &str) -> Result<(Vec<u8>, String, String), String> {
        let path = format!("/v2/{}/manifests/{reference}", self.repo);
        let resp = self.get(&path, Some(ACCEPT)).await?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let bytes = read_limited(resp, MAX_MANIFEST).await?;
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        let expected = if reference.contains(':') {
            Some(reference.to_string())
        } else {
            header_digest
        };
        if let Some(e) = expected
            && e != digest
        {
            return Err(format!(
                "manifest {reference}: the registry sent bytes hashing to {digest}, expected {e}"
            ));
        }
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
        }
        let probe: Probe =
            serde_json::from_slice(&bytes).map_err(|e| format!("manifest {reference}: {e}"))?;
        let media_type = probe.media_type.unwrap_or(content_type);
        if ![OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].contains(&media_type.as_str()) {
            return Err(format!(
                "manifest {reference}: unsupported media type {media_type:?}"
            ));
        }
        Ok((bytes, media_type, digest))
    }

    /// The config and layers of an image manifest, each to `blobs/<hex>` (verified).
    async fn blobs_of(&mut self, manifest: &[u8], blobs: &Path) -> Result<(), String> {
        let m: ImageManifest =
            serde_json::from_slice(manifest).map_err(|e| format!("manifest: {e}"))?;
        for d in std::iter::once(m.config()).chain(m.layers()) {
            let digest = d.digest().to_string();
            let hex = digest_hex(&digest)?.to_string();
            let dest = blobs.join(&hex);
            if dest.exists() {
                continue;
            }
            let mut resp = self
                .get(&format!("/v2/{}/blobs/{digest}", self.repo), None)
                .await?;
            (self.progress)(Transfer::Started {
                what: format!("{}@{}", self.repo, &digest[..19]),
                total: Some(d.size()),
            });
            let tmp = blobs.join(format!(".{hex}.partial"));
            let mut f = std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::File::create(&tmp).map_err(|e| e.to_string())?,
            );
            let mut h = Sha256::new();
            let mut size = 0u64;
            loop {
                let chunk = match resp.chunk().await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(format!("blob {digest}: {}", describe(&e)));
                    }
                };
                h.update(&chunk);
                size += chunk.len() as u64;
                f.write_all(&chunk).map_err(|e| e.to_string())?;
                (self.progress)(Transfer::Bytes(chunk.len() as u64));
            }
            f.flush().map_err(|e| e.to_string())?;
            drop(f);
            let got = hex::encode(h.finalize());
            if got != hex || size != d.size() {
                let _ = std::fs::remove_file(&tmp);
                return Err(format!(
                    "blob {digest}: received {size} bytes hashing to sha256:{got}, expected {} bytes",
                    d.size()
                ));
            }
            std::fs::rename(&tmp, &dest).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// `realm="https://a/token",service="reg",scope="repository:x:pull"` as (key, value) pairs;
/// commas inside quoted values (several scopes) are kept.
fn challenge_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while let Some((k, after)) = rest.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.push((k, v.to_string()));
        rest = next.trim_start().trim_start_matches(',');
    }
    out
}

async fn read_limited(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if out.len() + chunk.len() > max {
            return Err(format!("response larger than {max} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{HeaderMap, StatusCode as Status};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    /// A registry that wants an anonymous bearer token, with one image `lib/img:1`.
    struct Fake {
        manifest: Vec<u8>,
        blobs: HashMap<String, Vec<u8>>,
        addr: String,
    }

    /// The token endpoint: only for the service and scope the challenge named.
    async fn token(axum::extract::RawQuery(q): axum::extract::RawQuery) -> Response {
        if q.as_deref() == Some("service=fake&scope=repository%3Alib%2Fimg%3Apull") {
            r#"{"token":"t0ken"}"#.into_response()
        } else {
            (Status::BAD_REQUEST, format!("bad query {q:?}")).into_response()
        }
    }

    fn authorized(h: &HeaderMap, f: &Fake) -> Option<Response> {
        if h.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer t0ken") {
            return None;
        }
        let challenge = format!(
            "Bearer realm=\"http://{}/token\",service=\"fake\",scope=\"repository:lib/img:pull\"",
            f.addr
        );
        Some((Status::UNAUTHORIZED, [("www-authenticate", challenge)], "").into_response())
    }

    async fn v2(State(f): State<Arc<Fake>>, UrlPath(p): UrlPath<String>, h: HeaderMap) -> Response {
        if let Some(r) = authorized(&h, &f) {
            return r;
        }
        if p == "lib/img/manifests/1" {
            return ([("content-type", OCI_MANIFEST)], f.manifest.clone()).into_response();
        }
        match p
            .strip_prefix("lib/img/blobs/sha256:")
            .and_then(|x| f.blobs.get(x))
        {
            Some(b) => b.clone().into_response(),
            None => Status::NOT_FOUND.into_response(),
        }
    }

    async fn serve(layer_served: Vec<u8>, layer_named: &[u8]) -> (String, Vec<u8>) {
        let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": format!("sha256:{}", sha(&config)), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": format!("sha256:{}", sha(layer_named)), "size": layer_named.len()}],
        })
        .to_string()
        .into_bytes();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let fake = Arc::new(Fake {
            manifest: manifest.clone(),
            blobs: HashMap::from([(sha(&config), config), (sha(layer_named), layer_served)]),
            addr: addr.clone(),
        });
        let app = Router::new()
            .route("/token", get(token))
            .route("/v2/{*p}", get(v2))
            .with_state(fake);
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, manifest)
    }

    fn image(addr: &str) -> RegistryRef {
        RegistryRef {
            host: addr.into(),
            repository: "lib/img".into(),
            reference: "1".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pulls_with_a_bearer_token_and_checks_digests() {
        let layer = b"layer bytes".to_vec();
        let (addr, manifest) = serve(layer.clone(), &layer).await;
        let dir = tempfile::tempdir().unwrap();
        let client = crate::net::client(&[]).unwrap();
        let mut events = Vec::new();
        let tag = pull(&client, &image(&addr), true, &[], dir.path(), &mut |t| {
            events.push(t)
        })
        .await
        .unwrap();
        assert!(
            events.contains(&Transfer::Bytes(layer.len() as u64)),
            "{events:?}"
        );
        assert_eq!(tag, "pulled");
        let blobs = dir.path().join("blobs/sha256");
        assert_eq!(std::fs::read(blobs.join(sha(&manifest))).unwrap(), manifest);
        assert_eq!(std::fs::read(blobs.join(sha(&layer))).unwrap(), layer);
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(
            index["manifests"][0]["digest"],
            format!("sha256:{}", sha(&manifest))
        );

        // A registry sending other bytes than the digest names: refused, nothing kept.
        let (addr, _) = serve(b"evil bytes!".to_vec(), &layer).await;
        let dir = tempfile::tempdir().unwrap();
        let e = pull(&client, &image(&addr), true, &[], dir.path(), &mut |_| {})
            .await
            .unwrap_err();
        assert_eq!(
            e,
            format!(
                "blob sha256:{}: received 11 bytes hashing to sha256:{}, expected 11 bytes",
                sha(&layer),
                sha(b"evil bytes!")
            )
        );
        assert!(!dir.path().join("blobs/sha256").join(sha(&layer)).exists());
    }

    #[test]
    fn challenge_params_keep_quoted_commas() {
        assert_eq!(
            challenge_params(
                r#"realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            [
                (
                    "realm".to_string(),
                    "https://auth.example/token".to_string()
                ),
                ("service".into(), "registry.example".into()),
                ("scope".into(), "repository:a/b:pull,push".into()),
            ]
        );
        assert_eq!(
            challenge_params("realm=http://x/t, Service=s"),
            [
                ("realm".to_string(), "http://x/t".to_string()),
                ("service".into(), "s".into())
            ]
        );
    }
}
