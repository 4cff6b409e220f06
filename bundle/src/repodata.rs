//! Yum/dnf repository metadata (`repodata/`) for a set of RPM files, as createrepo_c writes it
//! with `--no-database`: `repomd.xml` and gzip'd `primary`, `filelists` and `other` XML.
//!
//! One concept per module: [`header`] (reading one RPM: header values and the file's sha256
//! in one pass), [`primary`], [`filelists`], [`other`], [`repomd`] (the documents), `xml`
//! (escaping as libxml2 does). This module reads many RPMs on a few threads and puts the
//! documents together.
//!
//! Produces bytes only. Must not: know about HTTP or URLs beyond the relative `href`s it is
//! given, or about the bundle's tar (the writer stores what this returns).

pub mod filelists;
pub mod header;
pub mod other;
pub mod primary;
pub mod repomd;
mod xml;

use flate2::Compression;
use flate2::write::GzEncoder;
use header::{HeaderError, Package};
use repomd::DataFile;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Name of the index file inside `repodata/`.
pub const REPOMD: &str = "repodata/repomd.xml";

/// An RPM to index: the file, its `location href`, and the `time file` to record.
#[derive(Clone, Debug)]
pub struct Input {
    pub file: PathBuf,
    pub href: String,
    pub time_file: u64,
}

/// An RPM that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", file.display())]
pub struct ReadError {
    pub file: PathBuf,
    pub source: HeaderError,
}

/// The generated files, paths relative to the repository root (`repodata/…`), `repomd.xml`
/// last.
#[derive(Clone, Debug)]
pub struct Repodata {
    pub files: Vec<(String, Vec<u8>)>,
    /// Number of packages listed.
    pub count: usize,
}

/// Reads every input (headers and whole-file sha256) on up to `threads` threads. The result is
/// in input order.
pub fn read_all(inputs: &[Input], threads: usize) -> Result<Vec<Package>, ReadError> {
    let next = AtomicUsize::new(0);
    let threads = threads.clamp(1, inputs.len().max(1));
    let read_one = |i: usize| -> Result<Package, ReadError> {
        let input = &inputs[i];
        let fail = |source| ReadError {
            file: input.file.clone(),
            source,
        };
        let f = std::fs::File::open(&input.file).map_err(|e| fail(e.into()))?;
        header::read(f, input.href.clone(), input.time_file).map_err(fail)
    };
    let mut results: Vec<(usize, Result<Package, ReadError>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= inputs.len() {
                            break mine;
                        }
                        mine.push((i, read_one(i)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a repodata reader thread panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Writes one metadata document for a list of packages.
type Document = fn(&[Package]) -> String;

/// The metadata for `packages` (listed in `href` order, as createrepo_c lists a directory), with
/// `time` as the revision and timestamps. The three documents are built and compressed in
/// parallel.
pub fn generate(mut packages: Vec<Package>, time: u64) -> Repodata {
    packages.sort_by(|a, b| a.href.cmp(&b.href));
    let docs: [(&'static str, Document); 3] = [
        ("primary", primary::document),
        ("filelists", filelists::document),
        ("other", other::document),
    ];
    let built: Vec<(DataFile, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = docs
            .iter()
            .map(|(kind, doc)| {
                let packages = &packages;
                s.spawn(move || compress(kind, doc(packages).as_bytes()))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a repodata writer thread panicked"))
            .collect()
    });
    let index: Vec<DataFile> = built.iter().map(|(d, _)| d.clone()).collect();
    let repomd = repomd::document(time, &index);
    let mut files: Vec<(String, Vec<u8>)> =
        built.into_iter().map(|(d, gz)| (d.href(), gz)).collect();
    files.push((REPOMD.to_string(), repomd.into_bytes()));
    Repodata {
        files,
        count: packages.len(),
    }
}

fn compress(kind: &'static str, data: &[u8]) -> (DataFile, Vec<u8>) {
    // gzip is what every EL dnf reads; level 6 as zlib's default (createrepo_c's too).
    let mut gz = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::default());
    gz.write_all(data).expect("writing to memory");
    let gz = gz.finish().expect("writing to memory");
    let file = DataFile {
        kind,
        sha256: hex::encode(Sha256::digest(&gz)),
        size: gz.len() as u64,
        open_sha256: hex::encode(Sha256::digest(data)),
        open_size: data.len() as u64,
    };
    (file, gz)
}

#[cfg(test)]
mod tests;
