//! Private keys for authentication: where one comes from (a file, or its text held in memory)
//! and turning it into a usable key, with a typed error for each way that fails.
//!
//! Owns decoding (russh's `decode_secret_key`: OpenSSH, PEM PKCS#1/PKCS#8/SEC1, PuTTY) and the
//! messages an operator sees. The text of a key is a [`Secret`]: [`KeySource`]'s `Debug` never
//! shows it, and no [`KeyError`] carries any of it (the library's own messages are not passed
//! on, since a parser's error may quote its input). Must not: write a key anywhere.

use std::path::PathBuf;

use russh::keys::PrivateKey;

use crate::secret::Secret;

/// Where a private key comes from. Holds the source only: a file is read, and text decoded,
/// at connect time, so a `Target` with a key stays cheap to clone and safe to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A key file on this machine (Ansible's `ansible_ssh_private_key_file`).
    File(PathBuf),
    /// The key's text (e.g. pasted into the console), kept in memory only.
    Text(Secret),
}

impl std::fmt::Display for KeySource {
    /// How messages name the key: its path, or that it was given as text (never the text).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::File(p) => write!(f, "{}", p.display()),
            KeySource::Text(_) => f.write_str("(key text held in memory)"),
        }
    }
}

/// Why a private key cannot be used. No variant holds any part of the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("cannot read it: {0}")]
    Read(String),
    #[error(
        "this is a public key, not a private key: give the private key (the file without .pub, \
         starting with -----BEGIN OPENSSH PRIVATE KEY-----)"
    )]
    PublicKey,
    #[error(
        "this is not a private key: expected the text of an OpenSSH private key \
         (-----BEGIN OPENSSH PRIVATE KEY-----) or a PEM one (-----BEGIN RSA/EC/ENCRYPTED PRIVATE KEY-----)"
    )]
    NotAKey,
    #[error(
        "the key is encrypted and no passphrase was given (give its passphrase: \
         auth.passphrase_env / auth.passphrase_file in cluster.yaml, cairn_key_passphrase_env \
         in an inventory, or the passphrase field in the console)"
    )]
    NeedsPassphrase,
    #[error("cannot decrypt it: wrong passphrase? (the passphrase given does not open this key)")]
    WrongPassphrase,
    #[error("unsupported key type {0} (use an ed25519, ECDSA or RSA key)")]
    Unsupported(String),
    #[error("the key is damaged or in a format Cairn cannot read (truncated when pasted?)")]
    Damaged,
}

/// Read (a file) and decode `source`, decrypting it with `passphrase` if it is encrypted.
pub fn load(source: &KeySource, passphrase: Option<&Secret>) -> Result<PrivateKey, KeyError> {
    match source {
        KeySource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read(e.to_string()))?;
            decode(&text, passphrase)
        }
        KeySource::Text(text) => decode(text.expose(), passphrase),
    }
}

/// Decode a private key's text. A passphrase given for a key that is not encrypted is ignored
/// (as `ssh -i` does).
pub fn decode(text: &str, passphrase: Option<&Secret>) -> Result<PrivateKey, KeyError> {
    let trimmed = text.trim_start();
    if !trimmed.starts_with("-----BEGIN ") && !trimmed.starts_with("PuTTY-User-Key-File-") {
        return Err(if looks_public(trimmed) {
            KeyError::PublicKey
        } else {
            KeyError::NotAKey
        });
    }
    // The PEM parser wants its lines as OpenSSH writes them: a textarea's or a Windows file's
    // CRLF and trailing spaces would otherwise end the base64 early.
    let normal: String = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .flat_map(|l| [l, "\n"])
        .collect();
    let secret = Secret::new(normal);
    use russh::keys::Error as E;
    match russh::keys::decode_secret_key(secret.expose(), passphrase.map(Secret::expose)) {
        Ok(k) => Ok(k),
        Err(E::KeyIsEncrypted) => Err(if passphrase.is_some() {
            // PKCS#5 keys say "encrypted" when the passphrase does not open them.
            KeyError::WrongPassphrase
        } else {
            KeyError::NeedsPassphrase
        }),
        Err(E::UnsupportedKeyType {
            key_type_string, ..
        }) => Err(KeyError::Unsupported(key_type_string)),
        Err(E::CouldNotReadKey) => Err(KeyError::NotAKey),
        Err(_) if passphrase.is_some() && is_encrypted(secret.expose()) => {
            Err(KeyError::WrongPassphrase)
        }
        Err(_) => Err(KeyError::Damaged),
    }
}

/// Whether `text` (a PEM/OpenSSH private key) is encrypted: decoding it without a passphrase
/// says so. Used to tell a wrong passphrase from a damaged key.
fn is_encrypted(text: &str) -> bool {
    matches!(
        russh::keys::decode_secret_key(text, None),
        Err(russh::keys::Error::KeyIsEncrypted)
    ) || text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}

/// `ssh-ed25519 AAAA...`, `ecdsa-sha2-...`, `ssh-rsa ...`: an authorized_keys or `.pub` line.
fn looks_public(text: &str) -> bool {
    let first = text.split_whitespace().next().unwrap_or("");
    first.starts_with("ssh-")
        || first.starts_with("ecdsa-sha2-")
        || first.starts_with("sk-")
        || text.starts_with("---- BEGIN SSH2 PUBLIC KEY")
}

/// `SHA256:...` of the key's public half, as `ssh-keygen -l` prints it: what the operator
/// compares with the `.pub` file or an authorized_keys line.
pub fn public_fingerprint(key: &PrivateKey) -> String {
    super::known_hosts::fingerprint(key.public_key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::ssh_key::LineEnding;

    /// A fresh ed25519 key's OpenSSH text, encrypted with `passphrase` if given.
    fn fresh(passphrase: Option<&str>) -> (String, String) {
        let key =
            PrivateKey::random(&mut rand_010::rng(), russh::keys::Algorithm::Ed25519).unwrap();
        let fp = public_fingerprint(&key);
        let key = match passphrase {
            Some(p) => key.encrypt(&mut rand_010::rng(), p).unwrap(),
            None => key,
        };
        (key.to_openssh(LineEnding::LF).unwrap().to_string(), fp)
    }

    /// Every message, with the host and key as `SshError::Key` shows them; none holds the key.
    fn message(text: &str, passphrase: Option<&str>) -> String {
        let e = decode(text, passphrase.map(Secret::new).as_ref()).unwrap_err();
        let shown = format!("{e} {e:?}");
        for line in text.lines().filter(|l| l.len() > 8) {
            assert!(!shown.contains(line), "the error shows the key: {shown}");
        }
        e.to_string()
    }

    #[test]
    fn a_plain_key_decodes_and_its_fingerprint_is_the_public_keys() {
        let (text, fp) = fresh(None);
        let k = decode(&text, None).unwrap();
        assert_eq!(public_fingerprint(&k), fp);
        assert!(fp.starts_with("SHA256:"), "{fp}");
        // A passphrase for a plain key is ignored; CRLF and blank lines from a paste are fine.
        let pasted = format!("\n{}\n\n", text.replace('\n', "\r\n"));
        let k = decode(&pasted, Some(&Secret::new("unused"))).unwrap();
        assert_eq!(public_fingerprint(&k), fp);
    }

    #[test]
    fn an_encrypted_key_needs_its_passphrase() {
        let (text, fp) = fresh(Some("correct horse"));
        let k = decode(&text, Some(&Secret::new("correct horse"))).unwrap();
        assert_eq!(public_fingerprint(&k), fp);
        assert_eq!(
            message(&text, None),
            "the key is encrypted and no passphrase was given (give its passphrase: \
             auth.passphrase_env / auth.passphrase_file in cluster.yaml, cairn_key_passphrase_env \
             in an inventory, or the passphrase field in the console)"
        );
        assert_eq!(
            message(&text, Some("battery staple")),
            "cannot decrypt it: wrong passphrase? (the passphrase given does not open this key)"
        );
    }

    #[test]
    fn what_is_not_a_private_key_says_so() {
        let not_a_key = "this is not a key at all, just text that was pasted by mistake";
        assert_eq!(
            message(not_a_key, None),
            "this is not a private key: expected the text of an OpenSSH private key \
             (-----BEGIN OPENSSH PRIVATE KEY-----) or a PEM one (-----BEGIN RSA/EC/ENCRYPTED PRIVATE KEY-----)"
        );
        let key =
            PrivateKey::random(&mut rand_010::rng(), russh::keys::Algorithm::Ed25519).unwrap();
        let public = key.public_key().to_openssh().unwrap();
        assert_eq!(
            message(&public, None),
            "this is a public key, not a private key: give the private key (the file without .pub, \
             starting with -----BEGIN OPENSSH PRIVATE KEY-----)"
        );
        // A PEM block of another kind (a certificate) is not a private key either.
        let cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZ2VuZXJhdGVkLWJ5LXRoZS10ZXN0\n-----END CERTIFICATE-----\n";
        assert_eq!(message(cert, None), KeyError::NotAKey.to_string());
        // A key cut short when pasted.
        let (text, _) = fresh(None);
        let lines: Vec<&str> = text.lines().collect();
        let cut = format!("{}\n{}\n", lines[0], lines[1]);
        assert_eq!(
            message(&cut, None),
            "the key is damaged or in a format Cairn cannot read (truncated when pasted?)"
        );
    }

    #[test]
    fn key_sources_never_show_the_text() {
        let (text, _) = fresh(None);
        let src = KeySource::Text(Secret::new(text.clone()));
        let shown = format!("{src} {src:?}");
        assert!(!shown.contains(text.lines().nth(1).unwrap()), "{shown}");
        assert_eq!(src.to_string(), "(key text held in memory)");
        assert_eq!(KeySource::File("/k/id".into()).to_string(), "/k/id");
        assert_eq!(
            load(&KeySource::File("/nonexistent/cairn-key".into()), None).unwrap_err(),
            KeyError::Read("No such file or directory (os error 2)".into())
        );
    }
}
