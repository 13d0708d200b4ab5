-- goalsbot store, SQLite, schema version 4: conflicts belong to pages; push intents.
--
-- Several pages show the same field (every status table shows every
-- quarter), so two pages may each hold a value against the store. Each page
-- keeps its own pending conflict on a field, which follows that page's value
-- and is settled only by `resolve` or by that page coming to show the
-- store's value (never by another page that happens to agree).
DROP INDEX conflicts_one_pending;
CREATE UNIQUE INDEX conflicts_one_pending_per_page
    ON conflicts (record_id, field, page_title) WHERE resolved_at IS NULL;

-- A save the bot is about to make: written before the save, removed once the
-- page's new state is recorded. A run killed in between leaves it; the next
-- pull of the page finds the bot's own revision (the first after the base,
-- its summary naming the run) and records it as the page's state, instead of
-- reading the bot's own (by then possibly stale) values as a person's edit.
CREATE TABLE push_intents (
    title       TEXT PRIMARY KEY NOT NULL,
    base_revision_id INTEGER NOT NULL,
    run_id      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
