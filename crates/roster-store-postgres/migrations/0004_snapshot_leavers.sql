-- A completed snapshot's leavers listed by feed (`feed_leavers`; SQLite's
-- migration 14): only `person.left` rows are indexed, so the writes of every
-- other version pay nothing for it.
CREATE INDEX person_history_left ON person_history (tenant_id, feed_id, external_id)
    WHERE event = 'person.left';
