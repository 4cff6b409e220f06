//! Where Cairn keeps its state (known_hosts, the SQLite store, the PKI, generated passwords,
//! the apt signing key, locks), and keeping that directory private: it is created 0700, and
//! one found open to other users is closed (0700) with a notice, since everything secret in it
//! relies on the directory as well as on its own 0600 mode.
//!
//! Must not: create anything inside the directory (each owner creates its files 0600).

use std::path::{Path, PathBuf};

/// `--state-dir`, else `$CAIRN_STATE_DIR`, else `/var/lib/cairn` for root, else
/// `$XDG_STATE_HOME/cairn` or `~/.local/state/cairn`.
pub fn resolve(flag: Option<PathBuf>) -> PathBuf {
    if let Some(d) = flag {
        return d;
    }
    if let Some(d) = std::env::var_os("CAIRN_STATE_DIR").filter(|d| !d.is_empty()) {
        return d.into();
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/cairn");
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("cairn");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".local/state/cairn")
}

/// Make sure `dir` exists and only its owner can enter it: created with mode 0700 (missing
/// parents too, as XDG wants for state), or, when it exists, belongs to this user and lets
/// group or others in, set to 0700. Returns the notice to show when a mode was changed.
pub fn ensure_private(dir: &Path) -> std::io::Result<Option<String>> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            Ok(None)
        }
        Err(e) => Err(e),
        Ok(m) => {
            let mode = m.permissions().mode() & 0o7777;
            // SAFETY: geteuid has no preconditions and cannot fail.
            let mine = m.uid() == unsafe { libc::geteuid() };
            if !m.is_dir() || !mine || mode & 0o077 == 0 {
                return Ok(None);
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & !0o077))?;
            Ok(Some(notice(dir, mode)))
        }
    }
}

fn notice(dir: &Path, mode: u32) -> String {
    format!(
        "note: the state dir {} was open to other users (mode {mode:04o}); it is now 0700: it holds keys, passwords and the run history",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_private_and_an_open_one_is_closed_with_a_notice() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/state");
        assert_eq!(ensure_private(&dir).unwrap(), None);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(ensure_private(&dir).unwrap(), None);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            ensure_private(&dir).unwrap().unwrap(),
            format!(
                "note: the state dir {} was open to other users (mode 0755); it is now 0700: it holds keys, passwords and the run history",
                dir.display()
            )
        );
        assert_eq!(mode(&dir), 0o700);
    }
}
