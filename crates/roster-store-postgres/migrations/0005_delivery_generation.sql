-- An endpoint's delivery generation, moved on by every change made beside
-- the dispatcher (replay, enable, disable): a delivery pass records its
-- progress only while the generation it started from holds, so a replay
-- landing mid-page is never overwritten by the pass's cursor.
ALTER TABLE endpoints ADD COLUMN generation bigint NOT NULL DEFAULT 0;
