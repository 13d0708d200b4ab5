-- goalsbot store, schema version 8: per fiscal year, a digest of the inputs
-- of its five pages' plans (the year's history head, conflicts, pages'
-- sync states and push intents, the pages' latest revisions, the templates
-- and the config) when a push last found none of them needing anything. A
-- push whose inputs for the year have the same digest skips the year
-- without planning it.
CREATE TABLE year_checks (
    fiscal_year TEXT PRIMARY KEY NOT NULL,
    digest      TEXT NOT NULL,
    checked_at  TEXT NOT NULL
);
