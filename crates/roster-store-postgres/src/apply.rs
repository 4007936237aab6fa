//! Applying changes: one transaction per batch, in a fixed number of round
//! trips whatever its size (set-based statements over `unnest` arrays).
//!
//! Locks, always in this order, so two batches never wait on each other in
//! a cycle:
//! 1. the batch's people, by a transaction advisory lock per (tenant,
//!    external id), sorted by key: a person that does not exist yet is
//!    locked too, so two workers never both insert version 1;
//! 2. its tenants' feed locks, sorted ([`crate::feeds::lock_tenants`]),
//!    before the outbox rows and the feed counters are written: events of
//!    a tenant are numbered in commit order (the outbox cursor never skips
//!    one committed late), and snapshot bookkeeping reads what the other
//!    writers of the tenant committed;
//! 3. feed rows, by `UPDATE ... SET applied = applied + $n` (never read,
//!    modified and written back).
//!
//! Reads of the batch's people, their applied marks and their feeds are
//! one statement each after step 1; the person, history and applied rows
//! are written in one statement each at the end (or before a reporting
//! cycle check, which must see the batch's earlier writes).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use roster_core::lifecycle::{self, Decision, EventType, Status, Stored, decide};
use roster_core::{Change, ChangeMessage, FeedId, Person, Timestamp};
use roster_store::{ApplyOutcome, ChangeApplier, StoreError};
use serde_json::value::RawValue;
use sqlx::{PgConnection, Row};

use crate::conn::{PgDirectory, storage};
use crate::feeds::lock_tenants;
use crate::snapshots;

/// Takes the person locks of these (tenant, external id) pairs, blocking,
/// in key order (one statement): exclusive for `keys`, shared for
/// `managers` (the managers the batch's upserts name, see
/// [`apply_batch`]), exclusive where a key is both.
pub(crate) async fn lock_people(
    c: &mut PgConnection,
    keys: &[(String, String)],
    managers: &[(String, String)],
) -> Result<(), StoreError> {
    let (tenants, ids): (Vec<&str>, Vec<&str>) = keys.iter().map(|(t, e)| (t.as_str(), e.as_str())).unzip();
    let (m_tenants, m_ids): (Vec<&str>, Vec<&str>) =
        managers.iter().map(|(t, e)| (t.as_str(), e.as_str())).unzip();
    // The materialized CTE hands the keys to the aggregate in sorted order.
    sqlx::query(
        "WITH keys AS MATERIALIZED (
            SELECT k, bool_or(x) AS x FROM (
                SELECT hashtextextended('person:' || t || '/' || e, 0) AS k, true AS x
                  FROM unnest($1::text[], $2::text[]) AS u(t, e)
                UNION ALL
                SELECT hashtextextended('person:' || t || '/' || e, 0), false
                  FROM unnest($3::text[], $4::text[]) AS u(t, e)) a
             GROUP BY k ORDER BY k)
         SELECT count(CASE WHEN x THEN pg_advisory_xact_lock(k) ELSE pg_advisory_xact_lock_shared(k) END) FROM keys",
    )
    .bind(tenants)
    .bind(ids)
    .bind(m_tenants)
    .bind(m_ids)
    .execute(&mut *c)
    .await
    .map_err(storage)?;
    Ok(())
}

/// Tries the person lock of one (tenant, external id) without waiting.
pub(crate) async fn try_lock_person(
    c: &mut PgConnection,
    tenant: &str,
    id: &str,
) -> Result<bool, StoreError> {
    sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtextextended('person:' || $1 || '/' || $2, 0))")
        .bind(tenant)
        .bind(id)
        .fetch_one(&mut *c)
        .await
        .map_err(storage)
}

/// Counter changes of one feed within a batch.
#[derive(Default)]
pub(crate) struct Delta {
    pub applied: i64,
    pub unchanged: i64,
    pub stale: i64,
    pub failed: i64,
}

/// A person as stored (or as this batch left them so far).
#[derive(Clone)]
pub(crate) struct Loaded {
    pub version: i64,
    /// The source's modification time of what is stored.
    pub last_modified: Option<i64>,
    pub person: Option<Person>,
    pub status: Status,
    /// The position of the newest feed that said anything about them.
    pub position: i64,
    pub source: Option<String>,
    /// Whether their history holds a join or a rehire.
    pub ever_joined: bool,
    /// Whether someone waits for them as their manager (as stored when
    /// loaded).
    pub reports_wait: bool,
    /// Whether the row is in the table (read, or written by an earlier
    /// flush): written with an `UPDATE` then, else with a plain `INSERT`.
    /// The batch holds the person's lock, so nobody else inserts it.
    in_table: bool,
    /// What the row needs, once written.
    data_json: String,
    pub last_feed_id: Option<String>,
    dirty: Dirty,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dirty {
    Clean,
    /// Only `last_modified`, `position` and `source` changed.
    Listed,
    Written,
}

impl Loaded {
    fn absent() -> Self {
        Self {
            version: 0,
            last_modified: None,
            person: None,
            status: Status::Inactive,
            position: 0,
            source: None,
            ever_joined: false,
            reports_wait: false,
            in_table: false,
            data_json: String::new(),
            last_feed_id: None,
            dirty: Dirty::Clean,
        }
    }

    /// What `decide` needs.
    pub fn current(&self) -> Option<Stored<'_>> {
        let person = self.person.as_ref()?;
        Some(Stored {
            person,
            status: self.status,
            was_active: self.status != Status::Active && self.ever_joined,
        })
    }
}

struct HistoryRow {
    tenant: String,
    external_id: String,
    version: i64,
    feed_id: String,
    message_id: String,
    event: Option<&'static str>,
    changed: String,
    changes: String,
}

struct OutboxRow {
    tenant: String,
    kind: &'static str,
    feed_id: String,
    payload: String,
}

/// One new version of a person, and what caused it.
pub(crate) struct Cause<'a> {
    pub source: &'a str,
    pub feed_id: FeedId,
    /// A message id, or the reconciliation of a feed.
    pub message_id: &'a str,
    pub last_modified: Option<i64>,
    /// The feed's position (a scheduled change keeps the person's).
    pub position: i64,
}

/// The people of one transaction's writes, and the rows waiting to be
/// written.
pub(crate) struct Batch {
    pub people: HashMap<(String, String), Loaded>,
    history: Vec<HistoryRow>,
    outbox: Vec<OutboxRow>,
    /// (message id, tenant, feed, outcome, whether its mark is stored: a
    /// message counted failed before).
    applied: Vec<(String, String, String, &'static str, bool)>,
    /// Managers of people written in this batch: someone may wait for them.
    managers: HashSet<(String, String)>,
    now: Timestamp,
}

impl Batch {
    pub fn new(now: Timestamp) -> Self {
        Self {
            people: HashMap::new(),
            history: Vec::new(),
            outbox: Vec::new(),
            applied: Vec::new(),
            managers: HashSet::new(),
            now,
        }
    }

    /// Loads these people (one statement); those not stored are `absent`.
    pub async fn load(&mut self, c: &mut PgConnection, keys: &[(String, String)]) -> Result<(), StoreError> {
        let keys: Vec<&(String, String)> = keys.iter().filter(|k| !self.people.contains_key(*k)).collect();
        if keys.is_empty() {
            return Ok(());
        }
        let (tenants, ids): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(t, e)| (t.as_str(), e.as_str())).unzip();
        let rows = sqlx::query(
            "SELECT u.t, u.e, p.version, p.last_modified, p.data::text, p.status, p.position, p.source, p.last_feed_id,
                    p.status IS NOT NULL AND p.status <> 'active' AND EXISTS (
                        SELECT 1 FROM person_history h WHERE h.tenant_id = u.t AND h.external_id = u.e
                           AND h.event IN ('person.joined', 'person.rehired')),
                    EXISTS (SELECT 1 FROM people r WHERE r.tenant_id = u.t AND r.manager_id = u.e AND r.manager_pending)
               FROM (SELECT DISTINCT t, e FROM unnest($1::text[], $2::text[]) AS x(t, e)) u
               LEFT JOIN people p ON p.tenant_id = u.t AND p.external_id = u.e",
        )
        .bind(tenants)
        .bind(ids)
        .fetch_all(&mut *c)
        .await
        .map_err(storage)?;
        for r in rows {
            let key: (String, String) = (r.try_get(0).map_err(storage)?, r.try_get(1).map_err(storage)?);
            let mut loaded = Loaded::absent();
            loaded.reports_wait = r.try_get(10).map_err(storage)?;
            if let Some(version) = r.try_get::<Option<i64>, _>(2).map_err(storage)? {
                let data: String = r.try_get(4).map_err(storage)?;
                let status: String = r.try_get(5).map_err(storage)?;
                loaded.version = version;
                loaded.in_table = true;
                loaded.last_modified = r.try_get(3).map_err(storage)?;
                loaded.person = Some(
                    serde_json::from_str(&data)
                        .map_err(|e| StoreError::Storage(format!("stored person does not decode: {e}")))?,
                );
                loaded.status = Status::parse(&status)
                    .ok_or_else(|| StoreError::Storage(format!("unknown stored status {status:?}")))?;
                loaded.position = r.try_get(6).map_err(storage)?;
                loaded.source = r.try_get(7).map_err(storage)?;
                loaded.last_feed_id = r.try_get(8).map_err(storage)?;
                loaded.ever_joined = r.try_get::<Option<bool>, _>(9).map_err(storage)?.unwrap_or(false);
                loaded.data_json = data;
            }
            self.people.insert(key, loaded);
        }
        Ok(())
    }

    /// Whether someone may wait for this new person as their manager: a
    /// report stored before, or written earlier in this batch.
    pub fn reports_may_wait(&self, key: &(String, String)) -> bool {
        self.people.get(key).is_some_and(|p| p.reports_wait) || self.managers.contains(key)
    }

    /// Records that the person was said to be as stored by this feed.
    pub fn listed(
        &mut self,
        key: &(String, String),
        last_modified: Option<i64>,
        position: i64,
        source: &str,
    ) {
        if let Some(p) = self.people.get_mut(key) {
            p.last_modified = last_modified;
            p.position = position;
            p.source = Some(source.to_owned());
            if p.dirty == Dirty::Clean {
                p.dirty = Dirty::Listed;
            }
        }
    }

    /// A new version of a person: the row, its history row and its event.
    pub fn write(
        &mut self,
        tenant: &str,
        cause: &Cause<'_>,
        person: Person,
        status: Status,
        changed: &[&'static str],
        event: Option<EventType>,
    ) -> Result<(), StoreError> {
        let key = (tenant.to_owned(), person.external_id.as_str().to_owned());
        let feed_id = cause.feed_id.to_string();
        // The person is serialized once: the row, the history's new values
        // and the event's payload are cut from the same JSON.
        let data_json = serde_json::to_string(&person).map_err(|e| StoreError::Storage(e.to_string()))?;
        let fields: HashMap<&str, &RawValue> =
            serde_json::from_str(&data_json).map_err(|e| StoreError::Storage(e.to_string()))?;
        let changes = serde_json::to_string(&NewValues { changed, fields: &fields })
            .map_err(|e| StoreError::Storage(e.to_string()))?;
        let changed_json = serde_json::to_string(changed).map_err(|e| StoreError::Storage(e.to_string()))?;
        let loaded = self.people.entry(key.clone()).or_insert_with(Loaded::absent);
        loaded.version += 1;
        self.history.push(HistoryRow {
            tenant: tenant.to_owned(),
            external_id: key.1.clone(),
            version: loaded.version,
            feed_id: feed_id.clone(),
            message_id: cause.message_id.to_owned(),
            event: event.map(EventType::as_str),
            changed: changed_json.clone(),
            changes,
        });
        if let Some(kind) = event {
            // `roster_core::LifecycleEvent` as stored, assembled from JSON
            // already written (the event type is a fixed identifier). A
            // mover or an update carries the previous values of what changed
            // (null where it was unset), cut from the stored person's JSON.
            let previous_json = match (kind, &loaded.person) {
                (EventType::Moved | EventType::Updated, Some(previous)) => {
                    let before =
                        serde_json::to_string(previous).map_err(|e| StoreError::Storage(e.to_string()))?;
                    let fields: HashMap<&str, &RawValue> =
                        serde_json::from_str(&before).map_err(|e| StoreError::Storage(e.to_string()))?;
                    let values = serde_json::to_string(&NewValues { changed, fields: &fields })
                        .map_err(|e| StoreError::Storage(e.to_string()))?;
                    format!(r#","previousAttributes":{values}"#)
                }
                _ => String::new(),
            };
            let payload = format!(
                r#"{{"type":"{}","status":"{}","changedFields":{changed_json}{previous_json},"person":{data_json}}}"#,
                kind.as_str(),
                lifecycle::public_status(status),
            );
            self.outbox.push(OutboxRow {
                tenant: tenant.to_owned(),
                kind: kind.as_str(),
                feed_id: feed_id.clone(),
                payload,
            });
        }
        if let Some(m) = &person.manager {
            self.managers.insert((tenant.to_owned(), m.as_str().to_owned()));
        }
        loaded.ever_joined |= matches!(event, Some(EventType::Joined | EventType::Rehired));
        loaded.last_modified = cause.last_modified;
        loaded.position = cause.position;
        loaded.source = Some(cause.source.to_owned());
        loaded.status = status;
        loaded.last_feed_id = Some(feed_id);
        loaded.data_json = data_json;
        loaded.person = Some(person);
        loaded.dirty = Dirty::Written;
        Ok(())
    }

    pub fn mark_applied(
        &mut self,
        message_id: String,
        tenant: String,
        feed: FeedId,
        outcome: &'static str,
        was_failed: bool,
    ) {
        self.applied.push((message_id, tenant, feed.to_string(), outcome, was_failed));
    }

    /// Writes the people, history and applied rows gathered so far (not the
    /// outbox: see [`flush_outbox`](Self::flush_outbox)).
    pub async fn flush(&mut self, c: &mut PgConnection) -> Result<(), StoreError> {
        let now = self.now.millis();
        let mut written: Vec<(&(String, String), &Loaded)> = Vec::new();
        let mut listed: Vec<(&(String, String), &Loaded)> = Vec::new();
        for (k, p) in &self.people {
            match p.dirty {
                Dirty::Written => written.push((k, p)),
                Dirty::Listed => listed.push((k, p)),
                Dirty::Clean => {}
            }
        }
        // New people with a plain INSERT, stored ones with an UPDATE: the
        // batch holds their locks and read their rows, so it knows which
        // is which, and spares PostgreSQL the speculative insertion (and
        // its confirm record) of an `ON CONFLICT` per row.
        let (updates, inserts): (Vec<_>, Vec<_>) = written.iter().partition(|(_, p)| p.in_table);
        if !inserts.is_empty() {
            let cols = PersonColumns::of(&inserts);
            cols.bind(sqlx::query(PEOPLE_INSERT)).bind(now).execute(&mut *c).await.map_err(storage)?;
        }
        if !updates.is_empty() {
            let cols = PersonColumns::of(&updates);
            let updated = cols
                .bind(sqlx::query(PEOPLE_UPDATE))
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(storage)?
                .rows_affected();
            if updated != updates.len() as u64 {
                return Err(StoreError::Storage(format!(
                    "{} of {} stored people were not found to update under their locks",
                    updates.len() as u64 - updated,
                    updates.len()
                )));
            }
        }
        // Reports sent before their manager no longer wait. Only a person
        // someone may wait for can be a waiting report's manager: a report
        // stored before (read under the person's lock: a report written
        // since holds that lock shared until it commits) or written earlier
        // in this batch.
        let awaited: Vec<&(String, String)> = written
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| self.people.get(*k).is_some_and(|p| p.reports_wait) || self.managers.contains(*k))
            .collect();
        if !awaited.is_empty() {
            let (t, e): (Vec<&str>, Vec<&str>) =
                awaited.iter().map(|(t, e)| (t.as_str(), e.as_str())).unzip();
            sqlx::query(
                "UPDATE people r SET manager_pending = false
                   FROM unnest($1::text[], $2::text[]) AS u(t, e)
                  WHERE r.tenant_id = u.t AND r.manager_id = u.e AND r.manager_pending",
            )
            .bind(t)
            .bind(e)
            .execute(&mut *c)
            .await
            .map_err(storage)?;
        }
        if !listed.is_empty() {
            let (mut t, mut e, mut lm, mut pos, mut s) = (vec![], vec![], vec![], vec![], vec![]);
            for ((tenant, ext), p) in &listed {
                t.push(tenant.as_str());
                e.push(ext.as_str());
                lm.push(p.last_modified);
                pos.push(p.position);
                s.push(p.source.as_deref().unwrap_or("default"));
            }
            sqlx::query(
                "UPDATE people p SET last_modified = u.lm, position = u.pos, source = u.s
                   FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[]) AS u(t, e, lm, pos, s)
                  WHERE p.tenant_id = u.t AND p.external_id = u.e",
            )
            .bind(t)
            .bind(e)
            .bind(lm)
            .bind(pos)
            .bind(s)
            .execute(&mut *c)
            .await
            .map_err(storage)?;
        }
        for p in self.people.values_mut() {
            p.in_table |= p.dirty == Dirty::Written;
            p.dirty = Dirty::Clean;
        }
        if !self.history.is_empty() {
            let h = std::mem::take(&mut self.history);
            sqlx::query(
                "INSERT INTO person_history (tenant_id, external_id, version, feed_id, message_id, event,
                                             changed_fields, changes, at)
                 SELECT u.t, u.e, u.v, u.f, u.m, u.ev, u.cf::jsonb, u.ch::jsonb, $9
                   FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
                               $8::text[]) AS u(t, e, v, f, m, ev, cf, ch)",
            )
            .bind(h.iter().map(|r| r.tenant.as_str()).collect::<Vec<_>>())
            .bind(h.iter().map(|r| r.external_id.as_str()).collect::<Vec<_>>())
            .bind(h.iter().map(|r| r.version).collect::<Vec<_>>())
            .bind(h.iter().map(|r| r.feed_id.as_str()).collect::<Vec<_>>())
            .bind(h.iter().map(|r| r.message_id.as_str()).collect::<Vec<_>>())
            .bind(h.iter().map(|r| r.event).collect::<Vec<_>>())
            .bind(h.iter().map(|r| r.changed.as_str()).collect::<Vec<_>>())
            .bind(h.iter().map(|r| r.changes.as_str()).collect::<Vec<_>>())
            .bind(now)
            .execute(&mut *c)
            .await
            .map_err(storage)?;
        }
        if !self.applied.is_empty() {
            let a = std::mem::take(&mut self.applied);
            // New marks with a plain INSERT; a message counted failed
            // before and applied now (a redrive) takes its new outcome. The
            // batch read the marks under the messages' person locks.
            let (redriven, new): (Vec<_>, Vec<_>) = a.iter().partition(|r| r.4);
            for (rows, statement) in [
                (
                    new,
                    "INSERT INTO applied_messages (message_id, tenant_id, feed_id, outcome, at)
                     SELECT u.m, u.t, u.f, u.o, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                         AS u(m, t, f, o)",
                ),
                (
                    redriven,
                    "UPDATE applied_messages a SET outcome = u.o, at = $5
                       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(m, t, f, o)
                      WHERE a.message_id = u.m",
                ),
            ] {
                if rows.is_empty() {
                    continue;
                }
                sqlx::query(statement)
                    .bind(rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.2.as_str()).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.3).collect::<Vec<_>>())
                    .bind(now)
                    .execute(&mut *c)
                    .await
                    .map_err(storage)?;
            }
        }
        Ok(())
    }

    /// Writes the events gathered so far. The caller holds the feed locks
    /// of their tenants: events of a tenant are then numbered in the order
    /// their transactions commit.
    pub async fn flush_outbox(&mut self, c: &mut PgConnection) -> Result<(), StoreError> {
        if self.outbox.is_empty() {
            return Ok(());
        }
        let o = std::mem::take(&mut self.outbox);
        let ids: Vec<String> = o.iter().map(|_| uuid::Uuid::now_v7().to_string()).collect();
        // WITH ORDINALITY ... ORDER BY: seq follows the order of the changes.
        sqlx::query(
            "INSERT INTO outbox (id, tenant_id, type, feed_id, occurred_at, payload)
             SELECT u.id, u.t, u.k, u.f, $6, u.p::jsonb
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
                    AS u(id, t, k, f, p, n)
              ORDER BY u.n",
        )
        .bind(ids)
        .bind(o.iter().map(|r| r.tenant.as_str()).collect::<Vec<_>>())
        .bind(o.iter().map(|r| r.kind).collect::<Vec<_>>())
        .bind(o.iter().map(|r| r.feed_id.as_str()).collect::<Vec<_>>())
        .bind(o.iter().map(|r| r.payload.as_str()).collect::<Vec<_>>())
        .bind(self.now.millis())
        .execute(&mut *c)
        .await
        .map_err(storage)?;
        Ok(())
    }
}

#[derive(Default)]
struct PersonColumns<'a> {
    tenant: Vec<&'a str>,
    external_id: Vec<&'a str>,
    version: Vec<i64>,
    active: Vec<bool>,
    last_modified: Vec<Option<i64>>,
    data: Vec<&'a str>,
    last_feed_id: Vec<Option<&'a str>>,
    source: Vec<&'a str>,
    status: Vec<&'a str>,
    due_on: Vec<Option<String>>,
    position: Vec<i64>,
    manager: Vec<Option<String>>,
}

/// A new person's row (`PersonColumns::bind`, then `now`).
const PEOPLE_INSERT: &str =
    "INSERT INTO people (tenant_id, external_id, version, active, last_modified, data, created_at, updated_at,
                         last_feed_id, source, status, due_on, position, manager_id, manager_pending)
     SELECT u.t, u.e, u.v, u.a, u.lm, u.d::jsonb, $13, $13, u.f, u.s, u.st, u.due::date, u.pos, u.m,
            u.m IS NOT NULL AND NOT EXISTS (SELECT 1 FROM people m WHERE m.tenant_id = u.t AND m.external_id = u.m)
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bool[], $5::bigint[], $6::text[], $7::text[],
                   $8::text[], $9::text[], $10::text[], $11::bigint[], $12::text[])
            AS u(t, e, v, a, lm, d, f, s, st, due, pos, m)";

/// A stored person's new version (`PersonColumns::bind`, then `now`).
/// With the same manager, `manager_pending` is kept as stored: the
/// manager's insert clears it on the stored row, and this statement may
/// meet that row by waiting on its lock, after its own snapshot was taken
/// (which does not see the manager), so recomputing it would undo that.
/// People are never deleted, so a manager once stored stays.
const PEOPLE_UPDATE: &str =
    "UPDATE people p SET version = u.v, active = u.a, last_modified = u.lm, data = u.d::jsonb, updated_at = $13,
                         last_feed_id = u.f, source = u.s, status = u.st, due_on = u.due::date, position = u.pos,
                         manager_id = u.m,
                         manager_pending = CASE WHEN p.manager_id IS NOT DISTINCT FROM u.m THEN p.manager_pending
                           ELSE u.m IS NOT NULL AND NOT EXISTS
                             (SELECT 1 FROM people m WHERE m.tenant_id = u.t AND m.external_id = u.m) END
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bool[], $5::bigint[], $6::text[], $7::text[],
                   $8::text[], $9::text[], $10::text[], $11::bigint[], $12::text[])
            AS u(t, e, v, a, lm, d, f, s, st, due, pos, m)
      WHERE p.tenant_id = u.t AND p.external_id = u.e";

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

impl<'a> PersonColumns<'a> {
    fn of(people: &[&(&'a (String, String), &'a Loaded)]) -> Self {
        let mut cols = Self::default();
        for ((t, e), p) in people.iter().map(|x| **x) {
            let person = p.person.as_ref().expect("a written person");
            cols.tenant.push(t.as_str());
            cols.external_id.push(e.as_str());
            cols.version.push(p.version);
            cols.active.push(p.status != Status::Inactive);
            cols.last_modified.push(p.last_modified);
            cols.data.push(p.data_json.as_str());
            cols.last_feed_id.push(p.last_feed_id.as_deref());
            cols.source.push(p.source.as_deref().unwrap_or("default"));
            cols.status.push(p.status.as_str());
            cols.due_on.push(lifecycle::due_on(person, p.status).map(|d| d.to_string()));
            cols.position.push(p.position);
            cols.manager.push(person.manager.as_ref().map(|m| m.as_str().to_owned()));
        }
        cols
    }

    /// Binds `$1`..`$12`.
    fn bind<'q>(&'q self, q: PgQuery<'q>) -> PgQuery<'q> {
        q.bind(&self.tenant)
            .bind(&self.external_id)
            .bind(&self.version)
            .bind(&self.active)
            .bind(&self.last_modified)
            .bind(&self.data)
            .bind(&self.last_feed_id)
            .bind(&self.source)
            .bind(&self.status)
            .bind(&self.due_on)
            .bind(&self.position)
            .bind(&self.manager)
    }
}

/// The history's `changes`: each changed attribute's new value, as a JSON
/// object in the order of `changed`.
struct NewValues<'a> {
    changed: &'a [&'static str],
    fields: &'a HashMap<&'a str, &'a RawValue>,
}

impl serde::Serialize for NewValues<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.changed.iter().map(|f| (*f, self.fields.get(f).copied())))
    }
}

/// The longest chain of managers followed looking for a cycle (deeper
/// organisations than this are not checked beyond it).
const MAX_CHAIN: i64 = 256;

/// How many people a cycle through `manager` back to `person` would hold,
/// if there is one (`manager` naming the person themself is a cycle of 1).
/// Reads the stored rows: the caller flushes the batch first.
async fn reporting_cycle(
    c: &mut PgConnection,
    tenant: &str,
    manager: &str,
    person: &str,
) -> Result<Option<i64>, StoreError> {
    if manager == person {
        return Ok(Some(1));
    }
    sqlx::query_scalar(
        "WITH RECURSIVE chain (id, depth) AS (
            SELECT $2::text COLLATE \"C\", 1::bigint
            UNION ALL
            SELECT p.manager_id COLLATE \"C\", c.depth + 1 FROM chain c
              JOIN people p ON p.tenant_id = $1 AND p.external_id = c.id
             WHERE p.manager_id IS NOT NULL AND c.depth < $4 AND c.id <> $3
         )
         SELECT depth FROM chain WHERE id = $3 LIMIT 1",
    )
    .bind(tenant)
    .bind(manager)
    .bind(person)
    .bind(MAX_CHAIN)
    .fetch_optional(&mut *c)
    .await
    .map_err(storage)
}

/// The feeds of these messages: id → (tenant, position).
async fn feed_positions(
    c: &mut PgConnection,
    messages: &[ChangeMessage],
) -> Result<HashMap<String, (String, i64)>, StoreError> {
    let mut ids: Vec<String> = messages.iter().map(|m| m.feed_id.to_string()).collect();
    ids.sort();
    ids.dedup();
    let rows = sqlx::query("SELECT id, tenant_id, position FROM feeds WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(&mut *c)
        .await
        .map_err(storage)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>(0).map_err(storage)?,
                (r.try_get(1).map_err(storage)?, r.try_get(2).map_err(storage)?),
            ))
        })
        .collect()
}

/// Adds a batch's counts to its feeds (in position order, so that of two
/// snapshots finishing in one batch the older is judged first) and
/// refreshes their status. The caller holds the tenants' feed locks.
pub(crate) async fn bump_feeds(
    c: &mut PgConnection,
    mut deltas: Vec<(i64, FeedId, Delta)>,
    now: Timestamp,
) -> Result<(), StoreError> {
    deltas.sort_by_key(|(position, _, _)| *position);
    for (_, feed, d) in deltas {
        sqlx::query(
            "UPDATE feeds SET applied = applied + $2, unchanged = unchanged + $3, stale = stale + $4,
                              failed = GREATEST(failed + $5, 0), updated_at = $6
             WHERE id = $1",
        )
        .bind(feed.to_string())
        .bind(d.applied)
        .bind(d.unchanged)
        .bind(d.stale)
        .bind(d.failed)
        .bind(now.millis())
        .execute(&mut *c)
        .await
        .map_err(storage)?;
        snapshots::refresh_feed(c, feed, now).await?;
    }
    Ok(())
}

fn key_of(msg: &ChangeMessage) -> (String, String) {
    (msg.tenant_id.to_string(), msg.change.external_id().as_str().to_owned())
}

async fn apply_batch(
    c: &mut PgConnection,
    messages: &[ChangeMessage],
    now: Timestamp,
) -> Result<Vec<ApplyOutcome>, StoreError> {
    let keys: Vec<(String, String)> = messages.iter().map(key_of).collect();
    // A new person's `manager_pending` is whether their manager's row
    // exists, and a new manager clears it on the reports already stored.
    // Two workers inserting a report and their manager at once would each
    // miss the other's uncommitted row and leave the report waiting: the
    // report's writer holds the manager's lock shared (reports of one
    // manager do not wait on each other), the manager's writer holds it
    // exclusive, so one of them commits before the other looks. A stored
    // report needs none of this: the manager's update waits on its row.
    let managers: Vec<(String, String)> = messages
        .iter()
        .filter_map(|m| match &m.change {
            Change::Upsert { person } => {
                person.manager.as_ref().map(|id| (m.tenant_id.to_string(), id.as_str().to_owned()))
            }
            Change::Deactivate { .. } => None,
        })
        .collect();
    lock_people(c, &keys, &managers).await?;
    let mut batch = Batch::new(now);
    batch.load(c, &keys).await?;
    let feeds = feed_positions(c, messages).await?;
    let message_ids: Vec<String> = messages.iter().map(|m| m.message_id.to_string()).collect();
    let mut before: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT message_id, outcome FROM applied_messages WHERE message_id = ANY($1)",
    )
    .bind(&message_ids)
    .fetch_all(&mut *c)
    .await
    .map_err(storage)?
    .into_iter()
    .collect();

    let mut deltas: HashMap<FeedId, (i64, Delta)> = HashMap::new();
    let mut tenants: Vec<String> = Vec::new();
    let mut out = Vec::with_capacity(messages.len());
    for (msg, message_id) in messages.iter().zip(message_ids) {
        let was_failed = match before.get(&message_id).map(String::as_str) {
            Some("failed") => true,
            Some(_) => {
                out.push(ApplyOutcome::Duplicate);
                continue;
            }
            None => false,
        };
        let tenant = msg.tenant_id.to_string();
        let Some(position) =
            feeds.get(&msg.feed_id.to_string()).filter(|(t, _)| *t == tenant).map(|(_, position)| *position)
        else {
            out.push(ApplyOutcome::Rejected("unknown feed for this tenant".into()));
            continue;
        };
        let outcome = apply_one(c, &mut batch, msg, position).await?;
        let label = match &outcome {
            ApplyOutcome::Applied { .. } => "applied",
            ApplyOutcome::Unchanged => "unchanged",
            ApplyOutcome::Stale => "stale",
            // Refused: dead-lettered by the consumer, which counts it failed.
            ApplyOutcome::Rejected(_) | ApplyOutcome::Duplicate => {
                out.push(outcome);
                continue;
            }
        };
        // The same message twice in one batch: the second is a duplicate.
        before.insert(message_id.clone(), label.to_owned());
        batch.mark_applied(message_id, tenant.clone(), msg.feed_id, label, was_failed);
        tenants.push(tenant);
        let (_, d) = deltas.entry(msg.feed_id).or_insert_with(|| (position, Delta::default()));
        match label {
            "applied" => d.applied += 1,
            "unchanged" => d.unchanged += 1,
            _ => d.stale += 1,
        }
        if was_failed {
            d.failed -= 1;
        }
        out.push(outcome);
    }
    batch.flush(c).await?;
    lock_tenants(c, &tenants).await?;
    batch.flush_outbox(c).await?;
    bump_feeds(c, deltas.into_iter().map(|(f, (p, d))| (p, f, d)).collect(), now).await?;
    Ok(out)
}

/// One change, judged by feed order first (a change from a feed accepted
/// before the one that last said anything about the person is stale,
/// whatever order the queue delivered them in), then by the source's own
/// clock (`meta.lastModified`), when it sends one.
async fn apply_one(
    c: &mut PgConnection,
    batch: &mut Batch,
    msg: &ChangeMessage,
    position: i64,
) -> Result<ApplyOutcome, StoreError> {
    let key = key_of(msg);
    // Read in place (a person's row is not copied per change): what the
    // rest needs is taken out before the batch is written to.
    let absent = Loaded::absent();
    let stored = batch.people.get(&key).unwrap_or(&absent);
    let is_new = stored.person.is_none();
    if !is_new && position < stored.position {
        return Ok(ApplyOutcome::Stale);
    }
    let incoming_lm = msg.last_modified.map(Timestamp::millis);
    if let (Some(incoming), Some(stored)) = (incoming_lm, stored.last_modified)
        && incoming < stored
    {
        return Ok(ApplyOutcome::Stale);
    }
    let last_modified = incoming_lm.max(stored.last_modified);
    let (person, status, changed, event) = match decide(stored.current(), &msg.change, batch.now.date()) {
        Decision::Unchanged => {
            // Nothing to write but the listing itself: the person was said
            // to be so by this feed, and belongs to the source that said it.
            let source = msg.source.as_str();
            if !is_new
                && (last_modified != stored.last_modified
                    || position != stored.position
                    || stored.source.as_deref() != Some(source))
            {
                batch.listed(&key, last_modified, position, source);
            }
            return Ok(ApplyOutcome::Unchanged);
        }
        Decision::Write { person, status, changed, event } => (person, status, changed, event),
    };
    // A cycle needs someone whose chain leads to this person: for a new
    // person that can only be a report sent before them, so most joiners
    // skip the walk up their managers.
    if let Some(manager) = &person.manager {
        let may_close_cycle = match is_new {
            true => batch.reports_may_wait(&key),
            false => changed.contains(&"manager"),
        };
        if may_close_cycle {
            batch.flush(c).await?;
            if let Some(length) = reporting_cycle(c, &key.0, manager.as_str(), &key.1).await? {
                // Refused (dead-lettered with this reason). The ids stay
                // out of the reason: it is logged.
                return Ok(ApplyOutcome::Rejected(format!(
                    "`manager` would make a reporting cycle of {length} people (the manager's chain of managers \
                     leads back to this person): refused"
                )));
            }
        }
    }
    let message_id = msg.message_id.to_string();
    let cause = Cause {
        source: msg.source.as_str(),
        feed_id: msg.feed_id,
        message_id: &message_id,
        last_modified,
        position,
    };
    batch.write(&key.0, &cause, person, status, &changed, event)?;
    Ok(ApplyOutcome::Applied { event })
}

#[async_trait]
impl ChangeApplier for PgDirectory {
    async fn apply_batch(
        &self,
        messages: &[ChangeMessage],
        now: Timestamp,
    ) -> Result<Vec<ApplyOutcome>, StoreError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool().begin().await.map_err(storage)?;
        let out = apply_batch(&mut tx, messages, now).await?;
        tx.commit().await.map_err(storage)?;
        Ok(out)
    }

    async fn record_failure(&self, msg: &ChangeMessage, now: Timestamp) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await.map_err(storage)?;
        // The person's lock first, as an apply of the same message takes
        // it: a redrive applying it meanwhile is counted once, either way.
        lock_people(&mut tx, &[key_of(msg)], &[]).await?;
        let tenant = msg.tenant_id.to_string();
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM feeds WHERE id = $1 AND tenant_id = $2")
                .bind(msg.feed_id.to_string())
                .bind(&tenant)
                .fetch_optional(&mut *tx)
                .await
                .map_err(storage)?;
        let Some(position) = position else { return Ok(()) };
        let inserted = sqlx::query(
            "INSERT INTO applied_messages (message_id, tenant_id, feed_id, outcome, at)
             VALUES ($1, $2, $3, 'failed', $4) ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(msg.message_id.to_string())
        .bind(&tenant)
        .bind(msg.feed_id.to_string())
        .bind(now.millis())
        .execute(&mut *tx)
        .await
        .map_err(storage)?
        .rows_affected();
        if inserted == 1 {
            lock_tenants(&mut tx, &[tenant]).await?;
            bump_feeds(&mut tx, vec![(position, msg.feed_id, Delta { failed: 1, ..Delta::default() })], now)
                .await?;
        }
        tx.commit().await.map_err(storage)
    }
}
