//! A host that pre-flight could not reach, as checks: the host key (`ssh:hostkey`) or the
//! connection (`ssh`).
//!
//! A host key the state dir's known_hosts does not hold is not a failure of the host: it waits
//! for the operator (`pending`), shown with its type and `SHA256:` fingerprint and exactly how
//! to accept it once compared. A key that differs from the recorded one (or is revoked) stays a
//! hard failure of `ssh` with the transport's message naming both fingerprints. Anything else (refused, timeout, authentication) is
//! a failed `ssh` check with the transport's message.
//!
//! Owns those checks' values and remedies. Must not: connect, accept or record a key (that is
//! `cairn hosts accept`, the console's Hosts step, or `--accept-new-host-keys`).

use super::report::{Check, Status};
use crate::ssh::SshError;

/// The check id of the host key verdict.
pub const ID: &str = "ssh:hostkey";

/// The check for a host whose connection failed with `e`; `source` is how the command named
/// its inventory (`--config cluster.yaml`), for the accept command in the remedy.
pub fn unreached(host: &str, e: &SshError, source: &str) -> Check {
    match e {
        SshError::HostKeyUnknown {
            key_type,
            short,
            fingerprint,
            known_hosts,
            ..
        } => Check::new(
            host,
            ID,
            Status::Pending,
            format!(
                "{key_type} {fingerprint}: not in {}, not accepted yet",
                known_hosts.display()
            ),
        )
        .threshold("a host key accepted by the operator")
        .remedy(format!(
            "compare {fingerprint} with `ssh-keygen -lf /etc/ssh/ssh_host_{short}_key.pub` run on {host} itself, \
             then accept exactly that key: `cairn hosts accept {source} {host} {fingerprint}` \
             (or in the console: Hosts → Accept); pre-flight checks {host} after that"
        )),
        // Refused as before (`ssh` failed, the transport's message naming both fingerprints,
        // so `--ignore-preflight ssh` still leaves that one host out of an install), with a
        // remedy that says what to find out and how to accept a new key once it is right.
        SshError::HostKeyChanged {
            endpoint,
            fingerprint,
            known_hosts,
            ..
        } => Check::new(host, "ssh", Status::Fail, e.to_string())
            .threshold("the key recorded in known_hosts")
            .remedy(format!(
                "someone may be intercepting the connection, or {host} was reinstalled: find out which on the host itself; \
                 only if the new key is right, remove the old one with `ssh-keygen -R {endpoint} -f {}` \
                 and accept the new one with `cairn hosts accept {source} {host} {fingerprint}`",
                known_hosts.display()
            )),
        SshError::HostKeyRevoked { .. } => Check::new(host, "ssh", Status::Fail, e.to_string())
            .threshold("a key not revoked")
            .remedy("a revoked key is never used: give the host a new host key and accept that one"),
        other => ssh_failed(host, &other.to_string()),
    }
}

/// The failed `ssh` check for a host that could not be reached (`why` is the transport's or
/// the inventory's message).
pub fn ssh_failed(host: &str, why: &str) -> Check {
    Check::new(host, "ssh", Status::Fail, why.to_string()).remedy(
        "fix the address, user, key or host key (see the message), then run pre-flight again",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn an_unknown_key_is_pending_with_its_fingerprint_and_the_accept_command() {
        let e = SshError::HostKeyUnknown {
            host: "lab54".into(),
            endpoint: "10.213.0.64".into(),
            key_type: "ssh-ed25519".into(),
            short: "ed25519".into(),
            fingerprint: "SHA256:abc".into(),
            known_hosts: PathBuf::from("/var/lib/cairn/known_hosts"),
        };
        let c = unreached("lab54", &e, "--config cluster.yaml");
        assert_eq!(c.id, "ssh:hostkey");
        assert_eq!(c.status, Status::Pending);
        assert_eq!(
            c.value,
            "ssh-ed25519 SHA256:abc: not in /var/lib/cairn/known_hosts, not accepted yet"
        );
        assert_eq!(
            c.remedy.as_deref(),
            Some(
                "compare SHA256:abc with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on lab54 itself, \
                 then accept exactly that key: `cairn hosts accept --config cluster.yaml lab54 SHA256:abc` \
                 (or in the console: Hosts → Accept); pre-flight checks lab54 after that"
            )
        );
    }

    #[test]
    fn a_changed_key_fails_naming_both_fingerprints() {
        let e = SshError::HostKeyChanged {
            host: "lab54".into(),
            endpoint: "10.213.0.64".into(),
            key_type: "ssh-ed25519".into(),
            fingerprint: "SHA256:new".into(),
            expected: "ssh-ed25519 SHA256:old".into(),
            known_hosts: PathBuf::from("/s/known_hosts"),
            line: 3,
        };
        let c = unreached("lab54", &e, "-i hosts.ini");
        assert_eq!(c.id, "ssh");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.value, e.to_string());
        assert!(
            c.value.starts_with(
                "lab54: HOST KEY CHANGED for 10.213.0.64! The server presented ssh-ed25519 SHA256:new, \
                 but /s/known_hosts:3 records ssh-ed25519 SHA256:old."
            ),
            "{}",
            c.value
        );
        assert_eq!(
            c.remedy.as_deref(),
            Some(
                "someone may be intercepting the connection, or lab54 was reinstalled: find out which on the host itself; \
                 only if the new key is right, remove the old one with `ssh-keygen -R 10.213.0.64 -f /s/known_hosts` \
                 and accept the new one with `cairn hosts accept -i hosts.ini lab54 SHA256:new`"
            )
        );
    }

    #[test]
    fn other_errors_are_a_failed_ssh_check() {
        let e = SshError::Refused {
            host: "lab54".into(),
            address: "10.213.0.64".into(),
            port: 22,
        };
        let c = unreached("lab54", &e, "--config c.yaml");
        assert_eq!((c.id.as_str(), &c.status), ("ssh", &Status::Fail));
        assert_eq!(c.value, e.to_string());
    }
}
