//! One RPM file read for the repository metadata: its header (with the `rpm` crate) and the
//! sha256 and size of the whole file, taken in the same single pass over the bytes.
//!
//! Owns: which header values the metadata shows and how createrepo_c derives them (epoch `0`
//! when absent, `rpmlib(...)` requires and requires on the package's own primary files
//! dropped, duplicate requires dropped, only the highest `libc.so.6(...)` require kept, `pre`
//! for prerequisites, the newest 10 changelog entries oldest first with equal dates made
//! distinct). Must not: write XML (see `primary`, `filelists`, `other`) or know where the
//! package is served from beyond the `href` it is given.

use ::rpm::{DependencyFlags, FileFlags, IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{self, BufReader, Read};

/// createrepo_c's default `--changelog-limit`: the newest entries kept in `other.xml`.
pub const CHANGELOG_LIMIT: usize = 10;

/// A package's metadata, as the repodata files show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// sha256 of the whole file, lowercase hex (the `pkgid`).
    pub pkgid: String,
    /// Where the file is, relative to the repository's base URL.
    pub href: String,
    pub name: String,
    pub arch: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub summary: String,
    pub description: String,
    pub packager: String,
    pub url: String,
    /// The file's modification time, seconds since the epoch (`time file`).
    pub time_file: u64,
    pub time_build: u64,
    /// Size of the file.
    pub size_package: u64,
    pub size_installed: u64,
    pub size_archive: u64,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    pub sourcerpm: String,
    /// Byte range of the main header in the file.
    pub header_start: u64,
    pub header_end: u64,
    pub provides: Vec<Dep>,
    pub requires: Vec<Dep>,
    pub conflicts: Vec<Dep>,
    pub obsoletes: Vec<Dep>,
    pub suggests: Vec<Dep>,
    pub enhances: Vec<Dep>,
    pub recommends: Vec<Dep>,
    pub supplements: Vec<Dep>,
    /// Every path, in header order.
    pub files: Vec<PkgFile>,
    /// Oldest first, at most [`CHANGELOG_LIMIT`].
    pub changelogs: Vec<Changelog>,
}

/// A dependency entry (`rpm:entry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    /// `EQ`, `LT`, `LE`, `GT`, `GE`, or empty (no version: no other attributes are written).
    pub flags: &'static str,
    pub epoch: String,
    pub version: String,
    pub release: String,
    /// A prerequisite (`Requires(pre)`, `Requires(post)`, legacy `PreReq`).
    pub pre: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkgFile {
    pub path: String,
    pub kind: FileKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changelog {
    pub author: String,
    pub date: u64,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    #[error("not a readable RPM: {0}")]
    Rpm(#[from] ::rpm::Error),
}

/// createrepo_c's "primary" paths: the files listed in `primary.xml` as well as `filelists.xml`
/// (so that file dependencies on them resolve from primary alone).
pub fn is_primary(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

/// Reads one RPM from `r` (the whole file: its digest covers every byte).
pub fn read(r: impl Read, href: String, time_file: u64) -> Result<Package, HeaderError> {
    let mut hashing = BufReader::with_capacity(64 << 10, Hashing::new(r));
    let meta = PackageMetadata::parse(&mut hashing)?;
    // Where the headers really ended in the file (what was read minus what is still buffered),
    // rather than a size recomputed from the parsed header.
    let header_end = hashing.get_ref().count - hashing.buffer().len() as u64;
    io::copy(&mut hashing, &mut io::sink())?;
    let (size_package, pkgid) = hashing.into_inner().finish();
    let mut p = from_metadata(&meta, pkgid, href, time_file, size_package)?;
    p.header_end = header_end;
    Ok(p)
}

fn from_metadata(
    meta: &PackageMetadata,
    pkgid: String,
    href: String,
    time_file: u64,
    size_package: u64,
) -> Result<Package, HeaderError> {
    let h = &meta.header;
    let text = |tag: IndexTag| -> Result<String, HeaderError> {
        match h.get_entry_data_as_string(tag) {
            Ok(s) => Ok(s.to_string()),
            Err(::rpm::Error::TagNotFound(_)) => Ok(String::new()),
            // Summary, description and group are i18n strings: the first is the C locale's.
            Err(::rpm::Error::UnexpectedTagDataType { .. }) => h
                .get_entry_data_as_i18n_string(tag)
                .map(str::to_string)
                .map_err(Into::into),
            Err(e) => Err(e.into()),
        }
    };
    let epoch = match h.get_entry_data_as_u32(IndexTag::RPMTAG_EPOCH) {
        Ok(e) => e.to_string(),
        Err(::rpm::Error::TagNotFound(_)) => "0".to_string(),
        Err(e) => return Err(e.into()),
    };
    let source = meta.is_source_package();
    let offsets = meta.get_package_segment_offsets();
    let files = files(meta)?;
    let changelogs = changelogs(meta)?;
    let requires = requires(meta.get_requires()?, &files);
    let deps = |v: Vec<::rpm::Dependency>| v.into_iter().map(dep).collect::<Vec<_>>();
    Ok(Package {
        pkgid,
        href,
        name: text(IndexTag::RPMTAG_NAME)?,
        arch: if source {
            "src".to_string()
        } else {
            text(IndexTag::RPMTAG_ARCH)?
        },
        epoch,
        version: text(IndexTag::RPMTAG_VERSION)?,
        release: text(IndexTag::RPMTAG_RELEASE)?,
        summary: text(IndexTag::RPMTAG_SUMMARY)?,
        description: text(IndexTag::RPMTAG_DESCRIPTION)?,
        packager: text(IndexTag::RPMTAG_PACKAGER)?,
        url: text(IndexTag::RPMTAG_URL)?,
        time_file,
        time_build: meta.get_build_time().unwrap_or(0),
        size_package,
        size_installed: meta.get_installed_size().unwrap_or(0),
        size_archive: archive_size(meta),
        license: text(IndexTag::RPMTAG_LICENSE)?,
        vendor: text(IndexTag::RPMTAG_VENDOR)?,
        group: text(IndexTag::RPMTAG_GROUP)?,
        buildhost: text(IndexTag::RPMTAG_BUILDHOST)?,
        sourcerpm: text(IndexTag::RPMTAG_SOURCERPM)?,
        header_start: offsets.header,
        header_end: offsets.payload,
        provides: deps(meta.get_provides()?),
        requires,
        conflicts: deps(meta.get_conflicts()?),
        obsoletes: deps(meta.get_obsoletes()?),
        suggests: deps(meta.get_suggests()?),
        enhances: deps(meta.get_enhances()?),
        recommends: deps(meta.get_recommends()?),
        supplements: deps(meta.get_supplements()?),
        files,
        changelogs,
    })
}

/// The uncompressed payload size: rpm keeps it in the signature header (64-bit tag first, as
/// librpm's `LONGARCHIVESIZE` does), older packages in the main header.
fn archive_size(meta: &PackageMetadata) -> u64 {
    let s = &meta.signature;
    let h = &meta.header;
    s.get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
        .or_else(|_| {
            s.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
                .map(u64::from)
        })
        .or_else(|_| h.get_entry_data_as_u64(IndexTag::RPMTAG_LONGARCHIVESIZE))
        .or_else(|_| {
            h.get_entry_data_as_u32(IndexTag::RPMTAG_ARCHIVESIZE)
                .map(u64::from)
        })
        .unwrap_or(0)
}

fn files(meta: &PackageMetadata) -> Result<Vec<PkgFile>, HeaderError> {
    let h = &meta.header;
    let basenames = match h.get_entry_data_as_string_array(IndexTag::RPMTAG_BASENAMES) {
        Ok(b) => b,
        Err(::rpm::Error::TagNotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let dirs = h.get_entry_data_as_string_array(IndexTag::RPMTAG_DIRNAMES)?;
    let index = h.get_entry_data_as_u32_array(IndexTag::RPMTAG_DIRINDEXES)?;
    let modes = h
        .get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES)
        .unwrap_or_default();
    let flags = h
        .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEFLAGS)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(basenames.len());
    for (i, base) in basenames.iter().enumerate() {
        let dir = index
            .get(i)
            .and_then(|&d| dirs.get(d as usize))
            .ok_or(::rpm::Error::InconsistentTagArrayLengths)?;
        let mode = modes.get(i).copied().unwrap_or(0);
        let ghost = flags
            .get(i)
            .is_some_and(|&f| FileFlags::from_bits_retain(f).contains(FileFlags::GHOST));
        let kind = if mode & 0o170000 == 0o040000 {
            FileKind::Dir
        } else if ghost {
            FileKind::Ghost
        } else {
            FileKind::File
        };
        out.push(PkgFile {
            path: format!("{dir}{base}"),
            kind,
        });
    }
    Ok(out)
}

/// createrepo_c's `flags` string for the comparison bits.
fn flag_str(f: DependencyFlags) -> &'static str {
    match f.bits() & 0xe {
        2 => "LT",
        4 => "GT",
        8 => "EQ",
        10 => "LE",
        12 => "GE",
        _ => "",
    }
}

fn dep(d: ::rpm::Dependency) -> Dep {
    let (epoch, version, release) = split_evr(&d.version);
    Dep {
        flags: flag_str(d.flags),
        name: d.name,
        epoch,
        version,
        release,
        pre: false,
    }
}

/// `[E:]V[-R]` as createrepo_c splits it: epoch `0` when a version is given without one.
fn split_evr(evr: &str) -> (String, String, String) {
    if evr.is_empty() {
        return Default::default();
    }
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, rest)) => (if e.is_empty() { "0" } else { e }, rest),
        None => ("0", evr),
    };
    let (v, r) = rest.split_once('-').unwrap_or((rest, ""));
    (epoch.to_string(), v.to_string(), r.to_string())
}

fn requires(all: Vec<::rpm::Dependency>, files: &[PkgFile]) -> Vec<Dep> {
    let prereq =
        DependencyFlags::PREREQ | DependencyFlags::SCRIPT_PRE | DependencyFlags::SCRIPT_POST;
    let own_primary: std::collections::HashSet<&str> = files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| is_primary(p))
        .collect();
    let mut out = Vec::new();
    // Requires already kept: (flags, full version, pre) by name, to drop exact repeats.
    let mut seen: HashMap<String, (&'static str, String, bool)> = HashMap::new();
    let mut libc: Option<Dep> = None;
    for d in all {
        if d.name.starts_with("rpmlib(") || own_primary.contains(d.name.as_str()) {
            continue;
        }
        let pre = d.flags.intersects(prereq);
        let flags = flag_str(d.flags);
        if seen
            .get(&d.name)
            .is_some_and(|(f, v, p)| *f == flags && *v == d.version && *p == pre)
        {
            continue;
        }
        let full_version = d.version.clone();
        let mut entry = dep(d);
        entry.pre = pre;
        if entry.name.starts_with("libc.so.6") {
            // Only the highest glibc symbol version is worth listing: it implies the others.
            if libc
                .as_ref()
                .is_none_or(|l| libc_version(&entry.name) > libc_version(&l.name))
            {
                libc = Some(entry);
            }
            continue;
        }
        seen.insert(entry.name.clone(), (flags, full_version, pre));
        out.push(entry);
    }
    out.extend(libc);
    out
}

/// The symbol version of `libc.so.6(GLIBC_2.17)(64bit)`, ordered as rpm orders versions
/// (no version sorts lowest).
fn libc_version(name: &str) -> LibcVersion {
    let v = name
        .split_once('(')
        .map(|(_, rest)| rest.split(')').next().unwrap_or(""))
        .map(|v| v.strip_prefix("GLIBC_").unwrap_or(v))
        .unwrap_or("");
    LibcVersion(v.to_string())
}

#[derive(PartialEq, Eq)]
struct LibcVersion(String);

impl PartialOrd for LibcVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LibcVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        rpm_version::rpm_evr_compare(&self.0, &other.0)
    }
}

fn changelogs(meta: &PackageMetadata) -> Result<Vec<Changelog>, HeaderError> {
    // Header order is newest first; createrepo_c keeps the first CHANGELOG_LIMIT and lists
    // them oldest first. When consecutive entries share a date, the later-listed (newer) ones
    // are moved one second apart so each date is distinct and the order survives a sort.
    let mut newest_first: Vec<Changelog> = Vec::new();
    let mut last_time: Option<u64> = None;
    for e in meta.iter_changelog_entries()?.take(CHANGELOG_LIMIT) {
        let time = e.timestamp;
        newest_first.push(Changelog {
            author: e.name.trim_end_matches(' ').to_string(),
            date: time,
            text: e.description,
        });
        if last_time == Some(time) {
            // Walk back over the run of entries dated `time`, `time + 1`, ...: each moves up one.
            for (expected, prev) in (time..).zip(newest_first.iter_mut().rev().skip(1)) {
                if prev.date != expected {
                    break;
                }
                prev.date += 1;
            }
        } else {
            last_time = Some(time);
        }
    }
    newest_first.reverse();
    Ok(newest_first)
}

/// Counts and hashes what passes through.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R> Hashing<R> {
    fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    fn finish(self) -> (u64, String) {
        (self.count, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evr_split_like_createrepo_c() {
        let cases = [
            ("", ("", "", "")),
            ("1.2", ("0", "1.2", "")),
            ("1.0-1", ("0", "1.0", "1")),
            ("2:3.0-1.el9", ("2", "3.0", "1.el9")),
            (":1", ("0", "1", "")),
        ];
        for (input, (e, v, r)) in cases {
            assert_eq!(
                split_evr(input),
                (e.to_string(), v.to_string(), r.to_string()),
                "{input}"
            );
        }
    }

    #[test]
    fn primary_paths() {
        for (p, want) in [
            ("/etc/x.conf", true),
            ("/etc", false),
            ("/usr/bin/ls", true),
            ("/usr/local/sbin/x", true),
            ("/opt/x/bin/y", true),
            ("/usr/lib/sendmail", true),
            ("/usr/share/doc/x", false),
        ] {
            assert_eq!(is_primary(p), want, "{p}");
        }
    }

    #[test]
    fn libc_versions_order_as_rpm_does() {
        assert!(
            libc_version("libc.so.6(GLIBC_2.17)(64bit)")
                > libc_version("libc.so.6(GLIBC_2.4)(64bit)")
        );
        assert!(libc_version("libc.so.6(GLIBC_2.4)") > libc_version("libc.so.6()(64bit)"));
    }

    #[test]
    fn garbage_is_not_an_rpm() {
        let e = read(
            &b"definitely not an rpm file, far too short"[..],
            "x".into(),
            0,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("not a readable RPM"), "{e}");
    }
}
