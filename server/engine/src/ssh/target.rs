//! What the transport needs to reach one host: address, user and credentials.
//!
//! Built by the inventory (`inventory::connection`) from a host's variables; consumed by
//! `ssh::connect`. Holds secret *sources*, never resolved secrets, so it can be cloned and logged.

pub use super::key::KeySource;
use crate::secret::{Secret, SecretSource};
use std::path::PathBuf;

/// A private key to offer (a file, or its text held in memory), with the passphrase that
/// unlocks it, if any. `Debug` shows a key file's path, never a key's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub key: KeySource,
    pub passphrase: Option<SecretSource>,
}

impl Identity {
    /// A key file, with its passphrase's source if it is encrypted.
    pub fn file(path: impl Into<PathBuf>, passphrase: Option<SecretSource>) -> Self {
        Identity {
            key: KeySource::File(path.into()),
            passphrase,
        }
    }

    /// A key's text held in memory (pasted into the console), never written anywhere.
    pub fn text(text: Secret, passphrase: Option<SecretSource>) -> Self {
        Identity {
            key: KeySource::Text(text),
            passphrase,
        }
    }
}

/// One host as the transport sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The inventory name: every message about this host uses it.
    pub name: String,
    /// DNS name or IP address to connect to (Ansible's `ansible_host`).
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Keys to offer, in order. Empty: the OpenSSH defaults (`~/.ssh/id_ed25519`, `id_ecdsa`,
    /// `id_rsa`) that exist.
    pub identities: Vec<Identity>,
    /// Password for SSH password (and keyboard-interactive) authentication.
    pub password: Option<SecretSource>,
    /// Try the keys of a running ssh-agent (`SSH_AUTH_SOCK`).
    pub use_agent: bool,
    /// Password sudo asks for when a command runs with `become` (Ansible's
    /// `ansible_become_password`). None: sudo must not ask (NOPASSWD).
    pub become_password: Option<SecretSource>,
}

impl Target {
    /// A target with OpenSSH's defaults: port 22, agent allowed, default keys.
    pub fn new(
        name: impl Into<String>,
        address: impl Into<String>,
        user: impl Into<String>,
    ) -> Self {
        Target {
            name: name.into(),
            address: address.into(),
            port: 22,
            user: user.into(),
            identities: Vec::new(),
            password: None,
            use_agent: true,
            become_password: None,
        }
    }
}
