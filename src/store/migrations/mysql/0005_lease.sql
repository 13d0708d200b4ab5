-- goalsbot store, MariaDB, schema version 5: one run at a time, and the
-- watcher's memory in a table of its own (see the
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

-- What the watcher remembers of the request lines each watched page held
-- (see the SQLite migration of the same number).
CREATE TABLE watch_seen (
    page_title  VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    seen        LONGTEXT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO watch_seen (page_title, seen)
    SELECT SUBSTRING(page_title, 1, CHAR_LENGTH(page_title) - 5), content
    FROM watch_state WHERE page_title LIKE '%#seen';
DELETE FROM watch_state WHERE page_title LIKE '%#seen';
