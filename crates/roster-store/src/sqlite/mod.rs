//! The embedded directory: one SQLite file (WAL, `synchronous=FULL`).
//! One writer connection and one reader connection; WAL lets reads run while
//! the consumer writes.

mod apply;
mod schema;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use roster_core::{ChangeMessage, ExternalId, FeedId, FeedMode, Person, RecordError, TenantId, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

pub use apply::status_of;

use crate::{
    ApiKeyInfo, ApplyOutcome, Directory, Feed, FeedCounts, FeedStatus, HistoryEntry, NewApiKey, NewFeed,
    OutboxEvent, Page, PersonRecord, Scope, StoreError, Tenant,
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
    })
}

const FEED_COLUMNS: &str = "received, accepted, rejected, applied, unchanged, stale, failed, \
                            id, tenant_id, mode, format, status, rejections, created_at, updated_at, completed_at";

fn feed_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Feed> {
    let status: String = r.get(11)?;
    let mode: String = r.get(9)?;
    Ok(Feed {
        counts: counts_from_row(r)?,
        id: id(r.get(7)?)?,
        tenant_id: id(r.get(8)?)?,
        mode: FeedMode::parse(&mode).unwrap_or_default(),
        format: r.get(10)?,
        status: FeedStatus::parse(&status).unwrap_or(FeedStatus::Failed),
        rejections: json_col::<Vec<RecordError>>(r.get(12)?)?,
        created_at: Timestamp(r.get(13)?),
        updated_at: Timestamp(r.get(14)?),
        completed_at: r.get::<_, Option<i64>>(15)?.map(Timestamp),
    })
}

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
    })
}

/// People cursors are the hex of the last external id: opaque, and no
/// personal data in clear in URLs and access logs.
fn encode_cursor(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(s: &str) -> Result<String, StoreError> {
    let bad = || StoreError::Invalid("`cursor` is not one this server issued".into());
    if !s.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> =
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16)).collect();
    String::from_utf8(bytes.map_err(|_| bad())?).map_err(|_| bad())
}

impl SqliteDirectory {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut writer = open_connection(path).map_err(storage)?;
        schema::migrate(&mut writer).map_err(storage)?;
        let reader = open_connection(path).map_err(storage)?;
        Ok(Self { writer: Arc::new(Mutex::new(writer)), reader: Arc::new(Mutex::new(reader)) })
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
                self.write(move |c| {
                    c.execute(
                        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                        params![key_id, now.millis()],
                    )
                    .map_err(storage)
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
        let status = status_of(&counts);
        let done = matches!(status, FeedStatus::Completed | FeedStatus::CompletedWithErrors);
        let out = Feed {
            id: feed.id,
            tenant_id: feed.tenant_id,
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
            let rejections = serde_json::to_string(&f.rejections).map_err(|e| StoreError::Storage(e.to_string()))?;
            c.execute(
                "INSERT INTO feeds (id, tenant_id, mode, format, status, received, accepted, rejected, rejections,
                                    created_at, updated_at, completed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)",
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
                    f.completed_at.map(Timestamp::millis)
                ],
            )
            .map_err(storage)
        })
        .await?;
        Ok(out)
    }

    async fn fail_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute(
                "UPDATE feeds SET status = 'failed', updated_at = ?3, completed_at = ?3 WHERE id = ?1 AND tenant_id = ?2",
                params![feed.to_string(), tenant.to_string(), now.millis()],
            )
            .map_err(storage)
            .map(|_| ())
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
            let tx = c.transaction().map_err(storage)?;
            let out = apply::apply_batch(&tx, &messages, now)?;
            tx.commit().map_err(storage)?;
            Ok(out)
        })
        .await
    }

    async fn record_failure(&self, message: &ChangeMessage, now: Timestamp) -> Result<(), StoreError> {
        let message = message.clone();
        self.write(move |c| {
            let tx = c.transaction().map_err(storage)?;
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
                "SELECT data, version, created_at, updated_at, last_feed_id FROM people WHERE tenant_id = ?1 AND external_id = ?2",
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
                    "SELECT data, version, created_at, updated_at, last_feed_id, external_id FROM people
                     WHERE tenant_id = ?1 AND external_id > ?2 ORDER BY external_id LIMIT ?3",
                )
                .map_err(storage)?;
            let mut last = None;
            let items = stmt
                .query_map(params![tenant.to_string(), after, limit as i64], |r| {
                    Ok((person_from_row(r)?, r.get::<_, String>(5)?))
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
                .query_map(params![tenant.to_string(), after as i64, limit as i64], |r| {
                    let kind: String = r.get(2)?;
                    Ok(OutboxEvent {
                        seq: r.get::<_, i64>(0)? as u64,
                        id: r.get(1)?,
                        kind: serde_json::from_value(serde_json::Value::String(kind)).map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                2,
                                rusqlite::types::Type::Text,
                                Box::new(e),
                            )
                        })?,
                        tenant_id: id(r.get(3)?)?,
                        feed_id: id(r.get(4)?)?,
                        occurred_at: Timestamp(r.get(5)?),
                        payload: json_col(r.get(6)?)?,
                    })
                })
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }
}
