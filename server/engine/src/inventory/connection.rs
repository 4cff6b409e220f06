//! From a host's variables to what the SSH transport needs (`ssh::Target`).
//!
//! Owns `Inventory::target` and the meaning of the connection variables, Ansible's and
//! Cairn's:
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `ansible_host` (`ansible_ssh_host`) | address to connect to | the inventory name |
//! | `ansible_port` (`ansible_ssh_port`) | SSH port | 22 |
//! | `ansible_user` (`ansible_ssh_user`) | login user | `$USER`, else `root` |
//! | `ansible_ssh_private_key_file` (`ansible_private_key_file`) | key file, `~` expanded; Cairn also takes a list | OpenSSH's default keys |
//! | `cairn_key_passphrase_env` / `_file` | passphrase of those keys | none |
//! | `ansible_password` (`ansible_ssh_pass`) | SSH password, written inline | none |
//! | `cairn_password_env` / `_file` | SSH password from the environment or a file | none |
//! | `cairn_ssh_agent` | offer the ssh-agent's keys | true |
//! | `ansible_become_password` (`ansible_become_pass`) | sudo password, inline | none |
//! | `cairn_become_password_env` / `_file` | sudo password from the environment or a file | none |
//!
//! Must not: resolve secrets (a `Target` holds their sources; the transport resolves them at
//! connect time) or connect.

use std::path::PathBuf;

use serde_json::Value;

use super::error::InventoryError;
use super::model::{Inventory, Vars};
use crate::diagnostic::Diagnostic;
use crate::secret::{Secret, SecretSource};
use crate::ssh::{Identity, Target};

impl Inventory {
    /// The connection target of `host`, from its merged variables
    /// ([`Inventory::host_vars`]). Errors name the host and the variable.
    pub fn target(&self, host: &str) -> Result<Target, InventoryError> {
        if !self.hosts.contains_key(host) {
            return Err(
                Diagnostic::error("", None, format!("unknown host \"{host}\""))
                    .help("it is not in the inventory; check the name")
                    .into(),
            );
        }
        let vars = self.host_vars(host);
        let v = HostVars { host, vars: &vars };

        let address = v
            .string(&["ansible_host", "ansible_ssh_host"])?
            .unwrap_or_else(|| host.to_string());
        let port = v.port()?;
        let user = match v.string(&["ansible_user", "ansible_ssh_user"])? {
            Some(user) => user,
            None => std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "root".into()),
        };
        let passphrase = v.secret_source(None, "cairn_key_passphrase")?;
        let identities = v
            .key_files()?
            .into_iter()
            .map(|path| Identity::file(path, passphrase.clone()))
            .collect();
        let password = v.secret_source(
            Some(&["ansible_password", "ansible_ssh_pass"]),
            "cairn_password",
        )?;
        let become_password = v.secret_source(
            Some(&["ansible_become_password", "ansible_become_pass"]),
            "cairn_become_password",
        )?;
        let use_agent = v.boolean("cairn_ssh_agent")?.unwrap_or(true);

        let mut target = Target::new(host, address, user);
        target.port = port;
        target.identities = identities;
        target.password = password;
        target.use_agent = use_agent;
        target.become_password = become_password;
        Ok(target)
    }
}

/// One host's merged variables, read with errors that name the host and variable.
struct HostVars<'a> {
    host: &'a str,
    vars: &'a Vars,
}

impl HostVars<'_> {
    fn error(&self, var: &str, problem: String, help: &str) -> InventoryError {
        Diagnostic::error("", None, format!("host \"{}\": {var} {problem}", self.host))
            .help(help.to_string())
            .into()
    }

    /// The first of `names` that is set (not null).
    fn first<'n>(&self, names: &[&'n str]) -> Option<(&'n str, &Value)> {
        names
            .iter()
            .find_map(|n| self.vars.get(*n).filter(|v| !v.is_null()).map(|v| (*n, v)))
    }

    fn string(&self, names: &[&str]) -> Result<Option<String>, InventoryError> {
        match self.first(names) {
            None => Ok(None),
            Some((_, Value::String(s))) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            // An address or user written as a number in YAML (`ansible_user: 1000`).
            Some((_, Value::Number(n))) => Ok(Some(n.to_string())),
            Some((name, other)) => Err(self.error(
                name,
                format!("must be a non-empty string, found {}", describe(other)),
                "fix the variable in the inventory",
            )),
        }
    }

    fn port(&self) -> Result<u16, InventoryError> {
        let Some((name, value)) = self.first(&["ansible_port", "ansible_ssh_port"]) else {
            return Ok(22);
        };
        let port = match value {
            Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
            Value::String(s) => s.trim().parse::<u16>().ok(),
            _ => None,
        };
        port.filter(|p| *p > 0).ok_or_else(|| {
            self.error(
                name,
                format!(
                    "must be a port number from 1 to 65535, found {}",
                    describe(value)
                ),
                "fix the port in the inventory",
            )
        })
    }

    /// Ansible's truthiness for booleans written as strings or numbers (`yes`, `on`, `1`...).
    fn boolean(&self, name: &str) -> Result<Option<bool>, InventoryError> {
        let Some((name, value)) = self.first(&[name]) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Value::String(s) => match s.trim().to_lowercase().as_str() {
                "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
                "n" | "no" | "off" | "0" | "false" | "f" => Some(false),
                _ => None,
            },
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| {
            self.error(
                name,
                format!("must be true or false, found {}", describe(value)),
                "use true or false",
            )
        })
    }

    fn key_files(&self) -> Result<Vec<PathBuf>, InventoryError> {
        let names = ["ansible_ssh_private_key_file", "ansible_private_key_file"];
        let Some((name, value)) = self.first(&names) else {
            return Ok(Vec::new());
        };
        let paths: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) if items.iter().all(Value::is_string) => {
                items.iter().filter_map(Value::as_str).collect()
            }
            other => {
                return Err(self.error(
                    name,
                    format!(
                        "must be a path or a list of paths, found {}",
                        describe(other)
                    ),
                    "name the private key file(s)",
                ));
            }
        };
        if paths.iter().any(|p| p.trim().is_empty()) {
            return Err(self.error(
                name,
                "must not be empty".into(),
                "name the private key file(s)",
            ));
        }
        Ok(paths.into_iter().map(expand_tilde).collect())
    }

    /// A secret from `{prefix}_env`, `{prefix}_file` or an inline variable. Setting more than
    /// one is an error: which should win is a question only the user can answer.
    fn secret_source(
        &self,
        inline: Option<&[&str]>,
        prefix: &str,
    ) -> Result<Option<SecretSource>, InventoryError> {
        let (env, file) = (format!("{prefix}_env"), format!("{prefix}_file"));
        let mut found: Vec<(String, SecretSource)> = Vec::new();
        if let Some(name) = self.string(&[&env])? {
            found.push((env.clone(), SecretSource::Env(name)));
        }
        if let Some(path) = self.string(&[&file])? {
            found.push((file.clone(), SecretSource::File(expand_tilde(&path))));
        }
        if let Some(names) = inline
            && let Some((name, value)) = self.first(names)
        {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => {
                    return Err(self.error(
                        name,
                        format!("must be a string, found {}", describe(other)),
                        "quote the password",
                    ));
                }
            };
            found.push((name.to_string(), SecretSource::Inline(Secret::new(text))));
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop().map(|(_, s)| s)),
            _ => {
                let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
                Err(Diagnostic::error(
                    "",
                    None,
                    format!("host \"{}\": {} are set together; keep only one", self.host, names.join(" and ")),
                )
                .help("remove all but one of them from the inventory (host and group variables are merged)")
                .into())
            }
        }
    }
}

/// `~` and `~/...` become `$HOME/...`; other paths are left alone (`~user` is not expanded).
fn expand_tilde(path: &str) -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    match path.strip_prefix('~') {
        Some("") => home().unwrap_or_else(|| PathBuf::from(path)),
        Some(rest) if rest.starts_with('/') => match home() {
            Some(h) => h.join(&rest[1..]),
            None => PathBuf::from(path),
        },
        _ => PathBuf::from(path),
    }
}

/// A value for messages, never showing more than a short string.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() <= 40 => format!("\"{s}\""),
        Value::String(_) => "a long string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inventory(vars: Value) -> Inventory {
        let mut inv = Inventory::new();
        inv.add_host("h1", "web").vars = vars.as_object().unwrap().clone();
        inv.reconcile();
        inv
    }

    #[test]
    fn defaults() {
        let t = inventory(json!({})).target("h1").unwrap();
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".into());
        assert_eq!(t, Target::new("h1", "h1", user));
    }

    #[test]
    fn ansible_variables() {
        let home = std::env::var("HOME").unwrap();
        let mut inv = inventory(json!({
            "ansible_host": "10.0.0.1",
            "ansible_port": "2222",
            "ansible_user": "admin",
            "ansible_ssh_private_key_file": "~/.ssh/id_lab",
            "ansible_ssh_pass": "hunter2",
            "ansible_become_pass": "sudo-pw",
        }));
        // Group variables count too: connection settings come from the merged variables.
        inv.groups["web"]
            .vars
            .insert("cairn_ssh_agent".into(), json!("no"));
        let t = inv.target("h1").unwrap();
        assert_eq!(t.address, "10.0.0.1");
        assert_eq!(t.port, 2222);
        assert_eq!(t.user, "admin");
        assert_eq!(
            t.identities,
            [Identity::file(
                PathBuf::from(format!("{home}/.ssh/id_lab")),
                None
            )]
        );
        assert_eq!(
            t.password,
            Some(SecretSource::Inline(Secret::new("hunter2")))
        );
        assert_eq!(
            t.become_password,
            Some(SecretSource::Inline(Secret::new("sudo-pw")))
        );
        assert!(!t.use_agent);
    }

    #[test]
    fn cairn_variables() {
        let t = inventory(json!({
            "ansible_ssh_private_key_file": ["/k/a", "/k/b"],
            "cairn_key_passphrase_file": "/run/pp",
            "cairn_password_env": "LAB_PW",
            "cairn_become_password_file": "~",
            "cairn_ssh_agent": true,
        }))
        .target("h1")
        .unwrap();
        let pp = Some(SecretSource::File("/run/pp".into()));
        assert_eq!(
            t.identities,
            [
                Identity::file("/k/a", pp.clone()),
                Identity::file("/k/b", pp),
            ]
        );
        assert_eq!(t.password, Some(SecretSource::Env("LAB_PW".into())));
        assert_eq!(
            t.become_password,
            Some(SecretSource::File(std::env::var("HOME").unwrap().into()))
        );
        assert!(t.use_agent);
    }

    #[test]
    fn errors_name_host_and_variable() {
        let cases: &[(Value, &str)] = &[
            (
                json!({"ansible_port": "ssh"}),
                "host \"h1\": ansible_port must be a port number from 1 to 65535, found \"ssh\"",
            ),
            (
                json!({"ansible_port": 70000}),
                "host \"h1\": ansible_port must be a port number from 1 to 65535, found 70000",
            ),
            (
                json!({"ansible_ssh_port": 0}),
                "host \"h1\": ansible_ssh_port must be a port number from 1 to 65535, found 0",
            ),
            (
                json!({"ansible_host": ""}),
                "host \"h1\": ansible_host must be a non-empty string, found \"\"",
            ),
            (
                json!({"ansible_user": ["a"]}),
                "host \"h1\": ansible_user must be a non-empty string, found a list",
            ),
            (
                json!({"cairn_ssh_agent": "maybe"}),
                "host \"h1\": cairn_ssh_agent must be true or false, found \"maybe\"",
            ),
            (
                json!({"ansible_ssh_private_key_file": {"a": 1}}),
                "host \"h1\": ansible_ssh_private_key_file must be a path or a list of paths, found a mapping",
            ),
            (
                json!({"ansible_ssh_private_key_file": ""}),
                "host \"h1\": ansible_ssh_private_key_file must not be empty",
            ),
            (
                json!({"ansible_password": true}),
                "host \"h1\": ansible_password must be a string, found true",
            ),
            (
                json!({"ansible_password": "x", "cairn_password_env": "PW"}),
                "host \"h1\": cairn_password_env and ansible_password are set together; keep only one",
            ),
        ];
        for (vars, message) in cases {
            let e = inventory(vars.clone()).target("h1").unwrap_err();
            assert_eq!(e.diagnostic().message, *message, "{vars}");
        }
        let e = inventory(json!({})).target("nope").unwrap_err();
        assert_eq!(
            e.render(),
            "error: unknown host \"nope\"\n = help: it is not in the inventory; check the name\n"
        );
    }

    #[test]
    fn tilde() {
        let home = PathBuf::from(std::env::var("HOME").unwrap());
        assert_eq!(expand_tilde("~"), home);
        assert_eq!(expand_tilde("~/x"), home.join("x"));
        assert_eq!(expand_tilde("~bob/x"), PathBuf::from("~bob/x"));
        assert_eq!(expand_tilde("/abs/~"), PathBuf::from("/abs/~"));
    }
}
