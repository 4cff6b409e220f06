//! Where `cairn install`'s playbooks come from: `--playbooks DIR` when given, else the
//! bundle's own `playbooks/` (written out of the verified bundle into
//! `<state dir>/install/<cluster>/playbooks/`, replacing what an earlier install left there, so
//! what runs is exactly what the bundle's signer shipped). Either way the directory must hold
//! `site.yml`.
//!
//! Must not: load or run the playbooks.

use crate::serve::index::Index;
use std::path::{Path, PathBuf};

/// The playbook `cairn install` runs, in the chosen directory.
pub const SITE: &str = "site.yml";

#[derive(Debug, thiserror::Error)]
pub enum PlaybooksError {
    #[error("--playbooks {0}: no site.yml in it; cairn install runs DIR/site.yml")]
    NoSite(PathBuf),
    #[error(
        "the bundle {0} carries no playbooks/site.yml; give --playbooks DIR (a directory with site.yml), or build the bundle with its playbooks"
    )]
    NotInBundle(String),
    #[error("cannot write the bundle's playbooks to {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The `site.yml` to run.
pub fn resolve(
    flag: Option<&Path>,
    index: &Index,
    state_dir: &Path,
    cluster: &str,
) -> Result<PathBuf, PlaybooksError> {
    if let Some(dir) = flag {
        let site = dir.join(SITE);
        return if site.is_file() {
            Ok(site)
        } else {
            Err(PlaybooksError::NoSite(dir.to_path_buf()))
        };
    }
    if index.lookup("playbooks", SITE).is_none() {
        let m = &index.manifest;
        return Err(PlaybooksError::NotInBundle(format!(
            "{}-{}",
            m.name, m.version
        )));
    }
    let dir = state_dir.join("install").join(cluster).join("playbooks");
    extract(index, &dir).map_err(|source| PlaybooksError::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir.join(SITE))
}

fn extract(index: &Index, dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    for (path, loc) in index.under("playbooks") {
        // Manifest paths are checked when the bundle is verified: relative, no `..`.
        let rel = path.strip_prefix("playbooks/").unwrap_or(path);
        let dest = dir.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::fs::File::create(&dest)?;
        std::io::copy(&mut index.reader(loc), &mut out)?;
    }
    Ok(())
}
