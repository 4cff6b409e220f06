//! Passwords Cairn generates for what it installs (the CI server's admin and worker
//! passwords), kept in the state dir at `secrets/<cluster>/<name>`: directories 0700, files
//! 0600, created once from the OS's random source and then only read, so a re-run keeps the
//! credentials the hosts already use. The playbooks get the directory's path (never a
//! password) and copy the file with `no_log`.
//!
//! Must not: print or return a password (callers get paths), or replace an existing one.

use crate::pki::{PkiError, files};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The names generated for every install (see `playbooks/roles/buildbot`).
pub const CI_PASSWORDS: [&str; 2] = ["ci-admin-password", "ci-worker-password"];

/// `<state dir>/secrets/<cluster>`.
pub fn cluster_dir(state_dir: &Path, cluster: &str) -> PathBuf {
    state_dir.join("secrets").join(cluster)
}

/// Make sure `dir/name` holds a password (32 hex digits = 128 random bits); returns whether
/// it was created now.
pub fn ensure_password(dir: &Path, name: &str) -> Result<bool, PkiError> {
    files::private_dir(dir)?;
    let path = dir.join(name);
    if path.exists() {
        let len = std::fs::metadata(&path).map_err(PkiError::io(&path))?.len();
        if len > 0 {
            return Ok(false);
        }
    }
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(PkiError::io(Path::new("/dev/urandom")))?;
    files::write_private(&path, hex::encode(bytes).as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_private_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = cluster_dir(tmp.path(), "lab");
        assert!(ensure_password(&dir, "ci-admin-password").unwrap());
        let path = dir.join("ci-admin-password");
        let first = std::fs::read_to_string(&path).unwrap();
        assert_eq!(first.len(), 32);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert!(!ensure_password(&dir, "ci-admin-password").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), first);
        assert!(ensure_password(&dir, "ci-worker-password").unwrap());
        assert_ne!(
            std::fs::read_to_string(dir.join("ci-worker-password")).unwrap(),
            first
        );
    }
}
