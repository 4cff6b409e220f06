//! Tamper tests: each malformed or altered bundle is refused with its exact message. Malicious
//! tars are assembled from raw headers, since `tar::Builder` refuses to write most of them.

use super::*;
use crate::manifest::{Entry, FORMAT, Manifest, media_type, rfc3339};
use crate::sign;
use crate::writer::{BuildOptions, build};
use ed25519_dalek::SigningKey;

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn manifest_for(entries: &[(&str, &[u8])]) -> Vec<u8> {
    Manifest {
        format: FORMAT,
        name: "t".into(),
        version: "1".into(),
        created: rfc3339(0),
        tool: "test".into(),
        spec: serde_json::json!({}),
        entries: entries
            .iter()
            .map(|(p, d)| Entry {
                path: p.to_string(),
                size: d.len() as u64,
                sha256: sha(d),
                media_type: media_type(p).into(),
            })
            .collect(),
    }
    .to_bytes()
}

/// Appends one entry with a raw header: any path bytes, any type.
fn push(out: &mut Vec<u8>, path: &str, kind: tar::EntryType, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    if kind == tar::EntryType::Symlink {
        h.as_old_mut().linkname[..11].copy_from_slice(b"/etc/shadow");
    }
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn end(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(&[0; 1024]);
    out
}

const REG: tar::EntryType = tar::EntryType::Regular;

/// A tar with `manifest` first, then `entries` as given.
fn raw(manifest: &[u8], entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    push(&mut out, "manifest.json", REG, manifest);
    for (p, k, d) in entries {
        push(&mut out, p, *k, d);
    }
    end(out)
}

fn refused(bundle: &[u8], key: Option<&VerifyingKey>) -> String {
    verify(bundle, key)
        .expect_err("must be refused")
        .to_string()
}

/// A bundle built by the real writer from local files, and the inputs' directory.
fn built(sign: Option<SigningKey>) -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.bin"), vec![7u8; 3000]).unwrap();
    std::fs::create_dir_all(d.join("pb/roles/x")).unwrap();
    std::fs::write(d.join("pb/site.yml"), "- hosts: all\n").unwrap();
    std::fs::write(d.join("pb/roles/x/main.yml"), "[]\n").unwrap();
    std::fs::write(d.join("pb/.hidden"), "skipped").unwrap();
    std::fs::write(
        d.join("spec.yaml"),
        format!(
            "apiVersion: cairn/v1\nkind: Bundle\nname: t\nversion: '1'\n\
             files:\n  - path: a.bin\n    sha256: {}\n    name: blob\nplaybooks: pb\n",
            sha(&[7u8; 3000])
        ),
    )
    .unwrap();
    let spec = crate::spec::load(&d.join("spec.yaml")).unwrap();
    let opts = BuildOptions {
        out_dir: d.join("out"),
        sign,
        created: 1_795_406_400,
        tool: "cairn test".into(),
    };
    let b = build(&spec, &opts, &mut |_| {}).unwrap();
    let bytes = std::fs::read(&b.path).unwrap();
    (dir, bytes)
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

#[test]
fn a_built_bundle_verifies_and_lists_its_entries() {
    let (_d, bytes) = built(None);
    let v = verify(&bytes[..], None).unwrap();
    let paths: Vec<&str> = v.manifest.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "files/blob",
            "playbooks/roles/x/main.yml",
            "playbooks/site.yml"
        ]
    );
    assert_eq!(v.signature, Signature::Unsigned);
    assert_eq!(v.bytes, 3000 + 13 + 3);
    assert_eq!(reader::read_head(&bytes[..]).unwrap().manifest, v.manifest);
}

#[test]
fn offsets_locate_every_entrys_data_in_the_file() {
    // Signed too, so the signature entry shifts everything after the manifest.
    let (_d, bytes) = built(Some(key(1)));
    let v = verify(&bytes[..], None).unwrap();
    assert_eq!(v.offsets.len(), v.manifest.entries.len());
    for (e, off) in v.manifest.entries.iter().zip(&v.offsets) {
        let start = *off as usize;
        let data = &bytes[start..start + e.size as usize];
        assert_eq!(sha(data), e.sha256, "{}", e.path);
    }
}

#[test]
fn signed_bundle_verifies_with_its_key_only() {
    let (_d, bytes) = built(Some(key(1)));
    let good = key(1).verifying_key();
    let v = verify(&bytes[..], Some(&good)).unwrap();
    assert_eq!(v.signature, Signature::Verified(sign::fingerprint(&good)));
    assert_eq!(
        verify(&bytes[..], None).unwrap().signature,
        Signature::NotChecked
    );
    let other = key(2).verifying_key();
    assert_eq!(
        refused(&bytes, Some(&other)),
        format!(
            "manifest.sig is not a valid signature by key {}: the manifest was altered or signed by another key",
            sign::fingerprint(&other)
        )
    );
}

#[test]
fn altered_manifest_breaks_the_signature() {
    let (_d, mut bytes) = built(Some(key(1)));
    // Same length, so the tar stays well formed: only the signature can notice.
    let at = find(&bytes, b"\"name\": \"t\"");
    bytes[at + 9] = b'u';
    let good = key(1).verifying_key();
    assert_eq!(
        refused(&bytes, Some(&good)),
        format!(
            "manifest.sig is not a valid signature by key {}: the manifest was altered or signed by another key",
            sign::fingerprint(&good)
        )
    );
}

#[test]
fn signature_missing_when_key_given() {
    let (_d, bytes) = built(None);
    assert_eq!(
        refused(&bytes, Some(&key(1).verifying_key())),
        "manifest.sig is missing: the bundle is not signed, and a key was given"
    );
}

#[test]
fn flipped_byte_in_a_blob() {
    let (_d, mut bytes) = built(None);
    let at = find(&bytes, &[7u8; 3000]) + 1234;
    bytes[at] ^= 0x01;
    let mut tampered = vec![7u8; 3000];
    tampered[1234] ^= 0x01;
    assert_eq!(
        refused(&bytes, None),
        format!(
            "entry \"files/blob\": sha256 mismatch: manifest.json says {}, the data hashes to {}",
            sha(&[7u8; 3000]),
            sha(&tampered)
        )
    );
}

#[test]
fn wrong_size() {
    let m = manifest_for(&[("files/a", b"12345")]);
    assert_eq!(
        refused(&raw(&m, &[("files/a", REG, b"1234")]), None),
        "entry \"files/a\": size mismatch: manifest.json says 5 bytes, the archive has 4"
    );
}

#[test]
fn truncated_inside_a_blob() {
    let (_d, bytes) = built(None);
    let cut = find(&bytes, &[7u8; 3000]) + 100;
    assert_eq!(
        refused(&bytes[..cut], None),
        "truncated: the file ends inside files/blob"
    );
}

#[test]
fn truncated_inside_a_header() {
    let (_d, bytes) = built(None);
    let cut = find(&bytes, &[7u8; 3000]) - 200;
    assert_eq!(
        refused(&bytes[..cut], None),
        "truncated: the file ends inside the header after manifest.json"
    );
}

#[test]
fn truncated_at_an_entry_boundary_or_without_end_marker() {
    let m = manifest_for(&[("files/a", b"x")]);
    let whole = raw(&m, &[("files/a", REG, b"x")]);
    // Without the end-of-archive marker every entry is there, yet the file was cut.
    assert_eq!(
        refused(&whole[..whole.len() - 1024], None),
        "truncated: the end-of-archive marker is missing after the last entry"
    );
    assert_eq!(
        refused(&whole[..whole.len() - 512], None),
        "truncated: the end-of-archive marker is missing after the last entry"
    );
    // Cut before the last entry: the manifest says what is missing.
    let m2 = manifest_for(&[("files/a", b"x"), ("files/b", b"y")]);
    assert_eq!(
        refused(&raw(&m2, &[("files/a", REG, b"x")]), None),
        "entry \"files/b\" is listed in manifest.json but missing from the archive"
    );
}

#[test]
fn data_after_the_end_marker() {
    let m = manifest_for(&[("files/a", b"x")]);
    let mut bytes = raw(&m, &[("files/a", REG, b"x")]);
    bytes.extend_from_slice(b"extra");
    assert_eq!(
        refused(&bytes, None),
        "unexpected data after the end-of-archive marker"
    );
}

#[test]
fn entry_not_in_manifest() {
    let m = manifest_for(&[("files/a", b"x")]);
    assert_eq!(
        refused(
            &raw(&m, &[("files/a", REG, b"x"), ("files/extra", REG, b"!")]),
            None
        ),
        "entry \"files/extra\" is not listed in manifest.json"
    );
}

#[test]
fn duplicate_entry() {
    let m = manifest_for(&[("files/a", b"x")]);
    assert_eq!(
        refused(
            &raw(&m, &[("files/a", REG, b"x"), ("files/a", REG, b"x")]),
            None
        ),
        "entry \"files/a\" appears more than once"
    );
}

#[test]
fn dot_dot_path() {
    let m = manifest_for(&[("files/a", b"x")]);
    assert_eq!(
        refused(&raw(&m, &[("../x", REG, b"x")]), None),
        "entry \"../x\": unsafe path (path contains `..`)"
    );
    assert_eq!(
        refused(&raw(&m, &[("files/../../x", REG, b"x")]), None),
        "entry \"files/../../x\": unsafe path (path contains `..`)"
    );
}

#[test]
fn absolute_path() {
    let m = manifest_for(&[("files/a", b"x")]);
    assert_eq!(
        refused(&raw(&m, &[("/etc/passwd", REG, b"x")]), None),
        "entry \"/etc/passwd\": unsafe path (absolute path)"
    );
}

#[test]
fn symlink_hardlink_and_device_entries() {
    let m = manifest_for(&[("files/a", b"x")]);
    assert_eq!(
        refused(&raw(&m, &[("files/a", tar::EntryType::Symlink, b"")]), None),
        "entry \"files/a\": is a symbolic link, bundles hold regular files only"
    );
    assert_eq!(
        refused(&raw(&m, &[("files/a", tar::EntryType::Link, b"")]), None),
        "entry \"files/a\": is a hard link, bundles hold regular files only"
    );
    assert_eq!(
        refused(&raw(&m, &[("files/a", tar::EntryType::Char, b"")]), None),
        "entry \"files/a\": is a device, bundles hold regular files only"
    );
}

#[test]
fn manifest_not_first() {
    let m = manifest_for(&[("files/a", b"x")]);
    let mut out = Vec::new();
    push(&mut out, "files/a", REG, b"x");
    push(&mut out, "manifest.json", REG, &m);
    assert_eq!(
        refused(&end(out), None),
        "the first entry must be manifest.json, found files/a"
    );
    assert_eq!(
        refused(&[0u8; 1024], None),
        "the first entry must be manifest.json, found an empty archive"
    );
}

#[test]
fn manifest_with_unsafe_path_is_refused_before_any_entry() {
    let m = manifest_for(&[("files/../x", b"x")]);
    assert_eq!(
        refused(&raw(&m, &[]), None),
        "manifest.json lists \"files/../x\": path contains `..`"
    );
}

#[test]
fn signature_of_the_wrong_size() {
    let m = manifest_for(&[]);
    assert_eq!(
        refused(&raw(&m, &[("manifest.sig", REG, b"short")]), None),
        "manifest.sig must be 64 bytes, it is 5"
    );
}

#[test]
fn corrupted_header_checksum() {
    let m = manifest_for(&[("files/a", b"x")]);
    let mut bytes = raw(&m, &[("files/a", REG, b"x")]);
    let second_header = 512 + m.len().div_ceil(512) * 512;
    bytes[second_header + 1] ^= 0x20; // inside the name field
    assert_eq!(
        refused(&bytes, None),
        "not a valid tar archive: archive header checksum mismatch"
    );
}

#[test]
fn empty_manifest_bundle_is_valid() {
    let m = manifest_for(&[]);
    let v = verify(&raw(&m, &[])[..], None).unwrap();
    assert!(v.manifest.entries.is_empty());
}
