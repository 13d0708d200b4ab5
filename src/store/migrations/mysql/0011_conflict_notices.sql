-- goalsbot store, MariaDB, schema version 11: the signed notice that told the
-- people in a conflict about it (see the SQLite migration of the same number).
ALTER TABLE conflicts ADD COLUMN notice_revid BIGINT NULL;
