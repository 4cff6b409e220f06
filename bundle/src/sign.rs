//! Ed25519 keys and the detached manifest signature (`manifest.sig`).
//!
//! The signature covers the exact bytes of `manifest.json`; since the manifest pins every
//! entry's size and SHA-256, a valid signature plus a clean verify vouches for every byte.
//!
//! Key files are one line of text: `cairn-bundle-secret-key ed25519 <64 hex>` (the 32-byte
//! seed; written 0600) and `cairn-bundle-public-key ed25519 <64 hex>`.
//!
//! Must not: read bundles or know the tar layout.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::io::Write;
use std::path::{Path, PathBuf};

const SECRET_TAG: &str = "cairn-bundle-secret-key ed25519 ";
const PUBLIC_TAG: &str = "cairn-bundle-public-key ed25519 ";
/// Size of the `manifest.sig` entry: a raw Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a cairn bundle {kind} key (expected one line `{tag}<64 hex digits>`)")]
    Malformed {
        path: PathBuf,
        kind: &'static str,
        tag: &'static str,
    },
    #[error("{path}: already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("no randomness available from the OS: {0}")]
    Random(String),
}

/// The file the public key goes to for a secret key at `secret`: `secret` + `.pub`.
pub fn public_path(secret: &Path) -> PathBuf {
    let mut s = secret.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Creates a fresh key pair: `out` (secret, mode 0600) and `out.pub`. Refuses to overwrite.
pub fn keygen(out: &Path) -> Result<(PathBuf, VerifyingKey), KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    let public = public_path(out);
    for p in [out, public.as_path()] {
        if p.exists() {
            return Err(KeyError::Exists {
                path: p.to_path_buf(),
            });
        }
    }
    write_new(out, 0o600, &format!("{SECRET_TAG}{}\n", hex::encode(seed)))?;
    write_new(
        &public,
        0o644,
        &format!(
            "{PUBLIC_TAG}{}\n",
            hex::encode(key.verifying_key().as_bytes())
        ),
    )?;
    Ok((public, key.verifying_key()))
}

fn write_new(path: &Path, mode: u32, text: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    // create_new + mode: the secret is never readable by others, not even for an instant.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

fn read_key(path: &Path, tag: &'static str, kind: &'static str) -> Result<[u8; 32], KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let malformed = || KeyError::Malformed {
        path: path.to_path_buf(),
        kind,
        tag,
    };
    let hex_part = text.trim_end().strip_prefix(tag).ok_or_else(malformed)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|_| malformed())?;
    Ok(out)
}

pub fn read_secret(path: &Path) -> Result<SigningKey, KeyError> {
    read_key(path, SECRET_TAG, "secret").map(|s| SigningKey::from_bytes(&s))
}

pub fn read_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    let bytes = read_key(path, PUBLIC_TAG, "public")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Malformed {
        path: path.to_path_buf(),
        kind: "public",
        tag: PUBLIC_TAG,
    })
}

/// Signature over the manifest bytes, as stored in `manifest.sig`.
pub fn sign(key: &SigningKey, manifest: &[u8]) -> [u8; SIGNATURE_LEN] {
    key.sign(manifest).to_bytes()
}

/// Whether `sig` is `key`'s signature over `manifest` (strict: no malleable encodings).
pub fn check(key: &VerifyingKey, manifest: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = <[u8; SIGNATURE_LEN]>::try_from(sig) else {
        return false;
    };
    key.verify_strict(manifest, &Signature::from_bytes(&sig))
        .is_ok()
}

/// Short fingerprint of a public key for humans: first 16 hex digits.
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(&key.as_bytes()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keygen_writes_0600_secret_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("k");
        let (pub_path, vk) = keygen(&out).unwrap();
        assert_eq!(pub_path, dir.path().join("k.pub"));
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sk = read_secret(&out).unwrap();
        assert_eq!(read_public(&pub_path).unwrap(), vk);
        let sig = sign(&sk, b"manifest");
        assert!(check(&vk, b"manifest", &sig));
        assert!(!check(&vk, b"manifest!", &sig));
        assert!(!check(&vk, b"manifest", &sig[..63]));
        assert!(matches!(keygen(&out), Err(KeyError::Exists { .. })));
        // A public key is not a secret key, and says so.
        assert_eq!(
            read_secret(&pub_path).unwrap_err().to_string(),
            format!(
                "{}: not a cairn bundle secret key (expected one line `{SECRET_TAG}<64 hex digits>`)",
                pub_path.display()
            )
        );
    }
}
