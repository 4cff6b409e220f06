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
    #[test]
    fn missing_repodata_message_is_pinned() {
        assert_eq!(
            super::NoRepodata(3).to_string(),
            "the bundle holds 3 RPMs but no rpms/repodata/repomd.xml: it was built without \
             repository metadata; rebuild it with this cairn (`cairn bundle build SPEC`)"
        );
    }
}
