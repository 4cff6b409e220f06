-- Schema version 6: what `cairn preflight --fix` did. A pre-flight run's checks are the state
-- after the fix; `fixes` keeps each remedy tried, per host and check, in the order it was
-- reported, with its outcome (changed | ok | failed | not applied). Each check also says
-- whether --fix has a remedy for it (the console's "Fix" button).
ALTER TABLE checks ADD COLUMN fixable INTEGER NOT NULL DEFAULT 0;
CREATE TABLE fixes (
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,              -- order within the run
    host    TEXT    NOT NULL,
    id      TEXT    NOT NULL,              -- the check remedied: sysctl:net.ipv4.ip_forward, ...
    action  TEXT    NOT NULL,              -- the remedy, in words
    outcome TEXT    NOT NULL,              -- changed | ok | failed | not applied
    changed INTEGER NOT NULL,              -- 1 when the host was changed
    text    TEXT    NOT NULL,              -- what was done, or why not
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
