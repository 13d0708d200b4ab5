-- goalsbot store, schema version 9: the wikitext of each page's latest save
-- by the bot, with its revision. A later push that plans the page at that
-- revision uses it instead of reading the page's wikitext back, when the
-- wiki's SHA-1 of the revision (from the revision check) is the text's.
CREATE TABLE saved_texts (
    title       TEXT PRIMARY KEY NOT NULL,
    revision_id INTEGER NOT NULL,
    text        TEXT NOT NULL,
    saved_at    TEXT NOT NULL
);
