-- The retention sweep deletes delivered events older than the window
-- (`occurred_at < $1`): without an index it read the whole outbox every
-- sweep.
CREATE INDEX outbox_occurred_at ON outbox (occurred_at);
