//! The console wizard's state, kept server-side so a reload (or a server restart) loses
//! nothing but secrets: cluster settings, hosts (address, user, key path, host key trust),
//! roles, the last pre-flight and install runs. Saved as one JSON value in the store after each
//! change.
//!
//! Secrets (SSH passwords, pasted private keys, key passphrases, sudo passwords) are held ONLY
//! in this process's memory, as `Secret`s (which never print), keyed by host id: they are never
//! written to the store or a file, never returned, never logged; a restart forgets them (hosts
//! then show `secret_missing`). A pasted key reaches the engine as key text in memory
//! (`ssh::KeySource::Text`), never as a file; only its public key's fingerprint is saved.
//!
//! Must not: serialize a secret (the saved struct has no field for one).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use cairn_engine::secret::Secret;
use cairn_protocol::api::{ClusterSettings, HostView, WizardState};
use serde::{Deserialize, Serialize};

use super::Api;
use super::error::{Error, Result};
use crate::store::{Store, StoreError};

const KEY: &str = "state";

/// A host as saved (no secret).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedHost {
    pub id: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    /// `key_path`, `key` (pasted), `password`, `agent`, or `password_env`/`password_file`
    /// (imported references).
    pub auth_kind: String,
    #[serde(default)]
    pub key_path: Option<String>,
    /// For a pasted key: `SHA256:...` of its public half (not a secret: what `ssh-keygen -l`
    /// shows of the `.pub` file), so the console can say which key to paste again.
    #[serde(default)]
    pub key_fingerprint: Option<String>,
    /// For imported `*_env`/`*_file` references: the variable name or file path (not a secret).
    #[serde(default)]
    pub secret_ref: Option<String>,
    /// A secret was entered for this host (password, key, passphrase): it lives in memory only.
    #[serde(default)]
    pub secret_given: bool,
    #[serde(default)]
    pub become_password_given: bool,
    #[serde(default)]
    pub r#become: bool,
    #[serde(default)]
    pub trust: String,
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub key_type: Option<String>,
    #[serde(default)]
    pub scan_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub cluster: ClusterSettings,
    pub hosts: Vec<SavedHost>,
    pub roles: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub preflight_ignore: Vec<String>,
    #[serde(default)]
    pub preflight_run: Option<i64>,
    #[serde(default)]
    pub install_run: Option<i64>,
    /// Top-level cluster.yaml sections the wizard does not edit (`network`, `versions`, `pki`,
    /// `vars`, `preflight` thresholds), kept from an import and written back out.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for Saved {
    fn default() -> Saved {
        Saved {
            cluster: ClusterSettings {
                name: "cluster".into(),
                installer_address: String::new(),
                installer_port: 8080,
                ntp_port: 123,
            },
            hosts: Vec::new(),
            roles: BTreeMap::new(),
            preflight_ignore: Vec::new(),
            preflight_run: None,
            install_run: None,
            extra: serde_json::Map::new(),
        }
    }
}

/// One host's secrets, in memory only (`Secret` prints as `<redacted>`).
#[derive(Clone, Default, Debug)]
pub struct HostSecrets {
    pub password: Option<Secret>,
    /// A pasted private key's text.
    pub private_key: Option<Secret>,
    pub passphrase: Option<Secret>,
    pub become_password: Option<Secret>,
}

pub struct Wizard {
    saved: Mutex<Saved>,
    secrets: Mutex<HashMap<String, HostSecrets>>,
}

impl Wizard {
    pub fn load(store: &Store) -> std::result::Result<Wizard, StoreError> {
        let saved = match store.wizard_get(KEY)? {
            Some(json) => serde_json::from_str(&json).unwrap_or_else(|e| {
                tracing::warn!("api: the saved wizard state is unreadable ({e}); starting afresh");
                Saved::default()
            }),
            None => Saved::default(),
        };
        Ok(Wizard {
            saved: Mutex::new(saved),
            secrets: Mutex::new(HashMap::new()),
        })
    }

    pub fn snapshot(&self) -> Saved {
        self.saved.lock().expect("wizard lock").clone()
    }

    /// Change the saved state and write it to the store (under the lock, so writes keep order).
    pub fn update<T>(&self, api: &Api, f: impl FnOnce(&mut Saved) -> Result<T>) -> Result<T> {
        let mut saved = self.saved.lock().expect("wizard lock");
        let mut next = saved.clone();
        let out = f(&mut next)?;
        let json = serde_json::to_string(&next).map_err(|e| Error::internal("saving", e))?;
        api.store()?.wizard_put(KEY, &json)?;
        *saved = next;
        Ok(out)
    }

    pub fn secrets(&self, host: &str) -> HostSecrets {
        self.secrets
            .lock()
            .expect("secrets lock")
            .get(host)
            .cloned()
            .unwrap_or_default()
    }

    pub fn all_secrets(&self) -> HashMap<String, HostSecrets> {
        self.secrets.lock().expect("secrets lock").clone()
    }

    pub fn set_secrets(&self, host: &str, s: HostSecrets) {
        self.secrets
            .lock()
            .expect("secrets lock")
            .insert(host.to_string(), s);
    }

    pub fn forget_secrets(&self, host: &str) {
        self.secrets.lock().expect("secrets lock").remove(host);
    }

    /// A host as the API shows it.
    pub fn view(&self, h: &SavedHost) -> HostView {
        let held = self.secrets(&h.id);
        let secret_held =
            held.password.is_some() || held.private_key.is_some() || held.passphrase.is_some();
        let secret_missing = (h.auth_kind == "password" && held.password.is_none())
            || (h.auth_kind == "key" && held.private_key.is_none())
            || (h.secret_given && !secret_held)
            || (h.become_password_given && held.become_password.is_none());
        HostView {
            id: h.id.clone(),
            address: h.address.clone(),
            port: h.port,
            user: h.user.clone(),
            auth_kind: h.auth_kind.clone(),
            key_path: h.key_path.clone(),
            key_fingerprint: h.key_fingerprint.clone(),
            secret_held,
            secret_missing,
            r#become: h.r#become,
            trust: if h.trust.is_empty() {
                "unknown".into()
            } else {
                h.trust.clone()
            },
            fingerprint: h.fingerprint.clone(),
            key_type: h.key_type.clone(),
            scan_error: h.scan_error.clone(),
        }
    }

    pub fn state(&self) -> WizardState {
        let s = self.snapshot();
        WizardState {
            hosts: s.hosts.iter().map(|h| self.view(h)).collect(),
            roles: super::roles::view(&s),
            cluster: s.cluster,
            preflight_run: s.preflight_run,
            install_run: s.install_run,
        }
    }
}

pub async fn get(State(api): State<Arc<Api>>) -> Json<WizardState> {
    Json(api.wizard.state())
}

pub async fn get_cluster(State(api): State<Arc<Api>>) -> Json<ClusterSettings> {
    Json(api.wizard.snapshot().cluster)
}

pub async fn put_cluster(
    State(api): State<Arc<Api>>,
    Json(c): Json<ClusterSettings>,
) -> Result<Json<ClusterSettings>> {
    if !valid_label(&c.name) {
        return Err(Error::invalid(format!(
            "cluster name {:?} must be 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
            c.name
        )));
    }
    if !c.installer_address.is_empty() && c.installer_address.parse::<std::net::IpAddr>().is_err() {
        return Err(Error::invalid(format!(
            "installer address {:?} must be an IP address (this machine, as the hosts reach it)",
            c.installer_address
        )));
    }
    api.wizard.update(&api, |s| {
        s.cluster = c.clone();
        Ok(())
    })?;
    Ok(Json(c))
}

/// An RFC 1123 label (cluster and host names).
pub fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_saved_state_has_no_secret_field() {
        let mut s = Saved::default();
        s.hosts.push(SavedHost {
            id: "h".into(),
            auth_kind: "password".into(),
            secret_given: true,
            ..Default::default()
        });
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("password\":\""), "{json}");
        assert!(valid_label("lab-1") && !valid_label("Lab") && !valid_label("-a"));
    }
}
