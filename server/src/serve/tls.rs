//! HTTPS for `cairn serve --tls`: the server's certificate and key, given (`--tls-cert`,
//! `--tls-key`, PEM) or self-signed and kept in the state dir (`serve/tls-cert.pem`,
//! `serve/tls-key.pem`, 0600, made at the first start and reused, so a browser's exception or
//! a pinned fingerprint stays valid), and the rustls configuration serving them.
//!
//! Owns: reading, creating and checking the certificate and key; the fingerprint shown to the
//! operator. Must not: accept connections (see `conn`) or know about the API's cookies (the
//! API is told whether it is served over TLS).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest as _;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("the TLS certificate and key do not go together: {0}")]
    Mismatch(String),
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
}

/// The server's identity over TLS, ready to serve.
pub struct Identity {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// SHA-256 of the certificate (DER), as browsers show it: `AB:CD:...`.
    pub fingerprint: String,
    pub cert_path: PathBuf,
    /// Made now (not found from an earlier start nor given).
    pub created: bool,
}

/// The certificate and key at `cert`/`key` (PEM).
pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
    let file_err = |path: &Path, message: String| TlsError::File {
        path: path.to_path_buf(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, format!("not a PEM certificate: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert, format!("not a PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(file_err(
            cert,
            "holds no certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_err(key, format!("not a PEM private key: {e}")))?;
    identity(chain, private, cert, false)
}

/// The self-signed identity kept under `dir`, made now (for `names`: DNS names and addresses
/// the console is reached by) when missing.
pub fn load_or_create(dir: &Path, names: &[String]) -> Result<Identity, TlsError> {
    let (cert, key) = (dir.join("tls-cert.pem"), dir.join("tls-key.pem"));
    if cert.exists() && key.exists() {
        return load(&cert, &key);
    }
    let made = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let file_err = |path: &Path, e: std::io::Error| TlsError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // The key first: a certificate without its key is not left behind by a crash.
    let _ = std::fs::remove_file(&key);
    super::apt_sign::write_private(&key, made.signing_key.serialize_pem().as_bytes())
        .map_err(|e| file_err(&key, e))?;
    let _ = std::fs::remove_file(&cert);
    super::apt_sign::write_private(&cert, made.cert.pem().as_bytes())
        .map_err(|e| file_err(&cert, e))?;
    let mut id = load(&cert, &key)?;
    id.created = true;
    Ok(id)
}

/// The names a self-signed certificate covers: `localhost`, loopback, the address listened on
/// (unless it is all addresses) and this machine's host name.
pub fn default_names(listen: IpAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if !listen.is_unspecified() && !listen.is_loopback() {
        names.push(listen.to_string());
    }
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() && !names.iter().any(|n| n == h) {
            names.push(h.to_string());
        }
    }
    names
}

fn identity(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: &Path,
    created: bool,
) -> Result<Identity, TlsError> {
    let fingerprint = sha2::Sha256::digest(chain[0].as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Identity {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        fingerprint,
        cert_path: cert_path.to_path_buf(),
        created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_reused_and_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let first =
            load_or_create(dir.path(), &default_names("10.0.0.5".parse().unwrap())).unwrap();
        assert!(first.created);
        let again = load_or_create(dir.path(), &[]).unwrap();
        assert!(!again.created);
        assert_eq!(first.fingerprint, again.fingerprint);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        let mode = std::fs::metadata(dir.path().join("tls-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, "not a certificate\n").unwrap();
        std::fs::write(&key, "nor a key\n").unwrap();
        let e = load(&cert, &key).err().unwrap().to_string();
        assert_eq!(
            e,
            format!(
                "{}: holds no certificate (-----BEGIN CERTIFICATE-----)",
                cert.display()
            )
        );
        // A real certificate with another certificate's key.
        let a = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        std::fs::write(&cert, a.cert.pem()).unwrap();
        std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
        let e = load(&cert, &key).err().unwrap().to_string();
        assert!(
            e.starts_with("the TLS certificate and key do not go together: "),
            "{e}"
        );
    }
}
