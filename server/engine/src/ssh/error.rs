//! The transport's typed errors. Every variant names the host, so a message is useful on its
//! own in a recap of 500 hosts. A command's non-zero exit status is not an error: it is data in
//! [`super::ExecOutput`].

use crate::secret::SecretError;
use std::path::PathBuf;
use std::time::Duration;

/// Which step a timeout interrupted; each says what it usually means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// TCP connect: host down, cable cut, or a firewall dropping packets.
    Connect,
    /// Banner and key exchange: TCP accepted but nothing answers (hung host, or not sshd).
    Handshake,
    /// User authentication.
    Auth,
    /// Opening a channel or running a command on an established connection.
    Command,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connecting (host down, network cut, or packets dropped by a firewall)",
            Phase::Handshake => {
                "waiting for the SSH handshake (TCP accepted but nothing answers: host hung or not an SSH server)"
            }
            Phase::Auth => "authenticating",
            Phase::Command => "waiting for the command",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("{host}: cannot resolve address {address:?}: {reason}")]
    Resolve {
        host: String,
        address: String,
        reason: String,
    },
    #[error(
        "{host}: connection refused by {address}:{port} (is sshd running and listening on that port?)"
    )]
    Refused {
        host: String,
        address: String,
        port: u16,
    },
    #[error("{host}: {address}:{port} is unreachable: {reason}")]
    Unreachable {
        host: String,
        address: String,
        port: u16,
        reason: String,
    },
    #[error("{host}: timed out after {:.1}s {phase}", after.as_secs_f64())]
    Timeout {
        host: String,
        phase: Phase,
        after: Duration,
    },
    #[error(
        "{host}: host key for {endpoint} is not known: the server presented {key_type} {fingerprint}.\n  \
         If this fingerprint is right (compare it with `ssh-keygen -lf /etc/ssh/ssh_host_{short}_key.pub` on the host),\n  \
         accept it with --accept-new-host-keys, or add the host's key to {known_hosts}"
    )]
    HostKeyUnknown {
        host: String,
        endpoint: String,
        key_type: String,
        short: String,
        fingerprint: String,
        known_hosts: PathBuf,
    },
    #[error(
        "{host}: HOST KEY CHANGED for {endpoint}! The server presented {key_type} {fingerprint}, \
         but {known_hosts}:{line} records {expected}.\n  \
         Someone may be intercepting the connection (man-in-the-middle), or the host was reinstalled.\n  \
         Refusing to connect. If the change is expected, remove the old key with \
         `ssh-keygen -R {endpoint} -f {known_hosts}` and connect again with --accept-new-host-keys"
    )]
    HostKeyChanged {
        host: String,
        endpoint: String,
        key_type: String,
        fingerprint: String,
        expected: String,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error(
        "{host}: host key {fingerprint} for {endpoint} is marked @revoked in {known_hosts}:{line}; refusing to connect"
    )]
    HostKeyRevoked {
        host: String,
        endpoint: String,
        fingerprint: String,
        known_hosts: PathBuf,
        line: usize,
    },
    #[error("{host}: cannot read known_hosts {path}: {reason}")]
    KnownHosts {
        host: String,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "{host}: authentication failed for user {user:?} (tried: {tried}; server accepts: {accepted})"
    )]
    AuthFailed {
        host: String,
        user: String,
        tried: String,
        accepted: String,
    },
    #[error("{host}: cannot use private key {path}: {reason}")]
    Key {
        host: String,
        path: PathBuf,
        reason: String,
    },
    #[error("{host}: {source}")]
    Secret {
        host: String,
        #[source]
        source: SecretError,
    },
    #[error("{host}: become (sudo) failed: {reason}")]
    Become { host: String, reason: String },
    #[error("{host}: SSH channel failed: {reason}")]
    Channel { host: String, reason: String },
    #[error("{host}: connection lost: {reason}")]
    Disconnected { host: String, reason: String },
    #[error("{host}: {context}: {reason}")]
    Io {
        host: String,
        context: String,
        reason: String,
    },
}

impl SshError {
    /// The inventory name of the host the error is about.
    pub fn host(&self) -> &str {
        match self {
            SshError::Resolve { host, .. }
            | SshError::Refused { host, .. }
            | SshError::Unreachable { host, .. }
            | SshError::Timeout { host, .. }
            | SshError::HostKeyUnknown { host, .. }
            | SshError::HostKeyChanged { host, .. }
            | SshError::HostKeyRevoked { host, .. }
            | SshError::KnownHosts { host, .. }
            | SshError::AuthFailed { host, .. }
            | SshError::Key { host, .. }
            | SshError::Secret { host, .. }
            | SshError::Become { host, .. }
            | SshError::Channel { host, .. }
            | SshError::Disconnected { host, .. }
            | SshError::Io { host, .. } => host,
        }
    }

    /// True when the host could not be reached or stopped answering, as opposed to a failure
    /// the host reported (Ansible's "unreachable" vs "failed").
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            SshError::Resolve { .. }
                | SshError::Refused { .. }
                | SshError::Unreachable { .. }
                | SshError::Timeout { .. }
                | SshError::Disconnected { .. }
        )
    }
}
