-- goalsbot store, MariaDB, schema version 8: per fiscal year, the digest of
-- its pages' plan inputs when a push last found nothing to do for them (see
-- the SQLite migration of the same number).
CREATE TABLE year_checks (
    fiscal_year VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    digest      VARCHAR(128) NOT NULL,
    checked_at  VARCHAR(32) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
