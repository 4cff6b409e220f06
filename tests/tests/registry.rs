//! The bundle's registry with a real client: an OCI image built here from Debian's
//! `busybox-static` (a multi-arch index: linux/amd64 and a fake second architecture) and a
//! docker-archive made from it by `skopeo copy`, bundled, verified and served on loopback;
//! then `skopeo inspect` (also `--raw`), `skopeo copy` (digests compared with the source),
//! `skopeo list-tags`, `curl --range` on a blob; a second bundle pulls the image from the first
//! one's registry with Cairn's own client (`docker://`, keeping only linux/amd64); a tampered
//! blob fails verification naming its entry.
//!
//! Host use: none (the controller only: skopeo and curl against 127.0.0.1).

use cairn_tests::{Served, cairn_bin, free_tcp_port, scratch};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

/// Writes `b` into the layout's blobs; returns its descriptor.
fn put(dir: &Path, media: &str, b: &[u8]) -> Value {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(sha(b)), b).unwrap();
    json!({"mediaType": media, "digest": format!("sha256:{}", sha(b)), "size": b.len()})
}

/// A layer: `/bin/busybox` from the controller's busybox-static and a few applet symlinks.
fn busybox_layer() -> Vec<u8> {
    let busybox =
        std::fs::read("/bin/busybox").expect("/bin/busybox: apt-get install busybox-static");
    let mut t = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_mtime(0);
    t.append_data(&mut dir.clone(), "bin/", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o755);
    h.set_size(busybox.len() as u64);
    h.set_mtime(0);
    t.append_data(&mut h, "bin/busybox", &busybox[..]).unwrap();
    for applet in ["sh", "ls", "cat", "echo"] {
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_mode(0o777);
        l.set_size(0);
        l.set_mtime(0);
        t.append_link(&mut l, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    t.into_inner().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

struct Source {
    index_digest: String,
    index_bytes: Vec<u8>,
    amd64_digest: String,
    config_digest: String,
    layer: Vec<u8>,
    layer_diff_id: String,
}

/// `dir`: an OCI layout, tag `1.36`: an index of linux/amd64 (busybox) and linux/fakearch.
fn build_source(dir: &Path) -> Source {
    let tar = busybox_layer();
    let layer = gzip(&tar);
    let diff_id = format!("sha256:{}", sha(&tar));
    let mut children = Vec::new();
    let (mut amd64_digest, mut config_digest) = (String::new(), String::new());
    for arch in ["amd64", "fakearch"] {
        let (l, d) = if arch == "amd64" {
            (layer.clone(), diff_id.clone())
        } else {
            let t = tar::Builder::new(Vec::new()).into_inner().unwrap();
            (gzip(&t), format!("sha256:{}", sha(&t)))
        };
        let ld = put(dir, "application/vnd.oci.image.layer.v1.tar+gzip", &l);
        let config = json!({
            "created": "2026-11-23T00:00:00Z", "architecture": arch, "os": "linux",
            "config": {"Entrypoint": ["/bin/busybox"], "Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [d]},
        });
        let cd = put(
            dir,
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        );
        let m =
            json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cd, "layers": [ld]});
        let mut md = put(dir, OCI_MANIFEST, m.to_string().as_bytes());
        if arch == "amd64" {
            amd64_digest = md["digest"].as_str().unwrap().into();
            config_digest = cd["digest"].as_str().unwrap().into();
        }
        md["platform"] = json!({"os": "linux", "architecture": arch});
        children.push(md);
    }
    let index =
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).to_string();
    let mut id = put(dir, OCI_INDEX, index.as_bytes());
    let index_digest = id["digest"].as_str().unwrap().to_string();
    id["annotations"] = json!({"org.opencontainers.image.ref.name": "1.36"});
    std::fs::write(
        dir.join("index.json"),
        json!({"schemaVersion": 2, "manifests": [id]}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    Source {
        index_digest,
        index_bytes: index.into_bytes(),
        amd64_digest,
        config_digest,
        layer,
        layer_diff_id: diff_id,
    }
}

fn build_bundle(dir: &Path, spec: &str, name: &str) -> std::path::PathBuf {
    std::fs::write(dir.join(format!("{name}.yaml")), spec).unwrap();
    std::fs::create_dir_all(dir.join("pb")).unwrap();
    run(Command::new(cairn_bin())
        .args(["bundle", "build", &format!("{name}.yaml"), "--out", "out"])
        .current_dir(dir));
    let bundle = dir.join(format!("out/{name}-1.cairn"));
    run(Command::new(cairn_bin())
        .args(["bundle", "verify"])
        .arg(&bundle));
    bundle
}

fn skopeo(args: &[&str]) -> Output {
    run(Command::new("skopeo").args(args))
}

#[test]
fn skopeo_pulls_from_the_served_bundle() {
    let dir = scratch("registry");
    let src = build_source(&dir.join("src"));
    // A docker-archive of the same image, made by a real tool (amd64 is picked from the index).
    skopeo(&[
        "copy",
        "--override-arch",
        "amd64",
        "--override-os",
        "linux",
        &format!("oci:{}:1.36", dir.join("src").display()),
        &format!("docker-archive:{}:cairn/da:1", dir.join("da.tar").display()),
    ]);
    let bundle = build_bundle(
        &dir,
        "apiVersion: cairn/v1\nkind: Bundle\nname: reg\nversion: '1'\nplaybooks: pb\nimages:\n\
         \x20 - from: oci:src:1.36\n    name: cairn/busybox:1.36\n\
         \x20 - from: docker-archive:da.tar\n    name: cairn/da:1\n",
        "reg",
    );
    let addr: SocketAddr = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"))
        .parse()
        .unwrap();
    let _server = Served::start(&bundle, addr, &[]);
    let reg = format!("docker://{addr}");

    // inspect --raw: the index, byte for byte; inspect: the amd64 image's config.
    let raw = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("{reg}/cairn/busybox:1.36"),
    ]);
    assert_eq!(raw.stdout, src.index_bytes);
    let info = json_of(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--override-arch",
        "amd64",
        &format!("{reg}/cairn/busybox:1.36"),
    ]));
    // skopeo reports the digest of what the tag names (the index).
    assert_eq!(info["Digest"], src.index_digest.as_str());
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Layers"][0], format!("sha256:{}", sha(&src.layer)));
    let fake = json_of(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--override-arch",
        "fakearch",
        &format!("{reg}/cairn/busybox:1.36"),
    ]));
    assert_eq!(fake["Architecture"], "fakearch");

    // copy --all to an OCI layout: the same index, manifests and blobs as the source.
    let out = dir.join("copied");
    skopeo(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("{reg}/cairn/busybox:1.36"),
        &format!("oci:{}:got", out.display()),
    ]);
    let idx: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(idx["manifests"][0]["digest"], src.index_digest.as_str());
    for d in [
        &src.index_digest,
        &src.amd64_digest,
        &src.config_digest,
        &format!("sha256:{}", sha(&src.layer)),
    ] {
        let hex = d.strip_prefix("sha256:").unwrap();
        let b = std::fs::read(out.join("blobs/sha256").join(hex)).unwrap();
        assert_eq!(sha(&b), hex);
        let orig = std::fs::read(dir.join("src/blobs/sha256").join(hex)).unwrap();
        assert_eq!(b, orig, "{d}");
    }

    // The docker-archive image: its layer is the uncompressed tar (digest = diff ID), and
    // its config is the source's config, byte for byte.
    let da = json_of(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("{reg}/cairn/da:1"),
    ]));
    assert_eq!(da["mediaType"], OCI_MANIFEST);
    assert_eq!(da["config"]["digest"], src.config_digest.as_str());
    assert_eq!(da["layers"][0]["digest"], src.layer_diff_id.as_str());
    assert_eq!(
        da["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("{reg}/cairn/da:1"),
        &format!("oci:{}:da", dir.join("da-copy").display()),
    ]);

    let tags = json_of(&skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("{reg}/cairn/busybox"),
    ]));
    assert_eq!(tags["Tags"], json!(["1.36"]));

    // curl --range on a blob: exactly those bytes, 206.
    let layer_url = format!(
        "http://{addr}/v2/cairn/busybox/blobs/sha256:{}",
        sha(&src.layer)
    );
    let o = run(Command::new("curl").args([
        "-sS",
        "--range",
        "100-1099",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        &layer_url,
    ]));
    let (body, code) = o.stdout.split_at(o.stdout.len() - 4);
    assert_eq!(code, b"\n206");
    assert_eq!(body, &src.layer[100..1100]);

    // Cairn's own client: a second bundle pulled from this registry, linux/amd64 only.
    let b2 = build_bundle(
        &dir,
        &format!(
            "apiVersion: cairn/v1\nkind: Bundle\nname: pulled\nversion: '1'\nplaybooks: pb\n\
             platforms: [linux/amd64]\nimages:\n  - from: docker://{addr}/cairn/busybox:1.36\n\
             \x20   name: mirror/busybox:1.36\n    insecure: true\n"
        ),
        "pulled",
    );
    let addr2: SocketAddr = format!("127.0.0.1:{}", free_tcp_port("127.0.0.1"))
        .parse()
        .unwrap();
    let _server2 = Served::start(&b2, addr2, &[]);
    let raw2 = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{addr2}/mirror/busybox:1.36"),
    ]);
    let idx2: Value = serde_json::from_slice(&raw2.stdout).unwrap();
    let kept = idx2["manifests"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{idx2}");
    assert_eq!(kept[0]["digest"], src.amd64_digest.as_str());
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{addr2}/mirror/busybox:1.36"),
        &format!("oci:{}:m", dir.join("mirror-copy").display()),
    ]);

    // A tampered layer: verification fails and names the entry.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes
        .windows(src.layer.len().min(4096))
        .position(|w| w == &src.layer[..src.layer.len().min(4096)])
        .expect("the layer is stored as is");
    bytes[at + 2000] ^= 0x55;
    let bad = dir.join("bad.cairn");
    std::fs::write(&bad, &bytes).unwrap();
    let o = Command::new(cairn_bin())
        .args(["bundle", "verify"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "entry \"images/blobs/sha256/{}\": sha256 mismatch",
            sha(&src.layer)
        )),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
