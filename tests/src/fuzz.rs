//! The fuzz entry points: one `pub fn NAME(data: &[u8])` per target of `tests/fuzz/` (cargo-fuzz,
//! libFuzzer), also called by `tests/tests/fuzz_corpus.rs`, which replays the committed corpora
//! and the inputs that once crashed as plain tests. Each feeds arbitrary bytes to one of Cairn's
//! readers of untrusted or hand-written input, exactly as the product calls it, and renders
//! whatever error comes back (diagnostics print snippets with carets: their column arithmetic
//! is part of what is fuzzed).
//!
//! The contract checked: no panic, no hang, and every refusal carries a message. An entry
//! point asserts only that (an error that renders to nothing is a bug); it never checks what
//! was parsed, which the unit tests of each reader do. Must not: copy product code (a reader
//! that is not reachable from here gets a small documented `pub` entry point in its crate).

use axum::body::Body;
use axum::http::{Method, Request};
use cairn::serve::{open, registry, routes};
use cairn_engine::inventory;
use cairn_engine::playbook;
use cairn_engine::run::template::{Context, Templar};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt as _;

/// Splits `data` at NUL bytes into at most `n` UTF-8 parts (lossy: the readers take text).
fn parts(data: &[u8], n: usize) -> Vec<String> {
    data.splitn(n, |b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

fn nonempty(what: &str, message: &str) {
    assert!(
        !message.trim().is_empty(),
        "{what}: an error without a message"
    );
}

/// A scratch directory for the whole process (fuzzers run one input at a time per process).
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temporary directory"))
        .path()
}

/// A playbook and one role: `data` is `site.yml`, then (after a NUL byte) the role `r`'s
/// `tasks/main.yml`, then its `meta/main.yml`, then its `handlers/main.yml`. Loaded with
/// `playbook::load` as `cairn play` does; on success also listed (`--list-tasks` with an
/// inventory), on failure every diagnostic rendered.
pub fn playbook(data: &[u8]) {
    let dir = scratch().join("playbook");
    let role = dir.join("roles/r");
    let p = parts(data, 4);
    for (i, rel) in [
        "site.yml",
        "roles/r/tasks/main.yml",
        "roles/r/meta/main.yml",
        "roles/r/handlers/main.yml",
    ]
    .iter()
    .enumerate()
    {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        match p.get(i) {
            Some(text) => std::fs::write(&path, text).unwrap(),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    debug_assert!(role.is_dir());
    // The YAML loader alone first: its positions and the duplicate-key walk.
    if let Ok(root) = cairn_engine::yaml::parse(&p[0]) {
        let _ = root.to_json();
        let _ = cairn_engine::yaml::duplicate_keys(&root);
    } else if let Err(e) = cairn_engine::yaml::parse(&p[0]) {
        nonempty("yaml", &e.into_diagnostic("site.yml").render(&p[0]));
    }
    match playbook::load(&dir.join("site.yml"), &playbook::Options::default()) {
        Ok(loaded) => {
            let _ = loaded.render_warnings();
            let inv = inventory::load_str("hosts", "[all]\na\nb\n[web]\nb\n")
                .expect("the fixed inventory loads");
            let options = playbook::ListOptions {
                inventory: Some(&inv.inventory),
                limit: None,
                tasks: Some(playbook::TagFilter::default()),
            };
            let _ = playbook::render_listing("site.yml", &loaded.playbook, &options);
        }
        Err(e) => nonempty("playbook", &e.render()),
    }
}

/// Loads `data` as an inventory named `name` and, when it loads, selects hosts with `pattern`.
fn inventory_text(name: &str, text: &str, pattern: &str) {
    match inventory::load_str(name, text) {
        Ok(loaded) => {
            let _ = loaded.render_warnings();
            let _ = loaded.inventory.groups_of("all");
            for h in loaded.inventory.hosts.keys().take(8) {
                let _ = loaded.inventory.host_vars(h);
            }
            match loaded.inventory.select(pattern) {
                Ok(_) => {}
                Err(e) => nonempty("pattern", &e.to_string()),
            }
        }
        Err(e) => nonempty(name, &e.render()),
    }
}

/// `cluster.yaml`: `data` loaded as `cairn install` reads its config (the install sections
/// included), then `all` selected.
pub fn cluster_yaml(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    inventory_text("cluster.yaml", &text, "all");
}

/// An Ansible INI inventory (`data` before the first NUL) and a host pattern (after it, as
/// `--limit` would give it).
pub fn inventory_ini(data: &[u8]) {
    let p = parts(data, 2);
    let pattern = p.get(1).map(String::as_str).unwrap_or("all");
    inventory_text("hosts", &p[0], pattern);
}

/// Variables every template sees: those of the filter test table (`cases.json`, whose
/// expressions seed the corpus) and a little of each type, as facts and role defaults give them.
fn template_context() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(|| {
        let cases = crate::repo_root().join("server/engine/src/run/filters/cases.json");
        let cases: Value =
            serde_json::from_slice(&std::fs::read(cases).expect("cases.json")).expect("JSON");
        let mut v = json!({
            "s": "hello world", "n": 42, "f": 1.5, "t": true, "z": null,
            "l": [1, "two", [3], {"four": 4}], "d": {"a": 1, "b": {"c": "x"}},
            "hosts": ["10.0.0.1", "10.0.0.2/24", "fe80::1"],
            "inventory_hostname": "node1", "groups": {"all": ["node1", "node2"]},
            "hostvars": {"node1": {"ip": "10.0.0.1"}, "node2": {"ip": "10.0.0.2"}},
        });
        if let (Some(all), Some(table)) = (v.as_object_mut(), cases["vars"].as_object()) {
            for (k, x) in table {
                all.entry(k.clone()).or_insert_with(|| x.clone());
            }
        }
        let Value::Object(vars) = v else {
            unreachable!("a JSON object")
        };
        Context::new(vars)
    })
}

fn templar() -> &'static Templar {
    static T: OnceLock<Templar> = OnceLock::new();
    T.get_or_init(Templar::new)
}

/// A Jinja template with Ansible's filters and tests (`Templar`, as task arguments are
/// templated): `data` rendered as a template, evaluated as a `when:` condition, and scanned
/// for the variables it references.
pub fn template(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let t = templar();
    let ctx = template_context();
    let value = Value::String(text.clone());
    let _ = t.referenced(&value);
    if let Err(e) = t.template(&value, ctx) {
        nonempty("template", &e);
    }
    if let Err(e) = t.condition(&text, ctx) {
        nonempty("condition", &e);
    }
}

/// A bundle's `manifest.json` (parsed and checked as `verify` does before anything else) and
/// a bundle spec (`cairn bundle build`'s YAML): the same bytes through both.
pub fn bundle_manifest(data: &[u8]) {
    match cairn_bundle::manifest::Manifest::from_bytes(data) {
        Ok(m) => {
            let _ = m.total_size();
            let _ = m.to_bytes();
        }
        Err(e) => nonempty("manifest", &e.to_string()),
    }
    let text = String::from_utf8_lossy(data);
    match cairn_bundle::spec::parse(&text) {
        Ok(spec) => {
            for f in &spec.files {
                let _ = f.bundle_name();
            }
        }
        Err(e) => nonempty("spec", &e.message),
    }
}

/// A bundle file: `data` read by the tar reader and verified (`verify`, as `cairn serve` and
/// `cairn install` do before trusting anything), without and with a public key.
pub fn bundle_tar(data: &[u8]) {
    match cairn_bundle::reader::read_head(data) {
        Ok(_) => {}
        Err(e) => nonempty("read_head", &e.to_string()),
    }
    match cairn_bundle::verify::verify(data, None) {
        Ok(v) => assert_eq!(v.offsets.len(), v.manifest.entries.len()),
        Err(e) => nonempty("verify", &e.to_string()),
    }
    if let Err(e) = cairn_bundle::verify::verify(data, Some(key())) {
        nonempty("verify with key", &e.to_string());
    }
}

fn key() -> &'static ed25519_dalek::VerifyingKey {
    static KEY: OnceLock<ed25519_dalek::VerifyingKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let (_, public) = cairn_bundle::sign::keygen(&scratch().join("fuzz.key")).expect("keygen");
        public
    })
}

/// The bundle the router targets serve: one file, one RPM with its repodata, one image
/// (so `/files/`, `/repo/rpm/`, `/repo/deb/` and `/v2/` all have something behind them),
/// built once per process with the product's bundle writer, then verified and indexed by
/// `serve::open` as `cairn serve` does.
pub fn served() -> &'static Arc<routes::Served> {
    static SERVED: OnceLock<Arc<routes::Served>> = OnceLock::new();
    SERVED.get_or_init(|| {
        let bundle = build_fuzz_bundle(&scratch().join("bundle"));
        let file = std::fs::File::open(&bundle).expect("open the bundle");
        let opened = open::open(file, None).expect("the fuzz bundle verifies");
        Arc::new(routes::Served {
            index: opened.index,
            deb: opened.deb,
            registry: opened.registry,
        })
    })
}

/// Writes the fuzz bundle's inputs under `dir` and builds it; returns the bundle's path. Also
/// the seed of the `bundle_tar` corpus (`scripts/fuzz seed`).
pub fn build_fuzz_bundle(dir: &Path) -> PathBuf {
    let root = crate::repo_root();
    std::fs::create_dir_all(dir.join("rpms")).unwrap();
    std::fs::copy(
        root.join("bundle/src/repodata/fixtures/cairn-min-1-1.noarch.rpm"),
        dir.join("rpms/cairn-min-1-1.noarch.rpm"),
    )
    .unwrap();
    let blob = b"fuzz blob: a small file served under /files/\n".repeat(20);
    std::fs::write(dir.join("blob.txt"), &blob).unwrap();
    crate::oci::image_layout(&dir.join("img"), b"a layer, not really a tar");
    let sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&blob))
    };
    std::fs::write(
        dir.join("spec.yaml"),
        format!(
            "apiVersion: cairn/v1\nkind: Bundle\nname: fuzz\nversion: '1'\n\
             rpms:\n  dirs: [rpms]\n\
             files:\n  - path: blob.txt\n    sha256: {sha}\n\
             images:\n  - from: oci:img:1\n    name: cairn/fuzz:1\n"
        ),
    )
    .unwrap();
    let spec = cairn_bundle::spec::load(&dir.join("spec.yaml")).expect("fuzz bundle spec");
    let opts = cairn_bundle::writer::BuildOptions {
        out_dir: dir.join("out"),
        sign: None,
        created: 1_795_406_400,
        tool: "cairn fuzz".into(),
    };
    let built =
        cairn_bundle::writer::build(&spec, &opts, &mut |_| {}).expect("build the fuzz bundle");
    built.path
}

/// One request through `cairn serve`'s router (no socket): its status must be a real answer,
/// and the body is read to the end (streamed entries included).
fn through_router(method: Method, uri: &str, headers: &[(&str, &str)]) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    // What hyper would refuse before routing (a URI or header that does not parse) never
    // reaches the router: skip it here too.
    let Ok(req) = req.body(Body::empty()) else {
        return;
    };
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
    });
    rt.block_on(async {
        let resp = routes::router(served().clone())
            .oneshot(req)
            .await
            .expect("the router is infallible");
        assert!(
            !resp.status().is_server_error(),
            "{uri}: {} from the router",
            resp.status()
        );
        let _ = resp.into_body().collect().await;
    });
}

/// Turns the first byte of `data` into a method (the registry answers push methods too).
fn method_of(b: Option<&u8>) -> Method {
    match b.copied().unwrap_or(0) % 6 {
        0 | 1 => Method::GET,
        2 => Method::HEAD,
        3 => Method::PUT,
        4 => Method::POST,
        _ => Method::DELETE,
    }
}

/// The registry (`/v2/…`): `data` is a method byte, then the path after `/v2/` and its query,
/// then (after NUL bytes) an `Accept` and a `Range` header. The path parser, the paging
/// parameters and content negotiation are called directly too, then the whole request goes
/// through the router.
pub fn registry_router(data: &[u8]) {
    let method = method_of(data.first());
    let p = parts(data.get(1..).unwrap_or_default(), 3);
    let (path, query) = match p[0].split_once('?') {
        Some((a, b)) => (a, Some(b)),
        None => (p[0].as_str(), None),
    };
    if let Err(e) = registry::parse(path) {
        nonempty("registry path", &format!("{e:?}"));
    }
    let _ = registry::page_params(query);
    let accept = p.get(1).map(String::as_str).unwrap_or("");
    let range = p.get(2).map(String::as_str).unwrap_or("");
    let mut headers = Vec::new();
    if !accept.is_empty() {
        headers.push(("accept", accept));
    }
    if !range.is_empty() {
        headers.push(("range", range));
    }
    through_router(method, &format!("/v2/{}", p[0]), &headers);
}

/// The repositories and files (`/repo/deb/…`, `/repo/rpm/…`, `/files/…`): `data` is a byte
/// choosing the prefix, the rest of the path, then (after NUL bytes) a `Range` and an
/// `If-Range` header. The `Range` parser is called directly too.
pub fn repo_router(data: &[u8]) {
    let prefix = match data.first().copied().unwrap_or(0) % 4 {
        0 => "/repo/deb/",
        1 => "/repo/rpm/",
        2 => "/files/",
        _ => "/",
    };
    let p = parts(data.get(1..).unwrap_or_default(), 3);
    let range = p.get(1).map(String::as_str).unwrap_or("");
    let if_range = p.get(2).map(String::as_str).unwrap_or("");
    let _ = cairn::serve::range::resolve(Some(range), 1000);
    let _ = cairn::serve::range::resolve(Some(range), 0);
    let mut headers = Vec::new();
    if !range.is_empty() {
        headers.push(("range", range));
    }
    if !if_range.is_empty() {
        headers.push(("if-range", if_range));
    }
    through_router(Method::GET, &format!("{prefix}{}", p[0]), &headers);
}
