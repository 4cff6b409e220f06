-- Schema version 2: pre-flight results (a run of kind 'preflight' has checks, not events).
CREATE TABLE checks (
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    host      TEXT    NOT NULL,
    id        TEXT    NOT NULL,              -- memory, disk:/var/lib/etcd, port:2379, ...
    status    TEXT    NOT NULL,              -- pass | warn | fail | skipped | ignored
    reason    TEXT,                          -- why skipped
    value     TEXT    NOT NULL,
    threshold TEXT,
    remedy    TEXT,
    PRIMARY KEY (run_id, host, id)
) WITHOUT ROWID;
