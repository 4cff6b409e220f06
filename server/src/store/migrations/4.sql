-- Schema version 4: what `cairn serve`'s API keeps (no secret in clear: the admin token and
-- session ids are stored as salted SHA-256 hashes; SSH secrets are never stored).
CREATE TABLE admin_token (
    id         INTEGER PRIMARY KEY CHECK (id = 1),   -- one token
    salt       TEXT    NOT NULL,                     -- hex
    hash       TEXT    NOT NULL,                     -- hex sha256(salt || token)
    created_ms INTEGER NOT NULL
);
CREATE TABLE sessions (
    hash       TEXT    PRIMARY KEY,                  -- hex sha256 of the session id
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
-- The console wizard's state (hosts without secrets, roles, cluster settings) as JSON.
CREATE TABLE wizard (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
