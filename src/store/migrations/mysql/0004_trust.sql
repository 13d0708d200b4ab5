-- goalsbot store, MariaDB, schema version 4: conflicts belong to pages, and push intents (see
-- the SQLite migration of the same number). At most one pending conflict per
-- field and page: `pending_key` hashes the three while pending (the plain
-- concatenation would exceed InnoDB's index key length), NULL once closed.
ALTER TABLE conflicts DROP INDEX conflicts_one_pending;
ALTER TABLE conflicts DROP COLUMN pending_key;
ALTER TABLE conflicts ADD COLUMN pending_key CHAR(64) CHARACTER SET ascii COLLATE ascii_bin
    AS (IF(resolved_at IS NULL, SHA2(CONCAT(record_id, '#', field, '#', page_title), 256), NULL)) PERSISTENT;
ALTER TABLE conflicts ADD UNIQUE INDEX conflicts_one_pending_per_page (pending_key);

-- A save the bot is about to make (see the SQLite migration of the same number).
CREATE TABLE push_intents (
    title       VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    base_revision_id BIGINT NOT NULL,
    run_id      VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    created_at  VARCHAR(32) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
