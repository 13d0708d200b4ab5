-- goalsbot store, schema version 12: where `watch` stands in what it
-- follows (one row at most). `rc_timestamp` and `rc_id` are the last entry
-- of the wiki's recent changes it has taken in (NULL before its first
-- poll); `history_seq` is the last row of `history` it has looked at and
-- `resolved_at` the last conflict resolution, so that a tracker edit (`set`,
-- `import`, `resolve`) made since is pushed.
CREATE TABLE watch_feed (
    slot         INTEGER PRIMARY KEY NOT NULL CHECK (slot = 1),
    rc_timestamp TEXT,
    rc_id        INTEGER,
    history_seq  INTEGER NOT NULL,
    resolved_at  TEXT NOT NULL,
    CHECK ((rc_timestamp IS NULL) = (rc_id IS NULL))
);
