-- goalsbot store, SQLite, schema version 2: what `sync` and `watch` remember.

-- Fields changed on both sides to different values, held for a person
-- (sync.md). A conflict is pending while resolved_at is NULL; it is closed by
-- `goalsbot resolve` (resolution 'wiki' or 'store') or when wiki and store
-- come to agree on their own ('settled'). Closed conflicts are kept.
CREATE TABLE conflicts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    fiscal_year TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    page_title  TEXT NOT NULL,
    revision_id INTEGER NOT NULL,
    wiki_user   TEXT,
    base_value  TEXT CHECK (base_value IS NULL OR json_valid(base_value)),
    wiki_value  TEXT CHECK (wiki_value IS NULL OR json_valid(wiki_value)),
    store_value TEXT CHECK (store_value IS NULL OR json_valid(store_value)),
    run_id      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    resolved_at TEXT,
    resolution  TEXT CHECK (resolution IS NULL OR resolution IN ('wiki', 'store', 'settled')),
    resolved_by TEXT,
    resolved_run_id TEXT,
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE INDEX conflicts_pending ON conflicts (resolved_at, fiscal_year);
-- At most one pending conflict per field.
CREATE UNIQUE INDEX conflicts_one_pending ON conflicts (record_id, field) WHERE resolved_at IS NULL;

-- Per page the bot writes: the revision it last planned a push against and a
-- fingerprint of everything the plan depended on besides that revision (the
-- records to show, the templates, the goalsbot version). When both still
-- match, the page needs no edit and its wikitext is not fetched again.
CREATE TABLE page_checks (
    title       TEXT PRIMARY KEY NOT NULL,
    revision_id INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('unchanged', 'nobots')),
    checked_at  TEXT NOT NULL
);

-- Every edit the bot saved, with its run: for reports, replies and rollback.
CREATE TABLE edits (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    at          TEXT NOT NULL,
    title       TEXT NOT NULL,
    old_revision_id INTEGER,
    new_revision_id INTEGER NOT NULL,
    summary     TEXT NOT NULL
);
CREATE INDEX edits_run ON edits (run_id);

-- Every finished run (sync, push, pull, watch requests) with its summary as
-- JSON, for the bot status page.
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    command     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    summary     TEXT NOT NULL CHECK (json_valid(summary))
);
CREATE INDEX runs_finished ON runs (finished_at);

-- On-wiki requests (commands.md): each request is claimed before its action
-- runs and marked answered once the reply is saved, so a restarted watcher
-- answers each one exactly once.
CREATE TABLE requests (
    id              TEXT PRIMARY KEY NOT NULL,
    page_title      TEXT NOT NULL,
    revision_id     INTEGER NOT NULL,
    requester       TEXT NOT NULL,
    template        TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('claimed', 'answered')),
    run_id          TEXT,
    claimed_at      TEXT NOT NULL,
    answered_at     TEXT,
    reply_revision_id INTEGER
);
CREATE INDEX requests_requester ON requests (requester, claimed_at);

-- Per watched page: the last revision whose requests were taken in.
CREATE TABLE watch_state (
    page_title  TEXT PRIMARY KEY NOT NULL,
    revision_id INTEGER NOT NULL,
    content     TEXT NOT NULL
);
