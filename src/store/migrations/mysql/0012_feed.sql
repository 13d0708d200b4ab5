-- goalsbot store, MariaDB, schema version 12: where `watch` stands in what
-- it follows (see the SQLite migration of the same number).
CREATE TABLE watch_feed (
    slot         INT NOT NULL PRIMARY KEY CHECK (slot = 1),
    rc_timestamp VARCHAR(32),
    rc_id        BIGINT,
    history_seq  BIGINT NOT NULL,
    resolved_at  VARCHAR(32) NOT NULL,
    CHECK ((rc_timestamp IS NULL) = (rc_id IS NULL))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
