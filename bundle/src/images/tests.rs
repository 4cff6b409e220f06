//! Images end to end inside the crate: fixtures (layer tars, configs, OCI layouts,
//! docker-archives) are made here in Rust.

use super::*;
use crate::writer::{BuildOptions, build};
use sha2::{Digest as _, Sha256};
use std::io::Write as _;

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A tar holding `files` (name, content).
pub(crate) fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut t = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_mtime(0);
        t.append_data(&mut h, name, *data).unwrap();
    }
    t.into_inner().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn config(arch: &str, entrypoint: &str, diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux",
        "config": {"Entrypoint": [entrypoint]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

/// A docker-archive with one image per (tag, layers) pair.
fn docker_archive(path: &Path, images: &[(&str, Vec<Vec<u8>>)]) {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifest = Vec::new();
    for (tag, layers) in images {
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| format!("sha256:{}", sha(l)))
            .collect();
        let cfg = config("amd64", "/bin/busybox", &diff_ids);
        let cfg_name = format!("{}.json", sha(&cfg));
        let mut names = Vec::new();
        for l in layers {
            let n = format!("{}/layer.tar", sha(l));
            files.push((n.clone(), l.clone()));
            names.push(n);
        }
        files.push((cfg_name.clone(), cfg));
        manifest.push(json!({"Config": cfg_name, "RepoTags": [tag], "Layers": names}));
    }
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
    std::fs::write(path, tar_of(&refs)).unwrap();
}

/// Writes `b` as a blob of the layout at `dir`; returns its descriptor JSON.
fn put(dir: &Path, media: &str, b: &[u8]) -> serde_json::Value {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(sha(b)), b).unwrap();
    json!({"mediaType": media, "digest": format!("sha256:{}", sha(b)), "size": b.len()})
}

/// An OCI layout with a two-platform index (linux/amd64, linux/fakearch) tagged `tag`, the
/// amd64 image having `layer`.
fn multi_arch_layout(dir: &Path, tag: &str, layer: &[u8]) -> (String, String) {
    let mut children = Vec::new();
    let mut amd64 = String::new();
    for arch in ["amd64", "fakearch"] {
        let l = if arch == "amd64" {
            layer.to_vec()
        } else {
            tar_of(&[("x", b"y")])
        };
        let layer_d = put(dir, "application/vnd.oci.image.layer.v1.tar", &l);
        let cfg_d = put(
            dir,
            OCI_CONFIG,
            &config(arch, "/bin/sh", &[format!("sha256:{}", sha(&l))]),
        );
        let m = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg_d, "layers": [layer_d]
        }))
        .unwrap();
        let mut d = put(dir, OCI_MANIFEST, &m);
        if arch == "amd64" {
            amd64 = d["digest"].as_str().unwrap().to_string();
        }
        d["platform"] = json!({"os": "linux", "architecture": arch});
        children.push(d);
    }
    let idx = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children
    }))
    .unwrap();
    let mut d = put(dir, OCI_INDEX, &idx);
    d["annotations"] = json!({REF_NAME: tag});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [d]})).unwrap(),
    )
    .unwrap();
    (d["digest"].as_str().unwrap().to_string(), amd64)
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn docker_archive_becomes_an_oci_manifest_with_layers_as_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tar_of(&[("bin/busybox", b"\x7fELF...")]);
    let gz = gzip(&tar_of(&[("etc/motd", b"hi")]));
    let archive = tmp.path().join("a.tar");
    // The gzip layer's diff_id is of its uncompressed tar: not checkable without inflating.
    docker_archive(&archive, &[("x/y:1", vec![plain.clone(), gz.clone()])]);
    let out = tmp.path().join("layout");
    assert_eq!(
        docker_archive::convert(&archive, None, &out).unwrap(),
        "image"
    );
    let layout = layout::Layout::open(&out).unwrap();
    let top = layout.select(Some("image")).unwrap();
    assert_eq!(top.media_type, OCI_MANIFEST);
    let m = read_json(&layout.blob_path(reference::sha256_hex(&top.digest).unwrap()));
    assert_eq!(m["config"]["mediaType"], OCI_CONFIG);
    assert_eq!(
        m["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(m["layers"][0]["digest"], format!("sha256:{}", sha(&plain)));
    assert_eq!(
        m["layers"][1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    assert_eq!(m["layers"][1]["size"], gz.len());
    for l in [&plain, &gz] {
        assert_eq!(&std::fs::read(layout.blob_path(&sha(l))).unwrap(), l);
    }
}

#[test]
fn docker_archive_errors_are_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("two.tar");
    let l1 = tar_of(&[("a", b"1")]);
    docker_archive(&archive, &[("x:1", vec![l1.clone()]), ("y:2", vec![l1])]);
    let e = docker_archive::convert(&archive, None, &tmp.path().join("o1")).unwrap_err();
    assert_eq!(
        e,
        format!(
            "{}: the archive holds 2 images; name one with docker-archive:FILE:REPO:TAG (tags: x:1, y:2)",
            archive.display()
        )
    );
    assert!(docker_archive::convert(&archive, Some("y:2"), &tmp.path().join("o2")).is_ok());
    let e = docker_archive::convert(&archive, Some("z:3"), &tmp.path().join("o3")).unwrap_err();
    assert!(
        e.ends_with("no image tagged \"z:3\" in the archive (it has: x:1, y:2)"),
        "{e}"
    );

    // A layer that is not what the config says.
    let bad = tmp.path().join("bad.tar");
    let cfg = config("amd64", "/bin/sh", &[format!("sha256:{}", "0".repeat(64))]);
    let layer = tar_of(&[("a", b"1")]);
    let manifest = json!([{"Config": "c.json", "RepoTags": null, "Layers": ["l.tar"]}]);
    std::fs::write(
        &bad,
        tar_of(&[
            ("manifest.json", &serde_json::to_vec(&manifest).unwrap()),
            ("c.json", &cfg),
            ("l.tar", &layer),
        ]),
    )
    .unwrap();
    let e = docker_archive::convert(&bad, None, &tmp.path().join("o4")).unwrap_err();
    assert_eq!(
        e,
        format!(
            "{}: layer l.tar: its sha256 is {}, the config's diff_id says sha256:{}",
            bad.display(),
            sha(&layer),
            "0".repeat(64)
        )
    );
    // Not a tar at all, and a tar without manifest.json.
    let json = tmp.path().join("o2/index.json");
    let e = docker_archive::convert(&json, None, &tmp.path().join("o5")).unwrap_err();
    assert!(e.starts_with(&format!("{}: ", json.display())), "{e}");
    let plain = tmp.path().join("plain.tar");
    std::fs::write(&plain, tar_of(&[("a", b"1")])).unwrap();
    let e = docker_archive::convert(&plain, None, &tmp.path().join("o6")).unwrap_err();
    assert_eq!(
        e,
        format!(
            "{}: no manifest.json: not a docker-archive (make one with `docker save` or \
             `skopeo copy … docker-archive:FILE`)",
            plain.display()
        )
    );
}

fn spec_in(dir: &Path, body: &str) -> crate::spec::LoadedSpec {
    std::fs::write(
        dir.join("s.yaml"),
        format!("apiVersion: cairn/v1\nkind: Bundle\nname: t\nversion: '1'\nplaybooks: pb\n{body}"),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("pb")).unwrap();
    crate::spec::load(&dir.join("s.yaml")).unwrap()
}

#[test]
fn bundle_stores_blobs_once_filters_platforms_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let shared = tar_of(&[("bin/busybox", b"shared layer")]);
    let (index_digest, amd64) = multi_arch_layout(&d.join("oci"), "1.36", &shared);
    docker_archive(&d.join("da.tar"), &[("x:1", vec![shared.clone()])]);
    let images = "images:\n  - from: oci:oci:1.36\n    name: cairn/busybox:1.36\n\
                  \x20 - from: docker-archive:da.tar\n    name: cairn/da:1\n";

    // Both platforms: the index is kept byte for byte.
    let all = spec_in(d, images);
    let c = collect(&all, &d.join("s1"), &mut NoFetch, &mut |_| {}).unwrap();
    assert_eq!(c.refs["cairn/busybox:1.36"], index_digest);
    // index + 2 × (manifest, config, layer) + docker-archive (manifest, config; layer shared).
    assert_eq!(c.blobs.len(), 9, "{:?}", c.blobs.keys());

    // Only linux/amd64: a new index listing the amd64 manifest alone.
    let one = spec_in(d, &format!("platforms: [linux/amd64]\n{images}"));
    let opts = BuildOptions {
        out_dir: d.join("out"),
        sign: None,
        created: 1_795_406_400,
        tool: "cairn test".into(),
    };
    let built = build(&one, &opts, &mut |_| {}).unwrap();
    let v = crate::verify::verify(std::fs::File::open(&built.path).unwrap(), None).unwrap();
    let entries = &v.manifest.entries;
    let idx_entry = entries.iter().find(|e| e.path == INDEX_PATH).unwrap();
    assert_eq!(idx_entry.media_type, OCI_INDEX);
    let blob_count = entries
        .iter()
        .filter(|e| e.path.starts_with("images/blobs/sha256/"))
        .count();
    // new index, amd64 (manifest, config, shared layer), docker-archive (manifest, config).
    assert_eq!(blob_count, 6);
    let layer = entries
        .iter()
        .find(|e| e.path == format!("{BLOBS_DIR}/{}", sha(&shared)))
        .unwrap();
    assert_eq!(layer.media_type, "application/vnd.oci.image.layer.v1.tar");
    // No scratch directories left.
    assert_eq!(std::fs::read_dir(d.join("out")).unwrap().count(), 1);

    // The filtered index, read back from the bundle: one child, the amd64 manifest.
    let mut a = tar::Archive::new(std::fs::File::open(&built.path).unwrap());
    let mut files = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut b).unwrap();
        files.insert(p, b);
    }
    let top: serde_json::Value = serde_json::from_slice(&files[INDEX_PATH]).unwrap();
    let busybox = &top["manifests"][0];
    assert_eq!(busybox["annotations"][IMAGE_NAME], "cairn/busybox:1.36");
    assert_eq!(busybox["annotations"][REF_NAME], "1.36");
    assert_eq!(top["manifests"][1]["annotations"][IMAGE_NAME], "cairn/da:1");
    let new_digest = busybox["digest"].as_str().unwrap();
    assert_ne!(new_digest, index_digest);
    let filtered: serde_json::Value = serde_json::from_slice(
        &files[&format!("{BLOBS_DIR}/{}", reference::sha256_hex(new_digest).unwrap())],
    )
    .unwrap();
    assert_eq!(filtered["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["manifests"][0]["digest"], amd64.as_str());
}

#[test]
fn image_errors_are_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    multi_arch_layout(&d.join("oci"), "1.36", &tar_of(&[("a", b"b")]));
    for (body, want) in [
        (
            "platforms: [linux/s390x]\nimages:\n  - from: oci:oci:1.36\n    name: b:1\n",
            "images: b:1: index sha256:IDX has no manifest for the spec's platforms (linux/s390x); \
             it has: linux/amd64, linux/fakearch"
                .to_string(),
        ),
        (
            "images:\n  - from: oci:oci:2\n    name: b:1\n",
            format!(
                "images: b:1: {}: no image tagged \"2\" in index.json (it has: 1.36)",
                d.join("oci").display()
            ),
        ),
        (
            "images:\n  - from: oci:oci\n    name: b:1\n  - from: oci:oci\n    name: b:1\n",
            "images: b:1 is listed twice".to_string(),
        ),
    ] {
        let s = spec_in(d, body);
        let e = collect(&s, &d.join("s"), &mut NoFetch, &mut |_| {}).unwrap_err().to_string();
        let idx = read_json(&d.join("oci/index.json"));
        let want = want.replace("sha256:IDX", idx["manifests"][0]["digest"].as_str().unwrap());
        assert_eq!(e, want);
    }
    // A blob whose bytes are not its name: the build fails naming the file.
    let s = spec_in(d, "images:\n  - from: oci:oci\n    name: b:1\n");
    let layer = sha(&tar_of(&[("a", b"b")]));
    let path = d.join("oci/blobs/sha256").join(&layer);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let opts = BuildOptions {
        out_dir: d.join("out"),
        sign: None,
        created: 0,
        tool: "t".into(),
    };
    let e = build(&s, &opts, &mut |_| {}).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "images: blob {}: sha256 mismatch: its name says {layer}, the file has {}",
            path.display(),
            sha(&bytes)
        )
    );
}
