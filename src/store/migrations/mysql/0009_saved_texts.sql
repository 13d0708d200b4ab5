-- goalsbot store, MariaDB, schema version 9: the wikitext of each page's
-- latest save by the bot (see the SQLite migration of the same number).
CREATE TABLE saved_texts (
    title       VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    revision_id BIGINT NOT NULL,
    text        LONGTEXT NOT NULL,
    saved_at    VARCHAR(32) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
