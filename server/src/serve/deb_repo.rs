//! The flat apt repository over the bundle's `debs/`: `Packages`, `Packages.gz` and `Release`,
//! generated once at start (with `cairn-bundle`'s `apt` module) and held in memory.
//!
//! Owns: which entries are packages and their `Filename:` (the manifest path, `debs/…`, so the
//! routes serve `/repo/deb/<Filename>` by exact lookup). Must not: parse `.deb`s itself (that
//! is `cairn_bundle::apt`), or speak HTTP.

use super::index::Index;
use axum::body::Bytes;
use cairn_bundle::apt::{self, DebError, ReleaseInfo};
use std::io::BufReader;

/// The repository's generated files.
#[derive(Clone, Debug)]
pub struct DebRepo {
    pub packages: Bytes,
    pub packages_gz: Bytes,
    pub release: Bytes,
    /// Number of packages listed.
    pub count: usize,
    /// `InRelease`, `Release.gpg` and the public keyring, when serving with a signing key.
    pub signed: Option<SignedRelease>,
}

/// The signed forms of `Release` (see `apt_sign`).
#[derive(Clone, Debug)]
pub struct SignedRelease {
    pub in_release: Bytes,
    pub release_gpg: Bytes,
    pub keyring: Bytes,
    pub fingerprint: String,
}

impl DebRepo {
    /// Adds `InRelease`, `Release.gpg` and `cairn.gpg`, signed with `key`.
    pub fn sign(
        &mut self,
        key: &super::apt_sign::AptKey,
    ) -> Result<(), super::apt_sign::SignError> {
        let s = key.sign(&self.release)?;
        self.signed = Some(SignedRelease {
            in_release: Bytes::from(s.in_release),
            release_gpg: Bytes::from(s.release_gpg),
            keyring: Bytes::from(s.keyring),
            fingerprint: s.fingerprint,
        });
        Ok(())
    }
}

/// A package of the bundle that could not be indexed.
#[derive(Debug)]
pub struct RepoError {
    pub path: String,
    pub error: DebError,
}

impl std::fmt::Display for RepoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.error)
    }
}

impl std::error::Error for RepoError {}

/// Reads every `debs/*.deb` of the bundle once (control file, MD5) and writes the metadata.
pub fn build(index: &Index) -> Result<DebRepo, RepoError> {
    let mut stanzas = Vec::new();
    for (path, loc) in index.under("debs") {
        if !path.ends_with(".deb") {
            continue;
        }
        let fail = |error| RepoError {
            path: path.to_string(),
            error,
        };
        let scanned =
            apt::scan(BufReader::with_capacity(256 << 10, index.reader(loc))).map_err(fail)?;
        if scanned.sha256 != loc.sha256 {
            // Verified moments ago: the file was changed under us.
            return Err(fail(DebError::Io(std::io::Error::other(
                "the bundle file changed after verification",
            ))));
        }
        stanzas.push(apt::stanza(&scanned.control, path, &scanned).map_err(fail)?);
    }
    let packages = apt::packages(&stanzas);
    let packages_gz = apt::gzip(packages.as_bytes());
    let m = &index.manifest;
    let info = ReleaseInfo {
        label: &m.name,
        version: &m.version,
        date: &m.created,
    };
    let release = apt::release(
        &info,
        &[
            ("Packages", packages.as_bytes()),
            ("Packages.gz", &packages_gz),
        ],
    )
    .map_err(|error| RepoError {
        path: "manifest.json".into(),
        error,
    })?;
    Ok(DebRepo {
        count: stanzas.len(),
        packages: Bytes::from(packages),
        packages_gz: Bytes::from(packages_gz),
        release: Bytes::from(release),
        signed: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn packages_list_the_bundles_debs_and_release_hashes_them() {
        let tmp = tempfile::tempdir().unwrap();
        let index = crate::serve::index::tests::indexed(tmp.path());
        let t0 = std::time::Instant::now();
        let repo = build(&index).unwrap();
        eprintln!("deb index built in {:?}", t0.elapsed());
        assert_eq!(repo.count, 1);
        let packages = std::str::from_utf8(&repo.packages).unwrap();
        let loc = index.lookup("debs", "hello-cairn_1.0-1_all.deb").unwrap();
        assert!(
            packages.starts_with("Package: hello-cairn\nVersion: 1.0-1\n"),
            "{packages}"
        );
        assert!(packages.contains("Filename: debs/hello-cairn_1.0-1_all.deb\n"));
        assert!(packages.contains(&format!("Size: {}\n", loc.size)));
        assert!(packages.contains(&format!("SHA256: {}\n", loc.sha256)));
        let release = std::str::from_utf8(&repo.release).unwrap();
        assert!(
            release.contains("Date: Mon, 23 Nov 2026 04:00:00 UTC\n"),
            "{release}"
        );
        for (name, data) in [
            ("Packages", &repo.packages),
            ("Packages.gz", &repo.packages_gz),
        ] {
            let line = format!(
                " {} {} {name}\n",
                hex::encode(Sha256::digest(data)),
                data.len()
            );
            assert!(release.contains(&line), "{line} in {release}");
        }
    }
}
