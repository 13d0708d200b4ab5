-- goalsbot store, schema version 10: what the wiki said of each staff table
-- before the bot wrote into it. A table is known by the digest of its
-- wikitext (and the reader's version); `agrees` is 1 when the wiki's own
-- parse sees the reader's rows and cells, else 0 with the reason in `detail`.
CREATE TABLE table_checks (
    digest     TEXT PRIMARY KEY NOT NULL,
    agrees     INTEGER NOT NULL,
    detail     TEXT NOT NULL,
    checked_at TEXT NOT NULL
);
