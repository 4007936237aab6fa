//! People and their history (reads).

use async_trait::async_trait;
use roster_core::{ExternalId, TenantId, Timestamp};
use roster_store::limits::MAX_PAGE;
use roster_store::prelude::*;
use roster_store::{HistoryEntry, Page, PeopleFilter, PersonKey, PersonRecord, StoreError};
use rusqlite::{OptionalExtension, params};

use crate::conn::{SqliteDirectory, storage};
use crate::rows::*;

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

#[async_trait]
impl PeopleReader for SqliteDirectory {
    async fn get_person(
        &self,
        tenant: TenantId,
        ext: &ExternalId,
    ) -> Result<Option<PersonRecord>, StoreError> {
        let ext = ext.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT data, version, created_at, updated_at, last_feed_id, status, manager_pending, source FROM people
                 WHERE tenant_id = ?1 AND external_id = ?2",
            )
            .map_err(storage)?
            .query_row(params![tenant.to_string(), ext], person_from_row)
            .optional()
            .map_err(storage)
        })
        .await
    }

    async fn find_people(
        &self,
        tenant: TenantId,
        filter: &PeopleFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<PersonRecord>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let after = cursor.map(decode_cursor).transpose()?.unwrap_or_default();
        let filter = filter.clone();
        self.read(move |c| {
            // A NULL parameter matches everything: one cached statement for
            // every combination of filters.
            let mut stmt = c
                .prepare_cached(
                    "SELECT data, version, created_at, updated_at, last_feed_id, status, manager_pending, source, external_id FROM people
                     WHERE tenant_id = ?1 AND external_id > ?2
                       AND (?4 IS NULL OR status = ?4)
                       AND (?5 IS NULL OR source = ?5)
                       AND (?6 IS NULL OR json_extract(data, '$.department') = ?6)
                       AND (?7 IS NULL OR EXISTS (SELECT 1 FROM json_each(data, '$.emails') e
                                                  WHERE lower(json_extract(e.value, '$.value')) = lower(?7)))
                       AND (?8 IS NULL OR updated_at >= ?8)
                       AND (?9 IS NULL OR instr(lower(concat_ws(' ',
                             json_extract(data, '$.name.givenName'), json_extract(data, '$.name.familyName'),
                             json_extract(data, '$.name.formatted'), json_extract(data, '$.displayName'))),
                           lower(?9)) > 0)
                     ORDER BY external_id LIMIT ?3",
                )
                .map_err(storage)?;
            let mut last = None;
            let params = params![
                tenant.to_string(),
                after,
                limit as i64,
                filter.status.map(|s| s.as_str()),
                filter.source.as_ref().map(|s| s.as_str()),
                filter.department,
                filter.email,
                filter.updated_since.map(|t| t.millis()),
                filter.name,
            ];
            let items = stmt
                .query_map(params, |r| {
                    Ok((person_from_row(r)?, r.get::<_, String>(8)?))
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

    async fn people_by_key(
        &self,
        tenant: TenantId,
        key: PersonKey,
        values: Vec<String>,
    ) -> Result<Vec<(String, ExternalId)>, StoreError> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        // The values as one JSON array parameter: any number, one statement.
        let values = serde_json::to_string(&values).map_err(|e| StoreError::Storage(e.to_string()))?;
        self.read(move |c| {
            let sql = match key {
                PersonKey::Email => {
                    "SELECT DISTINCT lower(json_extract(e.value, '$.value')), p.external_id
                       FROM people p, json_each(p.data, '$.emails') e
                      WHERE p.tenant_id = ?1
                        AND lower(json_extract(e.value, '$.value')) IN (SELECT value FROM json_each(?2))"
                }
                PersonKey::EmployeeNumber => {
                    "SELECT json_extract(p.data, '$.employeeNumber'), p.external_id FROM people p
                      WHERE p.tenant_id = ?1
                        AND json_extract(p.data, '$.employeeNumber') IN (SELECT value FROM json_each(?2))"
                }
            };
            let mut stmt = c.prepare_cached(sql).map_err(storage)?;
            let rows = stmt
                .query_map(params![tenant.to_string(), values], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(storage)?;
            let mut out = Vec::new();
            for row in rows {
                let (value, ext) = row.map_err(storage)?;
                if let Ok(ext) = ExternalId::parse(&ext) {
                    out.push((value, ext));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn managers_of(
        &self,
        tenant: TenantId,
        ids: Vec<ExternalId>,
    ) -> Result<Vec<(ExternalId, ExternalId)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(ExternalId::as_str).collect();
        let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Storage(e.to_string()))?;
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT external_id, manager_id FROM people
                      WHERE tenant_id = ?1 AND manager_id IS NOT NULL
                        AND external_id IN (SELECT value FROM json_each(?2))",
                )
                .map_err(storage)?;
            let rows = stmt
                .query_map(params![tenant.to_string(), ids], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(storage)?;
            let mut out = Vec::new();
            for row in rows {
                let (person, manager) = row.map_err(storage)?;
                if let (Ok(p), Ok(m)) = (ExternalId::parse(&person), ExternalId::parse(&manager)) {
                    out.push((p, m));
                }
            }
            Ok(out)
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
