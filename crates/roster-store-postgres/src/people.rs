//! People and their history (reads).

use async_trait::async_trait;
use roster_core::{ExternalId, Person, SourceName, Status, TenantId, Timestamp};
use roster_store::limits::MAX_PAGE;
use roster_store::{HistoryEntry, Page, PeopleFilter, PeopleReader, PersonKey, PersonRecord, StoreError};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::conn::{PgDirectory, parse_id, storage};
use crate::feeds::json;

const COLUMNS: &str =
    "data::text, version, created_at, updated_at, last_feed_id, status, manager_pending, source, external_id";

fn person_from_row(r: &PgRow) -> Result<PersonRecord, StoreError> {
    let status: &str = r.try_get(5).map_err(storage)?;
    let source: &str = r.try_get(7).map_err(storage)?;
    Ok(PersonRecord {
        person: json::<Person>(r.try_get(0).map_err(storage)?)?,
        version: r.try_get::<i64, _>(1).map_err(storage)?.max(0) as u64,
        created_at: Timestamp(r.try_get(2).map_err(storage)?),
        updated_at: Timestamp(r.try_get(3).map_err(storage)?),
        last_feed_id: r.try_get::<Option<&str>, _>(4).map_err(storage)?.map(parse_id).transpose()?,
        status: Status::parse(status)
            .ok_or_else(|| StoreError::Storage("a stored status is unknown".into()))?,
        manager_pending: r.try_get(6).map_err(storage)?,
        source: SourceName::parse(source)
            .map_err(|_| StoreError::Storage("a stored source name is invalid".into()))?,
    })
}

/// People cursors are the hex of the last external id, as in the SQLite
/// adapter: opaque, and no personal data in clear in URLs and access logs.
fn encode_cursor(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The inverse of [`encode_cursor`]; client input, so read as bytes and
/// refused unless it is pairs of hex digits forming UTF-8.
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
impl PeopleReader for PgDirectory {
    async fn get_person(
        &self,
        tenant: TenantId,
        id: &ExternalId,
    ) -> Result<Option<PersonRecord>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM people WHERE tenant_id = $1 AND external_id = $2"))
            .bind(tenant.to_string())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(storage)?
            .as_ref()
            .map(person_from_row)
            .transpose()
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
        let rows = sqlx::query(&format!(
            // A NULL parameter matches everything: one statement for every
            // combination of filters. E-mails compare case-insensitively in
            // ASCII only (`lower` under the `C` collation), as in SQLite.
            "SELECT {COLUMNS} FROM people WHERE tenant_id = $1 AND external_id > $2
               AND ($4::text IS NULL OR status = $4)
               AND ($5::text IS NULL OR source = $5)
               AND ($6::text IS NULL OR data->>'department' = $6)
               AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements(data->'emails') e
                                                 WHERE lower((e->>'value') COLLATE \"C\") = lower($7 COLLATE \"C\")))
               AND ($8::bigint IS NULL OR updated_at >= $8)
               AND ($9::text IS NULL OR strpos(lower(concat_ws(' ',
                     data->'name'->>'givenName', data->'name'->>'familyName',
                     data->'name'->>'formatted', data->>'displayName') COLLATE \"C\"), lower($9 COLLATE \"C\")) > 0)
             ORDER BY external_id LIMIT $3"
        ))
        .bind(tenant.to_string())
        .bind(after)
        .bind(limit as i64)
        .bind(filter.status.map(Status::as_str))
        .bind(filter.source.as_ref().map(SourceName::as_str))
        .bind(filter.department.as_deref())
        .bind(filter.email.as_deref())
        .bind(filter.updated_since.map(Timestamp::millis))
        .bind(filter.name.as_deref())
        .fetch_all(self.pool())
        .await
        .map_err(storage)?;
        let items = rows.iter().map(person_from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if items.len() == limit {
            rows.last().map(|r| r.try_get::<&str, _>(8).map(encode_cursor)).transpose().map_err(storage)?
        } else {
            None
        };
        Ok(Page { items, next })
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
        let sql = match key {
            PersonKey::Email => {
                "SELECT DISTINCT lower(e->>'value'), p.external_id::text
                   FROM people p, jsonb_array_elements(p.data->'emails') e
                  WHERE p.tenant_id = $1 AND lower(e->>'value') = ANY($2)"
            }
            PersonKey::EmployeeNumber => {
                "SELECT p.data->>'employeeNumber', p.external_id::text FROM people p
                  WHERE p.tenant_id = $1 AND p.data->>'employeeNumber' = ANY($2)"
            }
        };
        let rows: Vec<(String, String)> = sqlx::query_as(sql)
            .bind(tenant.to_string())
            .bind(values)
            .fetch_all(self.pool())
            .await
            .map_err(storage)?;
        Ok(rows.into_iter().filter_map(|(v, ext)| ExternalId::parse(&ext).ok().map(|ext| (v, ext))).collect())
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
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT external_id::text, manager_id FROM people
              WHERE tenant_id = $1 AND manager_id IS NOT NULL AND external_id = ANY($2)",
        )
        .bind(tenant.to_string())
        .bind(ids)
        .fetch_all(self.pool())
        .await
        .map_err(storage)?;
        Ok(rows
            .into_iter()
            .filter_map(|(p, m)| Some((ExternalId::parse(&p).ok()?, ExternalId::parse(&m).ok()?)))
            .collect())
    }

    async fn person_history(
        &self,
        tenant: TenantId,
        id: &ExternalId,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, feed_id, message_id, event, changed_fields::text, changes::text, at FROM person_history
             WHERE tenant_id = $1 AND external_id = $2 ORDER BY version",
        )
        .bind(tenant.to_string())
        .bind(id.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(storage)?;
        rows.iter()
            .map(|r| {
                let event: Option<String> = r.try_get(3).map_err(storage)?;
                Ok(HistoryEntry {
                    version: r.try_get::<i64, _>(0).map_err(storage)?.max(0) as u64,
                    feed_id: parse_id(r.try_get::<&str, _>(1).map_err(storage)?)?,
                    message_id: r.try_get(2).map_err(storage)?,
                    event: event.and_then(|e| serde_json::from_value(serde_json::Value::String(e)).ok()),
                    changed_fields: json(r.try_get(4).map_err(storage)?)?,
                    changes: json(r.try_get(5).map_err(storage)?)?,
                    at: Timestamp(r.try_get(6).map_err(storage)?),
                })
            })
            .collect()
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
        for crafted in ["a\u{e9}b", "\u{e9}\u{e9}", "zz", "abc", "ff"] {
            assert!(decode_cursor(crafted).is_err(), "{crafted:?}");
        }
    }
}
