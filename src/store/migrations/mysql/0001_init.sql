-- goalsbot store, MariaDB (ToolsDB), schema version 1: the same tables and
-- meaning as the SQLite schema of version 1.
--
-- Current state is kept at field level (one row per record field, value as
-- JSON text) with a removed flag per record; every change to it is appended
-- to `history` with its provenance, so any past state can be replayed.
-- Timestamps are RFC 3339 UTC with a fixed width (2021-01-15T00:00:00.000000Z),
-- so comparing them as text compares them in time.
--
-- All text is utf8mb4 (4-byte UTF-8 such as emoji survives) with binary
-- collations: keys compare byte for byte (a case-insensitive collation would
-- make `…/KR1` and `…/kr1` one record), and the NOPAD ones also keep `a` and
-- `a ` apart. Key lengths fit InnoDB's 3072-byte index limit at 4 bytes a
-- character.

-- Every write transaction first locks this one row (SELECT … FOR UPDATE), so
-- writers from any number of goalsbot processes take turns, as SQLite's
-- BEGIN IMMEDIATE makes them: a compare-and-set then reads what the previous
-- writer committed.
CREATE TABLE write_lock (
    id TINYINT NOT NULL PRIMARY KEY CHECK (id = 1)
) ENGINE = InnoDB;
INSERT INTO write_lock (id) VALUES (1);

CREATE TABLE records (
    id          VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    fiscal_year VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    removed     TINYINT NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
    INDEX records_fiscal_year (fiscal_year)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE fields (
    record_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    field     VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    value     LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL CHECK (json_valid(value)),
    PRIMARY KEY (record_id, field),
    CONSTRAINT fields_record_fk FOREIGN KEY (record_id) REFERENCES records (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE history (
    seq                BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    run_id             TEXT NOT NULL,
    at                 VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    record_id          VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    field              VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    old_value          LONGTEXT CHECK (old_value IS NULL OR json_valid(old_value)),
    new_value          LONGTEXT CHECK (new_value IS NULL OR json_valid(new_value)),
    source             VARCHAR(16) NOT NULL CHECK (source IN ('wiki', 'tracker')),
    page_title         TEXT,
    revision_id        BIGINT,
    wiki_user          TEXT,
    revision_timestamp VARCHAR(32),
    operator           TEXT,
    command            TEXT,
    CONSTRAINT history_provenance CHECK (
        (source = 'wiki' AND page_title IS NOT NULL AND revision_id IS NOT NULL
            AND revision_timestamp IS NOT NULL AND operator IS NULL AND command IS NULL)
        OR
        (source = 'tracker' AND operator IS NOT NULL AND command IS NOT NULL
            AND page_title IS NULL AND revision_id IS NULL AND wiki_user IS NULL
            AND revision_timestamp IS NULL)
    ),
    INDEX history_record (record_id, seq),
    INDEX history_at (at),
    CONSTRAINT history_record_fk FOREIGN KEY (record_id) REFERENCES records (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- History is the audit trail: the database itself refuses to rewrite it.
-- (One-statement trigger bodies: no BEGIN … END, so no client DELIMITER games.)
-- The append-only triggers are created by goalsbot after migrating (see
-- src/store/mysql.rs): ToolsDB may refuse CREATE TRIGGER to accounts without
-- SUPER when binary logging is on, and a migration must not fail half-way.

-- Per tracked page: the revision last synced and the records parsed from it
-- (the base of the next three-way merge). A MediaWiki title is at most 255
-- bytes; 512 characters leave room for a namespace prefix.
CREATE TABLE pages (
    title       VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    revision_id BIGINT NOT NULL,
    synced_at   VARCHAR(32) NOT NULL,
    records     LONGTEXT NOT NULL CHECK (json_valid(records))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
