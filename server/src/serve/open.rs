//! Opening a bundle for serving: verify it in one pass, index the verified entries, build the
//! apt metadata, check the yum metadata and read the registry's manifests. Shared by
//! `cairn serve` and `cairn install` (which serves the bundle while it installs).
//!
//! Owns the order of that work and its error messages. Must not: listen, or print.

use super::deb_repo::{self, DebRepo};
use super::index::Index;
use super::registry::{self, Registry};
use super::yum_repo::{self, YumRepo};
use cairn_bundle::{sign, verify};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::{Duration, Instant};

/// A verified, indexed bundle, ready to serve.
pub struct Opened {
    pub index: Index,
    pub deb: DebRepo,
    pub yum: YumRepo,
    pub registry: Registry,
    pub verified_in: Duration,
    pub indexed_in: Duration,
}

/// Why a bundle cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The bundle is bad (verification or its contents): `cairn serve` exits 2.
    #[error("{0}")]
    Bundle(String),
    /// The public key given to check the signature is unusable: bad input, exit 1.
    #[error("--key: {0}")]
    Key(String),
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Verify (against the public key in `key`, when given) and index `file` (blocking: it reads
/// the whole file; call from the blocking pool).
pub fn open(file: File, key: Option<&Path>) -> Result<Opened, OpenError> {
    let key = key
        .map(sign::read_public)
        .transpose()
        .map_err(|e| OpenError::Key(e.to_string()))?;
    let key = key.as_ref();
    let t0 = Instant::now();
    let reading = file.try_clone()?;
    let verified = verify::verify(BufReader::with_capacity(1 << 20, reading), key)
        .map_err(|e| OpenError::Bundle(format!("verification failed: {e}")))?;
    let verified_in = t0.elapsed();
    let index = Index::new(file, verified);
    let t1 = Instant::now();
    let deb = deb_repo::build(&index)
        .map_err(|e| OpenError::Bundle(format!("cannot index the Debian packages: {e}")))?;
    let yum = yum_repo::check(&index).map_err(|e| OpenError::Bundle(e.to_string()))?;
    let registry = registry::build(&index)
        .map_err(|e| OpenError::Bundle(format!("cannot index the images: {e}")))?;
    Ok(Opened {
        index,
        deb,
        yum,
        registry,
        verified_in,
        indexed_in: t1.elapsed(),
    })
}
