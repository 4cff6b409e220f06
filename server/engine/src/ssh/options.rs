//! Transport settings: timeouts, keepalive, channel limits and the host key policy.

use std::time::Duration;

/// What to do with a host key that the known_hosts store does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse, showing the fingerprint and how to accept it (the default).
    #[default]
    Strict,
    /// Trust on first use: record the key and connect. A *changed* key is still refused.
    AcceptNew,
}

#[derive(Clone, Debug)]
pub struct SshOptions {
    /// Limit for each of: TCP connect, SSH handshake, authentication.
    pub connect_timeout: Duration,
    /// Default limit for one command; None: no limit (keepalive still detects dead hosts).
    pub command_timeout: Option<Duration>,
    /// Send a keepalive after this long without traffic from the server ...
    pub keepalive_interval: Duration,
    /// ... and drop the connection after this many unanswered ones.
    pub keepalive_max: usize,
    /// Channels open at once on one connection. OpenSSH's sshd allows 10 (`MaxSessions`);
    /// more are queued, not refused.
    pub max_channels: usize,
    pub host_keys: HostKeyPolicy,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            connect_timeout: Duration::from_secs(10),
            command_timeout: None,
            keepalive_interval: Duration::from_secs(10),
            keepalive_max: 3,
            max_channels: 10,
            host_keys: HostKeyPolicy::Strict,
        }
    }
}
