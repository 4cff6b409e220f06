//! `cairn hosts accept HOST FINGERPRINT`: trust one host's key, exactly the one whose
//! fingerprint the operator compared (pre-flight shows it as `ssh:hostkey … pending`), the
//! command-line twin of the console's Hosts → Accept.
//!
//! It connects with the strict policy first: a key already known needs nothing; an unknown
//! key that is not the given fingerprint is refused (the host presents another key than the
//! one compared); a changed or revoked key is refused (the old line must be removed by hand,
//! as the transport's message says). Only then does it connect again recording into a scratch
//! known_hosts, and append to the real one the line whose fingerprint is the given one, so a
//! key swapped between the two connections is never trusted.
//!
//! Owns the command and its messages. Must not: accept anything but the fingerprint given, or
//! replace a recorded key.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use cairn_engine::ssh::SshError;

use super::hosts::{InventoryArgs, ReachArgs};
use super::{EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Record HOST's key in known_hosts if it is exactly FINGERPRINT (compare it first with
    /// `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host).
    #[command(
        after_help = "Exit status: 0 accepted (or already known); 1 bad input; 2 not accepted \
(another key, or a changed one); 4 the host could not be reached."
    )]
    Accept(AcceptArgs),
}

#[derive(clap::Args, Debug)]
pub struct AcceptArgs {
    #[command(flatten)]
    pub source: InventoryArgs,

    #[command(flatten)]
    pub reach: ReachArgs,

    /// The host, by its inventory name.
    pub host: String,

    /// Its key's fingerprint as pre-flight and `ssh-keygen -l` show it (`SHA256:...`).
    pub fingerprint: String,
}

/// Why a key was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(
        "{fingerprint:?} is not a host key fingerprint: give it as SHA256:... (as pre-flight and `ssh-keygen -l` show it)"
    )]
    BadFingerprint { fingerprint: String },
    #[error(
        "{host} presents {key_type} {presented}, not {wanted}: not accepted. Compare again with \
         `ssh-keygen -lf /etc/ssh/ssh_host_{short}_key.pub` on {host} itself"
    )]
    OtherKey {
        host: String,
        key_type: String,
        short: String,
        presented: String,
        wanted: String,
    },
    #[error("{source}\n  not accepted: cairn hosts accept never replaces a recorded key")]
    Refused {
        #[source]
        source: SshError,
    },
    #[error("cannot read the host key of {host}: {source}")]
    Unreachable {
        host: String,
        #[source]
        source: SshError,
    },
    #[error(
        "{host} did not present {wanted} when connected again: not accepted; run pre-flight again and compare"
    )]
    Vanished { host: String, wanted: String },
    #[error("cannot use the known_hosts file {} (see the message above)", path.display())]
    KnownHosts { path: PathBuf },
    #[error("cannot record the key in {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl AcceptError {
    fn exit_code(&self) -> u8 {
        match self {
            AcceptError::BadFingerprint { .. } | AcceptError::KnownHosts { .. } => EXIT_USAGE,
            AcceptError::Unreachable { .. } => EXIT_UNREACHABLE,
            _ => EXIT_FAILED,
        }
    }
}

pub async fn run(args: Args) -> anyhow::Result<u8> {
    match args.command {
        Command::Accept(a) => accept(a).await,
    }
}

/// `--accept-new-host-keys` (shared with the other commands' flags) would trust whatever key
/// answers: the opposite of this command.
const NOT_WITH_ACCEPT_NEW: &str = "error: --accept-new-host-keys does not apply to `cairn hosts accept`, which trusts only the fingerprint given";

async fn accept(args: AcceptArgs) -> anyhow::Result<u8> {
    if args.reach.accept_new_host_keys {
        eprintln!("{NOT_WITH_ACCEPT_NEW}");
        return Ok(EXIT_USAGE);
    }
    let loaded = match args.source.load() {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let target = match args.reach.target(&loaded.inventory, &args.host) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let known_hosts = args.reach.known_hosts.clone().unwrap_or_else(|| {
        crate::state_dir::resolve(args.reach.state_dir.clone()).join("known_hosts")
    });
    match accept_key(&args.reach, &known_hosts, &target, &args.fingerprint).await {
        Ok(Accepted::Known) => {
            outln!(
                "{}: its host key is already trusted ({}): nothing to accept",
                args.host,
                known_hosts.display()
            );
            Ok(EXIT_OK)
        }
        Ok(Accepted::Recorded { key_type }) => {
            outln!(
                "{}: accepted {key_type} {} into {}",
                args.host,
                args.fingerprint,
                known_hosts.display()
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(e.exit_code())
        }
    }
}

enum Accepted {
    Known,
    Recorded { key_type: String },
}

/// Strict look first, then record exactly `wanted` (see the module docs).
async fn accept_key(
    reach: &ReachArgs,
    known_hosts: &Path,
    target: &cairn_engine::ssh::Target,
    wanted: &str,
) -> Result<Accepted, AcceptError> {
    if !wanted.starts_with("SHA256:") || wanted.len() < 20 {
        return Err(AcceptError::BadFingerprint {
            fingerprint: wanted.to_string(),
        });
    }
    let host = target.name.clone();
    let strict = ReachArgs {
        accept_new_host_keys: false,
        known_hosts: Some(known_hosts.to_path_buf()),
        ..reach.clone()
    };
    let connector = strict
        .connector(None)
        .map_err(|_| AcceptError::KnownHosts {
            path: known_hosts.to_path_buf(),
        })?;
    let key_type = match connector.connect(target).await {
        Ok(conn) => {
            conn.close().await;
            return Ok(Accepted::Known);
        }
        // The key was verified; only the login failed: it is known.
        Err(SshError::AuthFailed { .. } | SshError::Key { .. } | SshError::Secret { .. }) => {
            return Ok(Accepted::Known);
        }
        Err(SshError::HostKeyUnknown {
            key_type,
            short,
            fingerprint,
            ..
        }) => {
            if fingerprint != wanted {
                return Err(AcceptError::OtherKey {
                    host,
                    key_type,
                    short,
                    presented: fingerprint,
                    wanted: wanted.to_string(),
                });
            }
            key_type
        }
        Err(e @ (SshError::HostKeyChanged { .. } | SshError::HostKeyRevoked { .. })) => {
            return Err(AcceptError::Refused { source: e });
        }
        Err(e) => return Err(AcceptError::Unreachable { host, source: e }),
    };
    // Record through a scratch file next to the real one, then keep only the wanted line.
    let scratch = known_hosts.with_file_name(format!(
        ".{}.accept-{}",
        known_hosts
            .file_name()
            .map_or("known_hosts".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let recording = ReachArgs {
        accept_new_host_keys: true,
        known_hosts: Some(scratch.clone()),
        ..reach.clone()
    };
    if let Ok(c) = recording.connector(None) {
        // The key is recorded during the handshake; a later authentication failure does not
        // matter here.
        if let Ok(conn) = c.connect(target).await {
            conn.close().await;
        }
    }
    let text = std::fs::read_to_string(&scratch).unwrap_or_default();
    let _ = std::fs::remove_file(&scratch);
    let line = text
        .lines()
        .find(|l| crate::api::hosts::line_fingerprint(l).as_deref() == Some(wanted))
        .ok_or_else(|| AcceptError::Vanished {
            host: host.clone(),
            wanted: wanted.to_string(),
        })?;
    append_line(known_hosts, line).map_err(|source| AcceptError::Write {
        path: known_hosts.to_path_buf(),
        source,
    })?;
    Ok(Accepted::Recorded { key_type })
}

/// Append one line (O_APPEND, one write: concurrent writers' lines stay whole), creating the
/// file 0600 in a 0700 directory as the transport does.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            AcceptError::BadFingerprint {
                fingerprint: "abc".into()
            }
            .to_string(),
            "\"abc\" is not a host key fingerprint: give it as SHA256:... (as pre-flight and `ssh-keygen -l` show it)"
        );
        assert_eq!(
            AcceptError::OtherKey {
                host: "lab54".into(),
                key_type: "ssh-ed25519".into(),
                short: "ed25519".into(),
                presented: "SHA256:a".into(),
                wanted: "SHA256:b".into(),
            }
            .to_string(),
            "lab54 presents ssh-ed25519 SHA256:a, not SHA256:b: not accepted. Compare again with \
             `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on lab54 itself"
        );
        assert_eq!(
            AcceptError::Vanished {
                host: "lab54".into(),
                wanted: "SHA256:b".into()
            }
            .to_string(),
            "lab54 did not present SHA256:b when connected again: not accepted; run pre-flight again and compare"
        );
        let refused = SshError::Refused {
            host: "lab54".into(),
            address: "10.213.0.64".into(),
            port: 22,
        };
        assert_eq!(
            AcceptError::Unreachable {
                host: "lab54".into(),
                source: refused
            }
            .to_string(),
            "cannot read the host key of lab54: lab54: connection refused by 10.213.0.64:22 (is sshd running and listening on that port?)"
        );
        assert_eq!(
            AcceptError::Write {
                path: "/s/known_hosts".into(),
                source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            }
            .to_string(),
            "cannot record the key in /s/known_hosts: permission denied"
        );
        assert_eq!(
            AcceptError::KnownHosts {
                path: "/s/known_hosts".into()
            }
            .to_string(),
            "cannot use the known_hosts file /s/known_hosts (see the message above)"
        );
    }
}
