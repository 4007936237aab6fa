//! Row mappers: a stored row to the port's types (and the column lists
//! they expect).

use roster_core::{FeedMode, Person, RecordError, SourceName, Status, Timestamp};
use roster_store::{
    ApiKeyInfo, Feed, FeedCounts, FeedStatus, OutboxEvent, PersonRecord, Scope, Source, SourceSettings,
};

pub(crate) fn id<T: std::str::FromStr>(s: String) -> rusqlite::Result<T> {
    s.parse().map_err(|_| rusqlite::Error::InvalidColumnType(0, "id".into(), rusqlite::types::Type::Text))
}

pub(crate) fn json_col<T: serde::de::DeserializeOwned>(s: String) -> rusqlite::Result<T> {
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

pub(crate) const FEED_COLUMNS: &str = "received, accepted, rejected, applied, unchanged, stale, failed, leavers, \
                            id, tenant_id, mode, format, status, rejections, created_at, updated_at, completed_at, \
                            source, reconciliation, position";

pub(crate) fn feed_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Feed> {
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

pub(crate) fn source_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Source> {
    let name: String = r.get(0)?;
    Ok(Source {
        name: SourceName::parse(&name).unwrap_or_default(),
        tenant_id: id(r.get(1)?)?,
        settings: json_col::<SourceSettings>(r.get(2)?)?,
        created_at: Timestamp(r.get(3)?),
        updated_at: Timestamp(r.get(4)?),
    })
}

pub(crate) const KEY_COLUMNS: &str =
    "id, tenant_id, prefix, scopes, created_at, expires_at, revoked_at, last_used_at, name";

pub(crate) fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyInfo> {
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
        name: r.get(8)?,
    })
}

pub(crate) fn person_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PersonRecord> {
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
        source: {
            let s: String = r.get(7)?;
            SourceName::parse(&s)
                .map_err(|_| rusqlite::Error::InvalidColumnType(7, s, rusqlite::types::Type::Text))?
        },
    })
}
