//! Verifying a bundle: every byte against the manifest, and the manifest against a key.
//!
//! On top of the tar-level rules of [`crate::reader`], a bundle verifies when: every entry is
//! listed in the manifest, appears once, has the listed size and SHA-256; every listed entry is
//! present; and, when a public key is given, `manifest.sig` is a valid Ed25519 signature of the
//! manifest by that key. The first problem is reported, by entry path.
//!
//! Speed: SHA-256 of one stream is serial, so entries are hashed on worker threads (one per
//! CPU, at most [`MAX_HASHERS`]) while this thread reads on: each entry goes whole to one
//! worker (in order), different entries hash at once. Buffers come from a fixed pool, so memory
//! stays bounded whatever the bundle's size. A digest mismatch is reported as soon as it is
//! known, and when several are known, the one first in the archive.
//!
//! Must not: extract, install or trust anything before the check that covers it.

use crate::manifest::Manifest;
use crate::reader::{self, EntryHeader, Head, ReadError};
use crate::sign;
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

/// Buffer size for hashing: large reads keep the per-call overhead out of the MB/s.
const BUF: usize = 1 << 20;
/// More hashing threads than this do not pay: the reader thread becomes the limit.
pub const MAX_HASHERS: usize = 4;
/// Buffers in flight per hashing thread.
const BUFS_PER_HASHER: usize = 4;

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
    hashers: Hashers,
    /// Entries handed to the hashers so far (their archive order).
    sent: usize,
    /// Manifest index of each entry in archive order, to name the first bad one.
    order: Vec<usize>,
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
        let want = &manifest_entries(&self.head)[i];
        if entry.size != want.size {
            return Err(VerifyError::Size {
                path: entry.path.clone(),
                expected: want.size,
                actual: entry.size,
            });
        }
        let seq = self.sent;
        self.sent += 1;
        self.order.push(i);
        let worker = seq % self.hashers.jobs.len();
        loop {
            let mut buf = self.hashers.buffer();
            let n = read_full(data, &mut buf).map_err(|e| reader::classify(e, &entry.path))?;
            if n == 0 {
                self.hashers.free_tx.send(buf).ok();
                break;
            }
            self.bytes += n as u64;
            self.hashers.send(worker, Job::Data(buf, n));
            if n < BUF {
                break;
            }
        }
        self.hashers.send(worker, Job::End(seq));
        // Fail fast: a mismatch already found stops the pass here.
        if let Some(e) =
            self.hashers
                .first_mismatch(false, &self.order, manifest_entries(&self.head))
        {
            return Err(e);
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
        hashers: Hashers::start(hasher_count()),
        sent: 0,
        order: Vec::new(),
        bytes: 0,
        offsets: Vec::new(),
    };
    let walked = reader::walk(input, &mut v);
    // Every digest is in before anything is concluded (also when the walk failed: the workers
    // are joined, and a mismatch earlier in the archive is the first problem to report).
    let mismatch = v
        .hashers
        .first_mismatch(true, &v.order, manifest_entries(&v.head));
    if let Some(e) = mismatch {
        return Err(e);
    }
    walked?;
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

fn manifest_entries(head: &Option<Head>) -> &[crate::manifest::Entry] {
    head.as_ref().map_or(&[], |h| &h.manifest.entries[..])
}

/// Reads until `buf` is full or the entry ends; the count read. Pool buffers keep their full
/// length (zeroed once, at start): resizing them per read would zero 1 MiB each time.
fn read_full(data: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match data.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Hashing threads for this machine: one per CPU, at most [`MAX_HASHERS`].
fn hasher_count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_HASHERS)
}

enum Job {
    /// A pool buffer and how many of its bytes are the entry's.
    Data(Vec<u8>, usize),
    /// The entry with this archive sequence number is complete.
    End(usize),
}

/// The hashing threads, their queues, the buffer pool and the digests they report.
struct Hashers {
    jobs: Vec<SyncSender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    free_tx: Sender<Vec<u8>>,
    free_rx: Receiver<Vec<u8>>,
    done: Receiver<(usize, String)>,
    /// The mismatch first in archive order among the digests received so far: (archive
    /// sequence number, the digest the data has).
    first_bad: Option<(usize, String)>,
}

impl Hashers {
    fn start(n: usize) -> Hashers {
        let (free_tx, free_rx) = channel();
        for _ in 0..n * BUFS_PER_HASHER {
            free_tx.send(vec![0u8; BUF]).ok();
        }
        let (done_tx, done) = channel();
        let mut jobs = Vec::new();
        let mut threads = Vec::new();
        for _ in 0..n {
            let (tx, rx) = sync_channel::<Job>(BUFS_PER_HASHER);
            let free = free_tx.clone();
            let done = done_tx.clone();
            threads.push(std::thread::spawn(move || {
                let mut h = Sha256::new();
                for job in rx {
                    match job {
                        Job::Data(buf, n) => {
                            h.update(&buf[..n]);
                            // The pool may be gone when the reader has stopped.
                            let _ = free.send(buf);
                        }
                        Job::End(seq) => {
                            let digest = hex::encode(std::mem::take(&mut h).finalize());
                            let _ = done.send((seq, digest));
                        }
                    }
                }
            }));
            jobs.push(tx);
        }
        Hashers {
            jobs,
            threads,
            free_tx,
            free_rx,
            done,
            first_bad: None,
        }
    }

    /// A buffer from the pool (waits for a hasher to return one).
    fn buffer(&self) -> Vec<u8> {
        self.free_rx
            .recv()
            .expect("the pool's sender lives in self: recv cannot fail")
    }

    fn send(&self, worker: usize, job: Job) {
        // A hasher only stops when its queue is closed, which happens in `first_mismatch(true)`.
        self.jobs[worker].send(job).ok();
    }

    /// Takes in the digests reported so far (with `finish`: closes the queues and waits for
    /// all) and returns the mismatch first in archive order, if any.
    fn first_mismatch(
        &mut self,
        finish: bool,
        order: &[usize],
        entries: &[crate::manifest::Entry],
    ) -> Option<VerifyError> {
        if finish {
            self.jobs.clear();
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
        while let Ok((seq, d)) = self.done.try_recv() {
            let earlier = self.first_bad.as_ref().is_none_or(|(s, _)| seq < *s);
            if entries[order[seq]].sha256 != d && earlier {
                self.first_bad = Some((seq, d));
            }
        }
        let (seq, actual) = self.first_bad.as_ref()?;
        let e = &entries[order[*seq]];
        Some(VerifyError::Digest {
            path: e.path.clone(),
            expected: e.sha256.clone(),
            actual: actual.clone(),
        })
    }
}

#[cfg(test)]
mod tests;
