//! `GET /api/cluster.yaml` (the wizard's state as the cluster.yaml the CLI takes) and
//! `POST /api/config` (a cluster.yaml imported into the wizard).
//!
//! Owns the mapping both ways. Secrets never go into the file: a host whose password (or sudo
//! password) was typed into the console gets `password_env: CAIRN_PASSWORD_<HOST>` (resp.
//! `become_password_env`), so the same file works with `cairn install --config` once those
//! variables are set; installs started from the console use the in-memory secrets instead.
//! An import is validated by the same loader as the CLI's (its diagnostics come back as a 422's
//! details). Must not: write the file anywhere but where `launch` runs it from.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cairn_engine::inventory::{self, ROLES};
use cairn_engine::secret::SecretSource;
use cairn_protocol::api::{ClusterSettings, ConfigImport, WizardState};
use serde_json::{Map, Value, json};

use super::Api;
use super::error::{Error, Result};
use super::wizard::{HostSecrets, Saved, SavedHost};

/// The environment variable a generated cluster.yaml names for a host's password.
pub fn password_env(host: &str) -> String {
    format!(
        "CAIRN_PASSWORD_{}",
        host.to_ascii_uppercase().replace('-', "_")
    )
}

pub fn become_password_env(host: &str) -> String {
    format!(
        "CAIRN_BECOME_PASSWORD_{}",
        host.to_ascii_uppercase().replace('-', "_")
    )
}

/// The cluster.yaml text for `s`; `bundle` is the served bundle's path.
pub fn render(s: &Saved, bundle: Option<&std::path::Path>) -> String {
    let mut top = Map::new();
    top.insert("apiVersion".into(), json!("cairn/v1"));
    top.insert("kind".into(), json!("Cluster"));
    top.insert("name".into(), json!(s.cluster.name));
    let hosts: Vec<Value> = s
        .hosts
        .iter()
        .map(|h| {
            let mut m = Map::new();
            m.insert("name".into(), json!(h.id));
            m.insert("address".into(), json!(h.address));
            if h.port != 22 {
                m.insert("port".into(), json!(h.port));
            }
            m.insert("user".into(), json!(h.user));
            let auth = match h.auth_kind.as_str() {
                "key_path" => {
                    let mut a = Map::new();
                    a.insert("key".into(), json!(h.key_path.clone().unwrap_or_default()));
                    a.insert("agent".into(), json!(false));
                    if h.secret_given {
                        a.insert(
                            "passphrase_env".into(),
                            json!(format!("{}_KEY", password_env(&h.id))),
                        );
                    }
                    Value::Object(a)
                }
                // A pasted key stays in the server's memory: no path, no text in the file (the
                // header comment says what to add for the command line).
                "key" => json!({ "agent": false }),
                "password" => json!({ "password_env": password_env(&h.id), "agent": false }),
                "password_env" => json!({ "password_env": h.secret_ref }),
                "password_file" => json!({ "password_file": h.secret_ref }),
                _ => json!({ "agent": true }),
            };
            m.insert("auth".into(), auth);
            if h.r#become {
                m.insert("become".into(), json!(true));
            }
            if h.become_password_given {
                m.insert(
                    "become_password_env".into(),
                    json!(become_password_env(&h.id)),
                );
            }
            Value::Object(m)
        })
        .collect();
    top.insert("hosts".into(), Value::Array(hosts));
    if !s.roles.is_empty() {
        top.insert("roles".into(), json!(s.roles));
    }
    if !s.cluster.installer_address.is_empty() {
        top.insert(
            "installer".into(),
            json!({
                "address": s.cluster.installer_address,
                "port": s.cluster.installer_port,
                "ntp_port": s.cluster.ntp_port,
            }),
        );
    }
    if let Some(b) = bundle {
        top.insert("bundle".into(), json!(b.display().to_string()));
    }
    for (k, v) in &s.extra {
        if k != "preflight" {
            top.insert(k.clone(), v.clone());
        }
    }
    let mut preflight = match s.extra.get("preflight") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if !s.preflight_ignore.is_empty() {
        preflight.insert("ignore".into(), json!(s.preflight_ignore));
    }
    if !preflight.is_empty() {
        top.insert("preflight".into(), Value::Object(preflight));
    }
    let body = serde_yaml::to_string(&Value::Object(top)).expect("JSON values serialize");
    let pasted: Vec<&str> = s
        .hosts
        .iter()
        .filter(|h| h.auth_kind == "key")
        .map(|h| h.id.as_str())
        .collect();
    let pasted = if pasted.is_empty() {
        String::new()
    } else {
        format!(
            "# The private keys pasted into the console for {} are not in this file either:\n\
             # for `cairn install --config`, save each to a file and give it as that host's auth.key.\n",
            pasted.join(", ")
        )
    };
    format!(
        "# cluster.yaml written by the Cairn console (docs/cluster-yaml.md). No secret is in this\n\
         # file: set the *_env variables it names before `cairn install --config` with it.\n{pasted}{body}"
    )
}

pub async fn export(State(api): State<Arc<Api>>) -> Response {
    let text = render(&api.wizard.snapshot(), api.bundle_path.as_deref());
    (
        [
            (header::CONTENT_TYPE, "application/yaml; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"cluster.yaml\"",
            ),
        ],
        text,
    )
        .into_response()
}

/// A cluster.yaml's text as wizard state (and inline secrets, to keep in memory).
pub fn parse(yaml: &str) -> Result<(Saved, Vec<(String, HostSecrets)>)> {
    let loaded = inventory::load_str("cluster.yaml", yaml).map_err(|e| {
        Error::invalid("the cluster.yaml is not valid")
            .details(e.render().lines().map(str::to_string).collect())
    })?;
    let Some(settings) = loaded.settings.clone() else {
        return Err(Error::invalid(
            "this is an Ansible inventory, not a cluster.yaml (apiVersion: cairn/v1, kind: Cluster)",
        ));
    };
    let inv = &loaded.inventory;
    let names = inv
        .select("all")
        .map_err(|e| Error::invalid(e.to_string()))?;
    let mut hosts = Vec::new();
    let mut secrets = Vec::new();
    for name in names {
        let t = inv
            .target(&name)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mut h = SavedHost {
            id: name.clone(),
            address: t.address.clone(),
            port: t.port,
            user: t.user.clone(),
            trust: "unknown".into(),
            ..Default::default()
        };
        let mut held = HostSecrets::default();
        match (&t.password, t.identities.first()) {
            (Some(SecretSource::Env(v)), _) => {
                h.auth_kind = "password_env".into();
                h.secret_ref = Some(v.clone());
            }
            (Some(SecretSource::File(p)), _) => {
                h.auth_kind = "password_file".into();
                h.secret_ref = Some(p.display().to_string());
            }
            (Some(SecretSource::Inline(s)), _) => {
                h.auth_kind = "password".into();
                h.secret_given = true;
                held.password = Some(s.clone());
            }
            (None, Some(id)) => {
                h.auth_kind = "key_path".into();
                // cluster.yaml names key files only (never key text).
                if let cairn_engine::ssh::KeySource::File(p) = &id.key {
                    h.key_path = Some(p.display().to_string());
                }
            }
            (None, None) => h.auth_kind = "agent".into(),
        }
        if let Some(SecretSource::Inline(s)) = &t.become_password {
            h.become_password_given = true;
            held.become_password = Some(s.clone());
        }
        h.r#become = matches!(
            inv.host_vars(&name).get("ansible_become"),
            Some(Value::Bool(true))
        );
        secrets.push((name, held));
        hosts.push(h);
    }
    let roles = ROLES
        .iter()
        .map(|r| (r.to_string(), inv.group_hosts(r)))
        .filter(|(_, m)| !m.is_empty())
        .collect();
    // Sections the wizard does not edit, as written.
    let raw: Value = serde_yaml::from_str(yaml).unwrap_or(Value::Null);
    let mut extra = Map::new();
    for k in ["network", "versions", "pki", "vars", "preflight"] {
        if let Some(v) = raw.get(k).filter(|v| !v.is_null()) {
            extra.insert(k.into(), v.clone());
        }
    }
    let cluster = ClusterSettings {
        name: settings.name.clone(),
        installer_address: settings
            .installer
            .as_ref()
            .map(|i| i.address.to_string())
            .unwrap_or_default(),
        installer_port: settings.installer.as_ref().map_or(8080, |i| i.port),
        ntp_port: settings.installer.as_ref().map_or(123, |i| i.ntp_port),
    };
    Ok((
        Saved {
            cluster,
            hosts,
            roles,
            preflight_ignore: settings.preflight.ignore.clone(),
            preflight_run: None,
            install_run: None,
            extra,
        },
        secrets,
    ))
}

pub async fn import(
    State(api): State<Arc<Api>>,
    Json(req): Json<ConfigImport>,
) -> Result<Json<WizardState>> {
    let (saved, secrets) = parse(&req.yaml)?;
    let old: Vec<String> = api
        .wizard
        .snapshot()
        .hosts
        .into_iter()
        .map(|h| h.id)
        .collect();
    api.wizard.update(&api, |s| {
        *s = saved;
        Ok(())
    })?;
    for id in old {
        api.wizard.forget_secrets(&id);
    }
    for (id, s) in secrets {
        api.wizard.set_secrets(&id, s);
    }
    Ok(Json(api.wizard.state()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../cli/init_example.yaml");

    #[test]
    fn the_example_imports_and_renders_back_to_an_equivalent_config() {
        let (saved, _) = parse(EXAMPLE).unwrap();
        assert_eq!(saved.cluster.name, "example");
        assert_eq!(saved.hosts.len(), 3);
        assert_eq!(saved.roles["etcd"], ["node1", "node2", "node3"]);
        let text = render(&saved, Some(std::path::Path::new("/b/lab-0.1.0.cairn")));
        let (again, _) = parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(again.hosts, saved.hosts);
        assert_eq!(again.roles, saved.roles);
        assert_eq!(again.cluster, saved.cluster);
        assert_eq!(again.extra, saved.extra);
    }

    #[test]
    fn a_typed_password_becomes_an_env_reference_never_the_secret() {
        let mut s = Saved::default();
        s.hosts.push(SavedHost {
            id: "lab-1".into(),
            address: "10.0.0.1".into(),
            port: 22,
            user: "ops".into(),
            auth_kind: "password".into(),
            secret_given: true,
            become_password_given: true,
            ..Default::default()
        });
        let text = render(&s, None);
        assert!(
            text.contains("password_env: CAIRN_PASSWORD_LAB_1"),
            "{text}"
        );
        assert!(
            text.contains("become_password_env: CAIRN_BECOME_PASSWORD_LAB_1"),
            "{text}"
        );
        parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    }

    #[test]
    fn a_pasted_key_host_has_no_key_in_the_file_and_the_header_says_so() {
        let mut s = Saved::default();
        s.hosts.push(SavedHost {
            id: "lab57".into(),
            address: "10.0.0.57".into(),
            port: 22,
            user: "root".into(),
            auth_kind: "key".into(),
            key_fingerprint: Some("SHA256:abc".into()),
            secret_given: true,
            ..Default::default()
        });
        let text = render(&s, None);
        assert!(
            text.contains(
                "# The private keys pasted into the console for lab57 are not in this file either:\n\
                 # for `cairn install --config`, save each to a file and give it as that host's auth.key.\n"
            ),
            "{text}"
        );
        assert!(text.contains("auth:\n    agent: false\n"), "{text}");
        // The same file loads (it is what a console install runs with).
        parse(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    }

    #[test]
    fn an_invalid_config_gives_its_diagnostic() {
        let e = parse("apiVersion: cairn/v1\nkind: Cluster\nname: x\nhosts: []\n").unwrap_err();
        assert_eq!(e.body.code, "invalid");
        assert!(!e.body.details.is_empty(), "{e:?}");
    }
}
