-- goalsbot store, MariaDB, schema version 5: one run at a time (see the
-- SQLite migration of the same number).
CREATE TABLE run_lease (
    slot         INT NOT NULL PRIMARY KEY CHECK (slot = 1),
    run_id       VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    holder       VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    command      TEXT NOT NULL,
    taken_at     VARCHAR(32) NOT NULL,
    heartbeat_at VARCHAR(32) NOT NULL,
    expires_at   VARCHAR(32) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
