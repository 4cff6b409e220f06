//! `.deb` scanning against packages built here with `dpkg-deb`, stanza and Release rules.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `hello-cairn_1.0-1_all.deb` in `dir` with `dpkg-deb -Z<comp>`.
fn build_deb(dir: &Path, comp: &str) -> PathBuf {
    let root = dir.join(format!("pkg-{comp}"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join("usr/share/hello-cairn")).unwrap();
    std::fs::write(root.join("usr/share/hello-cairn/README"), "hello\n").unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        "Package: hello-cairn\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Cairn <cairn@example.org>\n\
         Description: test package\n a continuation line\n .\n another paragraph\n",
    )
    .unwrap();
    let out = dir.join(format!("hello-cairn_{comp}.deb"));
    let o = Command::new("dpkg-deb")
        .args(["--root-owner-group", &format!("-Z{comp}"), "--build"])
        .arg(&root)
        .arg(&out)
        .output()
        .expect("dpkg-deb (package dpkg) is needed for these tests");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn scans_debs_built_by_dpkg_deb_with_every_compression() {
    let tmp = tempfile::tempdir().unwrap();
    for comp in ["xz", "gzip", "zstd", "none"] {
        let path = build_deb(tmp.path(), comp);
        let bytes = std::fs::read(&path).unwrap();
        let s = scan(&bytes[..]).unwrap_or_else(|e| panic!("{comp}: {e}"));
        assert!(s.control.starts_with("Package: hello-cairn\n"), "{comp}");
        assert!(s.control.contains("\n .\n another paragraph\n"), "{comp}");
        assert_eq!(s.size, bytes.len() as u64);
        assert_eq!(s.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(s.md5, hex::encode(Md5::digest(&bytes)));

        let st = stanza(&s.control, "debs/hello-cairn_1.0-1_all.deb", &s).unwrap();
        assert!(st.ends_with(&format!(
            "another paragraph\nFilename: debs/hello-cairn_1.0-1_all.deb\nSize: {}\nMD5sum: {}\nSHA256: {}\n",
            s.size, s.md5, s.sha256
        )), "{st}");
    }
}

#[test]
fn refuses_what_is_not_a_deb() {
    assert!(matches!(scan(&b"hello"[..]), Err(DebError::NotDeb(_))));
    assert!(matches!(scan(&b""[..]), Err(DebError::NotDeb(_))));
    // An ar archive whose first member is not debian-binary.
    let mut ar = ar::Builder::new(Vec::new());
    ar.append(&ar::Header::new(b"foo".to_vec(), 3), &b"abc"[..])
        .unwrap();
    let e = scan(&ar.into_inner().unwrap()[..]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "not a Debian package: the first member is \"foo\", not debian-binary"
    );
    // debian-binary but no control.tar.
    let mut ar = ar::Builder::new(Vec::new());
    ar.append(
        &ar::Header::new(b"debian-binary".to_vec(), 4),
        &b"2.0\n"[..],
    )
    .unwrap();
    let e = scan(&ar.into_inner().unwrap()[..]).unwrap_err();
    assert!(matches!(e, DebError::NoControlTar), "{e}");
}

fn scanned() -> Scanned {
    Scanned {
        control: String::new(),
        size: 10,
        md5: "m".into(),
        sha256: "s".into(),
    }
}

#[test]
fn stanza_keeps_fields_replaces_repository_ones_and_refuses_bad_control() {
    let st = stanza(
        "Package: a\nVersion: 1\nArchitecture: amd64\nSize: 999\nSHA256: old\n continued old\nDepends: b\n\n",
        "debs/a.deb",
        &scanned(),
    )
    .unwrap();
    assert_eq!(
        st,
        "Package: a\nVersion: 1\nArchitecture: amd64\nDepends: b\n\
         Filename: debs/a.deb\nSize: 10\nMD5sum: m\nSHA256: s\n"
    );
    for (control, want) in [
        (
            "Package: a\n\nVersion: 1\n",
            "control file, line 2: blank line inside the control file",
        ),
        (
            " cont\n",
            "control file, line 1: continuation line before any field",
        ),
        ("Package a\n", "control file, line 1: not `Field: value`"),
        (
            "Package: a\nVersion: 1\n",
            "control file has no Architecture field",
        ),
    ] {
        assert_eq!(
            stanza(control, "x", &scanned()).unwrap_err().to_string(),
            want
        );
    }
}

#[test]
fn packages_and_release_hashes() {
    let p = packages(&["Package: a\n", "Package: b\n"]);
    assert_eq!(p, "Package: a\n\nPackage: b\n");
    let gz = gzip(p.as_bytes());
    let mut back = String::new();
    GzDecoder::new(&gz[..]).read_to_string(&mut back).unwrap();
    assert_eq!(back, p);
    assert_eq!(gzip(p.as_bytes()), gz, "deterministic");

    let info = ReleaseInfo {
        label: "lab",
        version: "0.1.0",
        date: "2026-11-23T04:17:19Z",
    };
    let r = release(&info, &[("Packages", b"abc"), ("Packages.gz", b"")]).unwrap();
    assert_eq!(
        r,
        "Origin: Cairn\nLabel: lab\nVersion: 0.1.0\nDate: Mon, 23 Nov 2026 04:17:19 UTC\n\
         Description: Cairn bundle lab 0.1.0\n\
         MD5Sum:\n 900150983cd24fb0d6963f7d28e17f72 3 Packages\n d41d8cd98f00b204e9800998ecf8427e 0 Packages.gz\n\
         SHA256:\n ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad 3 Packages\n \
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 Packages.gz\n"
    );
}

#[test]
fn dates() {
    for (i, o) in [
        ("1970-01-01T00:00:00Z", "Thu, 01 Jan 1970 00:00:00 UTC"),
        ("2000-02-29T12:34:56Z", "Tue, 29 Feb 2000 12:34:56 UTC"),
        ("2026-11-23T04:17:19Z", "Mon, 23 Nov 2026 04:17:19 UTC"),
    ] {
        assert_eq!(rfc2822(i).unwrap(), o);
    }
    for bad in [
        "2026-11-23",
        "2026-13-01T00:00:00Z",
        "2026-11-23T04:17:19+01:00",
        "2026-1a-23T04:17:19Z",
    ] {
        assert!(rfc2822(bad).is_err(), "{bad}");
    }
}
