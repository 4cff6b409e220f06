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
    file: File,
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

    /// `len` bytes of the file from `offset`, in a new buffer that is never zero-filled first:
    /// filling a buffer that the read overwrites at once was 8% of the server's CPU under load.
    pub fn read_vec(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::os::fd::AsRawFd as _;
        let mut buf = Vec::<u8>::with_capacity(len);
        while buf.len() < len {
            let done = buf.len();
            let at = libc::off_t::try_from(offset + done as u64)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: the pointer and length describe the vector's spare capacity (allocated,
            // not yet initialised), which pread only writes to; the length is raised by exactly
            // the count of bytes pread reports written.
            let n = unsafe {
                libc::pread(
                    self.file.as_raw_fd(),
                    buf.as_mut_ptr().add(done).cast(),
                    len - done,
                    at,
                )
            };
            match n {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n if n < 0 => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
                // SAFETY: pread initialised `n` more bytes (see above).
                n => unsafe { buf.set_len(done + n as usize) },
            }
        }
        Ok(buf)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cairn_bundle::writer::{BuildOptions, build};
    use std::io::Read as _;
    use std::path::Path;
    use std::process::Command;

    /// A bundle with one file (`files/blob`), one package built here with `dpkg-deb`
    /// (`debs/hello-cairn_1.0-1_all.deb`) and one RPM fixture of `cairn-bundle`
    /// (`rpms/Packages/cairn-min-1-1.noarch.rpm`, with its `rpms/repodata/`), verified and
    /// indexed.
    pub(crate) fn indexed(dir: &Path) -> Index {
        let pkg = dir.join("pkg");
        std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
        std::fs::write(
            pkg.join("DEBIAN/control"),
            "Package: hello-cairn\nVersion: 1.0-1\nArchitecture: all\n\
             Maintainer: Cairn <cairn@example.org>\nDescription: test\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.join("debs")).unwrap();
        let o = Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&pkg)
            .arg(dir.join("debs/hello-cairn_1.0-1_all.deb"))
            .output()
            .expect("dpkg-deb is needed for these tests");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let blob: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.join("blob"), &blob).unwrap();
        std::fs::create_dir_all(dir.join("rpms")).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../bundle/src/repodata/fixtures/cairn-min-1-1.noarch.rpm"),
            dir.join("rpms/cairn-min-1-1.noarch.rpm"),
        )
        .unwrap();
        std::fs::write(
            dir.join("spec.yaml"),
            format!(
                "apiVersion: cairn/v1\nkind: Bundle\nname: t\nversion: '1'\n\
                 debs:\n  dirs: [debs]\nrpms:\n  dirs: [rpms]\n\
                 files:\n  - path: blob\n    sha256: {}\n",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&blob))
            ),
        )
        .unwrap();
        let spec = cairn_bundle::spec::load(&dir.join("spec.yaml")).unwrap();
        let opts = BuildOptions {
            out_dir: dir.join("out"),
            sign: None,
            created: 1_795_406_400,
            tool: "cairn test".into(),
        };
        let built = build(&spec, &opts, &mut |_| {}).unwrap();
        let file = File::open(&built.path).unwrap();
        let verified =
            cairn_bundle::verify::verify(std::io::BufReader::new(file.try_clone().unwrap()), None)
                .unwrap();
        Index::new(file, verified)
    }

    #[test]
    fn lookup_is_exact_and_reads_back_the_verified_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let index = indexed(tmp.path());
        let loc = index.lookup("files", "blob").expect("files/blob");
        let mut data = Vec::new();
        index.reader(loc).read_to_end(&mut data).unwrap();
        assert_eq!(data.len(), 70_000);
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data)),
            loc.sha256
        );
        // Only exact manifest paths under the asked directory are found.
        for (dir, path) in [
            ("files", "../manifest.json"),
            ("files", "%2e%2e/manifest.json"),
            ("files", "./blob"),
            ("files", "/blob"),
            ("files", "blob/"),
            ("files", ""),
            ("files", "../debs/hello-cairn_1.0-1_all.deb"),
            ("debs", "../files/blob"),
            ("files", "hello-cairn_1.0-1_all.deb"),
        ] {
            assert!(index.lookup(dir, path).is_none(), "{dir} {path}");
        }
        assert!(index.lookup("debs", "hello-cairn_1.0-1_all.deb").is_some());
        // Positioned reads into fresh buffers give the same bytes, at any offset; past the end
        // of the file is an error, not a short buffer.
        for (start, len) in [
            (0, 70_000),
            (1, 69_999),
            (65_536, 4_464),
            (69_999, 1),
            (5, 0),
        ] {
            let got = index.read_vec(loc.offset + start, len).unwrap();
            assert_eq!(
                got,
                data[start as usize..start as usize + len],
                "{start} {len}"
            );
        }
        let end = index.file.metadata().unwrap().len();
        let e = index.read_vec(end - 10, 20).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let under: Vec<&str> = index.under("debs").map(|(p, _)| p).collect();
        assert_eq!(under, ["debs/hello-cairn_1.0-1_all.deb"]);
    }
}
