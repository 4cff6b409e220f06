//! Building a bundle: from a [`LoadedSpec`] to one tar file `NAME-VERSION.cairn`.
//!
//! Layout: `manifest.json` first, then `manifest.sig` when signing, then every entry in path
//! order, stored uncompressed (packages are compressed already). Headers are fixed (mode 0644,
//! uid/gid 0, no user names, mtime = the bundle's `created`), so the same inputs and the same
//! `created` give the same bytes.
//!
//! Every input is hashed once for the manifest and hashed again while it is copied into the
//! tar: a file that changes between the two passes fails the build instead of producing a
//! bundle whose manifest lies. The output appears under its final name only when complete.
//! RPMs are hashed for the manifest while their headers are read for the yum repository
//! metadata (`rpms/repodata/`), which is generated here, stored like any entry, and so covered
//! by the manifest and its signature; packages go under `rpms/Packages/`.
//!
//! Must not: know about SSH, hosts or what playbooks mean (they are files here).

use crate::debs::{self, DebError};
use crate::fetch::{Downloaded, Fetch, NoFetch, Transfer};
use crate::images::{self, ImageError};
use crate::manifest::{self, Entry, FORMAT, MANIFEST_PATH, Manifest, SIGNATURE_PATH};
use crate::repodata;
use crate::sign;
use crate::spec::LoadedSpec;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// How to build, besides the spec.
pub struct BuildOptions {
    /// Directory the bundle is written to (created if missing).
    pub out_dir: PathBuf,
    /// Sign the manifest with this key (adds `manifest.sig`).
    pub sign: Option<SigningKey>,
    /// Seconds since the Unix epoch recorded as `created` and used as every entry's mtime.
    pub created: u64,
    /// Recorded as the manifest's `tool`, e.g. `cairn 0.1.0`.
    pub tool: String,
}

/// What the build is doing, for a progress display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildEvent {
    /// Resolving and downloading Debian packages (no byte count known).
    Resolving,
    /// A phase over `total` bytes starts: `"indexing"` (RPM headers and digests, when the
    /// spec has RPMs), `"hashing"`, then `"writing"`.
    Phase { name: &'static str, total: u64 },
    /// `n` more bytes of the current phase (or download) are done.
    Bytes(u64),
    /// A download starts (a `files:`/`rpms.urls` URL, or an image's manifest or blob);
    /// `total` when the server announced a length. `Bytes` follow.
    Download { what: String, total: Option<u64> },
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Debs(#[from] DebError),
    #[error("rpms: {0}")]
    Rpm(#[from] repodata::ReadError),
    #[error(transparent)]
    Images(#[from] ImageError),
    #[error(
        "images: blob {file}: sha256 mismatch: its name says {expected}, the file has {actual}"
    )]
    BlobMismatch {
        file: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "{list}: {url}: sha256 mismatch: expected {expected} (the spec), got {actual} ({size} bytes downloaded, not kept)"
    )]
    UrlMismatch {
        list: &'static str,
        url: String,
        expected: String,
        actual: String,
        size: u64,
    },
    #[error("{list}: {url}: download failed: {message}")]
    Download {
        list: &'static str,
        url: String,
        message: String,
    },
    #[error("files: {file}: sha256 mismatch: the spec says {expected}, the file has {actual}")]
    Sha256Mismatch {
        file: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}: not a regular file (bundles hold regular files only)")]
    NotAFile(PathBuf),
    #[error("{0}: symbolic link to a directory; list the target directory instead")]
    DirSymlink(PathBuf),
    #[error("playbooks: {0}: directory not found")]
    NoPlaybooks(PathBuf),
    #[error("two inputs want the bundle path {entry}: {first} and {second}")]
    Collision {
        entry: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{path}: file name {name:?} is not usable in a bundle: {problem}")]
    BadName {
        path: PathBuf,
        name: String,
        problem: &'static str,
    },
    #[error("{0}: changed while the bundle was being built; build again")]
    Changed(PathBuf),
    #[error("internal error, the built manifest is invalid: {0}")]
    Manifest(#[from] manifest::ManifestError),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A finished bundle.
#[derive(Debug)]
pub struct Built {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// Size of the bundle file.
    pub bytes: u64,
}

/// One input file and, for `files:` and image blobs, the digest it must have.
struct Source {
    /// The input file; for generated data, a label naming it in errors.
    file: PathBuf,
    expect_sha256: Option<String>,
    /// Size and sha256 already taken in an earlier full read (RPMs, while indexing).
    known: Option<(u64, String)>,
    /// Generated in memory (repository metadata) rather than read from `file`.
    data: Option<Vec<u8>>,
    /// Media type to record (image blobs); else derived from the path.
    media_type: Option<String>,
    /// Where a downloaded file came from (its URL), shown instead of the scratch file.
    origin: Option<String>,
}

impl Source {
    fn file(file: PathBuf) -> Source {
        Source {
            file,
            expect_sha256: None,
            known: None,
            data: None,
            media_type: None,
            origin: None,
        }
    }

    /// What to call this input in an error: the URL it came from, else its file.
    fn shown(&self) -> PathBuf {
        match &self.origin {
            Some(url) => PathBuf::from(url),
            None => self.file.clone(),
        }
    }

    fn open(&self) -> Result<Box<dyn Read + '_>, BuildError> {
        Ok(match &self.data {
            Some(d) => Box::new(&d[..]),
            None => Box::new(File::open(&self.file).map_err(io_err(&self.file))?),
        })
    }

    fn len(&self) -> Result<u64, BuildError> {
        match (&self.data, &self.known) {
            (Some(d), _) => Ok(d.len() as u64),
            (None, Some((size, _))) => Ok(*size),
            (None, None) => Ok(std::fs::metadata(&self.file)
                .map_err(io_err(&self.file))?
                .len()),
        }
    }
}

/// Builds the bundle described by `spec`; `docker://` images are refused (see [`build_with`]).
pub fn build(
    spec: &LoadedSpec,
    opts: &BuildOptions,
    progress: &mut dyn FnMut(BuildEvent),
) -> Result<Built, BuildError> {
    build_with(spec, opts, &mut NoFetch, progress)
}

/// Builds the bundle described by `spec`, pulling `docker://` images with `fetch`.
pub fn build_with(
    spec: &LoadedSpec,
    opts: &BuildOptions,
    fetch: &mut dyn Fetch,
    progress: &mut dyn FnMut(BuildEvent),
) -> Result<Built, BuildError> {
    let s = &spec.spec;
    std::fs::create_dir_all(&opts.out_dir).map_err(io_err(&opts.out_dir))?;
    let file_name = format!("{}-{}.cairn", s.name, s.version);
    let out = opts.out_dir.join(&file_name);

    let mut sources: BTreeMap<String, Source> = BTreeMap::new();
    // Downloaded debs live in a scratch dir beside the output until the bundle is written.
    let scratch = Scratch(opts.out_dir.join(format!(".{file_name}.debs.tmp")));
    if let Some(d) = &s.debs {
        if !d.packages.is_empty() {
            progress(BuildEvent::Resolving);
            let base = debs::base_status(d.base_status.as_ref().map(|p| spec.resolve(p)))?;
            scratch.reset()?;
            let names: Vec<String> = d.packages.iter().map(|p| p.to_string()).collect();
            for f in debs::resolve_and_download(&names, &base, d.suite.as_deref(), &scratch.0)? {
                add(&mut sources, "debs", &f)?;
            }
        }
        for dir in &d.dirs {
            for f in files_with_ext(&spec.resolve(dir), "deb")? {
                add(&mut sources, "debs", &f)?;
            }
        }
    }
    // Downloads (`files:` and `rpms.urls` URLs) likewise, each checked as it arrives.
    let downloads = Scratch(opts.out_dir.join(format!(".{file_name}.downloads.tmp")));
    let has_urls = s.files.iter().any(|f| f.url.is_some())
        || s.rpms.as_ref().is_some_and(|r| !r.urls.is_empty());
    if has_urls {
        downloads.reset()?;
    }
    if let Some(r) = &s.rpms {
        let mut files = Vec::new();
        for dir in &r.dirs {
            files.extend(files_with_ext(&spec.resolve(dir), "rpm")?);
        }
        for f in &r.files {
            let file = spec.resolve(Path::new(f.as_str()));
            if !std::fs::metadata(&file).map_err(io_err(&file))?.is_file() {
                return Err(BuildError::NotAFile(file));
            }
            files.push(file);
        }
        for (i, u) in r.urls.iter().enumerate() {
            // One directory per URL: two URLs ending in the same name meet in `insert`.
            let dir = downloads.0.join(format!("rpm-{i}"));
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let into = dir.join(u.url.file_name());
            let url = u.url.as_str();
            download(
                fetch,
                "rpms.urls",
                url,
                &u.sha256.normalized(),
                &into,
                progress,
            )?;
            files.push(into);
        }
        rpms(files, opts.created, &mut sources, progress)?;
    }
    for (i, f) in s.files.iter().enumerate() {
        let src = match (&f.url, &f.path) {
            (Some(url), _) => {
                let into = downloads.0.join(format!("file-{i}"));
                let expected = f.sha256.normalized();
                let got = download(fetch, "files", url.as_str(), &expected, &into, progress)?;
                Source {
                    expect_sha256: Some(expected),
                    known: Some((got.size, got.sha256)),
                    origin: Some(url.to_string()),
                    ..Source::file(into)
                }
            }
            (None, Some(path)) => Source {
                expect_sha256: Some(f.sha256.normalized()),
                ..Source::file(spec.resolve(path))
            },
            (None, None) => unreachable!("the spec requires path or url"),
        };
        let name = match f.bundle_name() {
            Some(n) => n,
            None => base_name(&src.file)?,
        };
        insert(&mut sources, format!("files/{name}"), src)?;
    }
    // Images: converted and pulled ones live in a scratch dir until the bundle is written.
    let image_scratch = Scratch(opts.out_dir.join(format!(".{file_name}.images.tmp")));
    if !s.images.is_empty() {
        image_scratch.reset()?;
        let collected = images::collect(spec, &image_scratch.0, fetch, &mut |t| {
            progress(transfer_event(t))
        })?;
        for blob in collected.blobs.values() {
            insert(
                &mut sources,
                format!("{}/{}", images::BLOBS_DIR, blob.hex),
                Source {
                    expect_sha256: Some(blob.hex.clone()),
                    media_type: Some(blob.media_type.clone()),
                    ..Source::file(blob.file.clone())
                },
            )?;
        }
        for (path, file, media) in [
            (images::INDEX_PATH, &collected.index_file, images::OCI_INDEX),
            (
                images::LAYOUT_PATH,
                &collected.layout_file,
                "application/json",
            ),
        ] {
            let file = file
                .clone()
                .expect("collect writes both when there are images");
            insert(
                &mut sources,
                path.to_string(),
                Source {
                    media_type: Some(media.to_string()),
                    ..Source::file(file)
                },
            )?;
        }
    }
    let (pb_dir, explicit) = spec.playbooks_dir();
    if pb_dir.is_dir() {
        let mut found = Vec::new();
        walk(&pb_dir, "", &mut found)?;
        for (rel, file) in found {
            insert(&mut sources, format!("playbooks/{rel}"), Source::file(file))?;
        }
    } else if explicit {
        return Err(BuildError::NoPlaybooks(pb_dir));
    }

    // Pass 1: size and digest of every input, for the manifest.
    let mut total = 0;
    for src in sources.values() {
        total += src.len()?;
    }
    progress(BuildEvent::Phase {
        name: "hashing",
        total,
    });
    let mut entries = Vec::with_capacity(sources.len());
    for (path, src) in &sources {
        let (size, sha256) = match &src.known {
            Some((size, sha256)) => {
                progress(BuildEvent::Bytes(*size));
                (*size, sha256.clone())
            }
            None => {
                let mut r = HashingReader::new(src.open()?, progress);
                io::copy(&mut r, &mut io::sink()).map_err(io_err(&src.file))?;
                r.finish()
            }
        };
        if let Some(expected) = &src.expect_sha256
            && *expected != sha256
        {
            if path.starts_with("images/") {
                return Err(BuildError::BlobMismatch {
                    file: src.file.clone(),
                    expected: expected.clone(),
                    actual: sha256,
                });
            }
            return Err(BuildError::Sha256Mismatch {
                file: src.file.clone(),
                expected: expected.clone(),
                actual: sha256,
            });
        }
        entries.push(Entry {
            media_type: src
                .media_type
                .clone()
                .unwrap_or_else(|| manifest::media_type(path).to_string()),
            path: path.clone(),
            size,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT,
        name: s.name.to_string(),
        version: s.version.to_string(),
        created: manifest::rfc3339(opts.created),
        tool: opts.tool.clone(),
        spec: serde_json::to_value(s).expect("a Spec always serializes"),
        entries,
    };
    // Input names were checked as they were added; this guards the invariant for readers.
    manifest.check()?;

    // Pass 2: the tar, under a temporary name.
    let partial = opts.out_dir.join(format!(".{file_name}.partial"));
    let result = write_tar(&partial, &manifest, &sources, opts, progress);
    drop(scratch);
    drop(image_scratch);
    drop(downloads);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, &out).map_err(io_err(&out))?;
    let bytes = std::fs::metadata(&out).map_err(io_err(&out))?.len();
    Ok(Built {
        path: out,
        manifest,
        bytes,
    })
}

fn write_tar(
    partial: &Path,
    manifest: &Manifest,
    sources: &BTreeMap<String, Source>,
    opts: &BuildOptions,
    progress: &mut dyn FnMut(BuildEvent),
) -> Result<(), BuildError> {
    let file = File::create(partial).map_err(io_err(partial))?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    let manifest_bytes = manifest.to_bytes();
    append(
        &mut tar,
        MANIFEST_PATH,
        manifest_bytes.len() as u64,
        opts.created,
        &manifest_bytes[..],
    )
    .map_err(io_err(partial))?;
    if let Some(key) = &opts.sign {
        let sig = sign::sign(key, &manifest_bytes);
        append(
            &mut tar,
            SIGNATURE_PATH,
            sig.len() as u64,
            opts.created,
            &sig[..],
        )
        .map_err(io_err(partial))?;
    }
    progress(BuildEvent::Phase {
        name: "writing",
        total: manifest.total_size(),
    });
    for e in &manifest.entries {
        let src = &sources[&e.path];
        // take(): the header promised e.size bytes; a grown file must not overrun them.
        let mut r = HashingReader::new(src.open()?.take(e.size), progress);
        append(&mut tar, &e.path, e.size, opts.created, &mut r).map_err(io_err(&src.file))?;
        let (size, sha256) = r.finish();
        if size != e.size || sha256 != e.sha256 {
            return Err(BuildError::Changed(src.file.clone()));
        }
    }
    let mut w = tar.into_inner().map_err(io_err(partial))?;
    w.flush().map_err(io_err(partial))?;
    let file = w
        .into_inner()
        .map_err(|e| io_err(partial)(e.into_error()))?;
    file.sync_all().map_err(io_err(partial))
}

/// Appends one regular file with a fixed, reproducible header.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    mtime: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    // append_data writes the path (a GNU long-name entry when it needs one) and the checksum.
    tar.append_data(&mut h, path, data)
}

fn transfer_event(t: Transfer) -> BuildEvent {
    match t {
        Transfer::Started { what, total } => BuildEvent::Download { what, total },
        Transfer::Bytes(n) => BuildEvent::Bytes(n),
    }
}

/// Downloads `url` to `into` and checks it against `expected` (lowercase hex). On any
/// failure the partial file is removed here (the scratch directory goes too, when dropped).
fn download(
    fetch: &mut dyn Fetch,
    list: &'static str,
    url: &str,
    expected: &str,
    into: &Path,
    progress: &mut dyn FnMut(BuildEvent),
) -> Result<Downloaded, BuildError> {
    let result = fetch.download(url, into, &mut |t| progress(transfer_event(t)));
    let fail = |e| {
        let _ = std::fs::remove_file(into);
        e
    };
    let got = result.map_err(|message| {
        fail(BuildError::Download {
            list,
            url: url.to_string(),
            message,
        })
    })?;
    if got.sha256 != expected {
        return Err(fail(BuildError::UrlMismatch {
            list,
            url: url.to_string(),
            expected: expected.to_string(),
            actual: got.sha256,
            size: got.size,
        }));
    }
    Ok(got)
}

/// Reader that hashes and counts what passes through, reporting progress.
struct HashingReader<'a, R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    progress: &'a mut dyn FnMut(BuildEvent),
}

impl<'a, R: Read> HashingReader<'a, R> {
    fn new(inner: R, progress: &'a mut dyn FnMut(BuildEvent)) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
            progress,
        }
    }

    fn finish(self) -> (u64, String) {
        (self.count, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        (self.progress)(BuildEvent::Bytes(n as u64));
        Ok(n)
    }
}

/// A scratch directory removed when dropped (also on error paths).
struct Scratch(PathBuf);

impl Scratch {
    fn reset(&self) -> Result<(), BuildError> {
        if self.0.exists() {
            std::fs::remove_dir_all(&self.0).map_err(io_err(&self.0))?;
        }
        std::fs::create_dir_all(&self.0).map_err(io_err(&self.0))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn base_name(path: &Path) -> Result<String, BuildError> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| BuildError::BadName {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            problem: "no UTF-8 file name",
        })
}

/// Adds a package file as `DIR/BASENAME`.
fn add(sources: &mut BTreeMap<String, Source>, dir: &str, file: &Path) -> Result<(), BuildError> {
    let name = base_name(file)?;
    insert(
        sources,
        format!("{dir}/{name}"),
        Source::file(file.to_path_buf()),
    )
}

/// The RPM `files` as `rpms/Packages/NAME.rpm` and their repository metadata as
/// `rpms/repodata/…`: each RPM is read once here (header and sha256, on a few threads) and
/// not hashed again before it is written. `time file` is the bundle's `created`, the mtime its
/// entries get, so the metadata does not depend on the build machine's file times.
fn rpms(
    files: Vec<PathBuf>,
    created: u64,
    sources: &mut BTreeMap<String, Source>,
    progress: &mut dyn FnMut(BuildEvent),
) -> Result<(), BuildError> {
    let mut inputs = Vec::new();
    let mut total = 0;
    for file in files {
        total += std::fs::metadata(&file).map_err(io_err(&file))?.len();
        inputs.push(repodata::Input {
            href: format!("Packages/{}", base_name(&file)?),
            file,
            time_file: created,
        });
    }
    if inputs.is_empty() {
        return Ok(());
    }
    progress(BuildEvent::Phase {
        name: "indexing",
        total,
    });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let packages = repodata::read_all(&inputs, threads)?;
    progress(BuildEvent::Bytes(total));
    for (input, p) in inputs.iter().zip(&packages) {
        insert(
            sources,
            format!("rpms/{}", input.href),
            Source {
                known: Some((p.size_package, p.pkgid.clone())),
                ..Source::file(input.file.clone())
            },
        )?;
    }
    for (path, bytes) in repodata::generate(packages, created).files {
        let entry = format!("rpms/{path}");
        insert(
            sources,
            entry.clone(),
            Source {
                data: Some(bytes),
                ..Source::file(PathBuf::from(format!("(generated) {entry}")))
            },
        )?;
    }
    Ok(())
}

fn insert(
    sources: &mut BTreeMap<String, Source>,
    entry: String,
    src: Source,
) -> Result<(), BuildError> {
    if let Some(problem) = manifest::path_problem(&entry) {
        return Err(BuildError::BadName {
            path: src.file,
            name: entry,
            problem,
        });
    }
    if let Some(first) = sources.get(&entry) {
        return Err(BuildError::Collision {
            entry,
            first: first.shown(),
            second: src.shown(),
        });
    }
    sources.insert(entry, src);
    Ok(())
}

/// Regular files named `*.EXT` directly in `dir` (symlinks to files are followed), sorted.
fn files_with_ext(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, BuildError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let p = e.map_err(io_err(dir))?.path();
        if p.extension().is_some_and(|x| x == ext) {
            if !std::fs::metadata(&p).map_err(io_err(&p))?.is_file() {
                return Err(BuildError::NotAFile(p));
            }
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Every regular file under `dir` as (relative path with `/`, file), skipping dot-files and
/// dot-directories (`.git`). Symlinks to files are followed; to directories, refused (loops).
fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), BuildError> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        names.push(e.map_err(io_err(dir))?.path());
    }
    names.sort();
    for p in names {
        let name = base_name(&p)?;
        if name.starts_with('.') {
            continue;
        }
        let rel = format!("{prefix}{name}");
        let link = std::fs::symlink_metadata(&p).map_err(io_err(&p))?;
        let meta = std::fs::metadata(&p).map_err(io_err(&p))?;
        if meta.is_dir() {
            if link.file_type().is_symlink() {
                return Err(BuildError::DirSymlink(p));
            }
            walk(&p, &format!("{rel}/"), out)?;
        } else if meta.is_file() {
            out.push((rel, p));
        } else {
            return Err(BuildError::NotAFile(p));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// A spec in a fresh directory with one file `a.bin` and a playbooks dir; `extra` is
    /// appended to the spec text.
    fn setup(files: &str, extra: &str) -> (tempfile::TempDir, LoadedSpec) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.bin"), b"hello").unwrap();
        std::fs::create_dir_all(d.join("debs")).unwrap();
        std::fs::write(d.join("debs/x_1_all.deb"), b"not really a deb").unwrap();
        std::fs::create_dir_all(d.join("pb")).unwrap();
        std::fs::write(d.join("pb/site.yml"), "- hosts: all\n").unwrap();
        std::fs::write(
            d.join("s.yaml"),
            format!(
                "apiVersion: cairn/v1\nkind: Bundle\nname: t\nversion: '1'\n\
                 debs:\n  dirs: [debs]\nfiles:\n{files}playbooks: pb\n{extra}"
            ),
        )
        .unwrap();
        let s = spec::load(&d.join("s.yaml")).unwrap();
        (dir, s)
    }

    fn opts(out: &Path) -> BuildOptions {
        BuildOptions {
            out_dir: out.to_path_buf(),
            sign: None,
            created: 1_795_406_400,
            tool: "cairn test".into(),
        }
    }

    fn file_entry(sha256: &str) -> String {
        format!("  - path: a.bin\n    sha256: {sha256}\n")
    }

    #[test]
    fn same_inputs_give_the_same_bytes() {
        let (dir, s) = setup(&file_entry(&sha(b"hello")), "");
        let a = build(&s, &opts(&dir.path().join("o1")), &mut |_| {}).unwrap();
        let b = build(&s, &opts(&dir.path().join("o2")), &mut |_| {}).unwrap();
        assert_eq!(a.path.file_name().unwrap(), "t-1.cairn");
        let (x, y) = (
            std::fs::read(&a.path).unwrap(),
            std::fs::read(&b.path).unwrap(),
        );
        assert_eq!(x, y, "two builds of the same inputs differ");
        assert_eq!(a.bytes, x.len() as u64);
        let paths: Vec<&str> = a.manifest.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["debs/x_1_all.deb", "files/a.bin", "playbooks/site.yml"]
        );
        assert_eq!(a.manifest.created, "2026-11-23T04:00:00Z");
        // No scratch or partial files are left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path().join("o1")).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn progress_reports_both_passes() {
        let (dir, s) = setup(&file_entry(&sha(b"hello")), "");
        let mut events = Vec::new();
        build(&s, &opts(&dir.path().join("o")), &mut |e| {
            if !matches!(e, BuildEvent::Bytes(0)) {
                events.push(e)
            }
        })
        .unwrap();
        let total = 16 + 5 + 13;
        let bytes: u64 = events
            .iter()
            .map(|e| if let BuildEvent::Bytes(n) = e { *n } else { 0 })
            .sum();
        assert_eq!(bytes, 2 * total);
        assert!(events.contains(&BuildEvent::Phase {
            name: "hashing",
            total
        }));
        assert!(events.contains(&BuildEvent::Phase {
            name: "writing",
            total
        }));
    }

    #[test]
    fn file_digest_mismatch_names_the_file() {
        let wrong = "0".repeat(64);
        let (dir, s) = setup(&file_entry(&wrong), "");
        let e = build(&s, &opts(&dir.path().join("o")), &mut |_| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "files: {}: sha256 mismatch: the spec says {wrong}, the file has {}",
                dir.path().join("a.bin").display(),
                sha(b"hello")
            )
        );
        assert!(!dir.path().join("o/t-1.cairn").exists());
    }

    /// Serves URLs from a map, as a network would; counts what it was asked.
    struct FakeNet(std::collections::HashMap<String, Vec<u8>>);

    impl Fetch for FakeNet {
        fn fetch(
            &mut self,
            _: &images::reference::RegistryRef,
            _: bool,
            _: &[String],
            _: &Path,
            _: &mut dyn FnMut(Transfer),
        ) -> Result<String, String> {
            Err("no registry here".into())
        }
        fn download(
            &mut self,
            url: &str,
            into: &Path,
            progress: &mut dyn FnMut(Transfer),
        ) -> Result<Downloaded, String> {
            let body = self.0.get(url).ok_or("404 Not Found")?;
            progress(Transfer::Started {
                what: url.into(),
                total: Some(body.len() as u64),
            });
            std::fs::write(into, body).map_err(|e| e.to_string())?;
            progress(Transfer::Bytes(body.len() as u64));
            Ok(Downloaded {
                size: body.len() as u64,
                sha256: sha(body),
            })
        }
    }

    #[test]
    fn files_from_urls_are_downloaded_checked_and_named() {
        let url = "https://dl.example/v1/etcd.tgz?x=1";
        let files = format!(
            "{}  - url: {url}\n    sha256: {}\n",
            file_entry(&sha(b"hello")),
            sha(b"etcd!")
        );
        let (dir, s) = setup(&files, "");
        let mut net = FakeNet([(url.to_string(), b"etcd!".to_vec())].into());
        let mut events = Vec::new();
        let out = dir.path().join("o");
        let b = build_with(&s, &opts(&out), &mut net, &mut |e| events.push(e)).unwrap();
        let e = b
            .manifest
            .entries
            .iter()
            .find(|e| e.path == "files/etcd.tgz")
            .unwrap();
        assert_eq!((e.size, e.sha256.clone()), (5, sha(b"etcd!")));
        assert!(events.contains(&BuildEvent::Download {
            what: url.into(),
            total: Some(5)
        }));
        let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert_eq!(left.len(), 1, "only the bundle is left: {left:?}");

        // A download that hashes to something else: refused, naming the URL, both digests;
        // no bundle, no partial file, no scratch left.
        let mut evil = FakeNet([(url.to_string(), b"evil!".to_vec())].into());
        let out = dir.path().join("o2");
        let e = build_with(&s, &opts(&out), &mut evil, &mut |_| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "files: {url}: sha256 mismatch: expected {} (the spec), got {} (5 bytes \
                 downloaded, not kept)",
                sha(b"etcd!"),
                sha(b"evil!")
            )
        );
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);

        // A failed download names the list and the URL.
        let mut empty = FakeNet(Default::default());
        let e = build_with(&s, &opts(&out), &mut empty, &mut |_| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("files: {url}: download failed: 404 Not Found")
        );
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    }

    #[test]
    fn rpm_urls_are_checked_before_they_are_read() {
        let url = "http://mirror.example/el9/x-1-1.noarch.rpm";
        let extra = format!(
            "rpms:\n  urls:\n    - url: {url}\n      sha256: {}\n",
            sha(b"the rpm")
        );
        let (dir, s) = setup(&file_entry(&sha(b"hello")), &extra);
        let mut evil = FakeNet([(url.to_string(), b"not the rpm".to_vec())].into());
        let out = dir.path().join("o");
        let e = build_with(&s, &opts(&out), &mut evil, &mut |_| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "rpms.urls: {url}: sha256 mismatch: expected {} (the spec), got {} (11 bytes \
                 downloaded, not kept)",
                sha(b"the rpm"),
                sha(b"not the rpm")
            )
        );
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
    }

    #[test]
    fn registry_images_need_a_fetcher() {
        let (dir, s) = setup(
            "  []\n",
            "images:\n  - from: docker://registry.k8s.io/pause:3.9\n    name: pause:3.9\n",
        );
        let e = build(&s, &opts(&dir.path().join("o")), &mut |_| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            "images: pause:3.9: docker://registry.k8s.io/pause:3.9: this build has no network \
             client; build with `cairn bundle build`"
        );
    }

    #[test]
    fn two_inputs_for_one_path_collide() {
        let files = format!(
            "{}  - path: debs/x_1_all.deb\n    sha256: {}\n    name: a.bin\n",
            file_entry(&sha(b"hello")),
            sha(b"not really a deb")
        );
        let (dir, s) = setup(&files, "");
        let e = build(&s, &opts(&dir.path().join("o")), &mut |_| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "two inputs want the bundle path files/a.bin: {} and {}",
                dir.path().join("a.bin").display(),
                dir.path().join("debs/x_1_all.deb").display()
            )
        );
    }

    #[test]
    fn missing_named_playbooks_dir_is_an_error() {
        let (dir, s) = setup("  []\n", "");
        std::fs::remove_dir_all(dir.path().join("pb")).unwrap();
        let e = build(&s, &opts(&dir.path().join("o")), &mut |_| {}).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "playbooks: {}: directory not found",
                dir.path().join("pb").display()
            )
        );
    }

    #[test]
    fn rpms_are_bundled_with_their_repodata() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/repodata/fixtures");
        let rich = "cairn-fixture-2.5-7.el9.noarch.rpm";
        let min = "cairn-min-1-1.noarch.rpm";
        let (dir, _) = setup("  []\n", "");
        std::fs::create_dir_all(dir.path().join("rpms")).unwrap();
        std::fs::copy(fixtures.join(rich), dir.path().join("rpms").join(rich)).unwrap();
        std::fs::copy(fixtures.join(min), dir.path().join("one.rpm")).unwrap();
        let spec_file = dir.path().join("s.yaml");
        let text = std::fs::read_to_string(&spec_file).unwrap();
        std::fs::write(
            &spec_file,
            format!("{text}rpms:\n  dirs: [rpms]\n  files: [one.rpm]\n"),
        )
        .unwrap();
        let s = spec::load(&spec_file).unwrap();
        let a = build(&s, &opts(&dir.path().join("o1")), &mut |_| {}).unwrap();
        let b = build(&s, &opts(&dir.path().join("o2")), &mut |_| {}).unwrap();
        assert_eq!(
            std::fs::read(&a.path).unwrap(),
            std::fs::read(&b.path).unwrap(),
            "two builds with RPMs differ"
        );
        let rpm_entries: Vec<&Entry> = a
            .manifest
            .entries
            .iter()
            .filter(|e| e.path.starts_with("rpms/"))
            .collect();
        let paths: Vec<&str> = rpm_entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths.len(), 6, "{paths:?}");
        assert_eq!(paths[0], format!("rpms/Packages/{rich}"));
        assert_eq!(paths[1], "rpms/Packages/one.rpm");
        assert_eq!(paths[5], "rpms/repodata/repomd.xml");
        let rich_bytes = std::fs::read(fixtures.join(rich)).unwrap();
        assert_eq!(rpm_entries[0].sha256, sha(&rich_bytes));
        assert_eq!(rpm_entries[0].size, rich_bytes.len() as u64);
        assert_eq!(rpm_entries[0].media_type, "application/x-rpm");
        assert_eq!(rpm_entries[5].media_type, "application/xml");
        assert!(
            rpm_entries[2..5]
                .iter()
                .all(|e| e.media_type == "application/gzip" && e.path.ends_with(".xml.gz"))
        );
        // The bundle verifies, and its repomd.xml is what the generator gives for these RPMs
        // with `created` as every time.
        let v = crate::verify::verify(File::open(&a.path).unwrap(), None).unwrap();
        assert_eq!(v.manifest, a.manifest);
        let pkgs = repodata::read_all(
            &[
                repodata::Input {
                    file: fixtures.join(rich),
                    href: format!("Packages/{rich}"),
                    time_file: 1_795_406_400,
                },
                repodata::Input {
                    file: fixtures.join(min),
                    href: "Packages/one.rpm".into(),
                    time_file: 1_795_406_400,
                },
            ],
            1,
        )
        .unwrap();
        let want = repodata::generate(pkgs, 1_795_406_400);
        assert_eq!(rpm_entries[5].sha256, sha(&want.files[3].1));
    }

    #[test]
    fn a_bad_rpm_fails_the_build_naming_it() {
        let (dir, _) = setup("  []\n", "");
        std::fs::write(dir.path().join("bad.rpm"), b"no rpm here").unwrap();
        let spec_file = dir.path().join("s.yaml");
        let text = std::fs::read_to_string(&spec_file).unwrap();
        std::fs::write(&spec_file, format!("{text}rpms:\n  files: [bad.rpm]\n")).unwrap();
        let s = spec::load(&spec_file).unwrap();
        let e = build(&s, &opts(&dir.path().join("o")), &mut |_| {}).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "rpms: {}: not a readable RPM: ",
                dir.path().join("bad.rpm").display()
            )),
            "{e}"
        );
    }

    #[test]
    fn long_paths_round_trip_through_gnu_long_names() {
        let (dir, s) = setup("  []\n", "");
        let long = format!("{}/{}.yml", "d".repeat(90), "f".repeat(120));
        std::fs::create_dir_all(dir.path().join("pb").join("d".repeat(90))).unwrap();
        std::fs::write(dir.path().join("pb").join(&long), "x").unwrap();
        let b = build(&s, &opts(&dir.path().join("o")), &mut |_| {}).unwrap();
        let v = crate::verify::verify(File::open(&b.path).unwrap(), None).unwrap();
        assert!(
            v.manifest
                .entries
                .iter()
                .any(|e| e.path == format!("playbooks/{long}")),
            "{:?}",
            v.manifest.entries
        );
    }
}
