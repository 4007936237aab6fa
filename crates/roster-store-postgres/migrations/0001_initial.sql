-- The directory's schema as SQLite migrations 1-11 leave it, in PostgreSQL
-- types. Ids are TEXT, as in SQLite, so an id of a shape the store never
-- issues is simply not found (a uuid column would make it a cast error);
-- times are bigint epoch milliseconds (roster_core::Timestamp); documents are
-- jsonb; a due date is a date. The outbox's and the audit log's seq are
-- identity columns: their commit order per tenant is kept by a per-tenant
-- advisory lock taken before inserting (see the crate's outbox.rs, audit.rs).
-- Ids that pages are ordered by (feeds.id, people.external_id) use the `C`
-- collation: bytewise order, as in SQLite, whatever the server's locale.

CREATE TABLE tenants (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    created_at bigint NOT NULL
);

CREATE TABLE api_keys (
    id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (id),
    prefix text NOT NULL,
    hash bytea NOT NULL UNIQUE,
    scopes jsonb NOT NULL,
    created_at bigint NOT NULL,
    expires_at bigint,
    revoked_at bigint,
    last_used_at bigint
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE operator_keys (
    id text PRIMARY KEY,
    name text NOT NULL,
    prefix text NOT NULL,
    hash bytea NOT NULL UNIQUE,
    created_at bigint NOT NULL,
    revoked_at bigint,
    expires_at bigint,
    last_used_at bigint
);

CREATE TABLE audit_log (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at bigint NOT NULL,
    tenant_id text NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    target text,
    request_id text,
    client_request_id text
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq);

CREATE TABLE sources (
    tenant_id text NOT NULL REFERENCES tenants (id),
    name text NOT NULL,
    settings jsonb NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE feeds (
    id text COLLATE "C" PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (id),
    source text NOT NULL DEFAULT 'default',
    mode text NOT NULL,
    format text NOT NULL,
    status text NOT NULL,
    sealed boolean NOT NULL DEFAULT true,
    received bigint NOT NULL,
    accepted bigint NOT NULL,
    rejected bigint NOT NULL,
    applied bigint NOT NULL DEFAULT 0,
    unchanged bigint NOT NULL DEFAULT 0,
    stale bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    leavers bigint NOT NULL DEFAULT 0,
    rejections jsonb NOT NULL,
    reconciliation jsonb,
    -- The order feeds were accepted in, across the store.
    position bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    completed_at bigint
);
CREATE INDEX feeds_tenant ON feeds (tenant_id, id);
CREATE INDEX feeds_receiving ON feeds (updated_at) WHERE NOT sealed;
CREATE INDEX feeds_status ON feeds (status);
CREATE INDEX feeds_unsettled ON feeds (tenant_id, position)
    WHERE status IN ('receiving', 'accepted', 'processing');

CREATE TABLE snapshot_members (
    feed_id text NOT NULL,
    external_id text NOT NULL,
    PRIMARY KEY (feed_id, external_id)
);

CREATE TABLE people (
    tenant_id text NOT NULL,
    external_id text COLLATE "C" NOT NULL,
    source text NOT NULL DEFAULT 'default',
    version bigint NOT NULL,
    active boolean NOT NULL,
    status text NOT NULL DEFAULT 'active',
    due_on date,
    last_modified bigint,
    data jsonb NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    last_feed_id text,
    position bigint NOT NULL DEFAULT 0,
    manager_id text,
    manager_pending boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, external_id)
);
CREATE INDEX people_source_active ON people (tenant_id, source, active);
CREATE INDEX people_due ON people (due_on) WHERE due_on IS NOT NULL;
CREATE INDEX people_manager_pending ON people (tenant_id, manager_id) WHERE manager_pending;

CREATE TABLE person_history (
    tenant_id text NOT NULL,
    external_id text NOT NULL,
    version bigint NOT NULL,
    feed_id text NOT NULL,
    message_id text NOT NULL,
    event text,
    changed_fields jsonb NOT NULL,
    changes jsonb NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (tenant_id, external_id, version)
);

CREATE TABLE applied_messages (
    message_id text PRIMARY KEY,
    tenant_id text NOT NULL,
    feed_id text NOT NULL,
    outcome text NOT NULL,
    at bigint NOT NULL
);
CREATE INDEX applied_messages_at ON applied_messages (at);

CREATE TABLE idempotency_keys (
    tenant_id text NOT NULL,
    key text NOT NULL,
    fingerprint bytea NOT NULL,
    status integer,
    body text,
    location text,
    created_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- No unique index on id: ids are UUIDv7 and nothing looks an event up by id.
CREATE TABLE outbox (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL,
    tenant_id text NOT NULL,
    type text NOT NULL,
    feed_id text NOT NULL,
    occurred_at bigint NOT NULL,
    payload jsonb NOT NULL,
    delivered_at bigint
);
CREATE INDEX outbox_tenant ON outbox (tenant_id, seq);

CREATE TABLE endpoints (
    id text PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (id),
    url text NOT NULL,
    description text,
    event_types jsonb,
    secret text NOT NULL,
    previous_secret text,
    previous_secret_expires_at bigint,
    created_at bigint NOT NULL,
    disabled_at bigint,
    cursor bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at bigint
);
CREATE INDEX endpoints_tenant ON endpoints (tenant_id, created_at);

CREATE TABLE event_dead_letters (
    id text PRIMARY KEY,
    endpoint_id text NOT NULL REFERENCES endpoints (id),
    tenant_id text NOT NULL,
    event_seq bigint NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    state text NOT NULL,
    attempts integer NOT NULL,
    last_status integer,
    last_error text NOT NULL,
    dead_lettered_at bigint NOT NULL,
    next_attempt_at bigint,
    UNIQUE (endpoint_id, event_seq)
);
CREATE INDEX event_dead_letters_state ON event_dead_letters (endpoint_id, state, next_attempt_at);

-- Leases for jobs that run once per cluster; expires_at by the database's
-- clock (epoch ms), never a node's.
CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    token text NOT NULL,
    expires_at bigint NOT NULL
);
