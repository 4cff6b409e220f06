//! The transport's typed errors. Every variant names the host, so a message is useful on its
//! own in a recap of 500 hosts. A command's non-zero exit status is not an error: it is data in
//! [`super::ExecOutput`].

use super::key::KeyError;
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
    #[error("{host}: known_hosts {path}: {reason}")]
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
    #[error("{host}: cannot use private key {key}: {source}")]
    Key {
        host: String,
        /// The key's path, or that it is text held in memory (never the text).
        key: String,
        #[source]
        source: KeyError,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    /// Every message the transport can show a user, exactly as shown.
    #[test]
    fn every_message() {
        let kh = PathBuf::from("/var/lib/cairn/known_hosts");
        let cases: Vec<(SshError, &str)> = vec![
            (
                SshError::Resolve {
                    host: s("db1"),
                    address: s("db1.example"),
                    reason: s("failed to lookup address information"),
                },
                "db1: cannot resolve address \"db1.example\": failed to lookup address information",
            ),
            (
                SshError::Refused {
                    host: s("db1"),
                    address: s("10.0.0.5"),
                    port: 2222,
                },
                "db1: connection refused by 10.0.0.5:2222 (is sshd running and listening on that port?)",
            ),
            (
                SshError::Unreachable {
                    host: s("db1"),
                    address: s("10.0.0.5"),
                    port: 22,
                    reason: s("No route to host (os error 113)"),
                },
                "db1: 10.0.0.5:22 is unreachable: No route to host (os error 113)",
            ),
            (
                SshError::Timeout {
                    host: s("db1"),
                    phase: Phase::Connect,
                    after: Duration::from_secs(10),
                },
                "db1: timed out after 10.0s connecting (host down, network cut, or packets dropped by a firewall)",
            ),
            (
                SshError::Timeout {
                    host: s("db1"),
                    phase: Phase::Handshake,
                    after: Duration::from_millis(2500),
                },
                "db1: timed out after 2.5s waiting for the SSH handshake (TCP accepted but nothing answers: host hung or not an SSH server)",
            ),
            (
                SshError::Timeout {
                    host: s("db1"),
                    phase: Phase::Auth,
                    after: Duration::from_secs(5),
                },
                "db1: timed out after 5.0s authenticating",
            ),
            (
                SshError::Timeout {
                    host: s("db1"),
                    phase: Phase::Command,
                    after: Duration::from_secs(1),
                },
                "db1: timed out after 1.0s waiting for the command",
            ),
            (
                SshError::HostKeyUnknown {
                    host: s("db1"),
                    endpoint: s("[10.0.0.5]:2222"),
                    key_type: s("ssh-ed25519"),
                    short: s("ed25519"),
                    fingerprint: s("SHA256:abc"),
                    known_hosts: kh.clone(),
                },
                "db1: host key for [10.0.0.5]:2222 is not known: the server presented ssh-ed25519 SHA256:abc.\n  \
                 If this fingerprint is right (compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host),\n  \
                 accept it with --accept-new-host-keys, or add the host's key to /var/lib/cairn/known_hosts",
            ),
            (
                SshError::HostKeyChanged {
                    host: s("db1"),
                    endpoint: s("10.0.0.5"),
                    key_type: s("ssh-ed25519"),
                    fingerprint: s("SHA256:new"),
                    expected: s("ssh-ed25519 SHA256:old"),
                    known_hosts: kh.clone(),
                    line: 7,
                },
                "db1: HOST KEY CHANGED for 10.0.0.5! The server presented ssh-ed25519 SHA256:new, but /var/lib/cairn/known_hosts:7 records ssh-ed25519 SHA256:old.\n  \
                 Someone may be intercepting the connection (man-in-the-middle), or the host was reinstalled.\n  \
                 Refusing to connect. If the change is expected, remove the old key with `ssh-keygen -R 10.0.0.5 -f /var/lib/cairn/known_hosts` and connect again with --accept-new-host-keys",
            ),
            (
                SshError::HostKeyRevoked {
                    host: s("db1"),
                    endpoint: s("10.0.0.5"),
                    fingerprint: s("SHA256:bad"),
                    known_hosts: kh.clone(),
                    line: 3,
                },
                "db1: host key SHA256:bad for 10.0.0.5 is marked @revoked in /var/lib/cairn/known_hosts:3; refusing to connect",
            ),
            (
                SshError::KnownHosts {
                    host: s("db1"),
                    path: kh.clone(),
                    reason: s("cannot record the new key: Permission denied (os error 13)"),
                },
                "db1: known_hosts /var/lib/cairn/known_hosts: cannot record the new key: Permission denied (os error 13)",
            ),
            (
                SshError::AuthFailed {
                    host: s("db1"),
                    user: s("ops"),
                    tried: s("key /k/id_ed25519, password"),
                    accepted: s("publickey, password"),
                },
                "db1: authentication failed for user \"ops\" (tried: key /k/id_ed25519, password; server accepts: publickey, password)",
            ),
            (
                SshError::Key {
                    host: s("db1"),
                    key: s("/k/id_rsa"),
                    source: KeyError::Read(s("No such file or directory (os error 2)")),
                },
                "db1: cannot use private key /k/id_rsa: cannot read it: No such file or directory (os error 2)",
            ),
            (
                SshError::Key {
                    host: s("db1"),
                    key: crate::ssh::KeySource::Text(crate::secret::Secret::new("k")).to_string(),
                    source: KeyError::WrongPassphrase,
                },
                "db1: cannot use private key (key text held in memory): cannot decrypt it: wrong passphrase? \
                 (the passphrase given does not open this key)",
            ),
            (
                SshError::Secret {
                    host: s("db1"),
                    source: SecretError::EnvMissing(s("DB_PW")),
                },
                "db1: environment variable DB_PW is not set (it should hold the secret)",
            ),
            (
                SshError::Become {
                    host: s("db1"),
                    reason: s("incorrect sudo password"),
                },
                "db1: become (sudo) failed: incorrect sudo password",
            ),
            (
                SshError::Channel {
                    host: s("db1"),
                    reason: s("ChannelOpenFailure(AdministrativelyProhibited)"),
                },
                "db1: SSH channel failed: ChannelOpenFailure(AdministrativelyProhibited)",
            ),
            (
                SshError::Disconnected {
                    host: s("db1"),
                    reason: s("the connection closed while the command ran"),
                },
                "db1: connection lost: the connection closed while the command ran",
            ),
            (
                SshError::Io {
                    host: s("db1"),
                    context: s("upload to /etc/x failed"),
                    reason: s("cat: write error: No space left on device"),
                },
                "db1: upload to /etc/x failed: cat: write error: No space left on device",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
            assert_eq!(err.host(), "db1");
        }
    }

    #[test]
    fn unreachable_versus_failed() {
        let t = |phase| SshError::Timeout {
            host: s("h"),
            phase,
            after: Duration::from_secs(1),
        };
        assert!(t(Phase::Handshake).is_unreachable());
        assert!(
            SshError::Refused {
                host: s("h"),
                address: s("a"),
                port: 22
            }
            .is_unreachable()
        );
        assert!(
            !SshError::Become {
                host: s("h"),
                reason: s("r")
            }
            .is_unreachable()
        );
        assert!(
            !SshError::AuthFailed {
                host: s("h"),
                user: s("u"),
                tried: s("t"),
                accepted: s("a")
            }
            .is_unreachable()
        );
    }
}
