//! `cairn bundle` end to end, through the binary: build a small bundle from local files,
//! verify it (signed and unsigned), inspect it, then flip one byte and see verification fail
//! with exit 2, naming the entry. No lab and no root needed.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Command, Output};

fn cairn(args: &[&str], dir: &Path) -> Output {
    Command::new(cairn_tests::cairn_bin())
        .args(args)
        .current_dir(dir)
        .env("SOURCE_DATE_EPOCH", "1795406400")
        .output()
        .expect("run cairn")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A spec with one file and a playbooks directory, in `dir`.
fn write_inputs(dir: &Path) -> Vec<u8> {
    let blob: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("etcd.bin"), &blob).unwrap();
    std::fs::create_dir_all(dir.join("playbooks")).unwrap();
    std::fs::write(
        dir.join("playbooks/site.yml"),
        "- hosts: all\n  tasks: []\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("small.yaml"),
        format!(
            "apiVersion: cairn/v1\nkind: Bundle\nname: small\nversion: 0.0.1\n\
             platforms: [linux/amd64]\n\
             files:\n  - path: etcd.bin\n    sha256: {}\n    name: etcd\n\
             playbooks: playbooks\n",
            hex::encode(Sha256::digest(&blob))
        ),
    )
    .unwrap();
    blob
}

#[test]
fn build_verify_inspect_then_tamper() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let blob = write_inputs(d);

    let o = cairn(&["bundle", "keygen", "--out", "key"], d);
    assert!(o.status.success(), "{}", text(&o.stderr));

    let o = cairn(
        &[
            "bundle",
            "build",
            "small.yaml",
            "--out",
            "dist",
            "--sign",
            "key",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).trim(), "dist/small-0.0.1.cairn");
    let bundle = d.join("dist/small-0.0.1.cairn");

    // Reproducible: a second build with the same SOURCE_DATE_EPOCH gives the same bytes.
    let o = cairn(
        &[
            "bundle",
            "build",
            "small.yaml",
            "--out",
            "dist2",
            "--sign",
            "key",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read(&bundle).unwrap(),
        std::fs::read(d.join("dist2/small-0.0.1.cairn")).unwrap()
    );

    let o = cairn(
        &[
            "bundle",
            "verify",
            "dist/small-0.0.1.cairn",
            "--key",
            "key.pub",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.starts_with("OK small 0.0.1"), "{out}");
    assert!(out.contains("signature: valid"), "{out}");

    let o = cairn(&["bundle", "inspect", "dist/small-0.0.1.cairn"], d);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert!(out.contains("files/etcd"), "{out}");
    assert!(out.contains("playbooks/site.yml"), "{out}");
    let o = cairn(
        &["bundle", "inspect", "--json", "dist/small-0.0.1.cairn"],
        d,
    );
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    assert!(out.contains("\"signed\": true"), "{out}");
    assert!(out.contains("\"path\": \"files/etcd\""), "{out}");

    // Flip one byte inside the blob: exit 2, naming the entry and both digests.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes
        .windows(64)
        .position(|w| w == &blob[..64])
        .expect("blob stored uncompressed")
        + 5000;
    bytes[at] ^= 0xff;
    std::fs::write(&bundle, &bytes).unwrap();
    let o = cairn(&["bundle", "verify", "dist/small-0.0.1.cairn"], d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.contains(
            "verification failed: entry \"files/etcd\": sha256 mismatch: manifest.json says"
        ),
        "{err}"
    );
}

#[test]
fn bad_inputs_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(
        d.join("bad.yaml"),
        "apiVersion: cairn/v1\nkind: Bundle\nname: Bad_Name\nversion: 1\n",
    )
    .unwrap();
    let o = cairn(&["bundle", "build", "bad.yaml"], d);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "error: bad.yaml:3:7: name: \"Bad_Name\" is not an RFC 1123 label (1-63 of a-z 0-9 -, \
         not starting or ending with -)\n  hint: see docs/bundle.md for the spec format\n"
    );
    let o = cairn(&["bundle", "verify", "missing.cairn"], d);
    assert_eq!(o.status.code(), Some(1));
    // A file that is not a bundle at all fails verification (exit 2).
    std::fs::write(d.join("junk.cairn"), vec![b'x'; 2048]).unwrap();
    let o = cairn(&["bundle", "verify", "junk.cairn"], d);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}
