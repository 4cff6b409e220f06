//! One install per cluster at a time: an exclusive advisory lock (`flock`, through std's
//! `File::try_lock`) on `<state dir>/locks/install-<cluster>.lock`, held for the whole install.
//! The kernel drops it when the process ends, however it ends, so a killed install never
//! leaves a stale lock behind. The file holds the holder's pid, for the message.
//!
//! Must not: wait (a second install is refused at once, not queued).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while it lives.
#[derive(Debug)]
pub struct InstallLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another `cairn install` of cluster \"{cluster}\" is running{holder} (lock {path}); wait for it to finish, or stop it"
    )]
    Busy {
        cluster: String,
        holder: String,
        path: PathBuf,
    },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub fn acquire(state_dir: &Path, cluster: &str) -> Result<InstallLock, LockError> {
    let dir = state_dir.join("locks");
    let path = dir.join(format!("install-{cluster}.lock"));
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(LockError::Busy {
                cluster: cluster.to_string(),
                holder: if pid.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {pid})")
                },
                path,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(InstallLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let first = acquire(tmp.path(), "lab").unwrap();
        let e = acquire(tmp.path(), "lab").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "another `cairn install` of cluster \"lab\" is running (pid {}) (lock {}); wait for it to finish, or stop it",
                std::process::id(),
                tmp.path().join("locks/install-lab.lock").display()
            )
        );
        // Another cluster is independent.
        let _other = acquire(tmp.path(), "other").unwrap();
        drop(first);
        acquire(tmp.path(), "lab").unwrap();
    }
}
