//! What `cairn serve`'s API keeps in the store: the admin token's hash, sessions (by the hash of
//! their id) and the console wizard's state (one JSON value per key).
//!
//! Owns those tables' SQL. Must not: see a secret in clear (callers hash tokens and session ids
//! before they get here; the wizard's JSON is built without secrets by `api::wizard`), or decide
//! policy (expiry lengths, who may log in: `api::auth`).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// The stored admin token: `sha256(salt || token)`, both hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenHash {
    pub salt: String,
    pub hash: String,
}

impl Store {
    pub fn admin_token(&self) -> Result<Option<TokenHash>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT salt, hash FROM admin_token WHERE id = 1", [], |r| {
                Ok(TokenHash {
                    salt: r.get(0)?,
                    hash: r.get(1)?,
                })
            })
            .optional()?)
    }

    pub fn set_admin_token(&self, t: &TokenHash) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO admin_token (id, salt, hash, created_ms) VALUES (1, ?1, ?2, ?3)",
            params![t.salt, t.hash, super::now_ms()],
        )?;
        Ok(())
    }

    /// Record a session (by its id's hash); expired ones are dropped on the way.
    pub fn add_session(&self, hash: &str, expires_ms: i64) -> Result<(), StoreError> {
        let now = super::now_ms();
        self.conn()
            .execute("DELETE FROM sessions WHERE expires_ms <= ?1", params![now])?;
        self.conn().execute(
            "INSERT OR REPLACE INTO sessions (hash, created_ms, expires_ms) VALUES (?1, ?2, ?3)",
            params![hash, now, expires_ms],
        )?;
        Ok(())
    }

    /// The session's expiry, if it exists and has not expired.
    pub fn session(&self, hash: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT expires_ms FROM sessions WHERE hash = ?1 AND expires_ms > ?2",
                params![hash, super::now_ms()],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn remove_session(&self, hash: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE hash = ?1", params![hash])?;
        Ok(())
    }

    pub fn wizard_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM wizard WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn wizard_put(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO wizard (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(())
    }

    /// The newest run id (0 when there is none): where a follower starts watching for new runs.
    pub fn last_run_id(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT COALESCE(MAX(id), 0) FROM runs", [], |r| r.get(0))?)
    }

    /// The first run after `after` of `kind` started by process `pid` (how the API finds the run
    /// that a CLI path it started in-process has just recorded).
    pub fn run_after(&self, after: i64, kind: &str, pid: u32) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id FROM runs WHERE id > ?1 AND kind = ?2 AND pid = ?3 ORDER BY id LIMIT 1",
                params![after, kind, i64::from(pid)],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// `PRAGMA data_version`: changes whenever ANOTHER connection (this process's journal thread
    /// or another process) commits; the API's change watcher polls it (no table read).
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .pragma_query_value(None, "data_version", |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_can_be_removed() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_in(dir.path()).unwrap();
        let now = super::super::now_ms();
        s.add_session("a", now + 60_000).unwrap();
        s.add_session("old", now - 1).unwrap();
        assert_eq!(s.session("a").unwrap(), Some(now + 60_000));
        assert_eq!(s.session("old").unwrap(), None);
        s.remove_session("a").unwrap();
        assert_eq!(s.session("a").unwrap(), None);
    }

    #[test]
    fn another_connections_commit_changes_data_version() {
        let dir = tempfile::tempdir().unwrap();
        let watcher = Store::open_in(dir.path()).unwrap();
        let writer = Store::open_in(dir.path()).unwrap();
        let v0 = watcher.data_version().unwrap();
        writer.begin_run("play", "t").unwrap();
        assert_ne!(watcher.data_version().unwrap(), v0);
        assert_eq!(watcher.last_run_id().unwrap(), 1);
        assert_eq!(
            watcher.run_after(0, "play", std::process::id()).unwrap(),
            Some(1)
        );
        assert_eq!(
            watcher.run_after(1, "play", std::process::id()).unwrap(),
            None
        );
    }
}
