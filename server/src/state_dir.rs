//! Where Cairn keeps its state (known_hosts now; the SQLite store, PKI and run journal later).

use std::path::PathBuf;

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
