//! Applying changes: one transaction per batch; per message an idempotency
//! check, stale-update protection, the lifecycle decision, and the person,
//! history, outbox and feed counts written together.

use std::collections::HashMap;

use async_trait::async_trait;
use roster_core::lifecycle::{self, Decision, EventType, Status, Stored, decide};
use roster_core::{ChangeMessage, FeedId, Person, Timestamp};
use rusqlite::{CachedStatement, OptionalExtension, Transaction, params};
use serde_json::value::RawValue;

use super::storage;
use crate::conn::{SqliteDirectory, immediate};
use roster_store::prelude::*;
use roster_store::{ApplyOutcome, StoreError};

/// Counter changes of one feed within a batch.
#[derive(Default)]
struct Delta {
    applied: i64,
    unchanged: i64,
    stale: i64,
    failed: i64,
}

/// The statements written once per change, looked up in the connection's
/// cache once per batch rather than once per use: the lookup hashes the SQL
/// text, which cost the single writer as much as some of the writes.
pub(super) struct Statements<'t> {
    person: CachedStatement<'t>,
    upsert_person: CachedStatement<'t>,
    listed: CachedStatement<'t>,
    /// Clears the pending flag of the people waiting for a manager who has
    /// just arrived.
    reports_found: CachedStatement<'t>,
    /// Whether a manager's chain leads back to a person (a cycle).
    chain: CachedStatement<'t>,
    /// Whether anyone waits for a person as their manager.
    pending_reports: CachedStatement<'t>,
    history: CachedStatement<'t>,
    outbox: CachedStatement<'t>,
}

impl<'t> Statements<'t> {
    pub fn prepare(tx: &'t Transaction<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            person: tx
                .prepare_cached(
                    "SELECT version, last_modified, data, status, position, source FROM people
                     WHERE tenant_id = ?1 AND external_id = ?2",
                )
                .map_err(storage)?,
            upsert_person: tx
                .prepare_cached(
                    "INSERT INTO people (tenant_id, external_id, version, active, last_modified, data, created_at, updated_at,
                                         last_feed_id, source, status, due_on, position, manager_id, manager_pending)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                             ?13 IS NOT NULL AND NOT EXISTS
                               (SELECT 1 FROM people m WHERE m.tenant_id = ?1 AND m.external_id = ?13))
                     ON CONFLICT (tenant_id, external_id) DO UPDATE SET
                        version = excluded.version, active = excluded.active, last_modified = excluded.last_modified,
                        data = excluded.data, updated_at = excluded.updated_at, last_feed_id = excluded.last_feed_id,
                        source = excluded.source, status = excluded.status, due_on = excluded.due_on,
                        position = excluded.position, manager_id = excluded.manager_id,
                        manager_pending = excluded.manager_pending",
                )
                .map_err(storage)?,
            listed: tx
                .prepare_cached(
                    "UPDATE people SET last_modified = ?3, position = ?4, source = ?5
                     WHERE tenant_id = ?1 AND external_id = ?2",
                )
                .map_err(storage)?,
            reports_found: tx
                .prepare_cached(
                    // The partial index, named: without statistics the
                    // planner would scan the tenant's people by primary key,
                    // once per new person.
                    "UPDATE people INDEXED BY people_manager_pending SET manager_pending = 0
                     WHERE tenant_id = ?1 AND manager_id = ?2 AND manager_pending = 1",
                )
                .map_err(storage)?,
            chain: tx
                .prepare_cached(
                    "WITH RECURSIVE chain (id, depth) AS (
                        SELECT ?2, 1
                        UNION ALL
                        SELECT p.manager_id, c.depth + 1 FROM chain c
                          JOIN people p ON p.tenant_id = ?1 AND p.external_id = c.id
                         WHERE p.manager_id IS NOT NULL AND c.depth < ?4 AND c.id != ?3
                     )
                     SELECT depth FROM chain WHERE id = ?3 LIMIT 1",
                )
                .map_err(storage)?,
            pending_reports: tx
                .prepare_cached(
                    "SELECT 1 FROM people INDEXED BY people_manager_pending
                     WHERE tenant_id = ?1 AND manager_id = ?2 AND manager_pending = 1 LIMIT 1",
                )
                .map_err(storage)?,
            history: tx
                .prepare_cached(
                    "INSERT INTO person_history (tenant_id, external_id, version, feed_id, message_id, event, changed_fields, changes, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(storage)?,
            outbox: tx
                .prepare_cached(
                    "INSERT INTO outbox (id, tenant_id, type, feed_id, occurred_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(storage)?,
        })
    }
}

pub fn apply_batch(
    tx: &Transaction<'_>,
    messages: &[ChangeMessage],
    now: Timestamp,
) -> Result<Vec<ApplyOutcome>, StoreError> {
    let mut deltas: HashMap<FeedId, Delta> = HashMap::new();
    let mut positions: HashMap<FeedId, Option<i64>> = HashMap::new();
    let mut out = Vec::with_capacity(messages.len());
    let mut statements = Statements::prepare(tx)?;
    let mut applied_before =
        tx.prepare_cached("SELECT outcome FROM applied_messages WHERE message_id = ?1").map_err(storage)?;
    let mut record_applied = tx
        .prepare_cached(
            "INSERT INTO applied_messages (message_id, tenant_id, feed_id, outcome, at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (message_id) DO UPDATE SET outcome = excluded.outcome, at = excluded.at",
        )
        .map_err(storage)?;
    for msg in messages {
        let message_id = msg.message_id.to_string();
        let previous: Option<String> =
            applied_before.query_row([&message_id], |r| r.get(0)).optional().map_err(storage)?;
        let was_failed = match previous.as_deref() {
            Some("failed") => true,
            Some(_) => {
                out.push(ApplyOutcome::Duplicate);
                continue;
            }
            None => false,
        };
        let position = match positions.get(&msg.feed_id) {
            Some(p) => *p,
            None => {
                let p = feed_position(tx, msg)?;
                positions.insert(msg.feed_id, p);
                p
            }
        };
        let Some(position) = position else {
            out.push(ApplyOutcome::Rejected("unknown feed for this tenant".into()));
            continue;
        };

        let outcome = apply_one(tx, &mut statements, msg, position, now)?;
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
        record_applied
            .execute(params![
                message_id,
                msg.tenant_id.to_string(),
                msg.feed_id.to_string(),
                label,
                now.millis()
            ])
            .map_err(storage)?;
        let d = deltas.entry(msg.feed_id).or_default();
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
    // In acceptance order: when two snapshots finish in one batch, the older
    // is judged first (it is anyway: the newer waits for it).
    let mut deltas: Vec<(FeedId, Delta)> = deltas.into_iter().collect();
    deltas.sort_by_key(|(feed, _)| positions.get(feed).copied().flatten());
    for (feed, d) in deltas {
        bump_feed(tx, feed, &d, now)?;
    }
    Ok(out)
}

/// Counts a dead-lettered message as failed, once.
pub fn record_failure(tx: &Transaction<'_>, msg: &ChangeMessage, now: Timestamp) -> Result<(), StoreError> {
    if feed_position(tx, msg)?.is_none() {
        return Ok(());
    }
    let inserted = tx
        .prepare_cached(
            "INSERT INTO applied_messages (message_id, tenant_id, feed_id, outcome, at) VALUES (?1, ?2, ?3, 'failed', ?4)
             ON CONFLICT (message_id) DO NOTHING",
        )
        .map_err(storage)?
        .execute(params![msg.message_id.to_string(), msg.tenant_id.to_string(), msg.feed_id.to_string(), now.millis()])
        .map_err(storage)?;
    if inserted == 1 {
        bump_feed(tx, msg.feed_id, &Delta { failed: 1, ..Delta::default() }, now)?;
    }
    Ok(())
}

/// The message's feed's place in acceptance order; `None` if the tenant has
/// no such feed.
fn feed_position(tx: &Transaction<'_>, msg: &ChangeMessage) -> Result<Option<i64>, StoreError> {
    tx.prepare_cached("SELECT COALESCE(position, 0) FROM feeds WHERE id = ?1 AND tenant_id = ?2")
        .map_err(storage)?
        .query_row(params![msg.feed_id.to_string(), msg.tenant_id.to_string()], |r| r.get(0))
        .optional()
        .map_err(storage)
}

/// One change, judged by feed order first: a change from a feed accepted
/// before the one that last said anything about the person (wrote them,
/// listed them unchanged, or deactivated them in a snapshot) is stale,
/// whatever order the queue delivered them in — a redrive, a retry after a
/// dead letter, SQS's own reordering. Then by the source's own clock
/// (`meta.lastModified`), when it sends one.
fn apply_one(
    tx: &Transaction<'_>,
    statements: &mut Statements<'_>,
    msg: &ChangeMessage,
    position: i64,
    now: Timestamp,
) -> Result<ApplyOutcome, StoreError> {
    let tenant = msg.tenant_id.to_string();
    let external_id = msg.change.external_id().as_str();
    let stored = load_person(statements, &tenant, external_id)?;
    if stored.person.is_some() && position < stored.position {
        return Ok(ApplyOutcome::Stale);
    }
    let incoming_lm = msg.last_modified.map(Timestamp::millis);
    if let (Some(incoming), Some(stored)) = (incoming_lm, stored.last_modified)
        && incoming < stored
    {
        return Ok(ApplyOutcome::Stale);
    }
    let last_modified = incoming_lm.max(stored.last_modified);

    let (person, status, changed, event) = match decide(stored.current(tx, &tenant)?, &msg.change, now.date())
    {
        Decision::Unchanged => {
            // Nothing to write but the listing itself: the person was said
            // to be so by this feed (a snapshot older than it cannot judge
            // them any more), and belongs to the source that said it last.
            let source = msg.source.as_str();
            if stored.person.is_some()
                && (last_modified != stored.last_modified
                    || position != stored.position
                    || stored.source.as_deref() != Some(source))
            {
                statements
                    .listed
                    .execute(params![tenant, external_id, last_modified, position, source])
                    .map_err(storage)?;
            }
            return Ok(ApplyOutcome::Unchanged);
        }
        Decision::Write { person, status, changed, event } => (person, status, changed, event),
    };
    // A cycle needs someone whose chain leads to this person: for a new
    // person that can only be a report sent before them (still pending), so
    // most joiners skip the walk up their managers.
    let may_close_cycle = match stored.person {
        None => statements.pending_reports.exists(params![tenant, external_id]).map_err(storage)?,
        Some(_) => changed.contains(&"manager"),
    };
    if let Some(manager) = &person.manager
        && may_close_cycle
        && let Some(length) = reporting_cycle(statements, &tenant, manager.as_str(), external_id)?
    {
        // Refused (dead-lettered with this reason). The ids stay out of the
        // reason: it is logged.
        return Ok(ApplyOutcome::Rejected(format!(
            "`manager` would make a reporting cycle of {length} people (the manager's chain of managers leads \
             back to this person): refused"
        )));
    }
    let write = PersonWrite {
        tenant: &tenant,
        source: msg.source.as_str(),
        feed_id: msg.feed_id,
        message_id: &msg.message_id.to_string(),
        last_modified,
        position,
        now,
    };
    write.write(
        statements,
        Prior { version: stored.version, person: stored.person.as_ref() },
        &person,
        status,
        &changed,
        event,
    )?;
    Ok(ApplyOutcome::Applied { event })
}

/// The longest chain of managers followed looking for a cycle (deeper
/// organisations than this are not checked beyond it).
const MAX_CHAIN: i64 = 256;

/// How many people a cycle through `manager` back to `person` would hold,
/// if there is one (`manager` naming the person themself is a cycle of 1).
fn reporting_cycle(
    statements: &mut Statements<'_>,
    tenant: &str,
    manager: &str,
    person: &str,
) -> Result<Option<i64>, StoreError> {
    if manager == person {
        return Ok(Some(1));
    }
    // The chain reaches the person at `depth`: the manager, their managers
    // and the person make that many.
    statements
        .chain
        .query_row(params![tenant, manager, person, MAX_CHAIN], |r| r.get::<_, i64>(0))
        .optional()
        .map_err(storage)
}

/// A person's stored row, or version 0 and nothing.
pub(super) struct Loaded {
    pub version: i64,
    /// The source's modification time of what is stored.
    pub last_modified: Option<i64>,
    pub person: Option<Person>,
    pub status: Status,
    /// The position of the newest feed that said anything about them.
    pub position: i64,
    pub source: Option<String>,
}

impl Loaded {
    /// What `decide` needs; asks the history whether a person not active
    /// now was ever joined only when it matters (their start is then a
    /// rehire, otherwise a join).
    pub fn current(&self, tx: &Transaction<'_>, tenant: &str) -> Result<Option<Stored<'_>>, StoreError> {
        let Some(person) = &self.person else { return Ok(None) };
        let was_active = self.status != Status::Active && {
            tx.prepare_cached(
                "SELECT 1 FROM person_history WHERE tenant_id = ?1 AND external_id = ?2
                   AND event IN ('person.joined', 'person.rehired') LIMIT 1",
            )
            .map_err(storage)?
            .query_row(params![tenant, person.external_id.as_str()], |_| Ok(()))
            .optional()
            .map_err(storage)?
            .is_some()
        };
        Ok(Some(Stored { person, status: self.status, was_active }))
    }
}

pub(super) fn load_person(
    statements: &mut Statements<'_>,
    tenant: &str,
    external_id: &str,
) -> Result<Loaded, StoreError> {
    type Row = (i64, Option<i64>, String, String, i64, String);
    let stored: Option<Row> = statements
        .person
        .query_row(params![tenant, external_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()
        .map_err(storage)?;
    match stored {
        Some((version, last_modified, data, status, position, source)) => {
            let person: Person = serde_json::from_str(&data)
                .map_err(|e| StoreError::Storage(format!("stored person does not decode: {e}")))?;
            let status = Status::parse(&status)
                .ok_or_else(|| StoreError::Storage(format!("unknown stored status {status:?}")))?;
            Ok(Loaded {
                version,
                last_modified,
                person: Some(person),
                status,
                position,
                source: Some(source),
            })
        }
        None => Ok(Loaded {
            version: 0,
            last_modified: None,
            person: None,
            status: Status::Inactive,
            position: 0,
            source: None,
        }),
    }
}

/// Writes one new version of a person: the person, its history row and its
/// lifecycle event, together (the caller's transaction).
pub(super) struct PersonWrite<'a> {
    pub tenant: &'a str,
    pub source: &'a str,
    pub feed_id: FeedId,
    /// What caused the version: a message id, or the reconciliation of a feed.
    pub message_id: &'a str,
    pub last_modified: Option<i64>,
    /// The position of the feed the version belongs to in feed order (a
    /// scheduled change keeps the person's: it is no newer word of a source).
    pub position: i64,
    pub now: Timestamp,
}

/// The stored version a write follows (0 and no person for a new one).
pub(super) struct Prior<'a> {
    pub version: i64,
    pub person: Option<&'a Person>,
}

impl PersonWrite<'_> {
    pub fn write(
        &self,
        statements: &mut Statements<'_>,
        prior: Prior<'_>,
        person: &Person,
        status: Status,
        changed: &[&'static str],
        event: Option<EventType>,
    ) -> Result<(), StoreError> {
        let (version, previous) = (prior.version + 1, prior.person);
        let external_id = person.external_id.as_str();
        let feed_id = self.feed_id.to_string();
        // The person is serialized once: the row, the history's new values
        // and the event's payload are cut from the same JSON (borrowed
        // slices of it, not a tree of values: this runs once per record on
        // the directory's only writer).
        let data_json = serde_json::to_string(person).map_err(|e| StoreError::Storage(e.to_string()))?;
        let fields: HashMap<&str, &RawValue> =
            serde_json::from_str(&data_json).map_err(|e| StoreError::Storage(e.to_string()))?;
        statements
            .upsert_person
            .execute(params![
                self.tenant,
                external_id,
                version,
                status != Status::Inactive,
                self.last_modified,
                data_json,
                self.now.millis(),
                feed_id,
                self.source,
                status.as_str(),
                lifecycle::due_on(person, status).map(|d| d.to_string()),
                self.position,
                person.manager.as_ref().map(|m| m.as_str())
            ])
            .map_err(storage)?;
        if version == 1 {
            // Reports sent before their manager no longer wait.
            statements.reports_found.execute(params![self.tenant, external_id]).map_err(storage)?;
        }

        // The new values of the changed attributes (null where cleared).
        let changes = NewValues { changed, fields: &fields };
        let changes_json = serde_json::to_string(&changes).map_err(|e| StoreError::Storage(e.to_string()))?;
        let changed_json = serde_json::to_string(changed).map_err(|e| StoreError::Storage(e.to_string()))?;
        statements
            .history
            .execute(params![
                self.tenant,
                external_id,
                version,
                feed_id,
                self.message_id,
                event.map(|e| e.as_str()),
                changed_json,
                changes_json,
                self.now.millis()
            ])
            .map_err(storage)?;

        if let Some(kind) = event {
            // `roster_core::LifecycleEvent` as stored, assembled from JSON
            // already written (the event type is a fixed identifier).
            // A mover or an update carries the previous values of what
            // changed (null where it was unset), cut from the stored JSON.
            let previous_json = match (kind, previous) {
                (EventType::Moved | EventType::Updated, Some(previous)) => {
                    let before =
                        serde_json::to_string(previous).map_err(|e| StoreError::Storage(e.to_string()))?;
                    let fields: HashMap<&str, &RawValue> =
                        serde_json::from_str(&before).map_err(|e| StoreError::Storage(e.to_string()))?;
                    let values = NewValues { changed, fields: &fields };
                    let json =
                        serde_json::to_string(&values).map_err(|e| StoreError::Storage(e.to_string()))?;
                    format!(r#","previousAttributes":{json}"#)
                }
                _ => String::new(),
            };
            let payload = format!(
                r#"{{"type":"{}","status":"{}","changedFields":{changed_json}{previous_json},"person":{data_json}}}"#,
                kind.as_str(),
                lifecycle::public_status(status),
            );
            statements
                .outbox
                .execute(params![
                    uuid::Uuid::now_v7().to_string(),
                    self.tenant,
                    kind.as_str(),
                    feed_id,
                    self.now.millis(),
                    payload
                ])
                .map_err(storage)?;
        }
        Ok(())
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

fn bump_feed(tx: &Transaction<'_>, feed: FeedId, d: &Delta, now: Timestamp) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE feeds SET applied = applied + ?2, unchanged = unchanged + ?3, stale = stale + ?4,
                          failed = MAX(failed + ?5, 0), updated_at = ?6
         WHERE id = ?1",
    )
    .map_err(storage)?
    .execute(params![feed.to_string(), d.applied, d.unchanged, d.stale, d.failed, now.millis()])
    .map_err(storage)?;
    super::snapshots::refresh_feed(tx, feed, now)
}

/// Applies the status changes that have fallen due by `now`'s date (a
/// pending person's hire date, an active person's termination date), at most
/// `limit`. Each is a new version caused by the feed that set the date.
pub fn apply_due(tx: &Transaction<'_>, now: Timestamp, limit: usize) -> Result<u64, StoreError> {
    let today = now.date();
    let due: Vec<(String, String, String, Option<String>)> = tx
        .prepare_cached(
            "SELECT tenant_id, external_id, source, last_feed_id FROM people
             WHERE due_on IS NOT NULL AND due_on <= ?1 ORDER BY due_on LIMIT ?2",
        )
        .map_err(storage)?
        .query_map(params![today.to_string(), limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .map_err(storage)?
        .collect::<Result<_, _>>()
        .map_err(storage)?;
    let cause = format!("scheduled:{today}");
    let mut statements = Statements::prepare(tx)?;
    let mut written = 0;
    for (tenant, ext, source, feed) in due {
        let stored = load_person(&mut statements, &tenant, &ext)?;
        let Some(person) = stored.person.clone() else { continue };
        let feed_id = feed.and_then(|f| f.parse().ok()).unwrap_or_else(|| FeedId::from(uuid::Uuid::nil()));
        let decision = decide(stored.current(tx, &tenant)?, &roster_core::Change::Upsert { person }, today);
        let Decision::Write { person, status, changed, event } = decision else {
            // Due but nothing changes (e.g. a date in the past that no
            // longer applies): stop asking.
            tx.prepare_cached("UPDATE people SET due_on = NULL WHERE tenant_id = ?1 AND external_id = ?2")
                .map_err(storage)?
                .execute(params![tenant, ext])
                .map_err(storage)?;
            continue;
        };
        let write = PersonWrite {
            tenant: &tenant,
            source: &source,
            feed_id,
            message_id: &cause,
            last_modified: stored.last_modified,
            position: stored.position,
            now,
        };
        write.write(
            &mut statements,
            Prior { version: stored.version, person: stored.person.as_ref() },
            &person,
            status,
            &changed,
            event,
        )?;
        written += 1;
    }
    Ok(written)
}

#[async_trait]
impl ChangeApplier for SqliteDirectory {
    async fn apply_batch(
        &self,
        messages: &[ChangeMessage],
        now: Timestamp,
    ) -> Result<Vec<ApplyOutcome>, StoreError> {
        let messages = messages.to_vec();
        self.write(move |c| {
            let tx = immediate(c)?;
            let out = apply_batch(&tx, &messages, now)?;
            tx.commit().map_err(storage)?;
            Ok(out)
        })
        .await
    }

    async fn record_failure(&self, message: &ChangeMessage, now: Timestamp) -> Result<(), StoreError> {
        let message = message.clone();
        self.write(move |c| {
            let tx = immediate(c)?;
            record_failure(&tx, &message, now)?;
            tx.commit().map_err(storage)
        })
        .await
    }
}
