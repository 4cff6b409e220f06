//! TLS on loopback for tests: a throwaway CA made with rcgen, a TLS front end that terminates
//! TLS with a certificate of that CA and forwards the plain bytes to a backend (a `cairn serve`
//! or a fake server in the test), and a CONNECT proxy that tunnels to one fixed backend (so a
//! proxy test never reaches beyond loopback, whatever host the client names).
//!
//! Each runs on its own small tokio runtime, stopped when the value is dropped.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A test certificate authority.
pub struct TestCa {
    /// The CA certificate, PEM: what a client is given with `--ca-cert`.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn write_pem(&self, path: &Path) {
        std::fs::write(path, &self.cert_pem).expect("write CA PEM");
    }

    /// A leaf certificate for `names` (DNS names or IP addresses) issued by this CA, with a
    /// fresh ECDSA P-256 key.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).expect("leaf params");
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            key_pkcs8: key.serialize_der(),
        }
    }

    /// A rustls server configuration with a certificate for `names` (DNS names or IP
    /// addresses) issued by this CA.
    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        let leaf = self.leaf(names);
        let der_key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf.key_pkcs8.into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![leaf.cert_der.into()], der_key)
        .expect("server config");
        Arc::new(config)
    }
}

/// A certificate issued by a [`TestCa`] and its ECDSA P-256 key.
pub struct Leaf {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: String,
    /// PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
}

/// A runtime serving one listener until dropped.
pub struct Background {
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("test runtime")
}

/// Runs `serve(listener)` on a fresh runtime, on a fresh 127.0.0.1 port.
pub fn background<F, Fut>(serve: F) -> Background
where
    F: FnOnce(TcpListener) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = runtime();
    let listener = rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    rt.spawn(serve(listener));
    Background {
        addr,
        runtime: Some(rt),
    }
}

/// TLS on 127.0.0.1:PORT with `config`, forwarding each connection's plain bytes to `backend`.
pub fn tls_front(config: Arc<rustls::ServerConfig>, backend: SocketAddr) -> Background {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    background(move |listener| async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses our certificate ends the handshake: nothing to do.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut plain) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    })
}

/// An HTTP proxy that answers `CONNECT anything` with 200 and tunnels to `backend`; it
/// records each CONNECT target it was asked for in `seen`.
pub fn connect_proxy(backend: SocketAddr, seen: Arc<std::sync::Mutex<Vec<String>>>) -> Background {
    background(move |listener| async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    match client.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let mut words = head.split_whitespace();
                if words.next() != Some("CONNECT") {
                    let _ = client
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                        .await;
                    return;
                }
                seen.lock()
                    .unwrap()
                    .push(words.next().unwrap_or_default().to_string());
                let Ok(mut up) = TcpStream::connect(backend).await else {
                    return;
                };
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                }
            });
        }
    })
}
