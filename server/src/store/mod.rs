//! The state store: one SQLite database (`cairn.db` in the state dir, WAL mode) that records
//! every run, its events and each task's result on each host, shared by the CLI and (later)
//! `cairn serve` and the console.
//!
//! Owns the schema (`schema.sql`, versioned with `PRAGMA user_version`), opening and migrating,
//! the run lifecycle (begin, finish, a killed run found and marked `interrupted`) and queries.
//! One concept per file: `journal` (the event sink that writes a run's events off the hot
//! path), `query` (reading runs back). Must not: hold engine logic, or store a secret (events
//! arrive censored; nothing else is written).

pub mod api_state;
pub mod checkpoints;
pub mod journal;
pub mod query;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};

const SCHEMA: &str = include_str!("schema.sql");
/// Each later version's statements, applied in order to a database at the version before.
/// (Version 3 was never released: its work became 5.)
const MIGRATIONS: [(i64, &str); 4] = [
    (2, include_str!("migrations/2.sql")),
    (4, include_str!("migrations/4.sql")),
    (5, include_str!("migrations/5.sql")),
    (6, include_str!("migrations/6.sql")),
];
const SCHEMA_VERSION: i64 = 6;
/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot open the state store {path}: {source} (is the state dir writable? set --state-dir or CAIRN_STATE_DIR)"
    )]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "cannot create the state dir {path}: {source} (set --state-dir or CAIRN_STATE_DIR to a writable directory)"
    )]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot create the state store {path}: {source} (is the state dir writable? set --state-dir or CAIRN_STATE_DIR)"
    )]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the state store {path} has schema version {found}, newer than this cairn understands ({SCHEMA_VERSION}): use a newer cairn"
    )]
    TooNew { path: PathBuf, found: i64 },
    #[error("state store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("no run {0} in the state store (`cairn runs` lists them)")]
    NoSuchRun(i64),
}

/// How a run ended (`running` and `interrupted` are the store's own: a run begins `running`,
/// and one whose process is gone is marked `interrupted` when the store is next opened).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Ok,
    Failed,
    Unreachable,
    /// Bad input found after the run was recorded (nothing more ran).
    Error,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Unreachable => "unreachable",
            RunStatus::Error => "error",
        }
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// The store of `state_dir` (created with its directory if missing, mode 0700; see
    /// [`crate::state_dir::ensure_private`]).
    pub fn open_in(state_dir: &Path) -> Result<Store, StoreError> {
        let path = state_dir.join("cairn.db");
        let notice =
            crate::state_dir::ensure_private(state_dir).map_err(|source| StoreError::Dir {
                path: state_dir.to_path_buf(),
                source,
            })?;
        if let Some(n) = notice {
            eprintln!("{n}");
        }
        Store::open(&path)
    }

    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        private_file(path).map_err(|source| StoreError::File {
            path: path.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // WAL: readers (the console) never block the writer (a run), and a process killed
        // mid-transaction leaves the database as of the last commit.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        store.mark_interrupted()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
            });
        }
        if version < 1 {
            let tx = self.conn.transaction()?;
            tx.execute_batch(SCHEMA)?;
            tx.pragma_update(None, "user_version", 1)?;
            tx.commit()?;
        }
        for (to, sql) in MIGRATIONS {
            let now: i64 = self
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))?;
            if now < to {
                let tx = self.conn.transaction()?;
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", to)?;
                tx.commit()?;
            }
        }
        Ok(())
    }

    /// Runs still `running` whose process is gone were killed: say so, so nobody waits for them.
    fn mark_interrupted(&self) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, pid FROM runs WHERE status = 'running'")?;
        let rows: Vec<(i64, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, pid) in rows {
            if !process_alive(pid) {
                self.conn.execute(
                    "UPDATE runs SET status = 'interrupted' WHERE id = ?1 AND status = 'running'",
                    params![id],
                )?;
            }
        }
        Ok(())
    }

    /// Record a new run by this process; its events follow through a [`journal::Journal`].
    pub fn begin_run(&self, kind: &str, title: &str) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO runs (kind, title, pid, started_ms) VALUES (?1, ?2, ?3, ?4)",
            params![kind, title, i64::from(std::process::id()), now_ms()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(
        &self,
        id: i64,
        status: RunStatus,
        exit_code: Option<u8>,
    ) -> Result<(), StoreError> {
        let n = self.conn.execute(
            "UPDATE runs SET status = ?2, exit_code = ?3, finished_ms = ?4 WHERE id = ?1",
            params![id, status.as_str(), exit_code, now_ms()],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchRun(id));
        }
        Ok(())
    }

    /// Record a pre-flight's checks under run `id`.
    pub fn save_checks(
        &mut self,
        id: i64,
        checks: &[cairn_protocol::PreflightCheck],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT OR REPLACE INTO checks (run_id, host, id, status, reason, value, threshold, remedy, fixable)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for c in checks {
                st.execute(params![
                    id,
                    c.host,
                    c.id,
                    c.status,
                    c.reason,
                    c.value,
                    c.threshold,
                    c.remedy,
                    c.fixable
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Run `id`'s pre-flight checks, in the order they were saved per host.
    pub fn checks(&self, id: i64) -> Result<Vec<cairn_protocol::PreflightCheck>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT host, id, status, reason, value, threshold, remedy, fixable FROM checks WHERE run_id = ?1",
        )?;
        let rows = st
            .query_map(params![id], |r| {
                Ok(cairn_protocol::PreflightCheck {
                    host: r.get(0)?,
                    id: r.get(1)?,
                    status: r.get(2)?,
                    reason: r.get(3)?,
                    value: r.get(4)?,
                    threshold: r.get(5)?,
                    remedy: r.get(6)?,
                    fixable: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Record what `--fix` did in pre-flight run `id`, in order.
    pub fn save_fixes(
        &mut self,
        id: i64,
        fixes: &[cairn_protocol::PreflightFix],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare(
                "INSERT INTO fixes (run_id, seq, host, id, action, outcome, changed, text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (seq, f) in fixes.iter().enumerate() {
                st.execute(params![
                    id, seq as i64, f.host, f.id, f.action, f.outcome, f.changed, f.text
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Run `id`'s `--fix` record, in the order it was saved (empty without `--fix`).
    pub fn fixes(&self, id: i64) -> Result<Vec<cairn_protocol::PreflightFix>, StoreError> {
        let mut st = self.conn.prepare(
            "SELECT host, id, action, outcome, changed, text FROM fixes WHERE run_id = ?1 ORDER BY seq",
        )?;
        let rows = st
            .query_map(params![id], |r| {
                Ok(cairn_protocol::PreflightFix {
                    host: r.get(0)?,
                    id: r.get(1)?,
                    action: r.get(2)?,
                    outcome: r.get(3)?,
                    changed: r.get(4)?,
                    text: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// The database file readable by its owner only (0600), before SQLite opens it: SQLite would
/// create it 0644, and gives its `-wal` and `-shm` files the database's mode. The store holds
/// the API's token and session hashes and every run's output. An existing file with a wider
/// mode (made by an older cairn) is narrowed.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let mode = f.metadata()?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

fn process_alive(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    if pid == libc::pid_t::try_from(std::process::id()).unwrap_or(0) {
        return true;
    }
    // SAFETY: kill with signal 0 only checks that the process exists; no signal is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests;
