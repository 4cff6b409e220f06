//! The served bundle: its open file and, for every manifest entry, where its data lies in that
//! file, built from a verification pass so nothing unverified is ever served.
//!
//! Owns: looking up an entry by its exact manifest path (no normalisation, so `..` or encoded
//! paths can only miss), and positioned reads of entry data. Must not: verify (that is
//! `cairn-bundle`'s `verify`), speak HTTP, or unpack the bundle to disk.

use cairn_bundle::manifest::{Entry, Manifest};
use cairn_bundle::verify::Verified;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;

/// One entry's data in the bundle file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub offset: u64,
    pub size: u64,
    pub sha256: String,
    pub media_type: String,
}

#[derive(Debug)]
pub struct Index {
    /// The bundle, held open: entries are read with `read_at`, so concurrent requests need no
    /// shared cursor. The file must not be changed while it is served.
    pub file: File,
    pub manifest: Manifest,
    entries: HashMap<String, Located>,
}

impl Index {
    /// Index from a verification pass over `file` (the same file, not reopened by name, so a
    /// file swapped on disk after verification is not what gets served).
    pub fn new(file: File, verified: Verified) -> Index {
        let entries = verified
            .manifest
            .entries
            .iter()
            .zip(&verified.offsets)
            .map(|(e, off): (&Entry, &u64)| {
                (
                    e.path.clone(),
                    Located {
                        offset: *off,
                        size: e.size,
                        sha256: e.sha256.clone(),
                        media_type: e.media_type.clone(),
                    },
                )
            })
            .collect();
        Index {
            file,
            manifest: verified.manifest,
            entries,
        }
    }

    /// The entry at exactly `path` under `dir` (e.g. `files`): `dir/path` must be a manifest
    /// path. Nothing is normalised: `../x` is looked up as `dir/../x`, which no manifest holds
    /// (manifest paths are checked for `..` when the bundle is read).
    pub fn lookup(&self, dir: &str, path: &str) -> Option<&Located> {
        self.entries.get(&format!("{dir}/{path}"))
    }

    /// Reads `buf.len()` bytes of the file at `offset`.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    /// Manifest entries under `dir/`, in manifest order, with their location.
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a Located)> {
        self.manifest.entries.iter().filter_map(move |e| {
            e.path.strip_prefix(dir)?.strip_prefix('/')?;
            Some((e.path.as_str(), self.entries.get(&e.path)?))
        })
    }

    /// A reader over one entry's data (positioned reads, no shared cursor).
    pub fn reader<'a>(&'a self, loc: &Located) -> EntryReader<'a> {
        EntryReader {
            index: self,
            pos: loc.offset,
            left: loc.size,
        }
    }
}

pub struct EntryReader<'a> {
    index: &'a Index,
    pos: u64,
    left: u64,
}

impl io::Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.index.read_at(&mut buf[..n], self.pos)?;
        self.pos += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}
