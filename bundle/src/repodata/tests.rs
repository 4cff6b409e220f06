//! Cairn's repodata against createrepo_c's for the same RPMs (fixtures/, made by
//! fixtures/make.sh with rpmbuild and createrepo_c 0.17.3), and the repomd/gzip bookkeeping.

use super::*;
use std::io::Read as _;
use std::path::Path;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/repodata/fixtures")
}

/// The fixture RPMs read as createrepo_c saw them: href = file name, `time file` = the mtime
/// make.sh gave them (git does not keep mtimes, so it is recorded in file-time.txt).
fn fixture_packages() -> Vec<Package> {
    let dir = fixtures();
    let time: u64 = std::fs::read_to_string(dir.join("file-time.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut inputs: Vec<Input> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rpm"))
        .map(|file| Input {
            href: file.file_name().unwrap().to_str().unwrap().to_string(),
            file,
            time_file: time,
        })
        .collect();
    inputs.sort_by(|a, b| a.href.cmp(&b.href));
    assert_eq!(inputs.len(), 2, "fixtures missing: run fixtures/make.sh");
    read_all(&inputs, 2).unwrap()
}

fn golden(kind: &str) -> String {
    std::fs::read_to_string(fixtures().join(format!("createrepo_c-{kind}.xml"))).unwrap()
}

fn gunzip(data: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(data)
        .read_to_string(&mut s)
        .unwrap();
    s
}

#[test]
fn documents_equal_createrepo_c_output() {
    let pkgs = fixture_packages();
    for (kind, doc) in [
        ("primary", primary::document(&pkgs)),
        ("filelists", filelists::document(&pkgs)),
        ("other", other::document(&pkgs)),
    ] {
        let want = golden(kind);
        if doc != want {
            // Line by line first: the first differing line says more than two whole documents.
            for (i, (a, b)) in doc.lines().zip(want.lines()).enumerate() {
                assert_eq!(a, b, "{kind}.xml line {}", i + 1);
            }
            assert_eq!(doc, want, "{kind}.xml");
        }
    }
}

#[test]
fn header_values_the_documents_rest_on() {
    let pkgs = fixture_packages();
    let p = &pkgs[0];
    assert_eq!((p.name.as_str(), p.epoch.as_str()), ("cairn-fixture", "3"));
    let bytes = std::fs::read(fixtures().join(&p.href)).unwrap();
    assert_eq!(p.pkgid, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(p.size_package, bytes.len() as u64);
    // The main header starts with its magic where header-range says.
    let start = p.header_start as usize;
    assert_eq!(&bytes[start..start + 3], &[0x8e, 0xad, 0xe8]);
    assert!(p.requires.iter().any(|d| d.name == "cairn-setup" && d.pre));
    assert_eq!(p.changelogs.len(), header::CHANGELOG_LIMIT);
}

#[test]
fn repomd_describes_each_compressed_file() {
    let pkgs = fixture_packages();
    let r = generate(pkgs.clone(), 1_795_406_400);
    assert_eq!(r.count, 2);
    let names: Vec<&str> = r.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 4);
    assert_eq!(names[3], REPOMD);
    let repomd = std::str::from_utf8(&r.files[3].1).unwrap();
    assert!(
        repomd.contains("<revision>1795406400</revision>"),
        "{repomd}"
    );
    for ((name, gz), kind) in r.files.iter().zip(["primary", "filelists", "other"]) {
        let sha = hex::encode(Sha256::digest(gz));
        assert_eq!(name, &format!("repodata/{sha}-{kind}.xml.gz"));
        let open = gunzip(gz);
        assert_eq!(open, golden(kind), "{kind}");
        let entry = format!(
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{sha}</checksum>\n    \
             <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{name}\"/>\n    \
             <timestamp>1795406400</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            hex::encode(Sha256::digest(open.as_bytes())),
            gz.len(),
            open.len()
        );
        assert!(repomd.contains(&entry), "{entry} in {repomd}");
    }
    // Input order does not matter: packages are listed in href order.
    let mut reversed = pkgs;
    reversed.reverse();
    assert_eq!(generate(reversed, 1_795_406_400).files, r.files);
}

#[test]
fn an_unreadable_rpm_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rpm");
    std::fs::write(&bad, b"\xed\xab\xee\xdb but then nothing useful").unwrap();
    let e = read_all(
        &[Input {
            file: bad.clone(),
            href: "bad.rpm".into(),
            time_file: 0,
        }],
        1,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("{}: not a readable RPM: ", bad.display())),
        "{e}"
    );
}
