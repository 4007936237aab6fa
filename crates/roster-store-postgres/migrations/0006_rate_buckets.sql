-- Request-rate buckets shared by the cluster's nodes (RateBuckets): one
-- row per credential that sent a request. UNLOGGED: written on every
-- request and worthless after a crash (buckets then start full again), so
-- they skip the WAL and its fsync.
CREATE UNLOGGED TABLE rate_buckets (
    key    text PRIMARY KEY,
    tokens double precision NOT NULL,
    at_ms  bigint NOT NULL
);
