-- goalsbot store, MariaDB (ToolsDB), schema version 2: the same tables and
-- meaning as the SQLite schema of version 2 (what `sync` and `watch` remember).

CREATE TABLE conflicts (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    fiscal_year VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    record_id   VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    field       VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    page_title  VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    revision_id BIGINT NOT NULL,
    wiki_user   TEXT,
    base_value  LONGTEXT CHECK (base_value IS NULL OR json_valid(base_value)),
    wiki_value  LONGTEXT CHECK (wiki_value IS NULL OR json_valid(wiki_value)),
    store_value LONGTEXT CHECK (store_value IS NULL OR json_valid(store_value)),
    run_id      TEXT NOT NULL,
    created_at  VARCHAR(32) NOT NULL,
    resolved_at VARCHAR(32),
    resolution  VARCHAR(16) CHECK (resolution IS NULL OR resolution IN ('wiki', 'store', 'settled')),
    resolved_by TEXT,
    resolved_run_id TEXT,
    -- MariaDB has no partial unique index: `pending_key` is the field while
    -- pending and NULL once closed, and NULLs do not collide.
    pending_key VARCHAR(511) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin
        AS (IF(resolved_at IS NULL, CONCAT(record_id, '#', field), NULL)) PERSISTENT,
    CONSTRAINT conflicts_resolved CHECK ((resolved_at IS NULL) = (resolution IS NULL)),
    UNIQUE INDEX conflicts_one_pending (pending_key),
    INDEX conflicts_pending (resolved_at, fiscal_year)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE page_checks (
    title       VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    revision_id BIGINT NOT NULL,
    fingerprint VARCHAR(128) NOT NULL,
    outcome     VARCHAR(16) NOT NULL CHECK (outcome IN ('unchanged', 'nobots')),
    checked_at  VARCHAR(32) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE edits (
    seq         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    run_id      VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    at          VARCHAR(32) NOT NULL,
    title       VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    old_revision_id BIGINT,
    new_revision_id BIGINT NOT NULL,
    summary     TEXT NOT NULL,
    INDEX edits_run (run_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE runs (
    run_id      VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    started_at  VARCHAR(32) NOT NULL,
    finished_at VARCHAR(32) NOT NULL,
    command     TEXT NOT NULL,
    outcome     VARCHAR(32) NOT NULL,
    summary     LONGTEXT NOT NULL CHECK (json_valid(summary)),
    INDEX runs_finished (finished_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE requests (
    id              VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    page_title      VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    revision_id     BIGINT NOT NULL,
    requester       VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
    template        TEXT NOT NULL,
    state           VARCHAR(16) NOT NULL CHECK (state IN ('claimed', 'answered')),
    run_id          TEXT,
    claimed_at      VARCHAR(32) NOT NULL,
    answered_at     VARCHAR(32),
    reply_revision_id BIGINT,
    INDEX requests_requester (requester, claimed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE watch_state (
    page_title  VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL PRIMARY KEY,
    revision_id BIGINT NOT NULL,
    content     LONGTEXT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
