-- goalsbot store, MariaDB, schema version 6: the inputs of the last sync
-- that found nothing to do (see the SQLite migration of the same number).
CREATE TABLE sync_marker (
    slot        INT NOT NULL PRIMARY KEY CHECK (slot = 1),
    digest      VARCHAR(128) NOT NULL,
    recorded_at VARCHAR(32) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
