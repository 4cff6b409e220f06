//! The `/api` contract: every request and response body of `cairn serve`'s JSON API, shared by
//! the server (which serializes them) and the console (which compiles this crate to wasm).
//!
//! Owns field names and meanings of the API's JSON. Must not: depend on anything but serde (the
//! console builds it for wasm), or have a field that carries a secret OUT of the server: secrets
//! appear only in request types (`AuthInput`, `LoginRequest`), never in a response type.
//! The route list is `docs/api.md`; the event stream's messages are [`crate::Envelope`]s.
//!
//! Conventions: times are Unix milliseconds (`*_ms`); ids are strings for hosts (the inventory
//! name) and integers for runs (the store's id); every error is an [`ApiError`] body with a
//! non-2xx status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PreflightCheck;

/// The header every non-GET request must carry (value `1`): a cross-site form cannot set it,
/// so with `SameSite=Strict` cookies and the `Origin` check it stops CSRF.
pub const CSRF_HEADER: &str = "x-cairn-csrf";

/// The session cookie's name (HttpOnly, SameSite=Strict, Path=/; Secure under TLS).
pub const SESSION_COOKIE: &str = "cairn_session";

/// Any error: `401` not logged in / bad token, `403` CSRF header or Origin refused, `404` no
/// such run/host, `409` conflict (an install already runs, host key changed), `422` invalid
/// input (with `details`, e.g. a cluster.yaml diagnostic or role problems).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable machine-readable code: `unauthorized`, `csrf`, `not_found`, `conflict`,
    /// `invalid`, `internal`.
    pub code: String,
    /// One sentence for a human, saying what to do.
    pub error: String,
    /// More lines (a rendered diagnostic with file:line:column, one line per problem).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// `POST /api/login`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub token: String,
}

/// `POST /api/login` (200) and `GET /api/session`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// When the session ends unless renewed by logging in again.
    pub expires_ms: i64,
}

/// A run as listed (`GET /api/runs`, newest first).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: i64,
    /// `play`, `install` or `preflight`.
    pub kind: String,
    /// The playbook(s) or config as given.
    pub title: String,
    pub started_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<i64>,
    /// `running`, `ok`, `failed`, `unreachable`, `error` or `interrupted`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Events journaled so far (the last `seq`).
    pub events: i64,
}

/// `GET /api/runs/{id}`: the full record of one run.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run: RunSummary,
    /// Hosts in first-seen order (the matrix's columns).
    pub hosts: Vec<String>,
    /// Tasks in first-seen order (the matrix's rows).
    pub tasks: Vec<TaskRow>,
    /// Each task's end on each host (also one per loop item), in event order.
    pub results: Vec<ResultCell>,
    /// Pre-flight runs: every check on every host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<PreflightCheck>,
    /// Pre-flight runs with `--fix`: what was done per host and check, before `checks` (the
    /// state after it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<crate::PreflightFix>,
    /// Per-host counters from the run's recap, when it finished.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recap: BTreeMap<String, crate::Stats>,
}

/// One task of a run (a row of the host × task matrix).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play: Option<String>,
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<i64>,
}

/// One task's end on one host (the full output is in the event with this `seq`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultCell {
    pub seq: i64,
    /// Index into [`RunRecord::tasks`].
    pub task_index: usize,
    pub host: String,
    /// `ok`, `changed`, `failed`, `skipped`, `unreachable`.
    pub outcome: String,
    pub ignored: bool,
    pub duration_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
}

/// `POST` that starts a run (`/api/preflight`, `/api/install`, `/api/runs/{id}/resume`,
/// `/api/runs/{id}/retry-failed`): 202 with the new run's id; follow it with
/// `GET /api/runs/{run}/events`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStarted {
    pub run: i64,
}

/// `GET /api/bundle`: the bundle `cairn serve` serves (verified before it listens).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleInfo {
    pub name: String,
    pub version: String,
    /// The file as given to `--bundle`.
    pub file: String,
    /// Always true when served: `cairn serve` refuses an unverified bundle.
    pub verified: bool,
    /// Verified against `--key` (a signature checked), not only the manifest's digests.
    pub signed: bool,
    pub size_bytes: u64,
    pub contents: BundleContents,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleContents {
    /// `.deb` packages (name, version).
    pub debs: Vec<Package>,
    /// RPM packages.
    pub rpms: Vec<Package>,
    /// Images as `repository:tag`.
    pub images: Vec<String>,
    /// Paths under `files/`.
    pub files: Vec<String>,
    /// Whether the bundle carries its own `playbooks/`.
    pub playbooks: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
}

/// `GET /api/wizard`: everything the wizard has been told, so a reload loses nothing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WizardState {
    pub cluster: ClusterSettings,
    pub hosts: Vec<HostView>,
    pub roles: RolesView,
    /// The last pre-flight and install runs started from the console (or imported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight_run: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_run: Option<i64>,
}

/// `GET`/`PUT /api/cluster`: the cluster's name and how hosts reach this machine (cluster.yaml's
/// `name` and `installer:`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    pub name: String,
    /// The installer's address as the hosts reach it.
    pub installer_address: String,
    /// HTTP port the install serves the bundle on (cluster.yaml `installer.port`).
    pub installer_port: u16,
    /// SNTP port (cluster.yaml `installer.ntp_port`).
    pub ntp_port: u16,
}

/// `POST /api/hosts`: add one host or a range (`10.0.0.[11:20]`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddHostsRequest {
    /// An address, a name, or a range `10.0.0.[11:20]` (Ansible's inventory range syntax).
    pub address: String,
    /// Inventory names; same range syntax, as many as addresses. Default: `node-` + the
    /// address with `.`/`:` as `-` (`node-10-0-0-11`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    pub auth: AuthInput,
    /// Run tasks through sudo.
    #[serde(default)]
    pub r#become: bool,
    /// sudo's password (secret: kept in the server's memory only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub become_password: Option<String>,
}

fn default_port() -> u16 {
    22
}

/// How to authenticate. The secret-bearing variants (`key`, `password`, a `passphrase`) are
/// kept in the server process's memory only, never written to the store or a file, never
/// returned, never logged; a restart of `cairn serve` forgets them (the host then shows
/// `secret_missing`). A key path is not a secret: it is stored and returned.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuthInput {
    /// A private key file on the installer machine.
    KeyPath {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passphrase: Option<String>,
    },
    /// A private key pasted in (OpenSSH or PEM text), checked when added (422 if it is not a
    /// private key, is encrypted without a passphrase, or the passphrase is wrong).
    Key {
        private_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passphrase: Option<String>,
    },
    Password {
        password: String,
    },
    /// The keys of the ssh-agent the server process sees.
    Agent,
}

impl std::fmt::Debug for AuthInput {
    // Never prints a secret, even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthInput::KeyPath { path, .. } => write!(f, "KeyPath({path:?}, <redacted>)"),
            AuthInput::Key { .. } => f.write_str("Key(<redacted>)"),
            AuthInput::Password { .. } => f.write_str("Password(<redacted>)"),
            AuthInput::Agent => f.write_str("Agent"),
        }
    }
}

/// A host as the API shows it: no secret, only whether one is held.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostView {
    /// The inventory name (also the id in `/api/hosts/{id}`).
    pub id: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// `key_path`, `key`, `password` or `agent`.
    pub auth_kind: String,
    /// For `key_path` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    /// For `key` (pasted) only: `SHA256:...` of the key's public half, as `ssh-keygen -l`
    /// prints it for the `.pub` file. Never the key itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
    /// A secret was given and is held in memory (false after a server restart: enter it again).
    pub secret_held: bool,
    /// The secret this auth kind needs is missing (given before a restart).
    pub secret_missing: bool,
    pub r#become: bool,
    /// Host key trust: `unknown` (never scanned), `scanned` (fingerprint seen, not accepted),
    /// `trusted` (in known_hosts), `changed` (known_hosts has a DIFFERENT key: refused).
    pub trust: String,
    /// `SHA256:...` of the key last scanned or trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// Last scan's error (connection refused, timeout...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_error: Option<String>,
}

/// `POST /api/hosts/{id}/scan`: connects (TCP + SSH key exchange only), trusts nothing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanResult {
    pub host: HostView,
}

/// `POST /api/hosts/{id}/accept`: the fingerprint the operator saw; accepted only if the host
/// still presents exactly that key (else 409), then written to known_hosts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptRequest {
    pub fingerprint: String,
}

/// `PUT /api/roles`: role → host ids. Roles: `etcd`, `kube_master`, `kube_node`, `registry`,
/// `ci`, `monitoring`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolesRequest {
    pub roles: BTreeMap<String, Vec<String>>,
}

/// `GET`/`PUT /api/roles`: the assignment and what is wrong with it (saved even when invalid,
/// so the wizard can show problems live; pre-flight and install refuse an invalid one).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolesView {
    pub roles: BTreeMap<String, Vec<String>>,
    pub problems: Vec<RoleProblem>,
    pub valid: bool,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleProblem {
    /// The role concerned (empty for the whole assignment).
    pub role: String,
    /// `error` (blocks install) or `warning`.
    pub severity: String,
    pub message: String,
}

/// `POST /api/config`: import a cluster.yaml (replaces hosts, roles and cluster settings).
/// Secrets in it are references (`password_env`, `key`, ...), resolved by the server as the CLI
/// would.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigImport {
    pub yaml: String,
}

/// `POST /api/preflight` body (optional).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightRequest {
    /// Check ids to report as ignored (`memory`, `port:2379`), kept in the config's
    /// `preflight.ignore` so they stay visible.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Apply the safe remedies first, then check again (`cairn preflight --fix`).
    #[serde(default)]
    pub fix: bool,
    /// With `fix`: only these checks' remedies (`--fix-only`); empty: every safe one.
    #[serde(default)]
    pub fix_only: Vec<String>,
}

/// `POST /api/install` body (optional).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRequest {
    /// Go on although pre-flight fails (shown as ignored in the run).
    #[serde(default)]
    pub ignore_preflight: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_input_debug_never_shows_a_secret() {
        for a in [
            AuthInput::Password {
                password: "hunter2".into(),
            },
            AuthInput::Key {
                private_key: "hunter2".into(),
                passphrase: Some("hunter2".into()),
            },
            AuthInput::KeyPath {
                path: "/k".into(),
                passphrase: Some("hunter2".into()),
            },
        ] {
            assert!(!format!("{a:?}").contains("hunter2"), "{a:?}");
        }
    }

    #[test]
    fn auth_input_is_tagged_by_kind() {
        let a: AuthInput = serde_json::from_str(r#"{"kind":"password","password":"x"}"#).unwrap();
        assert_eq!(
            a,
            AuthInput::Password {
                password: "x".into()
            }
        );
        let a: AuthInput = serde_json::from_str(r#"{"kind":"agent"}"#).unwrap();
        assert_eq!(a, AuthInput::Agent);
    }
}
