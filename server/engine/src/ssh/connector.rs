//! Opening connections: TCP, SSH handshake with host key verification, authentication.
//!
//! Owns the host key check (every connection goes through [`Verifier`]; there is no way to
//! skip it) and the order in which credentials are tried. Must not: run commands (see
//! `connection`).

use super::Connection;
use super::closed::{self, Closed};
use super::error::{Phase, SshError};
use super::key::{self as keys, KeySource};
use super::known_hosts::{self, KnownHosts, Verdict};
use super::options::{HostKeyPolicy, SshOptions};
use super::target::{Identity, Target};
use russh::MethodKind;
use russh::client::{self, AuthResult, Handle};
use russh::keys::PrivateKeyWithHashAlg;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Opens [`Connection`]s with one set of options and one known_hosts store, shared by all
/// hosts of a run.
#[derive(Clone)]
pub struct Connector {
    options: SshOptions,
    known_hosts: Arc<Mutex<KnownHosts>>,
}

/// The russh client handler: verifies the host key against the store and records why it
/// refused, because russh itself only reports "unknown key".
pub(crate) struct Verifier {
    host: String,
    endpoint: String,
    policy: HostKeyPolicy,
    known_hosts: Arc<Mutex<KnownHosts>>,
    refusal: Arc<Mutex<Option<SshError>>>,
    /// Why the session ended, for the commands that were running on it.
    closed: Closed,
    /// The silence allowed before a peer counts as gone (for the words of `closed`).
    dead_after: std::time::Duration,
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn disconnected(
        &mut self,
        reason: client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        match reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                self.closed.set(closed::describe_disconnect(&info.message));
                Ok(())
            }
            client::DisconnectReason::Error(e) => {
                self.closed.set(closed::describe(&e, self.dead_after));
                Err(e)
            }
        }
    }

    async fn check_server_key(
        &mut self,
        server: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match server {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key,
            // We advertise no certificate algorithms, so a server should not send one.
            russh::keys::PublicKeyOrCertificate::Certificate(_) => {
                self.refuse(SshError::Channel {
                    host: self.host.clone(),
                    reason:
                        "server presented a host certificate; host certificates are not supported"
                            .into(),
                });
                return Ok(false);
            }
        };
        let mut store = self.known_hosts.lock().expect("known_hosts lock");
        let verdict = store.check(&self.endpoint, key);
        let path = store.path().to_path_buf();
        match verdict {
            Verdict::Known => Ok(true),
            Verdict::Unknown if self.policy == HostKeyPolicy::AcceptNew => {
                match store.add(&self.endpoint, key) {
                    Ok(()) => {
                        tracing::info!(host = %self.host, endpoint = %self.endpoint,
                            fingerprint = %known_hosts::fingerprint(key), "accepted new host key");
                        Ok(true)
                    }
                    Err(e) => {
                        drop(store);
                        self.refuse(SshError::KnownHosts {
                            host: self.host.clone(),
                            path,
                            reason: format!("cannot record the new key: {e}"),
                        });
                        Ok(false)
                    }
                }
            }
            Verdict::Unknown => {
                drop(store);
                let key_type = key.algorithm().to_string();
                self.refuse(SshError::HostKeyUnknown {
                    host: self.host.clone(),
                    endpoint: self.endpoint.clone(),
                    short: short_key_name(&key_type),
                    key_type,
                    fingerprint: known_hosts::fingerprint(key),
                    known_hosts: path,
                });
                Ok(false)
            }
            Verdict::Changed { line, expected } => {
                drop(store);
                self.refuse(SshError::HostKeyChanged {
                    host: self.host.clone(),
                    endpoint: self.endpoint.clone(),
                    key_type: key.algorithm().to_string(),
                    fingerprint: known_hosts::fingerprint(key),
                    expected,
                    known_hosts: path,
                    line,
                });
                Ok(false)
            }
            Verdict::Revoked { line } => {
                drop(store);
                self.refuse(SshError::HostKeyRevoked {
                    host: self.host.clone(),
                    endpoint: self.endpoint.clone(),
                    fingerprint: known_hosts::fingerprint(key),
                    known_hosts: path,
                    line,
                });
                Ok(false)
            }
        }
    }
}

impl Verifier {
    fn refuse(&self, e: SshError) {
        *self.refusal.lock().expect("refusal lock") = Some(e);
    }
}

/// `ssh-ed25519` → `ed25519`, `ecdsa-sha2-nistp256` → `ecdsa`: the host key file's name part.
fn short_key_name(key_type: &str) -> String {
    if key_type.contains("ed25519") {
        "ed25519".into()
    } else if key_type.contains("ecdsa") {
        "ecdsa".into()
    } else if key_type.contains("rsa") {
        "rsa".into()
    } else {
        key_type.into()
    }
}

impl Connector {
    /// A connector using `known_hosts_path` as the trust store (created when a key is first
    /// accepted).
    pub fn new(options: SshOptions, known_hosts_path: &Path) -> std::io::Result<Connector> {
        Ok(Connector {
            options,
            known_hosts: Arc::new(Mutex::new(KnownHosts::load(known_hosts_path)?)),
        })
    }

    pub fn options(&self) -> &SshOptions {
        &self.options
    }

    /// Connect to `target`, verify its host key and authenticate.
    pub async fn connect(&self, target: &Target) -> Result<Connection, SshError> {
        let started = Instant::now();
        let host = target.name.clone();
        let to = self.options.connect_timeout;
        let endpoint = known_hosts::endpoint(&target.address, target.port);

        let stream = self.tcp_connect(target).await?;
        let _ = stream.set_nodelay(true);
        // A cut cable with data in flight blocks the socket write, and russh then never gets
        // to its keepalive check: let the kernel give up on unacknowledged data instead.
        let _ = socket2::SockRef::from(&stream).set_tcp_user_timeout(Some(self.dead_after()));

        let refusal = Arc::new(Mutex::new(None));
        let closed = Closed::default();
        let verifier = Verifier {
            host: host.clone(),
            endpoint: endpoint.clone(),
            policy: self.options.host_keys,
            known_hosts: self.known_hosts.clone(),
            refusal: refusal.clone(),
            closed: closed.clone(),
            dead_after: self.dead_after(),
        };
        let config = Arc::new(self.client_config(&endpoint));
        let handle = match timeout(to, client::connect_stream(config, stream, verifier)).await {
            Err(_) => {
                return Err(SshError::Timeout {
                    host,
                    phase: Phase::Handshake,
                    after: to,
                });
            }
            Ok(Err(e)) => {
                if let Some(refused) = refusal.lock().expect("refusal lock").take() {
                    return Err(refused);
                }
                return Err(SshError::Disconnected {
                    host,
                    reason: format!("during the SSH handshake: {e}"),
                });
            }
            Ok(Ok(h)) => h,
        };

        let handle = match timeout(to, authenticate(handle, target)).await {
            Err(_) => {
                return Err(SshError::Timeout {
                    host,
                    phase: Phase::Auth,
                    after: to,
                });
            }
            Ok(r) => r?,
        };
        Ok(Connection::new(
            target.clone(),
            handle,
            closed,
            &self.options,
            started.elapsed(),
        ))
    }

    async fn tcp_connect(&self, target: &Target) -> Result<TcpStream, SshError> {
        let host = &target.name;
        let to = self.options.connect_timeout;
        let addrs = match timeout(
            to,
            tokio::net::lookup_host((target.address.as_str(), target.port)),
        )
        .await
        {
            Err(_) => {
                return Err(SshError::Resolve {
                    host: host.clone(),
                    address: target.address.clone(),
                    reason: format!("no answer within {}s", to.as_secs()),
                });
            }
            Ok(Err(e)) => {
                return Err(SshError::Resolve {
                    host: host.clone(),
                    address: target.address.clone(),
                    reason: e.to_string(),
                });
            }
            Ok(Ok(a)) => a.collect::<Vec<_>>(),
        };
        let deadline = tokio::time::Instant::now() + to;
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => return Ok(s),
                Ok(Err(e)) => last = Some(e),
                Err(_) => {
                    return Err(SshError::Timeout {
                        host: host.clone(),
                        phase: Phase::Connect,
                        after: to,
                    });
                }
            }
        }
        let e = last.unwrap_or_else(|| std::io::Error::other("no address"));
        Err(match e.kind() {
            std::io::ErrorKind::ConnectionRefused => SshError::Refused {
                host: host.clone(),
                address: target.address.clone(),
                port: target.port,
            },
            _ => SshError::Unreachable {
                host: host.clone(),
                address: target.address.clone(),
                port: target.port,
                reason: e.to_string(),
            },
        })
    }

    /// How long a peer may stay silent, with keepalives unanswered, before it counts as gone.
    fn dead_after(&self) -> std::time::Duration {
        self.options.keepalive_interval * (self.options.keepalive_max as u32 + 1)
    }

    fn client_config(&self, endpoint: &str) -> client::Config {
        let mut config = client::Config {
            // Without TCP_NODELAY each command costs ~40 ms (Nagle + delayed ACK).
            nodelay: true,
            keepalive_interval: Some(self.options.keepalive_interval),
            keepalive_max: self.options.keepalive_max,
            // Reset by any traffic, keepalive answers included, so it fires only on a dead
            // peer, also while a write is blocked (where the keepalive count cannot run).
            inactivity_timeout: Some(self.dead_after()),
            ..Default::default()
        };
        // Ask for the key types we already trust for this endpoint first, as OpenSSH does,
        // so a host with several keys presents one we can verify.
        let known = self
            .known_hosts
            .lock()
            .expect("known_hosts lock")
            .algorithms_for(endpoint);
        if !known.is_empty() {
            let mut keys: Vec<_> = known.clone();
            keys.extend(
                config
                    .preferred
                    .key
                    .iter()
                    .filter(|a| !known.contains(a))
                    .cloned(),
            );
            config.preferred.key = keys.into();
        }
        config
    }
}

/// Try, in OpenSSH's order: agent keys, key files, password, keyboard-interactive.
async fn authenticate(
    mut handle: Handle<Verifier>,
    target: &Target,
) -> Result<Handle<Verifier>, SshError> {
    let host = &target.name;
    let user = &target.user;
    let mut tried: Vec<String> = Vec::new();
    let mut accepted = String::from("unknown");
    let lost = |e: russh::Error| SshError::Disconnected {
        host: host.clone(),
        reason: format!("during authentication: {e}"),
    };
    let note = |r: AuthResult, accepted: &mut String| -> bool {
        match r {
            AuthResult::Success => true,
            AuthResult::Failure {
                remaining_methods, ..
            } => {
                *accepted = remaining_methods
                    .iter()
                    .map(<&str>::from)
                    .collect::<Vec<_>>()
                    .join(", ");
                false
            }
        }
    };
    let server_allows = |accepted: &str, m: MethodKind| {
        accepted == "unknown" || accepted.split(", ").any(|a| a == <&str>::from(&m))
    };

    // Probe with "none": it tells which methods the server accepts (and a few servers let
    // the user straight in).
    if note(
        handle.authenticate_none(user).await.map_err(lost)?,
        &mut accepted,
    ) {
        return Ok(handle);
    }

    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .map_err(lost)?
        .flatten();

    if target.use_agent
        && server_allows(&accepted, MethodKind::PublicKey)
        && let Ok(mut agent) = russh::keys::agent::client::AgentClient::connect_env().await
        && let Ok(ids) = agent.request_identities().await
    {
        for id in ids {
            let key = id.public_key().into_owned();
            tried.push(format!("agent key {}", known_hosts::fingerprint(&key)));
            let hash = if key.algorithm().is_rsa() {
                rsa_hash
            } else {
                None
            };
            match handle
                .authenticate_publickey_with(user, key, hash, &mut agent)
                .await
            {
                Ok(r) => {
                    if note(r, &mut accepted) {
                        return Ok(handle);
                    }
                }
                // The agent declined or failed to sign: try the next credential.
                Err(e) => tracing::debug!(host = %host, "agent signing failed: {e}"),
            }
        }
    }

    if server_allows(&accepted, MethodKind::PublicKey) {
        let explicit = !target.identities.is_empty();
        let identities = if explicit {
            target.identities.clone()
        } else {
            default_identities()
        };
        for id in identities {
            let key = match load_key(host, &id) {
                Ok(k) => k,
                Err(e) if explicit => return Err(e),
                Err(e) => {
                    tracing::debug!("skipping default key: {e}");
                    continue;
                }
            };
            tried.push(match &id.key {
                KeySource::File(path) => format!("key {}", path.display()),
                KeySource::Text(_) => {
                    format!("key {} (held in memory)", keys::public_fingerprint(&key))
                }
            });
            let hash = if key.algorithm().is_rsa() {
                rsa_hash
            } else {
                None
            };
            let r = handle
                .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
                .await
                .map_err(lost)?;
            if note(r, &mut accepted) {
                return Ok(handle);
            }
        }
    }

    if let Some(source) = &target.password {
        let password = source.resolve().map_err(|e| SshError::Secret {
            host: host.clone(),
            source: e,
        })?;
        if server_allows(&accepted, MethodKind::Password) {
            tried.push("password".into());
            let r = handle
                .authenticate_password(user, password.expose())
                .await
                .map_err(lost)?;
            if note(r, &mut accepted) {
                return Ok(handle);
            }
        }
        if server_allows(&accepted, MethodKind::KeyboardInteractive) {
            tried.push("keyboard-interactive".into());
            if keyboard_interactive(&mut handle, user, password.expose())
                .await
                .map_err(lost)?
            {
                return Ok(handle);
            }
        }
    }

    Err(SshError::AuthFailed {
        host: host.clone(),
        user: user.clone(),
        tried: if tried.is_empty() {
            "nothing: no key file, agent key or password was available".into()
        } else {
            tried.join(", ")
        },
        accepted,
    })
}

/// Answer every prompt with the password (PAM's "Password:" prompt), at most a few rounds.
async fn keyboard_interactive(
    handle: &mut Handle<Verifier>,
    user: &str,
    password: &str,
) -> Result<bool, russh::Error> {
    use russh::client::KeyboardInteractiveAuthResponse as R;
    let mut reply = handle
        .authenticate_keyboard_interactive_start(user, None)
        .await?;
    for _ in 0..4 {
        match reply {
            R::Success => return Ok(true),
            R::Failure { .. } => return Ok(false),
            R::InfoRequest { prompts, .. } => {
                let answers = prompts.iter().map(|_| password.to_string()).collect();
                reply = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await?;
            }
        }
    }
    Ok(false)
}

fn default_identities() -> Vec<Identity> {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .filter(|p| p.exists())
        .map(|path| Identity::file(path, None))
        .collect()
}

fn load_key(host: &str, id: &Identity) -> Result<russh::keys::PrivateKey, SshError> {
    let passphrase = match &id.passphrase {
        Some(s) => Some(s.resolve().map_err(|e| SshError::Secret {
            host: host.to_string(),
            source: e,
        })?),
        None => None,
    };
    keys::load(&id.key, passphrase.as_ref()).map_err(|source| SshError::Key {
        host: host.to_string(),
        key: id.key.to_string(),
        source,
    })
}
