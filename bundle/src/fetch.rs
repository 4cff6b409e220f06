//! What a build asks of the network, and who answers: the [`Fetch`] trait. `cairn bundle build`
//! passes its HTTP client (server/src/download.rs, server/src/pull.rs); library callers and
//! tests without one pass [`NoFetch`], which refuses.
//!
//! Owns: the contract (where results are written, what is reported back, progress), so the
//! writer can check digests and keep nothing half-written without knowing HTTP.
//!
//! Must not: do network I/O itself (this crate knows nothing of HTTP).

use crate::images::reference::RegistryRef;
use std::path::Path;

/// Progress of one transfer, for a progress bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// A transfer starts; `total` when the server announced a length.
    Started { what: String, total: Option<u64> },
    /// `n` more bytes arrived.
    Bytes(u64),
}

/// A downloaded file: its size and sha256 (lowercase hex), taken while it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downloaded {
    pub size: u64,
    pub sha256: String,
}

/// The network a build may use.
pub trait Fetch {
    /// Writes an OCI layout to `into` holding `image` (an index filtered to `platforms`, or a
    /// single manifest) and returns the `org.opencontainers.image.ref.name` to select it by.
    /// `insecure`: plain HTTP instead of HTTPS.
    fn fetch(
        &mut self,
        image: &RegistryRef,
        insecure: bool,
        platforms: &[String],
        into: &Path,
        progress: &mut dyn FnMut(Transfer),
    ) -> Result<String, String>;

    /// Downloads `url` (http or https) to the file `into` (created; on error it may be left
    /// partly written: the caller owns the directory and removes it).
    fn download(
        &mut self,
        url: &str,
        into: &Path,
        progress: &mut dyn FnMut(Transfer),
    ) -> Result<Downloaded, String>;
}

/// The [`Fetch`] of a build without a network client: everything is refused.
pub struct NoFetch;

const NO_CLIENT: &str = "this build has no network client; build with `cairn bundle build`";

impl Fetch for NoFetch {
    fn fetch(
        &mut self,
        _: &RegistryRef,
        _: bool,
        _: &[String],
        _: &Path,
        _: &mut dyn FnMut(Transfer),
    ) -> Result<String, String> {
        Err(NO_CLIENT.into())
    }

    fn download(
        &mut self,
        _: &str,
        _: &Path,
        _: &mut dyn FnMut(Transfer),
    ) -> Result<Downloaded, String> {
        Err(NO_CLIENT.into())
    }
}
