//! Writing the PKI's files: directories 0700, keys 0600, certificates 0644, each file written
//! beside its destination and renamed into place (never half-written). Must not: decide what
//! to write.

use super::PkiError;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Create `dir` (and parents) 0700, or set an existing one to 0700.
pub fn private_dir(dir: &Path) -> Result<(), PkiError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(PkiError::io(dir))?;
    fs::set_permissions(dir, Permissions::from_mode(0o700)).map_err(PkiError::io(dir))
}

pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    write(path, bytes, 0o600)
}

pub fn write_public(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    write(path, bytes, 0o644)
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(PkiError::io(&tmp))?;
    f.write_all(bytes).map_err(PkiError::io(&tmp))?;
    f.sync_all().map_err(PkiError::io(&tmp))?;
    // The umask may have narrowed the mode further than asked: set it exactly.
    fs::set_permissions(&tmp, Permissions::from_mode(mode)).map_err(PkiError::io(&tmp))?;
    fs::rename(&tmp, path).map_err(PkiError::io(path))
}
