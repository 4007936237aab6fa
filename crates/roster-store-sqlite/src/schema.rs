//! Migrations, applied in order and recorded in `PRAGMA user_version`.

use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id),
        prefix TEXT NOT NULL,
        hash BLOB NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER,
        last_used_at INTEGER
    );
    CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
    CREATE TABLE feeds (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id),
        mode TEXT NOT NULL,
        format TEXT NOT NULL,
        status TEXT NOT NULL,
        received INTEGER NOT NULL,
        accepted INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        applied INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        stale INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        rejections TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        completed_at INTEGER
    );
    CREATE INDEX feeds_tenant ON feeds (tenant_id, id);
    CREATE TABLE people (
        tenant_id TEXT NOT NULL,
        external_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        active INTEGER NOT NULL,
        last_modified INTEGER,
        data TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_feed_id TEXT,
        PRIMARY KEY (tenant_id, external_id)
    ) WITHOUT ROWID;
    CREATE TABLE person_history (
        tenant_id TEXT NOT NULL,
        external_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        feed_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        event TEXT,
        changed_fields TEXT NOT NULL,
        changes TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, external_id, version)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        tenant_id TEXT NOT NULL,
        type TEXT NOT NULL,
        feed_id TEXT NOT NULL,
        occurred_at INTEGER NOT NULL,
        payload TEXT NOT NULL,
        delivered_at INTEGER
    );
    CREATE INDEX outbox_tenant ON outbox (tenant_id, seq);
    CREATE TABLE applied_messages (
        message_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        feed_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 2: sources, full-snapshot reconciliation, idempotency keys.
    "
    CREATE TABLE sources (
        tenant_id TEXT NOT NULL REFERENCES tenants (id),
        name TEXT NOT NULL,
        settings TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, name)
    ) WITHOUT ROWID;
    ALTER TABLE feeds ADD COLUMN source TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE feeds ADD COLUMN sealed INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE feeds ADD COLUMN leavers INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feeds ADD COLUMN reconciliation TEXT;
    ALTER TABLE people ADD COLUMN source TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX people_source_active ON people (tenant_id, source, active);
    CREATE TABLE snapshot_members (
        feed_id TEXT NOT NULL,
        external_id TEXT NOT NULL,
        PRIMARY KEY (feed_id, external_id)
    ) WITHOUT ROWID;
    CREATE TABLE idempotency_keys (
        tenant_id TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint BLOB NOT NULL,
        status INTEGER,
        body TEXT,
        location TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, key)
    ) WITHOUT ROWID;
    ",
    // 3: future-dated hires and terminations: a person's status and the day
    // it changes by itself.
    "
    ALTER TABLE people ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
    UPDATE people SET status = 'inactive' WHERE active = 0;
    ALTER TABLE people ADD COLUMN due_on TEXT;
    CREATE INDEX people_due ON people (due_on) WHERE due_on IS NOT NULL;
    CREATE INDEX feeds_receiving ON feeds (updated_at) WHERE sealed = 0;
    CREATE INDEX feeds_status ON feeds (status);
    ",
    // 4: the audit log. Append-only: nothing in the code updates or deletes it.
    "
    CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        tenant_id TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        request_id TEXT
    );
    CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq);
    ",
    // 5: operators: credentials for cross-tenant administration.
    "
    CREATE TABLE operator_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        hash BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    ",
    // 6: webhook endpoints and the outbox dispatcher. Each endpoint keeps its
    // own cursor in the outbox (the last position delivered, dead-lettered or
    // skipped) and the attempts at the event after it; `outbox.delivered_at`
    // stays unused, since an event is delivered once per endpoint.
    "
    CREATE TABLE endpoints (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants (id),
        url TEXT NOT NULL,
        description TEXT,
        event_types TEXT,
        secret TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        disabled_at INTEGER,
        cursor INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER
    );
    CREATE INDEX endpoints_tenant ON endpoints (tenant_id, created_at);
    CREATE TABLE event_dead_letters (
        id TEXT PRIMARY KEY,
        endpoint_id TEXT NOT NULL REFERENCES endpoints (id),
        tenant_id TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        last_status INTEGER,
        last_error TEXT NOT NULL,
        dead_lettered_at INTEGER NOT NULL,
        next_attempt_at INTEGER,
        UNIQUE (endpoint_id, event_seq)
    );
    CREATE INDEX event_dead_letters_state ON event_dead_letters (endpoint_id, state, next_attempt_at);
    ",
    // 7: the outbox without its unique index on `id`: ids are UUIDv7, unique
    // by construction, and nothing looks an event up by id — it was one
    // B-tree insert per lifecycle event on the directory's single writer.
    // `seq` values and the AUTOINCREMENT high-water mark are kept: endpoint
    // cursors point at them (DROP TABLE forgets the mark, RENAME carries it).
    "
    CREATE TABLE outbox_v7 (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        type TEXT NOT NULL,
        feed_id TEXT NOT NULL,
        occurred_at INTEGER NOT NULL,
        payload TEXT NOT NULL,
        delivered_at INTEGER
    );
    INSERT INTO outbox_v7 (seq, id, tenant_id, type, feed_id, occurred_at, payload, delivered_at)
        SELECT seq, id, tenant_id, type, feed_id, occurred_at, payload, delivered_at FROM outbox;
    DELETE FROM sqlite_sequence WHERE name = 'outbox_v7';
    INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox_v7', seq FROM sqlite_sequence WHERE name = 'outbox';
    DROP TABLE outbox;
    ALTER TABLE outbox_v7 RENAME TO outbox;
    CREATE INDEX outbox_tenant ON outbox (tenant_id, seq);
    ",
    // 8: rotating an endpoint's signing secret: the one it replaced stays
    // valid (deliveries carry both signatures) until it expires.
    "
    ALTER TABLE endpoints ADD COLUMN previous_secret TEXT;
    ALTER TABLE endpoints ADD COLUMN previous_secret_expires_at INTEGER;
    ",
    // 9: the ordering model, and manager references. Each feed gets its place in the order feeds were
    // accepted (`position`); each person remembers the position of the
    // newest feed that said anything about them — a write, an unchanged
    // listing, a snapshot's deactivation. Stale changes and snapshot
    // leavers are decided by these, never by when a change was applied.
    // Existing feeds are numbered by acceptance time; a person starts at
    // the position of the feed that last wrote them. `manager_id` is the
    // person's manager's external id (for the reporting-cycle check) and
    // `manager_pending` says it names nobody yet.
    "
    ALTER TABLE feeds ADD COLUMN position INTEGER;
    UPDATE feeds SET position = r.n
      FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM feeds) AS r
     WHERE feeds.id = r.id;
    CREATE UNIQUE INDEX feeds_position ON feeds (position);
    CREATE INDEX feeds_unsettled ON feeds (tenant_id, position)
        WHERE status IN ('receiving', 'accepted', 'processing');
    ALTER TABLE people ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
    UPDATE people SET position = COALESCE((SELECT f.position FROM feeds f WHERE f.id = people.last_feed_id), 0);
    CREATE INDEX applied_messages_at ON applied_messages (at);
    ALTER TABLE people ADD COLUMN manager_id TEXT;
    ALTER TABLE people ADD COLUMN manager_pending INTEGER NOT NULL DEFAULT 0;
    UPDATE people SET manager_id = json_extract(data, '$.manager');
    UPDATE people SET manager_pending = 1
     WHERE manager_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM people m WHERE m.tenant_id = people.tenant_id AND m.external_id = people.manager_id);
    CREATE INDEX people_manager_pending ON people (tenant_id, manager_id) WHERE manager_pending = 1;
    CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
    ",
    // 10: operator keys expire and show their last use; the audit log keeps
    // the server's request id and, apart, the one the client sent.
    "
    ALTER TABLE operator_keys ADD COLUMN expires_at INTEGER;
    ALTER TABLE operator_keys ADD COLUMN last_used_at INTEGER;
    ALTER TABLE audit_log ADD COLUMN client_request_id TEXT;
    ",
    // 11: leases for jobs that run once per cluster; a row per held name,
    // `expires_at` by the store's clock.
    "
    CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        token TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    ",
    // 12: the delivery-attempt log of each endpoint: one row per attempt
    // (no payload, no URL, no answer body), pruned by the retention sweep.
    "
    CREATE TABLE delivery_attempts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        endpoint_id TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        status INTEGER,
        outcome TEXT NOT NULL
    );
    CREATE INDEX delivery_attempts_endpoint ON delivery_attempts (endpoint_id, seq);
    CREATE INDEX delivery_attempts_event ON delivery_attempts (endpoint_id, event_id, seq);
    CREATE INDEX delivery_attempts_at ON delivery_attempts (at);
    ",
    // 13: tenants deleted after a grace period (`delete_after`: when the
    // scheduler purges them; their credentials are refused from
    // `deletion_requested_at`), and API keys' names. Existing keys are
    // named `key-` and the end of their id, which is unique enough to tell
    // them apart in a listing.
    "
    ALTER TABLE tenants ADD COLUMN deletion_requested_at INTEGER;
    ALTER TABLE tenants ADD COLUMN delete_after INTEGER;
    CREATE INDEX tenants_delete_after ON tenants (delete_after) WHERE delete_after IS NOT NULL;
    ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
    UPDATE api_keys SET name = 'key-' || substr(replace(id, '-', ''), -8);
    ",
    // 14: a completed snapshot's leavers listed by feed (`feed_leavers`):
    // only `person.left` rows are indexed, so the writes of every other
    // version pay nothing for it.
    "
    CREATE INDEX person_history_left ON person_history (tenant_id, feed_id, external_id)
        WHERE event = 'person.left';
    ",
    // 15: an endpoint's delivery generation, moved on by every change made
    // beside the dispatcher (replay, enable, disable): a delivery pass
    // records its progress only while the generation it started from holds,
    // so a replay landing mid-page is never overwritten by the pass's cursor.
    "
    ALTER TABLE endpoints ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
    ",
    // 16: each alarm rule's state, so a restart or a takeover of the
    // `alarms` lease goes on from it; `version` is what a write
    // compares-and-sets.
    "
    CREATE TABLE alarm_states (
        rule TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        since INTEGER NOT NULL,
        reason TEXT NOT NULL,
        notified_at INTEGER NOT NULL,
        version INTEGER NOT NULL
    );
    ",
    // 17: the admin console's sessions, by the hash of the cookie's secret;
    // `groups` is a JSON array of the identity provider's group names.
    "
    CREATE TABLE console_sessions (
        hash BLOB PRIMARY KEY,
        subject TEXT NOT NULL,
        display_name TEXT NOT NULL,
        groups TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);
    ",
];

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox_seqs(conn: &Connection) -> Vec<(i64, String)> {
        let mut stmt = conn.prepare("SELECT seq, id FROM outbox ORDER BY seq").expect("select");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    #[test]
    fn the_outbox_rebuild_keeps_events_their_seq_and_the_high_water_mark() {
        let mut conn = Connection::open_in_memory().expect("open");
        // A directory as version 6 left it, with events, the newest deleted
        // so the AUTOINCREMENT mark is above every stored seq.
        for sql in &MIGRATIONS[..6] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.pragma_update(None, "user_version", 6).expect("version");
        for n in 1..=3 {
            conn.execute(
                "INSERT INTO outbox (id, tenant_id, type, feed_id, occurred_at, payload)
                 VALUES (?1, 't', 'person.joined', 'f', 0, '{}')",
                [format!("event-{n}")],
            )
            .expect("event");
        }
        conn.execute("DELETE FROM outbox WHERE seq = 3", []).expect("delete");

        migrate(&mut conn).expect("migrate");

        assert_eq!(outbox_seqs(&conn), vec![(1, "event-1".to_owned()), (2, "event-2".to_owned())]);
        conn.execute(
            "INSERT INTO outbox (id, tenant_id, type, feed_id, occurred_at, payload)
             VALUES ('event-4', 't', 'person.joined', 'f', 0, '{}')",
            [],
        )
        .expect("new event");
        let newest = outbox_seqs(&conn).last().cloned().expect("an event");
        assert_eq!(newest, (4, "event-4".to_owned()), "seq continues after the old high-water mark");
        let unique_indexes: i64 = conn
            .query_row("SELECT COUNT(*) FROM pragma_index_list('outbox') WHERE \"unique\" = 1", [], |r| {
                r.get(0)
            })
            .expect("index list");
        assert_eq!(unique_indexes, 0, "no unique index on the outbox's id any more");
        let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
        assert_eq!(version, MIGRATIONS.len());
    }

    #[test]
    fn existing_keys_get_a_name_and_tenants_are_not_being_deleted() {
        let mut conn = Connection::open_in_memory().expect("open");
        for sql in &MIGRATIONS[..11] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.pragma_update(None, "user_version", 11).expect("version");
        conn.execute("INSERT INTO tenants (id, name, created_at) VALUES ('t', 'acme', 0)", [])
            .expect("tenant");
        conn.execute(
            "INSERT INTO api_keys (id, tenant_id, prefix, hash, scopes, created_at)
             VALUES ('0190aaaa-bbbb-7ccc-8ddd-0123456789ab', 't', 'rk_live_x', x'01', 'admin', 0)",
            [],
        )
        .expect("key");

        migrate(&mut conn).expect("migrate");

        let name: String = conn.query_row("SELECT name FROM api_keys", [], |r| r.get(0)).expect("name");
        assert_eq!(name, "key-456789ab");
        assert!(roster_core::KeyName::parse(&name).is_ok(), "a default name is a valid name");
        let deleting: Option<i64> =
            conn.query_row("SELECT delete_after FROM tenants", [], |r| r.get(0)).expect("tenant");
        assert_eq!(deleting, None);
    }
}
