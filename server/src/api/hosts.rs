//! `/api/hosts`: adding hosts (one address or a range `10.0.0.[11:20]`), listing them (never a
//! secret), forgetting one, scanning its host key and accepting it.
//!
//! Host keys, TOFU made explicit: `scan` connects with the STRICT policy against the state
//! dir's known_hosts, so nothing is trusted: an unknown key comes back as its fingerprint
//! (`scanned`), a known one as `trusted`, a different one as `changed`. `accept` takes the
//! fingerprint the operator saw, connects again recording the key in a scratch known_hosts
//! file, and appends it to the real known_hosts only if it is exactly that fingerprint (else
//! 409: the host presented another key since). A `changed` key is never accepted here: the old
//! line must be removed by hand (`ssh-keygen -R`), as the CLI says.
//!
//! A pasted private key is decoded when added (422 with the engine's `KeyError` message if it
//! is not a private key, needs a passphrase, or the passphrase is wrong); only its public key's
//! fingerprint is kept in the saved state and shown.
//!
//! Must not: return, log or store a secret (they go to [`super::wizard::Wizard`]'s memory).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use base64::Engine as _;
use cairn_engine::secret::{Secret, SecretSource};
use cairn_engine::ssh::{Connector, HostKeyPolicy, Identity, SshError, SshOptions, Target, key};
use cairn_protocol::api::{AcceptRequest, AddHostsRequest, AuthInput, HostView, ScanResult};
use sha2::{Digest, Sha256};

use super::Api;
use super::error::{Error, Result};
use super::wizard::{HostSecrets, SavedHost, valid_label};

/// Connect, handshake and authentication timeouts of a scan.
const SCAN_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn list(State(api): State<Arc<Api>>) -> Json<Vec<HostView>> {
    Json(api.wizard.state().hosts)
}

/// Names and addresses of a request, expanded and paired.
pub fn expand(req_address: &str, req_name: Option<&str>) -> Result<Vec<(String, String)>> {
    let addresses = cairn_engine::inventory::expand_range(req_address.trim())
        .map_err(|e| Error::invalid(format!("address {req_address:?}: {e}")))?;
    let names = match req_name.filter(|n| !n.trim().is_empty()) {
        Some(n) => cairn_engine::inventory::expand_range(n.trim())
            .map_err(|e| Error::invalid(format!("name {n:?}: {e}")))?,
        None => addresses
            .iter()
            .map(|a| format!("node-{}", a.replace(['.', ':'], "-").to_ascii_lowercase()))
            .collect(),
    };
    if names.len() != addresses.len() {
        return Err(Error::invalid(format!(
            "{} names for {} addresses: give a name range of the same length",
            names.len(),
            addresses.len()
        )));
    }
    if addresses.len() > 1000 {
        return Err(Error::invalid("more than 1000 hosts in one request"));
    }
    for n in &names {
        if !valid_label(n) {
            return Err(Error::invalid(format!(
                "host name {n:?} must be lowercase letters, digits and '-' (it becomes the node name)"
            )));
        }
    }
    Ok(names.into_iter().zip(addresses).collect())
}

pub async fn add(
    State(api): State<Arc<Api>>,
    Json(req): Json<AddHostsRequest>,
) -> Result<(StatusCode, Json<Vec<HostView>>)> {
    let pairs = expand(&req.address, req.name.as_deref())?;
    if req.user.trim().is_empty() {
        return Err(Error::invalid("user is required (the SSH login user)"));
    }
    let mut fingerprint = None;
    let (auth_kind, key_path, secrets) = match &req.auth {
        AuthInput::KeyPath { path, passphrase } => {
            if !Path::new(path).is_absolute() {
                return Err(Error::invalid(format!(
                    "key path {path:?} must be absolute (a file on this machine)"
                )));
            }
            let s = HostSecrets {
                passphrase: passphrase
                    .clone()
                    .filter(|p| !p.is_empty())
                    .map(Secret::new),
                ..Default::default()
            };
            ("key_path", Some(path.clone()), s)
        }
        AuthInput::Key {
            private_key,
            passphrase,
        } => {
            let s = HostSecrets {
                private_key: Some(Secret::new(private_key.clone())),
                passphrase: passphrase
                    .clone()
                    .filter(|p| !p.is_empty())
                    .map(Secret::new),
                ..Default::default()
            };
            // Checked now, so a wrong paste is refused at once (the message never quotes it).
            let key = key::decode(private_key, s.passphrase.as_ref())
                .map_err(|e| Error::invalid(format!("the private key: {e}")))?;
            fingerprint = Some(key::public_fingerprint(&key));
            ("key", None, s)
        }
        AuthInput::Password { password } => {
            if password.is_empty() {
                return Err(Error::invalid("the password is empty"));
            }
            let s = HostSecrets {
                password: Some(Secret::new(password.clone())),
                ..Default::default()
            };
            ("password", None, s)
        }
        AuthInput::Agent => ("agent", None, HostSecrets::default()),
    };
    let become_password = req
        .become_password
        .clone()
        .filter(|p| !p.is_empty())
        .map(Secret::new);
    let added: Vec<SavedHost> = api.wizard.update(&api, |s| {
        let mut added = Vec::new();
        for (name, address) in &pairs {
            if s.hosts.iter().any(|h| &h.id == name) {
                return Err(Error::conflict(format!("host {name:?} exists already")));
            }
            let h = SavedHost {
                id: name.clone(),
                address: address.clone(),
                port: req.port,
                user: req.user.trim().to_string(),
                auth_kind: auth_kind.into(),
                key_path: key_path.clone(),
                key_fingerprint: fingerprint.clone(),
                secret_ref: None,
                secret_given: secrets.password.is_some()
                    || secrets.private_key.is_some()
                    || secrets.passphrase.is_some(),
                become_password_given: become_password.is_some(),
                r#become: req.r#become,
                trust: "unknown".into(),
                ..Default::default()
            };
            s.hosts.push(h.clone());
            added.push(h);
        }
        Ok(added)
    })?;
    for h in &added {
        let mut s = secrets.clone();
        s.become_password = become_password.clone();
        api.wizard.set_secrets(&h.id, s);
    }
    tracing::info!("api: added {} host(s) ({auth_kind})", added.len());
    Ok((
        StatusCode::CREATED,
        Json(added.iter().map(|h| api.wizard.view(h)).collect()),
    ))
}

pub async fn remove(
    State(api): State<Arc<Api>>,
    UrlPath(id): UrlPath<String>,
) -> Result<StatusCode> {
    api.wizard.update(&api, |s| {
        let before = s.hosts.len();
        s.hosts.retain(|h| h.id != id);
        if s.hosts.len() == before {
            return Err(Error::not_found(format!("no host {id:?}")));
        }
        for members in s.roles.values_mut() {
            members.retain(|m| m != &id);
        }
        Ok(())
    })?;
    api.wizard.forget_secrets(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// The transport's target for a saved host with its in-memory secrets.
pub fn target(h: &SavedHost, s: &HostSecrets) -> Target {
    let mut t = Target::new(&h.id, &h.address, &h.user);
    t.port = h.port;
    let inline = |x: &Option<Secret>| x.clone().map(SecretSource::Inline);
    match h.auth_kind.as_str() {
        "key_path" => {
            t.identities = h
                .key_path
                .iter()
                .map(|p| Identity::file(p, inline(&s.passphrase)))
                .collect();
            t.use_agent = false;
        }
        "key" => {
            // Without the key (forgotten at a restart) nothing is offered: launches refuse the
            // host until its key is pasted again.
            t.identities = s
                .private_key
                .iter()
                .map(|k| Identity::text(k.clone(), inline(&s.passphrase)))
                .collect();
            t.use_agent = false;
        }
        "password" => {
            t.password = inline(&s.password);
            t.use_agent = false;
        }
        "password_env" => t.password = h.secret_ref.clone().map(SecretSource::Env),
        "password_file" => t.password = h.secret_ref.clone().map(|p| SecretSource::File(p.into())),
        _ => {}
    }
    t.become_password = inline(&s.become_password);
    t
}

fn connector(known_hosts: &Path, policy: HostKeyPolicy) -> Result<Connector> {
    let options = SshOptions {
        connect_timeout: SCAN_TIMEOUT,
        host_keys: policy,
        ..SshOptions::default()
    };
    Connector::new(options, known_hosts).map_err(|e| Error::internal("reading known_hosts", e))
}

fn saved_host(api: &Api, id: &str) -> Result<SavedHost> {
    api.wizard
        .snapshot()
        .hosts
        .into_iter()
        .find(|h| h.id == id)
        .ok_or_else(|| Error::not_found(format!("no host {id:?}")))
}

/// What a strict connection says about the host's key.
struct Scanned {
    trust: &'static str,
    fingerprint: Option<String>,
    key_type: Option<String>,
    error: Option<String>,
}

async fn strict_scan(api: &Api, h: &SavedHost) -> Result<Scanned> {
    let c = connector(&api.state_dir.join("known_hosts"), HostKeyPolicy::Strict)?;
    let t = target(h, &api.wizard.secrets(&h.id));
    Ok(match c.connect(&t).await {
        Ok(_) => Scanned {
            trust: "trusted",
            fingerprint: None,
            key_type: None,
            error: None,
        },
        Err(SshError::HostKeyUnknown {
            fingerprint,
            key_type,
            ..
        }) => Scanned {
            trust: "scanned",
            fingerprint: Some(fingerprint),
            key_type: Some(key_type),
            error: None,
        },
        Err(e @ SshError::HostKeyChanged { .. }) => {
            let (fp, kt) = match &e {
                SshError::HostKeyChanged {
                    fingerprint,
                    key_type,
                    ..
                } => (fingerprint.clone(), key_type.clone()),
                _ => unreachable!(),
            };
            Scanned {
                trust: "changed",
                fingerprint: Some(fp),
                key_type: Some(kt),
                error: Some(e.to_string()),
            }
        }
        Err(e @ SshError::HostKeyRevoked { .. }) => Scanned {
            trust: "changed",
            fingerprint: None,
            key_type: None,
            error: Some(e.to_string()),
        },
        // The key was checked and known; only the login failed (or the credentials are
        // unusable): trusted, with the error to fix.
        Err(e @ (SshError::AuthFailed { .. } | SshError::Key { .. } | SshError::Secret { .. })) => {
            Scanned {
                trust: "trusted",
                fingerprint: None,
                key_type: None,
                error: Some(e.to_string()),
            }
        }
        Err(e) => Scanned {
            trust: "unknown",
            fingerprint: None,
            key_type: None,
            error: Some(e.to_string()),
        },
    })
}

pub async fn scan(
    State(api): State<Arc<Api>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<ScanResult>> {
    let h = saved_host(&api, &id)?;
    let s = strict_scan(&api, &h).await?;
    let updated = api.wizard.update(&api, |saved| {
        let h = saved
            .hosts
            .iter_mut()
            .find(|x| x.id == id)
            .ok_or_else(|| Error::not_found(format!("no host {id:?}")))?;
        h.trust = s.trust.into();
        if s.fingerprint.is_some() {
            h.fingerprint = s.fingerprint.clone();
            h.key_type = s.key_type.clone();
        }
        h.scan_error = s.error.clone();
        Ok(h.clone())
    })?;
    Ok(Json(ScanResult {
        host: api.wizard.view(&updated),
    }))
}

/// `SHA256:...` of a known_hosts line's key (as `ssh-keygen -l` prints it).
pub fn line_fingerprint(line: &str) -> Option<String> {
    let b64 = line.split_whitespace().nth(2)?;
    let blob = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    Some(format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(&blob))
    ))
}

pub async fn accept(
    State(api): State<Arc<Api>>,
    UrlPath(id): UrlPath<String>,
    Json(req): Json<AcceptRequest>,
) -> Result<Json<HostView>> {
    let h = saved_host(&api, &id)?;
    let first = strict_scan(&api, &h).await?;
    match first.trust {
        "trusted" => {}
        "changed" => {
            return Err(Error::conflict(format!(
                "the host key of {id} CHANGED; it is not accepted from the console: {}",
                first.error.unwrap_or_default()
            )));
        }
        "scanned" => {
            if first.fingerprint.as_deref() != Some(req.fingerprint.as_str()) {
                return Err(Error::conflict(format!(
                    "{id} now presents {} {}, not the {} you accepted: scan again and compare",
                    first.key_type.unwrap_or_default(),
                    first.fingerprint.unwrap_or_default(),
                    req.fingerprint
                )));
            }
            record_key(&api, &h, &req.fingerprint).await?;
        }
        _ => {
            return Err(Error::conflict(format!(
                "cannot reach {id} to read its key: {}",
                first.error.unwrap_or_default()
            )));
        }
    }
    let updated = api.wizard.update(&api, |saved| {
        let h = saved
            .hosts
            .iter_mut()
            .find(|x| x.id == id)
            .ok_or_else(|| Error::not_found(format!("no host {id:?}")))?;
        h.trust = "trusted".into();
        if first.trust == "scanned" {
            h.fingerprint = Some(req.fingerprint.clone());
        }
        h.scan_error = None;
        Ok(h.clone())
    })?;
    tracing::info!("api: host key of {id} accepted: {}", req.fingerprint);
    Ok(Json(api.wizard.view(&updated)))
}

/// Record the host's key through a scratch known_hosts, then append exactly that line to the
/// real one if it is the fingerprint accepted.
async fn record_key(api: &Api, h: &SavedHost, fingerprint: &str) -> Result<()> {
    let scratch_dir = api.state_dir.join("tmp");
    {
        use std::os::unix::fs::DirBuilderExt as _;
        // Private like the rest of the state dir (it holds what a connection recorded).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&scratch_dir)
            .map_err(|e| Error::internal("scratch dir", e))?;
    }
    let scratch = scratch_dir.join(format!("accept-{}", super::auth::random_hex(8)));
    let c = connector(&scratch, HostKeyPolicy::AcceptNew)?;
    let t = target(h, &api.wizard.secrets(&h.id));
    // The key is recorded during the handshake; a later authentication failure does not matter.
    let _ = c.connect(&t).await;
    let text = std::fs::read_to_string(&scratch).unwrap_or_default();
    let _ = std::fs::remove_file(&scratch);
    let line = text
        .lines()
        .find(|l| line_fingerprint(l).as_deref() == Some(fingerprint))
        .ok_or_else(|| {
            Error::conflict(format!(
                "{} did not present {fingerprint} when connected again: scan again and compare",
                h.id
            ))
        })?;
    let real = api.state_dir.join("known_hosts");
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&real)
        .map_err(|e| Error::internal("writing known_hosts", e))?;
    f.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| Error::internal("writing known_hosts", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_to_paired_names() {
        let p = expand("10.0.0.[11:13]", None).unwrap();
        assert_eq!(
            p,
            [
                ("node-10-0-0-11".to_string(), "10.0.0.11".to_string()),
                ("node-10-0-0-12".into(), "10.0.0.12".into()),
                ("node-10-0-0-13".into(), "10.0.0.13".into()),
            ]
        );
        let p = expand("10.0.0.[1:2]", Some("lab[1:2]")).unwrap();
        assert_eq!(p[1], ("lab2".to_string(), "10.0.0.2".to_string()));
        let e = expand("10.0.0.[1:3]", Some("lab[1:2]")).unwrap_err();
        assert!(e.body.error.contains("2 names for 3 addresses"), "{e:?}");
        let e = expand("10.0.0.1", Some("Bad_Name")).unwrap_err();
        assert!(e.body.error.contains("lowercase"), "{e:?}");
    }

    #[test]
    fn fingerprint_of_a_known_hosts_line_is_ssh_keygens() {
        // ssh-keygen -lf of this key prints SHA256:Hq2ulnD12/NW6VdGVh2tCW7YMrz9WLquesrSCR+BiYA
        let line =
            "h ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDxLKyQo2At2+T78Vcf5sUkX9bk3fgigjyXi2+/bjZ0W";
        assert_eq!(
            line_fingerprint(line).unwrap(),
            "SHA256:Hq2ulnD12/NW6VdGVh2tCW7YMrz9WLquesrSCR+BiYA"
        );
    }
}
