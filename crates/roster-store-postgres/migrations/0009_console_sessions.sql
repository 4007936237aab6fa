-- The admin console's sessions (ConsoleSessionStore), by the hash of the
-- cookie's secret. Not tenant data: a person's session may open several
-- tenants, so a tenant's purge leaves it (its grants are mapped per request).
CREATE TABLE console_sessions (
    hash         bytea PRIMARY KEY,
    subject      text NOT NULL,
    display_name text NOT NULL,
    groups       text[] NOT NULL,
    created_at   bigint NOT NULL,
    last_seen_at bigint NOT NULL,
    expires_at   bigint NOT NULL
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
