-- goalsbot store, schema version 6: the inputs of the last sync that found
-- nothing to do (a digest of the pages' revisions, the store's state, the
-- templates and the config). A sync whose inputs have the same digest has
-- nothing to do either, and skips its pull and push (one row at most).
CREATE TABLE sync_marker (
    slot        INTEGER PRIMARY KEY NOT NULL CHECK (slot = 1),
    digest      TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
