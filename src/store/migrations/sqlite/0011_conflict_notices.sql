-- goalsbot store, schema version 11: the signed notice that told the people
-- in a conflict about it. `notice_revid` is the command page's revision that
-- posted it; NULL while no notice was posted (each conflict gets one).
ALTER TABLE conflicts ADD COLUMN notice_revid INTEGER;
