-- Schema version 5: per-task resume. Each result keeps its task's checkpoint (the task's
-- place in the host's run, FILE:LINE:COLUMN#N@HASH: see cairn-engine's run::resume), and a
-- run started by `cairn install --resume` names the run it resumes (a chain back to a fresh
-- run: what the chain finished is not done again).
ALTER TABLE results ADD COLUMN checkpoint TEXT;
ALTER TABLE runs ADD COLUMN resumes INTEGER REFERENCES runs(id);
