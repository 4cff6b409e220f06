//! Secrets (passwords, passphrases): a value that never prints, and where to fetch it from.
//!
//! Owns redaction: `Secret`'s `Debug`/`Display` never show the value, so a secret that reaches a
//! log line, an event or an error message shows as `<redacted>`. Must not: persist anything.

use std::fmt;
use std::path::PathBuf;

/// A secret value. Printing it (Debug or Display) shows `<redacted>`; use [`Secret::expose`]
/// only at the point where the value is handed to the remote side.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The clear value. Call it only where the secret is sent (SSH auth, sudo's stdin).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret comes from. Inventories name a source (an environment variable or a file)
/// rather than holding the value, so config files can be committed and shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the inventory itself (Ansible's `ansible_password=...`): allowed, discouraged.
    Inline(Secret),
    /// The named environment variable of the `cairn` process.
    Env(String),
    /// The first line of this file (trailing newline removed).
    File(PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("environment variable {0} is not set (it should hold the secret)")]
    EnvMissing(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: PathBuf, reason: String },
}

impl SecretSource {
    /// Fetch the value now. Called at connect time, so a missing variable is reported against
    /// the host that needs it and not when the inventory is parsed.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::Env(name) => std::env::var(name)
                .map(Secret)
                .map_err(|_| SecretError::EnvMissing(name.clone())),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret(s.lines().next().unwrap_or("").to_string()))
                .map_err(|e| SecretError::File {
                    path: path.clone(),
                    reason: e.to_string(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        let src = SecretSource::Inline(s);
        assert!(!format!("{src:?}").contains("hunter2"));
    }

    #[test]
    fn missing_env_names_the_variable() {
        let e = SecretSource::Env("CAIRN_TEST_SURELY_UNSET_VAR".into())
            .resolve()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable CAIRN_TEST_SURELY_UNSET_VAR is not set (it should hold the secret)"
        );
    }

    #[test]
    fn file_secret_is_first_line() {
        let dir = std::env::temp_dir().join(format!("cairn-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pw");
        std::fs::write(&p, "s3cret\nignored\n").unwrap();
        assert_eq!(SecretSource::File(p).resolve().unwrap().expose(), "s3cret");
    }
}
