//! Migrations: `migrations/NNNN_name.sql`, applied in order, each in its own
//! transaction, recorded in `roster_schema (version)`. Numbers are this
//! backend's own (SQLite's list differs: parity is proved by the
//! conformance suite, not by matching migration lists).

use sqlx::{Connection, Executor, PgConnection};

use crate::conn::storage;
use roster_store::StoreError;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_initial.sql")),
    (2, include_str!("../migrations/0002_tenants_and_key_names.sql")),
    (3, include_str!("../migrations/0003_webhooks.sql")),
    (4, include_str!("../migrations/0004_snapshot_leavers.sql")),
    (5, include_str!("../migrations/0005_delivery_generation.sql")),
    (6, include_str!("../migrations/0006_rate_buckets.sql")),
    (7, include_str!("../migrations/0007_outbox_occurred_at.sql")),
    (8, include_str!("../migrations/0008_alarm_states.sql")),
    (9, include_str!("../migrations/0009_console_sessions.sql")),
];

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The advisory lock migrations run under: an arbitrary constant of ours
/// ("roster" in ASCII), the same for every node.
const MIGRATION_LOCK: i64 = 0x726f_7374_6572;

/// The version the database is at; 0 for a database never migrated.
pub(crate) async fn applied_version(c: &mut PgConnection) -> Result<i64, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('roster_schema') IS NOT NULL")
        .fetch_one(&mut *c)
        .await
        .map_err(storage)?;
    if !exists {
        return Ok(0);
    }
    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM roster_schema")
        .fetch_one(&mut *c)
        .await
        .map_err(storage)
}

/// Applies the migrations the database lacks, holding the advisory lock so
/// that nodes starting at once apply each migration once. Returns the
/// version the database was at before.
pub(crate) async fn migrate(c: &mut PgConnection) -> Result<i64, StoreError> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *c)
        .await
        .map_err(storage)?;
    let result = apply_missing(c).await;
    // Released on every path (a dropped connection releases it too).
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *c)
        .await
        .map_err(storage);
    let before = result?;
    unlocked?;
    Ok(before)
}

async fn apply_missing(c: &mut PgConnection) -> Result<i64, StoreError> {
    // A `&str` runs by the simple protocol (no statement prepared), which
    // takes several statements; sqlx's `raw_sql` would do the same but its
    // future is not `Send` for every lifetime (callers spawn this).
    c.execute(
        "CREATE TABLE IF NOT EXISTS roster_schema (
             version bigint PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(storage)?;
    let before = applied_version(c).await?;
    if before > SCHEMA_VERSION {
        // Never downgrade: an older build leaves a newer schema alone.
        return Ok(before);
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > before) {
        let mut tx = c.begin().await.map_err(storage)?;
        tx.execute(*sql).await.map_err(storage)?;
        sqlx::query("INSERT INTO roster_schema (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
    }
    Ok(before)
}

#[cfg(test)]
mod tests {
    /// `migrate` is spawned by callers (a deploy step, a node's start).
    #[test]
    fn migrating_is_a_send_future() {
        fn send<T: Send>(_: T) {}
        send(crate::PgDirectory::migrate("postgres://localhost/x"));
        send(crate::PgDirectory::connect("postgres://localhost/x", 1));
    }
}
