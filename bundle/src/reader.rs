//! Reading a bundle in one streaming pass, with bounded memory: the tar-level rules.
//!
//! Owns: "manifest.json comes first (then optionally manifest.sig)", "every entry is a regular
//! file with a safe relative path", "the archive is complete (end-of-archive marker present,
//! nothing but zeros after it)". It hands each entry's data to the caller as a reader; only the
//! manifest (at most [`MAX_MANIFEST_BYTES`]) and the signature are held in memory.
//!
//! Must not: judge entry contents against the manifest (that is `verify`), or extract anything
//! to disk.

use crate::manifest::{
    MANIFEST_PATH, MAX_MANIFEST_BYTES, Manifest, ManifestError, SIGNATURE_PATH, path_problem,
};
use crate::sign::SIGNATURE_LEN;
use std::io::{self, Read};

/// What precedes the entries: the manifest, its exact bytes, and the signature if any.
#[derive(Clone, Debug)]
pub struct Head {
    pub manifest: Manifest,
    pub manifest_bytes: Vec<u8>,
    pub signature: Option<Vec<u8>>,
}

/// A tar-level problem: the file is not a well-formed bundle. Paths are entry paths.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the bundle: {0}")]
    Io(#[source] io::Error),
    #[error("not a valid tar archive: {0}")]
    Tar(String),
    #[error("truncated: the file ends inside {0}")]
    Truncated(String),
    #[error("truncated: the end-of-archive marker is missing after the last entry")]
    NoEndMarker,
    #[error("unexpected data after the end-of-archive marker")]
    TrailingData,
    #[error("the first entry must be manifest.json, found {0}")]
    ManifestNotFirst(String),
    #[error("manifest.json is {0} bytes, more than the {MAX_MANIFEST_BYTES} allowed")]
    ManifestTooBig(u64),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("manifest.sig must be {SIGNATURE_LEN} bytes, it is {0}")]
    SignatureSize(u64),
    #[error("entry {path:?}: unsafe path ({problem})")]
    UnsafePath { path: String, problem: &'static str },
    #[error("entry {path:?}: is a {kind}, bundles hold regular files only")]
    NotRegular { path: String, kind: String },
    #[error("entry with a non-UTF-8 path {0:?}")]
    NonUtf8Path(String),
}

/// Maps an I/O error from the tar layer: running out of bytes means truncation (the tar crate
/// reports a short header block as "failed to read entire block").
pub(crate) fn classify(e: io::Error, what: &str) -> ReadError {
    if e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("entire block") {
        ReadError::Truncated(what.to_string())
    } else if e.kind() == io::ErrorKind::Other || e.kind() == io::ErrorKind::InvalidData {
        ReadError::Tar(e.to_string())
    } else {
        ReadError::Io(e)
    }
}

/// Counts bytes read: where the tar layer stopped, to check what follows the last entry.
struct Counting<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// An entry's header, as the caller of [`walk`] sees it (already checked: regular file, safe
/// UTF-8 path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryHeader {
    pub path: String,
    pub size: u64,
    /// Where the entry's data starts in the file: with `size`, enough to read it back with a
    /// positioned read (entries are stored uncompressed, so data is contiguous).
    pub offset: u64,
}

/// What [`walk`] reports to: `head` gets the manifest (and signature) once they are read and
/// returns whether to go on; `entry` then gets every further entry with its data, which it
/// should read to the end. An error from either stops the walk and is returned.
pub trait Visitor {
    type Error: From<ReadError>;
    fn head(&mut self, head: &Head) -> Result<bool, Self::Error>;
    fn entry(&mut self, header: &EntryHeader, data: &mut dyn Read) -> Result<(), Self::Error>;
}

/// Reads `input` as a bundle, in one pass, reporting to `visitor`.
pub fn walk<R: Read, V: Visitor>(input: R, visitor: &mut V) -> Result<(), V::Error> {
    let mut archive = tar::Archive::new(Counting {
        inner: input,
        count: 0,
    });
    // End of the last entry's padded data: the end-of-archive marker must start there.
    let mut end_of_entries: u64 = 0;
    {
        let mut entries = archive
            .entries()
            .map_err(|e| classify(e, "the first header"))?;
        let mut head: Option<Head> = None;
        let mut head_reported = false;
        let mut last_path = String::from("the first header");
        loop {
            let entry = match entries.next() {
                None => break,
                Some(r) => r.map_err(|e| classify(e, &format!("the header after {last_path}")))?,
            };
            let mut entry = entry;
            let header = check_header(&entry)?;
            last_path = header.path.clone();
            end_of_entries = entry.raw_file_position() + header.size.div_ceil(512) * 512;

            match &mut head {
                None => {
                    if header.path != MANIFEST_PATH {
                        return Err(ReadError::ManifestNotFirst(header.path).into());
                    }
                    if header.size > MAX_MANIFEST_BYTES {
                        return Err(ReadError::ManifestTooBig(header.size).into());
                    }
                    let bytes = read_small(&mut entry, &header)?;
                    let manifest = Manifest::from_bytes(&bytes).map_err(ReadError::from)?;
                    head = Some(Head {
                        manifest,
                        manifest_bytes: bytes,
                        signature: None,
                    });
                    continue;
                }
                Some(h) if !head_reported && header.path == SIGNATURE_PATH => {
                    if header.size != SIGNATURE_LEN as u64 {
                        return Err(ReadError::SignatureSize(header.size).into());
                    }
                    h.signature = Some(read_small(&mut entry, &header)?);
                    continue;
                }
                Some(h) => {
                    if !head_reported {
                        head_reported = true;
                        if !visitor.head(h)? {
                            return Ok(());
                        }
                    }
                }
            }
            visitor.entry(&header, &mut TruncationCheck::new(&mut entry, header.size))?;
        }
        match head {
            None => return Err(ReadError::ManifestNotFirst("an empty archive".into()).into()),
            // A bundle with no entries besides the manifest (and signature).
            Some(h) if !head_reported => {
                if !visitor.head(&h)? {
                    return Ok(());
                }
            }
            Some(_) => {}
        }
    }
    // The tar layer stopped at EOF or at a zero block; what remains must be zeros, and the
    // marker (two zero blocks) must be complete, or the file was cut at an entry boundary.
    let mut rest = archive.into_inner();
    let consumed = rest.count;
    let mut tail = Vec::new();
    (&mut rest)
        .take(64 << 10)
        .read_to_end(&mut tail)
        .map_err(ReadError::Io)?;
    let mut probe = [0u8; 1];
    if tail.iter().any(|b| *b != 0) || rest.read(&mut probe).map_err(ReadError::Io)? != 0 {
        return Err(ReadError::TrailingData.into());
    }
    if consumed + (tail.len() as u64) < end_of_entries + 1024 {
        return Err(ReadError::NoEndMarker.into());
    }
    Ok(())
}

/// Reads only the head of a bundle (manifest and signature, not checked): for `inspect`.
pub fn read_head(input: impl Read) -> Result<Head, ReadError> {
    struct First(Option<Head>);
    impl Visitor for First {
        type Error = ReadError;
        fn head(&mut self, h: &Head) -> Result<bool, ReadError> {
            self.0 = Some(h.clone());
            Ok(false)
        }
        fn entry(&mut self, _: &EntryHeader, _: &mut dyn Read) -> Result<(), ReadError> {
            Ok(())
        }
    }
    let mut first = First(None);
    walk(input, &mut first)?;
    Ok(first.0.expect("walk returned Ok, so head ran"))
}

/// The checks every entry header passes before anyone looks at its data.
fn check_header<R: Read>(entry: &tar::Entry<'_, R>) -> Result<EntryHeader, ReadError> {
    let raw = entry.path_bytes();
    let path = std::str::from_utf8(&raw)
        .map_err(|_| ReadError::NonUtf8Path(String::from_utf8_lossy(&raw).into_owned()))?
        .to_string();
    if let Some(problem) = path_problem(&path) {
        return Err(ReadError::UnsafePath { path, problem });
    }
    let t = entry.header().entry_type();
    if !t.is_file() {
        let kind = match t {
            tar::EntryType::Symlink => "symbolic link".to_string(),
            tar::EntryType::Link => "hard link".to_string(),
            tar::EntryType::Char | tar::EntryType::Block => "device".to_string(),
            tar::EntryType::Directory => "directory".to_string(),
            tar::EntryType::Fifo => "fifo".to_string(),
            other => format!("tar entry of type {:?}", other.as_byte() as char),
        };
        return Err(ReadError::NotRegular { path, kind });
    }
    let size = entry
        .header()
        .entry_size()
        .map_err(|e| ReadError::Tar(format!("entry {path:?}: {e}")))?;
    Ok(EntryHeader {
        path,
        size,
        offset: entry.raw_file_position(),
    })
}

/// Reads a small entry (manifest, signature) whole; the caller bounded its size.
fn read_small(entry: &mut impl Read, header: &EntryHeader) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::with_capacity(header.size as usize);
    TruncationCheck::new(entry, header.size)
        .read_to_end(&mut buf)
        .map_err(|e| classify(e, &header.path))?;
    Ok(buf)
}

/// Turns an early end of an entry's data into an `UnexpectedEof` error: the tar crate just
/// returns fewer bytes when the archive is cut inside an entry.
struct TruncationCheck<'a, R: ?Sized> {
    inner: &'a mut R,
    remaining: u64,
}

impl<'a, R: Read + ?Sized> TruncationCheck<'a, R> {
    fn new(inner: &'a mut R, size: u64) -> Self {
        TruncationCheck {
            inner,
            remaining: size,
        }
    }
}

impl<R: Read + ?Sized> Read for TruncationCheck<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.remaining > 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        self.remaining = self.remaining.saturating_sub(n as u64);
        Ok(n)
    }
}
