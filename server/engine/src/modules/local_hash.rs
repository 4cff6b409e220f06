//! The digests of controller files that modules send to hosts (`copy`'s `src`, `unarchive`'s
//! archive), computed once per file content for the whole process rather than once per host.
//!
//! A task that copies a 100 MB file to 100 hosts asks for the same file's sha1 and sha256 100
//! times; hashing it each time cost ~0.5 s of controller CPU per host, on the thread that
//! drives every host's SSH session. Here the answer is kept, keyed by the path and checked
//! against the file's identity and change times (device, inode, size, mtime, ctime, to the
//! nanosecond) before it is reused: a file replaced or rewritten in between is hashed again.
//! Must not: cache anything else about a file (its content, its mode) or touch the hosts.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// What identifies one content of a file, as far as metadata can tell.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// (hex sha1, hex sha256, size) of a file.
pub type Digests = (String, String, u64);

fn cache() -> &'static Mutex<HashMap<PathBuf, (Stamp, Digests)>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, (Stamp, Digests)>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// sha1 (Ansible's `checksum`), sha256 and size of the controller file `path`: from the
/// cache when the file has not changed since it was hashed, else read and hashed now.
pub fn digests(path: &Path) -> std::io::Result<Digests> {
    let before = Stamp::of(&std::fs::metadata(path)?);
    if let Some((stamp, d)) = cache().lock().map_err(poisoned)?.get(path)
        && *stamp == before
    {
        return Ok(d.clone());
    }
    let d = super::remote_path::hash_local(path)?;
    // Written while we read it: the digests may mix two contents, so they are not kept.
    if Stamp::of(&std::fs::metadata(path)?) == before {
        cache()
            .lock()
            .map_err(poisoned)?
            .insert(path.to_path_buf(), (before, d.clone()));
    }
    Ok(d)
}

fn poisoned<T>(_: T) -> std::io::Error {
    std::io::Error::other("the digest cache's lock is poisoned")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_answer_as_hashing_and_a_changed_file_is_hashed_again() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"one\n").unwrap();
        let first = digests(&f).unwrap();
        assert_eq!(first, super::super::remote_path::hash_local(&f).unwrap());
        assert_eq!(
            first.1,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"one\n"))
        );
        assert_eq!(digests(&f).unwrap(), first);
        // Same size, rewritten in place: the change times differ, so it is hashed again.
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&f, b"two\n").unwrap();
        let second = digests(&f).unwrap();
        assert_eq!(
            second.1,
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"two\n"))
        );
        // Replaced by another file (a new inode) under the same name.
        let g = d.path().join("g");
        std::fs::write(&g, b"three\n").unwrap();
        std::fs::rename(&g, &f).unwrap();
        assert_eq!(digests(&f).unwrap().2, 6);
        assert!(digests(&d.path().join("missing")).is_err());
    }
}
