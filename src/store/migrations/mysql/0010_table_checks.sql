-- goalsbot store, MariaDB, schema version 10: what the wiki said of each
-- staff table before the bot wrote into it (see the SQLite migration of the
-- same number).
CREATE TABLE table_checks (
    digest     VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    agrees     TINYINT NOT NULL,
    detail     TEXT NOT NULL,
    checked_at VARCHAR(32) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
