//! The yum/dnf repository over the bundle's `rpms/`: its metadata (`rpms/repodata/`) was
//! generated when the bundle was built and is a verified entry like the packages
//! (`rpms/Packages/`), so serving it is exact lookups; this module only checks at start that a
//! bundle with packages has the index dnf reads first, and counts them.
//!
//! Owns: the URL-to-entry mapping under `/repo/rpm/`. Must not: parse RPMs or write metadata
//! (that is `cairn_bundle::repodata`, run by the bundle writer), or speak HTTP.

use super::index::{Index, Located};
use cairn_bundle::repodata::REPOMD;

/// The repository as found in the bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YumRepo {
    /// Number of packages (`rpms/Packages/*.rpm`).
    pub count: usize,
}

/// Why a bundle's RPMs cannot be served as a repository: it holds this many packages but no
/// `repomd.xml`.
#[derive(Debug, PartialEq, Eq)]
pub struct NoRepodata(pub usize);

impl std::fmt::Display for NoRepodata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the bundle holds {} RPMs but no rpms/{REPOMD}: it was built without repository \
             metadata; rebuild it with this cairn (`cairn bundle build SPEC`)",
            self.0
        )
    }
}

impl std::error::Error for NoRepodata {}

pub fn check(index: &Index) -> Result<YumRepo, NoRepodata> {
    let count = index
        .under("rpms")
        .filter(|(p, _)| p.starts_with("rpms/Packages/") && p.ends_with(".rpm"))
        .count();
    if count > 0 && index.lookup("rpms", REPOMD).is_none() {
        return Err(NoRepodata(count));
    }
    Ok(YumRepo { count })
}

/// The entry a `/repo/rpm/PATH` request names: only `repodata/…` and `Packages/…`, by exact
/// manifest path.
pub fn lookup<'a>(index: &'a Index, path: &str) -> Option<&'a Located> {
    if path.starts_with("repodata/") || path.starts_with("Packages/") {
        index.lookup("rpms", path)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_bundle::manifest::{Entry, Manifest};
    use cairn_bundle::verify::{Signature, Verified};

    /// An index over a manifest listing `paths` (the data is never read here).
    fn index_of(paths: &[&str]) -> Index {
        let entries: Vec<Entry> = paths
            .iter()
            .map(|p| Entry {
                path: p.to_string(),
                size: 0,
                sha256: "0".repeat(64),
                media_type: "application/octet-stream".into(),
            })
            .collect();
        let verified = Verified {
            manifest: Manifest {
                format: 1,
                name: "t".into(),
                version: "1".into(),
                created: "2026-11-23T04:00:00Z".into(),
                tool: "test".into(),
                spec: serde_json::Value::Null,
                entries,
            },
            signature: Signature::Unsigned,
            bytes: 0,
            offsets: vec![0; paths.len()],
        };
        Index::new(tempfile::tempfile().unwrap(), verified)
    }

    #[test]
    fn packages_without_repomd_are_refused_and_counted() {
        let only_packages = index_of(&[
            "rpms/Packages/a-1-1.noarch.rpm",
            "rpms/Packages/b-1-1.noarch.rpm",
        ]);
        assert_eq!(check(&only_packages), Err(NoRepodata(2)));
        let complete = index_of(&[
            "rpms/Packages/a-1-1.noarch.rpm",
            "rpms/repodata/repomd.xml",
            "rpms/repodata/x-primary.xml.gz",
        ]);
        assert_eq!(check(&complete), Ok(YumRepo { count: 1 }));
        assert_eq!(check(&index_of(&["files/x"])), Ok(YumRepo { count: 0 }));
        // Only the two repository directories are reachable, by exact path.
        assert!(lookup(&complete, "repodata/repomd.xml").is_some());
        assert!(lookup(&complete, "Packages/a-1-1.noarch.rpm").is_some());
        for miss in [
            "repomd.xml",
            "Packages/../repodata/repomd.xml",
            "rpms/repodata/repomd.xml",
            "",
        ] {
            assert!(lookup(&complete, miss).is_none(), "{miss}");
        }
    }

    #[test]
    fn missing_repodata_message_is_pinned() {
        assert_eq!(
            super::NoRepodata(3).to_string(),
            "the bundle holds 3 RPMs but no rpms/repodata/repomd.xml: it was built without \
             repository metadata; rebuild it with this cairn (`cairn bundle build SPEC`)"
        );
    }
}
