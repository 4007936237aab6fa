-- The delivery-attempt log of each endpoint (issue 15): one row per attempt,
-- no payload, no URL, no answer body; pruned by the retention sweep.
-- (0002 is the other concerns' migration, on another branch.)
CREATE TABLE delivery_attempts (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL,
    endpoint_id text NOT NULL REFERENCES endpoints (id),
    event_seq bigint NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    attempt integer NOT NULL,
    at bigint NOT NULL,
    duration_ms bigint NOT NULL,
    status integer,
    outcome text NOT NULL
);
CREATE INDEX delivery_attempts_endpoint ON delivery_attempts (endpoint_id, seq);
CREATE INDEX delivery_attempts_event ON delivery_attempts (endpoint_id, event_id, seq);
CREATE INDEX delivery_attempts_at ON delivery_attempts (at);
