-- goalsbot store, SQLite, schema version 1.
--
-- Current state is kept at field level (one row per record field, value as
-- JSON text) with a removed flag per record; every change to it is appended
-- to `history` with its provenance, so any past state can be replayed.
-- Timestamps are RFC 3339 UTC with a fixed width (2021-01-15T00:00:00.000000Z),
-- so comparing them as text compares them in time.

CREATE TABLE records (
    id          TEXT PRIMARY KEY NOT NULL,
    fiscal_year TEXT NOT NULL,
    removed     INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1))
);
CREATE INDEX records_fiscal_year ON records (fiscal_year);

CREATE TABLE fields (
    record_id TEXT NOT NULL REFERENCES records (id),
    field     TEXT NOT NULL,
    value     TEXT NOT NULL CHECK (json_valid(value)),
    PRIMARY KEY (record_id, field)
);

CREATE TABLE history (
    seq                INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id             TEXT NOT NULL,
    at                 TEXT NOT NULL,
    record_id          TEXT NOT NULL REFERENCES records (id),
    field              TEXT NOT NULL,
    old_value          TEXT CHECK (old_value IS NULL OR json_valid(old_value)),
    new_value          TEXT CHECK (new_value IS NULL OR json_valid(new_value)),
    source             TEXT NOT NULL CHECK (source IN ('wiki', 'tracker')),
    page_title         TEXT,
    revision_id        INTEGER,
    wiki_user          TEXT,
    revision_timestamp TEXT,
    operator           TEXT,
    command            TEXT,
    CHECK (
        (source = 'wiki' AND page_title IS NOT NULL AND revision_id IS NOT NULL
            AND revision_timestamp IS NOT NULL AND operator IS NULL AND command IS NULL)
        OR
        (source = 'tracker' AND operator IS NOT NULL AND command IS NOT NULL
            AND page_title IS NULL AND revision_id IS NULL AND wiki_user IS NULL
            AND revision_timestamp IS NULL)
    )
);
CREATE INDEX history_record ON history (record_id, seq);
CREATE INDEX history_at ON history (at);

-- History is the audit trail: the database itself refuses to rewrite it.
CREATE TRIGGER history_no_update BEFORE UPDATE ON history
BEGIN
    SELECT RAISE(ABORT, 'history is append-only');
END;
CREATE TRIGGER history_no_delete BEFORE DELETE ON history
BEGIN
    SELECT RAISE(ABORT, 'history is append-only');
END;

-- Per tracked page: the revision last synced and the records parsed from it
-- (the base of the next three-way merge).
CREATE TABLE pages (
    title       TEXT PRIMARY KEY NOT NULL,
    revision_id INTEGER NOT NULL,
    synced_at   TEXT NOT NULL,
    records     TEXT NOT NULL CHECK (json_valid(records))
);
