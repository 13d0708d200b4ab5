-- goalsbot store, MariaDB, schema version 7 (see the SQLite migration of the
-- same number): which parser read each page state. A
-- page state read by an older parser (0: before staff KR tables were read)
-- is not "unchanged" to a pull: the page is read again once, and what the
-- new parser finds (e.g. the statuses in a KR table staff wrote) merges
-- against the old reading as a wiki change.
ALTER TABLE pages ADD COLUMN parser INTEGER NOT NULL DEFAULT 0;
