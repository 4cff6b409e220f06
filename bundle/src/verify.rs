//! Verifying a bundle: every byte against the manifest, and the manifest against a key.
//!
//! On top of the tar-level rules of [`crate::reader`], a bundle verifies when: every entry is
//! listed in the manifest, appears once, has the listed size and SHA-256; every listed entry is
//! present; and, when a public key is given, `manifest.sig` is a valid Ed25519 signature of the
//! manifest by that key. The first problem is reported, by entry path.
//!
//! Must not: extract, install or trust anything before the check that covers it.

use crate::manifest::Manifest;
use crate::reader::{self, EntryHeader, Head, ReadError};
use crate::sign;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;

/// Buffer size for hashing: large reads keep the per-call overhead out of the MB/s.
const BUF: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("entry {0:?} is not listed in manifest.json")]
    NotInManifest(String),
    #[error("entry {0:?} appears more than once")]
    Duplicate(String),
    #[error(
        "entry {path:?}: size mismatch: manifest.json says {expected} bytes, the archive has {actual}"
    )]
    Size {
        path: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "entry {path:?}: sha256 mismatch: manifest.json says {expected}, the data hashes to {actual}"
    )]
    Digest {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("entry {0:?} is listed in manifest.json but missing from the archive")]
    Missing(String),
    #[error("manifest.sig is missing: the bundle is not signed, and a key was given")]
    SignatureMissing,
    #[error(
        "manifest.sig is not a valid signature by key {0}: the manifest was altered or signed by another key"
    )]
    SignatureInvalid(String),
}

/// How the manifest's signature was judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signature {
    /// Valid signature by the key with this fingerprint.
    Verified(String),
    /// Signed, but no key was given to check it with.
    NotChecked,
    /// No `manifest.sig` (and no key required one).
    Unsigned,
}

/// A bundle that verified.
#[derive(Clone, Debug)]
pub struct Verified {
    pub manifest: Manifest,
    pub signature: Signature,
    /// Bytes of entry data hashed.
    pub bytes: u64,
    /// `offsets[i]`: where the data of `manifest.entries[i]` starts in the file (its length is
    /// the entry's size). Recorded during the same pass, so the bytes found there are the bytes
    /// that were hashed, as long as the file is not changed afterwards.
    pub offsets: Vec<u64>,
}

/// State of one verification pass.
struct Verifier<'k> {
    key: Option<&'k VerifyingKey>,
    head: Option<Head>,
    signature: Signature,
    /// Entry path -> (index into the manifest's entries, seen yet).
    expected: HashMap<String, (usize, bool)>,
    buf: Vec<u8>,
    bytes: u64,
    /// Data offset of each manifest entry, by manifest index.
    offsets: Vec<u64>,
}

impl reader::Visitor for Verifier<'_> {
    type Error = VerifyError;

    fn head(&mut self, h: &Head) -> Result<bool, VerifyError> {
        // The signature is checked before any entry is looked at: with a key, nothing about
        // the bundle is believed until the manifest is known to be authentic.
        self.signature = match (self.key, &h.signature) {
            (Some(_), None) => return Err(VerifyError::SignatureMissing),
            (Some(k), Some(sig)) => {
                if !sign::check(k, &h.manifest_bytes, sig) {
                    return Err(VerifyError::SignatureInvalid(sign::fingerprint(k)));
                }
                Signature::Verified(sign::fingerprint(k))
            }
            (None, Some(_)) => Signature::NotChecked,
            (None, None) => Signature::Unsigned,
        };
        self.offsets = vec![0; h.manifest.entries.len()];
        for (i, e) in h.manifest.entries.iter().enumerate() {
            self.expected.insert(e.path.clone(), (i, false));
        }
        self.head = Some(h.clone());
        Ok(true)
    }

    fn entry(&mut self, entry: &EntryHeader, data: &mut dyn Read) -> Result<(), VerifyError> {
        let Some((i, seen)) = self.expected.get_mut(&entry.path) else {
            return Err(VerifyError::NotInManifest(entry.path.clone()));
        };
        if *seen {
            return Err(VerifyError::Duplicate(entry.path.clone()));
        }
        *seen = true;
        let i = *i;
        self.offsets[i] = entry.offset;
        let manifest = &self.head.as_ref().expect("head comes first").manifest;
        let want = &manifest.entries[i];
        if entry.size != want.size {
            return Err(VerifyError::Size {
                path: entry.path.clone(),
                expected: want.size,
                actual: entry.size,
            });
        }
        let mut hasher = Sha256::new();
        loop {
            let n = data
                .read(&mut self.buf)
                .map_err(|e| reader::classify(e, &entry.path))?;
            if n == 0 {
                break;
            }
            hasher.update(&self.buf[..n]);
            self.bytes += n as u64;
        }
        let actual = hex::encode(hasher.finalize());
        if actual != want.sha256 {
            return Err(VerifyError::Digest {
                path: entry.path.clone(),
                expected: want.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

/// Verifies the bundle read from `input` in one pass. With `key`, a valid signature is required.
pub fn verify(input: impl Read, key: Option<&VerifyingKey>) -> Result<Verified, VerifyError> {
    let mut v = Verifier {
        key,
        head: None,
        signature: Signature::Unsigned,
        expected: HashMap::new(),
        buf: vec![0u8; BUF],
        bytes: 0,
        offsets: Vec::new(),
    };
    reader::walk(input, &mut v)?;
    let head = v.head.expect("walk succeeded, so the manifest was read");
    if let Some(e) = head
        .manifest
        .entries
        .iter()
        .find(|e| !v.expected.get(&e.path).is_some_and(|(_, seen)| *seen))
    {
        return Err(VerifyError::Missing(e.path.clone()));
    }
    Ok(Verified {
        manifest: head.manifest,
        signature: v.signature,
        bytes: v.bytes,
        offsets: v.offsets,
    })
}

#[cfg(test)]
mod tests;
