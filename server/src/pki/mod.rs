//! The cluster's PKI on the installer: a cluster CA and the certificates issued from it, kept
//! in the state dir at `pki/<cluster>/` (keys 0600, directories 0700) in the layout the
//! playbooks read:
//!
//! ```text
//! ca.crt ca.key
//! etcd/<inventory_hostname>/{server.crt,server.key,peer.crt,peer.key}
//! etcd/client.crt etcd/client.key
//! registry/<inventory_hostname>/{server.crt,server.key}   (see [`ensure_registry`])
//! ```
//!
//! Keys are ECDSA P-256 (what etcd, Go's TLS stack and OpenSSL all accept; ed25519 works in
//! Go but not in every client the platform uses). [`ensure`] is idempotent: a certificate that
//! is still valid, issued by this CA, for exactly the names wanted and matching its key is
//! kept; anything else is issued anew (so a host whose address changed gets a new
//! certificate). The CA is never replaced: a missing key, an unreadable or expired CA stops
//! with an error saying what to do, because replacing it silently would orphan every
//! certificate the hosts already trust.
//!
//! One concept per file: `ca` (create or load the CA), `profile` (what each kind of
//! certificate says: names, usages), `existing` (reading a stored certificate back and judging
//! it), `files` (writing with modes, atomically). Must not: connect to hosts or know about the
//! playbooks beyond the layout above.

pub mod ca;
pub mod existing;
pub mod files;
pub mod kube;
pub mod profile;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use ca::Ca;
pub use profile::{Member, Profile};

/// Everything that can stop [`ensure`].
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} in {dir}: {problem}; {remedy}")]
    Ca {
        what: &'static str,
        dir: PathBuf,
        problem: String,
        remedy: String,
    },
    #[error("cannot issue {what}: {source}")]
    Issue { what: String, source: rcgen::Error },
}

impl PkiError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
        move |source| PkiError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What happened to one certificate (or the CA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Created,
    Kept,
    /// Issued again; why the old one was not kept.
    Reissued(String),
}

/// One line of [`ensure`]'s report: the certificate's path under the cluster's PKI directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub path: String,
    pub action: Action,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.action {
            Action::Created => write!(f, "{}: created", self.path),
            Action::Kept => write!(f, "{}: kept", self.path),
            Action::Reissued(why) => write!(f, "{}: reissued ({why})", self.path),
        }
    }
}

/// Lifetimes.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    pub leaf_days: u32,
    pub ca_days: u32,
}

impl Validity {
    /// A certificate with less than this left is renewed: a tenth of its lifetime, at most 30
    /// days (so a one-year certificate is renewed in its last month).
    pub fn renew_before(&self) -> Duration {
        let tenth = self.leaf_days as u64 * 86_400 / 10;
        Duration::from_secs(tenth.min(30 * 86_400))
    }
}

/// `<state dir>/pki/<cluster>`.
pub fn cluster_dir(state_dir: &Path, cluster: &str) -> PathBuf {
    state_dir.join("pki").join(cluster)
}

/// Make sure the CA and every etcd certificate for `members` exist and are good, in `dir`
/// (see [`cluster_dir`]). Returns one outcome per file pair, CA first.
pub fn ensure(
    dir: &Path,
    cluster: &str,
    members: &[Member],
    validity: Validity,
) -> Result<Vec<Outcome>, PkiError> {
    files::private_dir(dir)?;
    let (ca, ca_action) = Ca::load_or_create(dir, cluster, validity.ca_days)?;
    let mut out = vec![Outcome {
        path: "ca.crt".into(),
        action: ca_action,
    }];
    let etcd = dir.join("etcd");
    files::private_dir(&etcd)?;
    for m in members {
        let host_dir = etcd.join(&m.name);
        files::private_dir(&host_dir)?;
        for (profile, stem) in [(Profile::EtcdServer, "server"), (Profile::EtcdPeer, "peer")] {
            let action = issue_if_needed(&ca, &host_dir, stem, &profile.params(Some(m)), validity)?;
            out.push(Outcome {
                path: format!("etcd/{}/{stem}.crt", m.name),
                action,
            });
        }
    }
    let action = issue_if_needed(
        &ca,
        &etcd,
        "client",
        &Profile::EtcdClient.params(None),
        validity,
    )?;
    out.push(Outcome {
        path: "etcd/client.crt".into(),
        action,
    });
    Ok(out)
}

/// Make sure every host of the `registry` group has its HTTPS certificate,
/// `registry/<host>/server.{crt,key}` in `dir`, issued by the cluster CA (which must exist or
/// is created, as in [`ensure`]): names are the host's inventory name, its address,
/// `localhost` and `127.0.0.1` (the role's own health check runs on the host).
pub fn ensure_registry(
    dir: &Path,
    cluster: &str,
    hosts: &[Member],
    validity: Validity,
) -> Result<Vec<Outcome>, PkiError> {
    files::private_dir(dir)?;
    let (ca, _) = Ca::load_or_create(dir, cluster, validity.ca_days)?;
    let registry = dir.join("registry");
    files::private_dir(&registry)?;
    let mut out = Vec::new();
    for m in hosts {
        let host_dir = registry.join(&m.name);
        files::private_dir(&host_dir)?;
        let wanted = Profile::RegistryServer.params(Some(m));
        let action = issue_if_needed(&ca, &host_dir, "server", &wanted, validity)?;
        out.push(Outcome {
            path: format!("registry/{}/server.crt", m.name),
            action,
        });
    }
    Ok(out)
}

/// Keep `<dir>/<stem>.crt` if it still fits `wanted`, else issue a new key and certificate.
pub(crate) fn issue_if_needed(
    ca: &Ca,
    dir: &Path,
    stem: &str,
    wanted: &profile::Wanted,
    validity: Validity,
) -> Result<Action, PkiError> {
    let crt = dir.join(format!("{stem}.crt"));
    let key = dir.join(format!("{stem}.key"));
    let action = match existing::judge(&crt, &key, ca, wanted, validity.renew_before()) {
        existing::Verdict::Keep => return Ok(Action::Kept),
        existing::Verdict::Missing => Action::Created,
        existing::Verdict::Replace(why) => Action::Reissued(why),
    };
    let (cert_pem, key_pem) =
        ca.issue(wanted, validity.leaf_days)
            .map_err(|source| PkiError::Issue {
                what: crt.display().to_string(),
                source,
            })?;
    // The key first: a crash in between leaves a key without its certificate, which the next
    // run replaces; never a certificate paired with the wrong key.
    files::write_private(&key, key_pem.as_bytes())?;
    files::write_public(&crt, cert_pem.as_bytes())?;
    Ok(action)
}

#[cfg(test)]
mod tests;
