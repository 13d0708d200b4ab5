-- goalsbot store, schema version 5: one run at a time. The run that writes
-- holds the lease (one row at most: slot 1); it renews `expires_at` while it
-- runs (its heartbeat) and deletes the row when it ends. A run killed
-- without a trace stops holding it when `expires_at` passes. Taken in a
-- write transaction, so two runs that try at once take turns and one wins.
CREATE TABLE run_lease (
    slot         INTEGER PRIMARY KEY NOT NULL CHECK (slot = 1),
    run_id       TEXT NOT NULL,
    holder       TEXT NOT NULL,
    command      TEXT NOT NULL,
    taken_at     TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);

-- What the watcher remembers of the request lines each watched page held
-- (JSON), in a table of its own: schema 4 kept it in watch_state under the
-- key `PAGE#seen`; those rows move here.
CREATE TABLE watch_seen (
    page_title  TEXT PRIMARY KEY NOT NULL,
    seen        TEXT NOT NULL
);
INSERT INTO watch_seen (page_title, seen)
    SELECT substr(page_title, 1, length(page_title) - 5), content
    FROM watch_state WHERE page_title LIKE '%#seen';
DELETE FROM watch_state WHERE page_title LIKE '%#seen';
