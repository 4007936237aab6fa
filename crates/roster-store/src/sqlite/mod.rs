//! The embedded directory: one SQLite file (WAL, `synchronous=FULL`).
//! One writer connection and one reader connection; WAL lets reads run while
//! the consumer writes.

mod apply;
mod audit;
mod outbox;
mod reconcile;
mod retention;
mod schema;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use roster_core::secret::Secret;
use roster_core::{
    ChangeMessage, ExternalId, FeedId, FeedMode, Person, RecordError, SourceName, Status, TenantId, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, params};

pub use crate::policy::status_of;

use crate::{
    ApiKeyInfo, ApplyOutcome, AuditEntry, DeliveryTarget, DeliveryUpdate, Directory, Endpoint,
    EndpointBacklog, EventDeadLetter, Feed, FeedCounts, FeedSeal, FeedStatus, HistoryEntry, IdempotencyClaim,
    NewApiKey, NewAuditEntry, NewEndpoint, NewFeed, OperatorKeyInfo, OutboxEvent, Page, PersonRecord,
    PruneReport, Redelivery, RedeliveryUpdate, Scope, Source, SourceSettings, StoreError, Tenant,
};

/// Most rejected records kept with a feed.
pub const MAX_STORED_REJECTIONS: usize = 1000;
/// Most items of one listing.
pub const MAX_PAGE: usize = 1000;
/// A key's last use is written at most this often.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

pub struct SqliteDirectory {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    _checkpointer: roster_sqlite::Checkpointer,
}

pub(crate) fn storage(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Storage(e.to_string()),
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: the consumer acknowledges a message once its apply committed, so
    // the commit must survive power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// A write transaction that takes the write lock at its start. A deferred
/// one that reads first would be refused `SQLITE_BUSY` at once, without the
/// busy timeout, when another connection (an operator's `sqlite3`, a CLI
/// command on the data dir) holds the lock at its first write.
fn immediate(c: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(storage)
}

fn id<T: std::str::FromStr>(s: String) -> rusqlite::Result<T> {
    s.parse().map_err(|_| rusqlite::Error::InvalidColumnType(0, "id".into(), rusqlite::types::Type::Text))
}

fn json_col<T: serde::de::DeserializeOwned>(s: String) -> rusqlite::Result<T> {
    serde_json::from_str(&s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

pub(crate) fn counts_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FeedCounts> {
    let n = |i: usize| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
    Ok(FeedCounts {
        received: n(0)?,
        accepted: n(1)?,
        rejected: n(2)?,
        applied: n(3)?,
        unchanged: n(4)?,
        stale: n(5)?,
        failed: n(6)?,
        leavers: n(7)?,
    })
}

const FEED_COLUMNS: &str = "received, accepted, rejected, applied, unchanged, stale, failed, leavers, \
                            id, tenant_id, mode, format, status, rejections, created_at, updated_at, completed_at, \
                            source, reconciliation, position";

fn feed_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Feed> {
    let status: String = r.get(12)?;
    let mode: String = r.get(10)?;
    let source: String = r.get(17)?;
    Ok(Feed {
        counts: counts_from_row(r)?,
        id: id(r.get(8)?)?,
        position: r.get::<_, Option<i64>>(19)?.unwrap_or(0).max(0) as u64,
        tenant_id: id(r.get(9)?)?,
        source: SourceName::parse(&source).unwrap_or_default(),
        mode: FeedMode::parse(&mode).unwrap_or_default(),
        format: r.get(11)?,
        status: FeedStatus::parse(&status).unwrap_or(FeedStatus::Failed),
        reconciliation: r.get::<_, Option<String>>(18)?.map(json_col).transpose()?,
        rejections: json_col::<Vec<RecordError>>(r.get(13)?)?,
        created_at: Timestamp(r.get(14)?),
        updated_at: Timestamp(r.get(15)?),
        completed_at: r.get::<_, Option<i64>>(16)?.map(Timestamp),
    })
}

/// An outbox event from the columns `seq, id, type, tenant_id, feed_id,
/// occurred_at, payload`, starting at column `at`.
pub(crate) fn event_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<OutboxEvent> {
    let kind: String = r.get(at + 2)?;
    Ok(OutboxEvent {
        seq: r.get::<_, i64>(at)?.max(0) as u64,
        id: r.get(at + 1)?,
        kind: serde_json::from_value(serde_json::Value::String(kind)).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(at + 2, rusqlite::types::Type::Text, Box::new(e))
        })?,
        tenant_id: id(r.get(at + 3)?)?,
        feed_id: id(r.get(at + 4)?)?,
        occurred_at: Timestamp(r.get(at + 5)?),
        payload: json_col(r.get(at + 6)?)?,
    })
}

fn source_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Source> {
    let name: String = r.get(0)?;
    Ok(Source {
        name: SourceName::parse(&name).unwrap_or_default(),
        tenant_id: id(r.get(1)?)?,
        settings: json_col::<SourceSettings>(r.get(2)?)?,
        created_at: Timestamp(r.get(3)?),
        updated_at: Timestamp(r.get(4)?),
    })
}

/// How long an `Idempotency-Key` is remembered.
pub(crate) const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;

const KEY_COLUMNS: &str = "id, tenant_id, prefix, scopes, created_at, expires_at, revoked_at, last_used_at";

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyInfo> {
    let scopes: String = r.get(3)?;
    Ok(ApiKeyInfo {
        id: r.get(0)?,
        tenant_id: id(r.get(1)?)?,
        prefix: r.get(2)?,
        scopes: scopes.split(',').filter_map(Scope::parse).collect(),
        created_at: Timestamp(r.get(4)?),
        expires_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        revoked_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
        last_used_at: r.get::<_, Option<i64>>(7)?.map(Timestamp),
    })
}

fn person_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PersonRecord> {
    Ok(PersonRecord {
        person: json_col::<Person>(r.get(0)?)?,
        version: r.get::<_, i64>(1)? as u64,
        created_at: Timestamp(r.get(2)?),
        updated_at: Timestamp(r.get(3)?),
        last_feed_id: r.get::<_, Option<String>>(4)?.map(id).transpose()?,
        status: {
            let s: String = r.get(5)?;
            Status::parse(&s)
                .ok_or_else(|| rusqlite::Error::InvalidColumnType(5, s, rusqlite::types::Type::Text))?
        },
        manager_pending: r.get(6)?,
    })
}

/// People cursors are the hex of the last external id: opaque, and no
/// personal data in clear in URLs and access logs.
fn encode_cursor(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The inverse of [`encode_cursor`]. The cursor is client input: it is read
/// as bytes (never sliced as a `str`, which panics off a char boundary) and
/// anything but pairs of hex digits forming UTF-8 is refused.
fn decode_cursor(s: &str) -> Result<String, StoreError> {
    let bad = || StoreError::Invalid("`cursor` is not one this server issued".into());
    if !s.len().is_multiple_of(2) {
        return Err(bad());
    }
    let digit = |b: u8| char::from(b).to_digit(16);
    let bytes: Option<Vec<u8>> = s
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(((digit(pair[0])? << 4) | digit(pair[1])?) as u8))
        .collect();
    String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())
}

impl SqliteDirectory {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut writer = open_connection(path).map_err(storage)?;
        schema::migrate(&mut writer).map_err(storage)?;
        writer.pragma_update(None, "wal_autocheckpoint", roster_sqlite::BACKSTOP_PAGES).map_err(storage)?;
        let reader = open_connection(path).map_err(storage)?;
        let checkpointer =
            roster_sqlite::Checkpointer::start(path, "directory-checkpoint").map_err(storage)?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            _checkpointer: checkpointer,
        })
    }

    async fn run<T: Send + 'static>(
        conn: &Arc<Mutex<Connection>>,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Storage("connection poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Storage(format!("store task failed: {e}")))?
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        Self::run(&self.writer, f).await
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        Self::run(&self.reader, f).await
    }
}

#[async_trait]
impl Directory for SqliteDirectory {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(storage)).await
    }

    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<Tenant, StoreError> {
        let tenant = Tenant { id: TenantId::new(), name: name.to_owned(), created_at: now };
        let t = tenant.clone();
        self.write(move |c| {
            match c.execute(
                "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![t.id.to_string(), t.name, t.created_at.millis()],
            ) {
                Ok(_) => Ok(()),
                Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
                    Err(StoreError::Conflict("a tenant with this name exists".into()))
                }
                Err(e) => Err(storage(e)),
            }
        })
        .await?;
        Ok(tenant)
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT id, name, created_at FROM tenants ORDER BY name")
                .map_err(storage)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(Tenant { id: id(r.get(0)?)?, name: r.get(1)?, created_at: Timestamp(r.get(2)?) })
                })
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, created_at FROM tenants WHERE name = ?1")
                .map_err(storage)?
                .query_row([name], |r| {
                    Ok(Tenant { id: id(r.get(0)?)?, name: r.get(1)?, created_at: Timestamp(r.get(2)?) })
                })
                .optional()
                .map_err(storage)
        })
        .await
    }

    async fn create_api_key(&self, key: NewApiKey, now: Timestamp) -> Result<ApiKeyInfo, StoreError> {
        let info = ApiKeyInfo {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: key.tenant_id,
            prefix: key.prefix,
            scopes: key.scopes,
            created_at: now,
            expires_at: key.expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        let i = info.clone();
        let hash = key.hash;
        self.write(move |c| {
            let scopes: Vec<&str> = i.scopes.iter().map(|s| s.as_str()).collect();
            c.execute(
                "INSERT INTO api_keys (id, tenant_id, prefix, hash, scopes, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    i.id,
                    i.tenant_id.to_string(),
                    i.prefix,
                    &hash[..],
                    scopes.join(","),
                    now.millis(),
                    i.expires_at.map(Timestamp::millis)
                ],
            )
            .map_err(storage)
        })
        .await?;
        Ok(info)
    }

    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyInfo>, StoreError> {
        self.read(move |c| audit::list_keys(c, tenant)).await
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        key_id: &str,
        now: Timestamp,
    ) -> Result<ApiKeyInfo, StoreError> {
        let key_id = key_id.to_owned();
        self.write(move |c| audit::revoke_key(c, tenant, &key_id, now)).await
    }

    async fn create_operator_key(
        &self,
        name: &str,
        prefix: String,
        hash: [u8; 32],
        now: Timestamp,
    ) -> Result<OperatorKeyInfo, StoreError> {
        let name = name.to_owned();
        self.write(move |c| audit::create_operator(c, &name, &prefix, &hash, now)).await
    }

    async fn authenticate_operator_key(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<OperatorKeyInfo>, StoreError> {
        let hash = *hash;
        self.read(move |c| audit::authenticate_operator(c, &hash)).await
    }

    async fn list_operator_keys(&self) -> Result<Vec<OperatorKeyInfo>, StoreError> {
        self.read(|c| audit::list_operators(c)).await
    }

    async fn revoke_operator_key(&self, id: &str, now: Timestamp) -> Result<OperatorKeyInfo, StoreError> {
        let id = id.to_owned();
        self.write(move |c| audit::revoke_operator(c, &id, now)).await
    }

    async fn append_audit(&self, entry: NewAuditEntry) -> Result<(), StoreError> {
        self.write(move |c| audit::append(c, &entry)).await
    }

    async fn list_audit(
        &self,
        tenant: TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |c| audit::list(c, tenant, after, limit)).await
    }

    async fn authenticate_key(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
    ) -> Result<Option<ApiKeyInfo>, StoreError> {
        let h = *hash;
        let key = self
            .read(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys
                     WHERE hash = ?1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)"
                ))
                .map_err(storage)?
                .query_row(params![&h[..], now.millis()], key_from_row)
                .optional()
                .map_err(storage)
            })
            .await?;
        if let Some(k) = &key {
            let stale = k.last_used_at.is_none_or(|t| now.millis() - t.millis() >= LAST_USED_GRANULARITY_MS);
            if stale {
                let key_id = k.id.clone();
                // The first use of a key each (UTC) day is audited: when a
                // credential is used shows, without a row per request.
                let first_today = k.last_used_at.is_none_or(|t| t.date() != now.date());
                let entry = first_today.then(|| NewAuditEntry {
                    at: now,
                    tenant_id: k.tenant_id,
                    actor: format!("key:{}", k.id),
                    action: "key.used",
                    target: Some(k.id.clone()),
                    request_id: None,
                });
                self.write(move |c| {
                    let tx = immediate(c)?;
                    tx.execute(
                        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                        params![key_id, now.millis()],
                    )
                    .map_err(storage)?;
                    if let Some(entry) = &entry {
                        audit::append(&tx, entry)?;
                    }
                    tx.commit().map_err(storage)
                })
                .await?;
            }
        }
        Ok(key)
    }

    async fn create_feed(&self, feed: NewFeed) -> Result<Feed, StoreError> {
        let mut rejections = feed.rejections.clone();
        rejections.truncate(MAX_STORED_REJECTIONS);
        let counts = FeedCounts {
            received: feed.received,
            accepted: feed.accepted,
            rejected: feed.rejections.len() as u64,
            ..FeedCounts::default()
        };
        let status = status_of(&counts, feed.sealed, None);
        let done = matches!(status, FeedStatus::Completed | FeedStatus::CompletedWithErrors);
        // A full snapshot with nothing queued is reconciled at once (below).
        let reconcile_now = feed.sealed && feed.mode == FeedMode::Full && counts.accepted == 0;
        let sealed = feed.sealed;
        let mut out = Feed {
            id: feed.id,
            position: 0,
            tenant_id: feed.tenant_id,
            source: feed.source,
            reconciliation: None,
            mode: feed.mode,
            format: feed.format,
            status,
            counts,
            rejections,
            created_at: feed.created_at,
            updated_at: feed.created_at,
            completed_at: done.then_some(feed.created_at),
        };
        let f = out.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            let rejections = serde_json::to_string(&f.rejections).map_err(|e| StoreError::Storage(e.to_string()))?;
            // The next position in acceptance order: this writer is the only
            // one, so MAX + 1 (on the unique index) cannot be taken twice.
            let position: i64 = tx.query_row(
                "INSERT INTO feeds (id, tenant_id, mode, format, status, received, accepted, rejected, rejections,
                                    created_at, updated_at, completed_at, source, sealed, position)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13,
                         (SELECT COALESCE(MAX(position), 0) + 1 FROM feeds))
                 RETURNING position",
                params![
                    f.id.to_string(),
                    f.tenant_id.to_string(),
                    f.mode.as_str(),
                    f.format,
                    f.status.as_str(),
                    f.counts.received as i64,
                    f.counts.accepted as i64,
                    f.counts.rejected as i64,
                    rejections,
                    f.created_at.millis(),
                    f.completed_at.map(Timestamp::millis),
                    f.source.as_str(),
                    sealed
                ],
                |r| r.get(0),
            )
            .map_err(storage)?;
            if reconcile_now {
                reconcile::refresh_feed(&tx, f.id, f.created_at)?;
            } else if status.is_settled() {
                reconcile::release_waiting(&tx, &f.tenant_id.to_string(), f.created_at)?;
            }
            tx.commit().map_err(storage)?;
            Ok(position)
        })
        .await
        .map(|position| out.position = position.max(0) as u64)?;
        if reconcile_now {
            let tenant = out.tenant_id;
            out = self.get_feed(tenant, out.id).await?.ok_or(StoreError::NotFound)?;
        }
        Ok(out)
    }

    async fn add_snapshot_members(
        &self,
        tenant: TenantId,
        feed: FeedId,
        ids: Vec<ExternalId>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            reconcile::add_members(&tx, tenant, feed, &ids, now)?;
            tx.commit().map_err(storage)
        })
        .await
    }

    async fn seal_feed(
        &self,
        tenant: TenantId,
        feed: FeedId,
        seal: FeedSeal,
        now: Timestamp,
    ) -> Result<Feed, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let mut rejections = seal.rejections;
            rejections.truncate(MAX_STORED_REJECTIONS);
            let rejections = serde_json::to_string(&rejections).map_err(|e| StoreError::Storage(e.to_string()))?;
            let n = tx
                .execute(
                    "UPDATE feeds SET sealed = 1, received = ?3, accepted = ?4, rejected = ?5, rejections = ?6,
                                      updated_at = ?7
                     WHERE id = ?1 AND tenant_id = ?2 AND sealed = 0 AND status = 'receiving'",
                    params![
                        feed.to_string(),
                        tenant.to_string(),
                        seal.received as i64,
                        seal.accepted as i64,
                        seal.rejected as i64,
                        rejections,
                        now.millis()
                    ],
                )
                .map_err(storage)?;
            if n == 0 {
                // Never acknowledge a feed the stall sweep failed meanwhile:
                // the client must resend it.
                return Err(StoreError::Conflict(
                    "the feed is unknown, already sealed, or was failed while it was received".into(),
                ));
            }
            reconcile::refresh_feed(&tx, feed, now)?;
            tx.commit().map_err(storage)
        })
        .await?;
        self.get_feed(tenant, feed).await?.ok_or(StoreError::NotFound)
    }

    async fn decide_snapshot(
        &self,
        tenant: TenantId,
        feed: FeedId,
        approve: bool,
        now: Timestamp,
    ) -> Result<Feed, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            reconcile::decide_snapshot(&tx, tenant, feed, approve, now)?;
            tx.commit().map_err(storage)
        })
        .await?;
        self.get_feed(tenant, feed).await?.ok_or(StoreError::NotFound)
    }

    async fn get_source(&self, tenant: TenantId, name: &SourceName) -> Result<Option<Source>, StoreError> {
        let name = name.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT name, tenant_id, settings, created_at, updated_at FROM sources WHERE tenant_id = ?1 AND name = ?2",
            )
            .map_err(storage)?
            .query_row(params![tenant.to_string(), name], source_from_row)
            .optional()
            .map_err(storage)
        })
        .await
    }

    async fn put_source(
        &self,
        tenant: TenantId,
        name: &SourceName,
        settings: SourceSettings,
        now: Timestamp,
    ) -> Result<Source, StoreError> {
        let name = name.clone();
        let json = serde_json::to_string(&settings).map_err(|e| StoreError::Storage(e.to_string()))?;
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO sources (tenant_id, name, settings, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (tenant_id, name) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at
                 RETURNING name, tenant_id, settings, created_at, updated_at",
            )
            .map_err(storage)?
            .query_row(params![tenant.to_string(), name.as_str(), json, now.millis()], source_from_row)
            .map_err(storage)
        })
        .await
    }

    async fn list_sources(&self, tenant: TenantId) -> Result<Vec<Source>, StoreError> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT name, tenant_id, settings, created_at, updated_at FROM sources WHERE tenant_id = ?1 ORDER BY name",
                )
                .map_err(storage)?;
            let rows = stmt.query_map([tenant.to_string()], source_from_row).map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn claim_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        now: Timestamp,
        hold: Duration,
    ) -> Result<IdempotencyClaim, StoreError> {
        let key = key.to_owned();
        let hold_ms = i64::try_from(hold.as_millis()).unwrap_or(i64::MAX);
        self.write(move |c| {
            let tx = immediate(c)?;
            let t = tenant.to_string();
            tx.execute(
                "DELETE FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2
                   AND (created_at < ?3 OR (status IS NULL AND created_at < ?4))",
                params![t, key, now.millis() - IDEMPOTENCY_TTL_MS, now.millis().saturating_sub(hold_ms)],
            )
            .map_err(storage)?;
            type Row = (Vec<u8>, Option<u16>, Option<String>, Option<String>);
            let found: Option<Row> = tx
                .query_row(
                    "SELECT fingerprint, status, body, location FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2",
                    params![t, key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(storage)?;
            let claim = match found {
                None => {
                    tx.execute(
                        "INSERT INTO idempotency_keys (tenant_id, key, fingerprint, created_at) VALUES (?1, ?2, x'', ?3)",
                        params![t, key, now.millis()],
                    )
                    .map_err(storage)?;
                    IdempotencyClaim::Claimed
                }
                Some((fp, Some(status), Some(body), location)) => IdempotencyClaim::Completed {
                    fingerprint: fp.try_into().unwrap_or([0; 32]),
                    status,
                    body,
                    location,
                },
                Some(_) => IdempotencyClaim::InProgress,
            };
            tx.commit().map_err(storage)?;
            Ok(claim)
        })
        .await
    }

    async fn complete_idempotency_key(
        &self,
        tenant: TenantId,
        key: &str,
        fingerprint: [u8; 32],
        status: u16,
        body: String,
        location: Option<String>,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |c| {
            c.execute(
                "UPDATE idempotency_keys SET fingerprint = ?3, status = ?4, body = ?5, location = ?6
                 WHERE tenant_id = ?1 AND key = ?2 AND status IS NULL",
                params![tenant.to_string(), key, &fingerprint[..], status, body, location],
            )
            .map_err(storage)
            .map(|_| ())
        })
        .await
    }

    async fn release_idempotency_key(&self, tenant: TenantId, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |c| {
            c.execute(
                "DELETE FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2 AND status IS NULL",
                params![tenant.to_string(), key],
            )
            .map_err(storage)
            .map(|_| ())
        })
        .await
    }

    async fn fail_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            tx.execute(
                "UPDATE feeds SET status = 'failed', updated_at = ?3, completed_at = ?3 WHERE id = ?1 AND tenant_id = ?2",
                params![feed.to_string(), tenant.to_string(), now.millis()],
            )
            .map_err(storage)?;
            reconcile::release_waiting(&tx, &tenant.to_string(), now)?;
            tx.commit().map_err(storage)
        })
        .await
    }

    async fn touch_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE feeds SET updated_at = MAX(updated_at, ?3)
                     WHERE id = ?1 AND tenant_id = ?2 AND status = 'receiving'",
                    params![feed.to_string(), tenant.to_string(), now.millis()],
                )
                .map_err(storage)?;
            if n == 0 {
                return Err(StoreError::Conflict("the feed is unknown or no longer being received".into()));
            }
            Ok(())
        })
        .await
    }

    async fn idle_feeds(
        &self,
        idle_since: Timestamp,
        limit: usize,
    ) -> Result<Vec<(TenantId, FeedId)>, StoreError> {
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT tenant_id, id FROM feeds
                     WHERE status IN ('accepted', 'processing') AND sealed = 1 AND updated_at < ?1
                     ORDER BY position LIMIT ?2",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![idle_since.millis(), limit as i64], |r| {
                    Ok((id(r.get(0)?)?, id(r.get(1)?)?))
                })
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn prune(&self, before: Timestamp, now: Timestamp) -> Result<PruneReport, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let report = retention::prune(&tx, before, now)?;
            tx.commit().map_err(storage)?;
            Ok(report)
        })
        .await
    }

    async fn get_feed(&self, tenant: TenantId, feed: FeedId) -> Result<Option<Feed>, StoreError> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = ?1 AND tenant_id = ?2"))
                .map_err(storage)?
                .query_row(params![feed.to_string(), tenant.to_string()], feed_from_row)
                .optional()
                .map_err(storage)
        })
        .await
    }

    async fn list_feeds(
        &self,
        tenant: TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Feed>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        // Feed ids are UUIDv7: newest first is descending id order.
        let before = cursor.map(str::to_owned).unwrap_or_else(|| "g".into());
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {FEED_COLUMNS} FROM feeds WHERE tenant_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
                ))
                .map_err(storage)?;
            let items = stmt
                .query_map(params![tenant.to_string(), before, limit as i64], feed_from_row)
                .map_err(storage)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage)?;
            let next = (items.len() == limit).then(|| items.last().map(|f| f.id.to_string())).flatten();
            Ok(Page { items, next })
        })
        .await
    }

    async fn apply_batch(
        &self,
        messages: &[ChangeMessage],
        now: Timestamp,
    ) -> Result<Vec<ApplyOutcome>, StoreError> {
        let messages = messages.to_vec();
        self.write(move |c| {
            let tx = immediate(c)?;
            let out = apply::apply_batch(&tx, &messages, now)?;
            tx.commit().map_err(storage)?;
            Ok(out)
        })
        .await
    }

    async fn apply_due(&self, now: Timestamp, limit: usize) -> Result<u64, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let n = apply::apply_due(&tx, now, limit)?;
            tx.commit().map_err(storage)?;
            Ok(n)
        })
        .await
    }

    async fn fail_stalled_feeds(&self, idle_since: Timestamp, now: Timestamp) -> Result<u64, StoreError> {
        self.write(move |c| {
            let tx = immediate(c)?;
            let tenants: Vec<String> = tx
                .prepare_cached(
                    "UPDATE feeds SET status = 'failed', updated_at = ?2, completed_at = ?2
                     WHERE sealed = 0 AND status = 'receiving' AND updated_at < ?1
                     RETURNING tenant_id",
                )
                .map_err(storage)?
                .query_map(params![idle_since.millis(), now.millis()], |r| r.get(0))
                .map_err(storage)?
                .collect::<Result<_, _>>()
                .map_err(storage)?;
            let failed = tenants.len() as u64;
            let mut tenants = tenants;
            tenants.sort();
            tenants.dedup();
            for tenant in tenants {
                reconcile::release_waiting(&tx, &tenant, now)?;
            }
            tx.commit().map_err(storage)?;
            Ok(failed)
        })
        .await
    }

    async fn record_failure(&self, message: &ChangeMessage, now: Timestamp) -> Result<(), StoreError> {
        let message = message.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            apply::record_failure(&tx, &message, now)?;
            tx.commit().map_err(storage)
        })
        .await
    }

    async fn get_person(
        &self,
        tenant: TenantId,
        ext: &ExternalId,
    ) -> Result<Option<PersonRecord>, StoreError> {
        let ext = ext.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT data, version, created_at, updated_at, last_feed_id, status, manager_pending FROM people
                 WHERE tenant_id = ?1 AND external_id = ?2",
            )
            .map_err(storage)?
            .query_row(params![tenant.to_string(), ext], person_from_row)
            .optional()
            .map_err(storage)
        })
        .await
    }

    async fn list_people(
        &self,
        tenant: TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<PersonRecord>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let after = cursor.map(decode_cursor).transpose()?.unwrap_or_default();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT data, version, created_at, updated_at, last_feed_id, status, manager_pending, external_id FROM people
                     WHERE tenant_id = ?1 AND external_id > ?2 ORDER BY external_id LIMIT ?3",
                )
                .map_err(storage)?;
            let mut last = None;
            let items = stmt
                .query_map(params![tenant.to_string(), after, limit as i64], |r| {
                    Ok((person_from_row(r)?, r.get::<_, String>(7)?))
                })
                .map_err(storage)?
                .map(|row| {
                    row.map(|(p, ext)| {
                        last = Some(ext);
                        p
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage)?;
            let next = if items.len() == limit { last.as_deref().map(encode_cursor) } else { None };
            Ok(Page { items, next })
        })
        .await
    }

    async fn person_history(
        &self,
        tenant: TenantId,
        ext: &ExternalId,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let ext = ext.as_str().to_owned();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT version, feed_id, message_id, event, changed_fields, changes, at FROM person_history
                     WHERE tenant_id = ?1 AND external_id = ?2 ORDER BY version",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![tenant.to_string(), ext], |r| {
                    let event: Option<String> = r.get(3)?;
                    Ok(HistoryEntry {
                        version: r.get::<_, i64>(0)? as u64,
                        feed_id: id(r.get(1)?)?,
                        message_id: r.get(2)?,
                        event: event.and_then(|e| serde_json::from_value(serde_json::Value::String(e)).ok()),
                        changed_fields: json_col(r.get(4)?)?,
                        changes: json_col(r.get(5)?)?,
                        at: Timestamp(r.get(6)?),
                    })
                })
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn list_events(
        &self,
        tenant: TenantId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, id, type, tenant_id, feed_id, occurred_at, payload FROM outbox
                     WHERE tenant_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![tenant.to_string(), after as i64, limit as i64], |r| event_from_row(r, 0))
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn create_endpoint(&self, endpoint: NewEndpoint, now: Timestamp) -> Result<Endpoint, StoreError> {
        self.write(move |c| outbox::create(c, &endpoint, now)).await
    }

    async fn list_endpoints(&self, tenant: TenantId) -> Result<Vec<Endpoint>, StoreError> {
        self.read(move |c| outbox::list(c, tenant)).await
    }

    async fn get_endpoint(&self, tenant: TenantId, id: &str) -> Result<Option<Endpoint>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| outbox::get(c, tenant, &id)).await
    }

    async fn disable_endpoint(
        &self,
        tenant: TenantId,
        id: &str,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        let id = id.to_owned();
        self.write(move |c| outbox::disable(c, tenant, &id, now)).await
    }

    async fn rotate_endpoint_secret(
        &self,
        tenant: TenantId,
        id: &str,
        secret: Secret,
        previous_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Endpoint, StoreError> {
        let id = id.to_owned();
        self.write(move |c| outbox::rotate(c, tenant, &id, &secret, previous_expires_at, now)).await
    }

    async fn delivery_targets(&self, now: Timestamp) -> Result<Vec<DeliveryTarget>, StoreError> {
        self.read(move |c| outbox::targets(c, now)).await
    }

    async fn record_delivery(
        &self,
        endpoint_id: &str,
        update: DeliveryUpdate,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        self.write(move |c| outbox::record(c, &endpoint_id, &update, now)).await
    }

    async fn list_event_dead_letters(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventDeadLetter>, StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        self.read(move |c| outbox::list_dead_letters(c, tenant, &endpoint_id, after, limit)).await
    }

    async fn redrive_event_dead_letters(
        &self,
        tenant: TenantId,
        endpoint_id: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        self.write(move |c| outbox::redrive(c, tenant, &endpoint_id, now)).await
    }

    async fn due_redeliveries(
        &self,
        endpoint_id: &str,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Redelivery>, StoreError> {
        let endpoint_id = endpoint_id.to_owned();
        self.read(move |c| outbox::due(c, &endpoint_id, now, limit)).await
    }

    async fn record_redelivery(
        &self,
        dead_letter_id: &str,
        update: RedeliveryUpdate,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let id = dead_letter_id.to_owned();
        self.write(move |c| outbox::record_redelivery(c, &id, &update, now)).await
    }

    async fn outbox_backlog(&self) -> Result<Vec<EndpointBacklog>, StoreError> {
        self.read(|c| outbox::backlog(c)).await
    }

    async fn count_feeds_by_status(&self) -> Result<Vec<(FeedStatus, u64)>, StoreError> {
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT status, COUNT(*) FROM feeds GROUP BY status").map_err(storage)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(storage)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(storage)?;
            Ok(rows
                .into_iter()
                .filter_map(|(s, n)| FeedStatus::parse(&s).map(|s| (s, n.max(0) as u64)))
                .collect())
        })
        .await
    }
}

#[cfg(test)]
mod cursor_tests {
    use super::{decode_cursor, encode_cursor};

    #[test]
    fn a_cursor_round_trips_and_crafted_ones_are_refused_without_panicking() {
        for id in ["E1", "émile-7", ""] {
            assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        }
        // Multi-byte characters of even byte length panicked when sliced.
        for crafted in ["a\u{e9}b", "\u{e9}\u{e9}", "zz", "abc", "ff", "a\u{e9}\n{\"level\":\"INFO\"}\nx"] {
            assert!(decode_cursor(crafted).is_err(), "{crafted:?}");
        }
    }
}
