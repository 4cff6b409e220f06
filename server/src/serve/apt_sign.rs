//! The apt repository's OpenPGP signature: a signing key kept by `cairn serve` (created on first
//! use, an Ed25519 key with rpgp), the public key as a binary keyring (`/repo/deb/cairn.gpg`,
//! for `signed-by=`), and the signed forms of `Release`: `InRelease` (cleartext signature) and
//! `Release.gpg` (detached, armored), so apt checks the repository without `trusted=yes`.
//!
//! Why at serve time and not in the bundle: the secret key must not travel in the bundle, and
//! a key kept beside the installer stays the same across restarts and bundles, so hosts keep
//! trusting the same keyring. The bundle's own integrity is its manifest (and its signature).
//!
//! Must not: print the secret key, or write it anywhere but its 0600 file.

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable as _, DetachedSignature, KeyType,
    SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::ser::Serialize as _;
use pgp::types::{KeyDetails as _, Password};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The user ID of generated keys.
const USER_ID: &str = "Cairn offline repository <cairn@localhost>";

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("apt signing key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("signing the apt Release: {0}")]
    Sign(String),
}

/// The repository's signing key.
pub struct AptKey {
    secret: SignedSecretKey,
}

/// The signed forms of a `Release` file and the key that checks them.
#[derive(Clone, Debug)]
pub struct Signed {
    pub in_release: Vec<u8>,
    pub release_gpg: Vec<u8>,
    /// The public key, binary (what `signed-by=` and `/etc/apt/keyrings/*.gpg` take).
    pub keyring: Vec<u8>,
    /// Upper-case hex, as `gpg --fingerprint` shows it without spaces.
    pub fingerprint: String,
}

impl AptKey {
    /// Reads the armored secret key at `path`, or creates one there (mode 0600, written to a
    /// temporary file and linked into place, so two servers starting at once agree on one
    /// key). Returns the key and whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(AptKey, bool), SignError> {
        let err = |message: String| SignError::Key {
            path: path.to_path_buf(),
            message,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let (secret, _) = SignedSecretKey::from_string(&text)
                    .map_err(|e| err(format!("not an OpenPGP secret key: {e}")))?;
                secret
                    .verify_bindings()
                    .map_err(|e| err(format!("its self-signature does not verify: {e}")))?;
                Ok((AptKey { secret }, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = AptKey::generate().map_err(|e| err(e.to_string()))?;
                let armored = key
                    .secret
                    .to_armored_string(ArmorOptions::default())
                    .map_err(|e| err(e.to_string()))?;
                match write_private(path, armored.as_bytes()) {
                    Ok(()) => Ok((key, true)),
                    // Another process created it first: use that one.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        AptKey::load_or_create(path)
                    }
                    Err(e) => Err(err(e.to_string())),
                }
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    fn generate() -> Result<AptKey, SignError> {
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(USER_ID.into())
            .build()
            .map_err(|e| SignError::Sign(e.to_string()))?;
        let secret = params
            .generate(rand::thread_rng())
            .map_err(|e| SignError::Sign(e.to_string()))?;
        Ok(AptKey { secret })
    }

    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.secret.fingerprint().as_bytes())
    }

    /// `InRelease` and `Release.gpg` for `release`, and the public keyring.
    pub fn sign(&self, release: &[u8]) -> Result<Signed, SignError> {
        let fail = |e: pgp::errors::Error| SignError::Sign(e.to_string());
        let text = std::str::from_utf8(release)
            .map_err(|_| SignError::Sign("Release is not UTF-8".into()))?;
        let pw = Password::empty();
        let cleartext =
            CleartextSignedMessage::sign(rand::thread_rng(), text, &self.secret.primary_key, &pw)
                .map_err(fail)?;
        let in_release = cleartext
            .to_armored_bytes(ArmorOptions::default())
            .map_err(fail)?;
        let detached = DetachedSignature::sign_binary_data(
            rand::thread_rng(),
            &self.secret.primary_key,
            &pw,
            HashAlgorithm::Sha256,
            release,
        )
        .map_err(fail)?;
        let release_gpg = detached
            .to_armored_bytes(ArmorOptions::default())
            .map_err(fail)?;
        let public = SignedPublicKey::from(self.secret.clone());
        let keyring = public.to_bytes().map_err(fail)?;
        Ok(Signed {
            in_release,
            release_gpg,
            keyring,
            fingerprint: self.fingerprint(),
        })
    }
}

/// Writes `bytes` to a new file `path` with mode 0600 (parent directories 0700 when created):
/// a temporary file beside it, then a hard link (which fails with `AlreadyExists` rather than
/// replace a key), so a crash leaves no half key.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_key_is_created_once_then_loaded_and_signs_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/apt.asc");
        let (key, created) = AptKey::load_or_create(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = AptKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(key.fingerprint(), again.fingerprint());
        assert_eq!(key.fingerprint().len(), 40);

        let release = b"Origin: cairn\nLabel: t\nSuite: ./\n";
        let s = again.sign(release).unwrap();
        let text = String::from_utf8(s.in_release.clone()).unwrap();
        assert!(
            text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: cairn\n"),
            "{text}"
        );
        assert!(text.contains("-----BEGIN PGP SIGNATURE-----"));
        // The cleartext signature and the detached one verify with the public key.
        let public = SignedPublicKey::from_bytes(&s.keyring[..]).unwrap();
        let (msg, _) = CleartextSignedMessage::from_string(&text).unwrap();
        msg.verify(&public).unwrap();
        let detached = DetachedSignature::from_string(std::str::from_utf8(&s.release_gpg).unwrap())
            .unwrap()
            .0;
        detached.verify(&public, &release[..]).unwrap();
        assert!(detached.verify(&public, &b"Origin: evil\n"[..]).is_err());
    }

    #[test]
    fn a_file_that_is_not_a_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apt.asc");
        std::fs::write(&path, "hello\n").unwrap();
        let e = AptKey::load_or_create(&path).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!(
                "apt signing key {}: not an OpenPGP secret key: ",
                path.display()
            )),
            "{e}"
        );
    }
}
