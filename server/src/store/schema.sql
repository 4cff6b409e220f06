-- Cairn's state store, schema version 1 (PRAGMA user_version); later versions add the
-- statements of migrations/*.sql. One database per state dir,
-- WAL mode, shared by the CLI and `cairn serve`. No secret is ever written here: events are
-- censored by the engine before they arrive, and connection secrets never reach an event.

-- One row per run (`cairn play`, later `cairn install`).
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,              -- 'play' | 'install'
    title       TEXT    NOT NULL,              -- the playbook(s) or config as given
    pid         INTEGER NOT NULL,              -- the process running it (to spot a killed run)
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    -- 'running' | 'ok' | 'failed' | 'unreachable' | 'error' | 'interrupted'
    status      TEXT    NOT NULL DEFAULT 'running',
    exit_code   INTEGER
);

-- Every event of a run, in order, in its wire form (cairn-protocol's RunEvent as JSON): the
-- journal the console replays and `cairn runs show --json` prints.
CREATE TABLE events (
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    type    TEXT    NOT NULL,
    body    TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Each task's end on each host, for queries (what failed where; what to resume).
CREATE TABLE results (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,              -- the event's seq
    play        TEXT,
    task        TEXT    NOT NULL,
    task_file   TEXT,
    task_line   INTEGER,
    host        TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,              -- ok | changed | failed | skipped | unreachable
    ignored     INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    msg         TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE INDEX results_by_host ON results (run_id, host);
