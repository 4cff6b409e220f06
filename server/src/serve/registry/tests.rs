use super::*;
use crate::serve::routes::{Served, router};
use axum::Router;
use axum::http::Request as HttpRequest;
use http_body_util::BodyExt as _;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt as _;

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn paths_parse_into_requests_or_oci_errors() {
    use Reference::*;
    let d = format!("sha256:{H}");
    for (path, want) in [
        ("", Ok(Request::Base)),
        ("_catalog", Ok(Request::Catalog)),
        ("a/b/c/tags/list", Ok(Request::Tags("a/b/c"))),
        (
            "busybox/manifests/1.36",
            Ok(Request::Manifest {
                name: "busybox",
                reference: Tag("1.36"),
            }),
        ),
        (
            &format!("cairn/deep/name/manifests/{d}"),
            Ok(Request::Manifest {
                name: "cairn/deep/name",
                reference: Digest(&d),
            }),
        ),
        // A repository may itself be called "manifests" or "blobs": the last marker wins.
        (
            "x/manifests/manifests/1",
            Ok(Request::Manifest {
                name: "x/manifests",
                reference: Tag("1"),
            }),
        ),
        (
            &format!("a/b/blobs/{d}"),
            Ok(Request::Blob {
                name: "a/b",
                hex: H,
            }),
        ),
        ("a/blobs/uploads/", Ok(Request::Upload)),
        ("a/blobs/uploads/123", Ok(Request::Upload)),
    ] {
        assert_eq!(parse(path), want, "{path}");
    }
    for (path, status, code) in [
        ("../x/manifests/1", 400, "NAME_INVALID"),
        ("a/../b/manifests/1", 400, "NAME_INVALID"),
        ("%2e%2e/manifests/1", 400, "NAME_INVALID"),
        ("a//b/manifests/1", 400, "NAME_INVALID"),
        ("/a/manifests/1", 400, "NAME_INVALID"),
        ("A/manifests/1", 400, "NAME_INVALID"),
        ("../../blobs/sha256:0", 400, "NAME_INVALID"),
        ("a/manifests/sha256:abc", 400, "DIGEST_INVALID"),
        ("a/manifests/md5:abc", 400, "DIGEST_INVALID"),
        (
            &format!("a/manifests/sha256:{}", H.to_uppercase()),
            400,
            "DIGEST_INVALID",
        ),
        ("a/blobs/1.36", 400, "DIGEST_INVALID"),
        ("a/blobs/sha256:../../manifest.json", 400, "DIGEST_INVALID"),
        ("a/manifests/.hidden", 404, "MANIFEST_UNKNOWN"),
        ("a/manifests/", 404, "MANIFEST_UNKNOWN"),
        ("a/tags", 404, "NOT_FOUND"),
        ("manifest.json", 404, "NOT_FOUND"),
    ] {
        let e = parse(path).expect_err(path);
        assert_eq!(
            (e.status.as_u16(), e.code),
            (status, code),
            "{path}: {}",
            e.message
        );
    }
}

fn manifest(media: &str, children: &[(&str, &str)]) -> Manifest {
    Manifest {
        media_type: media.into(),
        bytes: Bytes::from_static(b"{}"),
        children: children
            .iter()
            .map(|(p, d)| (p.to_string(), d.to_string()))
            .collect(),
    }
}

#[test]
fn negotiation_serves_what_accept_allows() {
    use cairn_bundle::images::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
    let mut repo = Repo::default();
    repo.manifests.insert(
        "idx".into(),
        manifest(OCI_INDEX, &[("linux/fake", "m2"), ("linux/amd64", "m1")]),
    );
    repo.manifests
        .insert("m1".into(), manifest(OCI_MANIFEST, &[]));
    repo.manifests
        .insert("m2".into(), manifest(OCI_MANIFEST, &[]));
    repo.manifests.insert(
        "list".into(),
        manifest(DOCKER_LIST, &[("linux/amd64", "d1")]),
    );
    repo.manifests
        .insert("d1".into(), manifest(DOCKER_MANIFEST, &[]));
    let acc = |v: &[&str]| {
        let mut h = HeaderMap::new();
        for x in v {
            h.append(header::ACCEPT, HeaderValue::from_str(x).unwrap());
        }
        accepted(&h)
    };
    for (digest, by_tag, accept, want) in [
        ("idx", true, acc(&[]), Ok("idx")),
        ("idx", true, acc(&["*/*"]), Ok("idx")),
        (
            "idx",
            true,
            acc(&[&format!("{OCI_MANIFEST}, {OCI_INDEX}")]),
            Ok("idx"),
        ),
        ("idx", true, acc(&[OCI_MANIFEST, OCI_INDEX]), Ok("idx")),
        // An old client asking by tag for single manifests: the amd64 child.
        ("idx", true, acc(&[OCI_MANIFEST]), Ok("m1")),
        // By digest the bytes must hash to the digest: no substitution.
        ("idx", false, acc(&[OCI_MANIFEST]), Err("MANIFEST_UNKNOWN")),
        (
            "idx",
            true,
            acc(&[&format!("{OCI_INDEX};q=0, {DOCKER_MANIFEST}")]),
            Err("MANIFEST_UNKNOWN"),
        ),
        (
            "m1",
            false,
            acc(&[DOCKER_MANIFEST]),
            Err("MANIFEST_UNKNOWN"),
        ),
        (
            "m1",
            false,
            acc(&[&format!("{DOCKER_MANIFEST}, {OCI_MANIFEST};q=0.5")]),
            Ok("m1"),
        ),
        ("list", true, acc(&[DOCKER_MANIFEST]), Ok("d1")),
        ("list", true, acc(&[DOCKER_LIST]), Ok("list")),
        ("nope", true, acc(&[]), Err("MANIFEST_UNKNOWN")),
    ] {
        let got = negotiate(&repo, digest, by_tag, &accept)
            .map(|(d, _)| d)
            .map_err(|e| e.code);
        assert_eq!(got, want, "{digest} {accept:?}");
    }
}

#[test]
fn pagination_pages_after_last() {
    let items: Vec<String> = ["a", "b/c", "d", "e"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let names = |v: Vec<&String>| v.into_iter().cloned().collect::<Vec<_>>();
    for (n, last, want, more) in [
        (None, None, vec!["a", "b/c", "d", "e"], false),
        (Some(2), None, vec!["a", "b/c"], true),
        (Some(2), Some("b/c"), vec!["d", "e"], false),
        (Some(1), Some("d"), vec!["e"], false),
        (Some(0), None, vec![], true),
        (None, Some("e"), vec![], false),
        (Some(10), Some("0"), vec!["a", "b/c", "d", "e"], false),
    ] {
        let (page, m) = page(items.iter(), n, last);
        assert_eq!(
            (names(page), m),
            (want.iter().map(|s| s.to_string()).collect(), more),
            "{n:?} {last:?}"
        );
    }
    assert_eq!(
        page_params(Some("n=2&last=b%2Fc")).unwrap(),
        (Some(2), Some("b/c".into()))
    );
    assert_eq!(page_params(None).unwrap(), (None, None));
    assert_eq!(
        page_params(Some("n=x")).unwrap_err().code,
        "PAGINATION_NUMBER_INVALID"
    );
}

/// Writes a blob into an OCI layout; returns its descriptor.
fn put(dir: &Path, media: &str, b: &[u8]) -> serde_json::Value {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(sha(b)), b).unwrap();
    json!({"mediaType": media, "digest": format!("sha256:{}", sha(b)), "size": b.len()})
}

/// A one-image OCI layout whose single layer is `layer`; returns the manifest digest.
fn layout(dir: &Path, layer: &[u8]) -> String {
    let l = put(dir, "application/vnd.oci.image.layer.v1.tar", layer);
    let c = put(
        dir,
        "application/vnd.oci.image.config.v1+json",
        json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [l["digest"]]}})
            .to_string()
            .as_bytes(),
    );
    let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": c, "layers": [l]});
    let mut d = put(
        dir,
        "application/vnd.oci.image.manifest.v1+json",
        m.to_string().as_bytes(),
    );
    d["annotations"] = json!({"org.opencontainers.image.ref.name": "1"});
    std::fs::write(
        dir.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [d]}).to_string(),
    )
    .unwrap();
    d["digest"].as_str().unwrap().to_string()
}

struct Fixture {
    app: Router,
    m1: String,
    layer1: Vec<u8>,
    layer2: Vec<u8>,
    _tmp: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let layer1: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let layer2 = b"second image's layer".to_vec();
    let m1 = layout(&d.join("one"), &layer1);
    layout(&d.join("two"), &layer2);
    std::fs::create_dir_all(d.join("pb")).unwrap();
    std::fs::write(
        d.join("s.yaml"),
        "apiVersion: cairn/v1\nkind: Bundle\nname: t\nversion: '1'\nplaybooks: pb\nimages:\n\
         \x20 - from: oci:one\n    name: cairn/deep/one:1\n  - from: oci:two\n    name: two:1\n\
         \x20 - from: oci:two\n    name: two:latest\n",
    )
    .unwrap();
    let spec = cairn_bundle::spec::load(&d.join("s.yaml")).unwrap();
    let opts = cairn_bundle::writer::BuildOptions {
        out_dir: d.join("out"),
        sign: None,
        created: 0,
        tool: "t".into(),
    };
    let built = cairn_bundle::writer::build(&spec, &opts, &mut |_| {}).unwrap();
    let file = std::fs::File::open(&built.path).unwrap();
    let verified =
        cairn_bundle::verify::verify(std::io::BufReader::new(file.try_clone().unwrap()), None)
            .unwrap();
    let index = Index::new(file, verified);
    let deb = crate::serve::deb_repo::build(&index).unwrap();
    let registry = build(&index).unwrap();
    assert_eq!(registry.tag_count(), 3);
    let app = router(Arc::new(Served {
        index,
        deb,
        registry,
    }));
    Fixture {
        app,
        m1,
        layer1,
        layer2,
        _tmp: tmp,
    }
}

struct Got {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn call(app: &Router, method: &str, uri: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = HttpRequest::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    Got {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    }
}

fn code(g: &Got) -> String {
    let v: serde_json::Value = serde_json::from_slice(&g.body).unwrap();
    v["errors"][0]["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_pull_api_over_a_built_bundle() {
    let f = fixture();
    let app = &f.app;
    let g = call(app, "GET", "/v2/", &[]).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.headers["docker-distribution-api-version"], "registry/2.0");

    let g = call(app, "GET", "/v2/_catalog", &[]).await;
    assert_eq!(
        String::from_utf8(g.body).unwrap(),
        r#"{"repositories":["cairn/deep/one","two"]}"#
    );
    let g = call(app, "GET", "/v2/_catalog?n=1", &[]).await;
    assert_eq!(
        String::from_utf8(g.body).unwrap(),
        r#"{"repositories":["cairn/deep/one"]}"#
    );
    assert_eq!(
        g.headers[header::LINK],
        "</v2/_catalog?n=1&last=cairn/deep/one>; rel=\"next\""
    );
    let g = call(app, "GET", "/v2/two/tags/list", &[]).await;
    assert_eq!(
        String::from_utf8(g.body).unwrap(),
        r#"{"name":"two","tags":["1","latest"]}"#
    );

    // Manifest by tag and by digest, GET and HEAD.
    for uri in [
        "/v2/cairn/deep/one/manifests/1".to_string(),
        format!("/v2/cairn/deep/one/manifests/{}", f.m1),
    ] {
        for method in ["GET", "HEAD"] {
            let g = call(
                app,
                method,
                &uri,
                &[("accept", "application/vnd.oci.image.manifest.v1+json")],
            )
            .await;
            assert_eq!(g.status, 200, "{method} {uri}");
            assert_eq!(g.headers["docker-content-digest"], f.m1.as_str());
            assert_eq!(
                g.headers[header::CONTENT_TYPE],
                "application/vnd.oci.image.manifest.v1+json"
            );
            let len: usize = g.headers[header::CONTENT_LENGTH]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            if method == "GET" {
                assert_eq!(len, g.body.len());
                assert_eq!(format!("sha256:{}", sha(&g.body)), f.m1);
            } else {
                assert!(g.body.is_empty() && len > 0);
            }
        }
    }
    let g = call(
        app,
        "GET",
        "/v2/cairn/deep/one/manifests/1",
        &[(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
    )
    .await;
    assert_eq!((g.status, code(&g)), (404, "MANIFEST_UNKNOWN".into()));

    // Blobs: whole, a range, HEAD; only under a repository that references them.
    let l1 = format!("sha256:{}", sha(&f.layer1));
    let g = call(app, "GET", &format!("/v2/cairn/deep/one/blobs/{l1}"), &[]).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body, f.layer1);
    assert_eq!(g.headers["docker-content-digest"], l1.as_str());
    let g = call(
        app,
        "GET",
        &format!("/v2/cairn/deep/one/blobs/{l1}"),
        &[("range", "bytes=299990-")],
    )
    .await;
    assert_eq!(g.status, 206);
    assert_eq!(
        g.headers[header::CONTENT_RANGE],
        "bytes 299990-299999/300000"
    );
    assert_eq!(g.body, &f.layer1[299_990..]);
    let g = call(app, "HEAD", &format!("/v2/cairn/deep/one/blobs/{l1}"), &[]).await;
    assert_eq!(
        (
            g.status,
            g.headers[header::CONTENT_LENGTH].to_str().unwrap()
        ),
        (200, "300000")
    );
    let g = call(app, "GET", &format!("/v2/two/blobs/{l1}"), &[]).await;
    assert_eq!((g.status, code(&g)), (404, "BLOB_UNKNOWN".into()));
    let l2 = format!("sha256:{}", sha(&f.layer2));
    let g = call(app, "GET", &format!("/v2/two/blobs/{l2}"), &[]).await;
    assert_eq!((g.status, g.body.as_slice()), (200, f.layer2.as_slice()));

    // Errors.
    for (method, uri, status, want) in [
        ("GET", "/v2/nope/manifests/1", 404, "NAME_UNKNOWN"),
        ("GET", "/v2/nope/tags/list", 404, "NAME_UNKNOWN"),
        ("GET", "/v2/two/manifests/2", 404, "MANIFEST_UNKNOWN"),
        ("GET", "/v2/two/blobs/sha256:1234", 400, "DIGEST_INVALID"),
        ("GET", "/v2/../manifest.json", 404, "NOT_FOUND"),
        (
            "GET",
            "/v2/two/../cairn/deep/one/manifests/1",
            400,
            "NAME_INVALID",
        ),
        ("PUT", "/v2/two/manifests/1", 405, "UNSUPPORTED"),
        ("DELETE", &format!("/v2/two/blobs/{l2}"), 405, "UNSUPPORTED"),
        ("POST", "/v2/two/blobs/uploads/", 405, "UNSUPPORTED"),
        ("PATCH", "/v2/two/blobs/uploads/x", 405, "UNSUPPORTED"),
    ] {
        let g = call(app, method, uri, &[]).await;
        assert_eq!(
            (g.status, code(&g)),
            (status, want.to_string()),
            "{method} {uri}"
        );
        assert_eq!(g.headers["docker-distribution-api-version"], "registry/2.0");
    }
}
