//! The ordering model: the directory decides by the order feeds were
//! accepted, never by the order the queue happens to deliver their changes
//! in (a backlog, a retry after a dead letter, a redrive days later, SQS's
//! own reordering). Each case here is a bad day the embedded shape once got
//! wrong; every adapter must get it right.

use roster_core::lifecycle::EventType;
use roster_core::{ChangeMessage, ExternalId, FeedId, FeedMode, SourceName, TenantId, Timestamp};
use serde_json::{Value, json};

use super::{T0, T1, active, apply, eid, msg, population, tenant};
use crate::{ApplyOutcome, Directory, FeedSeal, FeedStatus, NewFeed, ReconcileState, StoreError};

/// A feed of `source` accepted at `at`, its records not yet applied. A full
/// snapshot lists `members` and is sealed (as ingest does once its messages
/// are queued).
async fn accept(
    d: &impl Directory,
    t: TenantId,
    source: &str,
    mode: FeedMode,
    members: &[String],
    accepted: u64,
    at: Timestamp,
) -> FeedId {
    let id = FeedId::new();
    let full = mode == FeedMode::Full;
    d.create_feed(NewFeed {
        id,
        tenant_id: t,
        source: SourceName::parse(source).unwrap(),
        mode,
        format: "json".into(),
        sealed: !full,
        received: accepted,
        accepted,
        rejections: vec![],
        created_at: at,
    })
    .await
    .expect("create feed");
    if full {
        let ids: Vec<ExternalId> = members.iter().map(|m| eid(m)).collect();
        if !ids.is_empty() {
            d.add_snapshot_members(t, id, ids, at).await.expect("members");
        }
        let seal = FeedSeal { received: accepted, accepted, rejections: vec![], rejected: 0 };
        d.seal_feed(t, id, seal, at).await.expect("seal");
    }
    id
}

fn sourced(t: TenantId, f: FeedId, source: &str, record: Value) -> ChangeMessage {
    let mut m = msg(t, f, record);
    m.source = SourceName::parse(source).unwrap();
    m
}

fn staff(range: std::ops::Range<usize>, except: &[usize]) -> Vec<String> {
    range.filter(|i| !except.contains(i)).map(|i| format!("E{i}")).collect()
}

/// The snapshot's messages: each listed person, as `population` stored them.
fn listing(t: TenantId, f: FeedId, source: &str, members: &[String]) -> Vec<ChangeMessage> {
    members.iter().map(|m| sourced(t, f, source, json!({"externalId": m, "department": "Sales"}))).collect()
}

async fn status(d: &impl Directory, t: TenantId, f: FeedId) -> FeedStatus {
    d.get_feed(t, f).await.unwrap().unwrap().status
}

async fn is_active(d: &impl Directory, t: TenantId, id: &str) -> bool {
    d.get_person(t, &eid(id)).await.unwrap().expect("person").person.active
}

async fn events_of(d: &impl Directory, t: TenantId, id: &str) -> Vec<EventType> {
    let all = d.list_events(t, 0, 1000).await.unwrap();
    all.into_iter().filter(|e| e.payload["person"]["externalId"] == id).map(|e| e.kind).collect()
}

/// Snapshot A omits E3; a later delta lists E3 unchanged, and (a backlog)
/// is applied before A's records: A must not deactivate E3.
pub async fn a_newer_unchanged_listing_protects_from_an_older_snapshot(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 10).await;
    let a_members = staff(0..10, &[3]);
    let a = accept(d, t, "hris", FeedMode::Full, &a_members, 9, T1).await;
    let b = accept(d, t, "hris", FeedMode::Delta, &[], 1, T1).await;
    let confirm = sourced(t, b, "hris", json!({"externalId": "E3", "department": "Sales"}));
    assert_eq!(apply(d, &confirm).await, ApplyOutcome::Unchanged);
    d.apply_batch(&listing(t, a, "hris", &a_members), T1).await.unwrap();
    let feed = d.get_feed(t, a).await.unwrap().unwrap();
    assert_eq!(feed.status, FeedStatus::Completed);
    assert_eq!(feed.reconciliation.unwrap().absent, 0, "E3 was listed by a newer feed");
    assert!(is_active(d, t, "E3").await);
    assert_eq!(events_of(d, t, "E3").await, vec![EventType::Joined], "no left, no rehire");

    // The same with the next full snapshot in place of the delta.
    let c = accept(d, t, "hris", FeedMode::Full, &staff(0..10, &[4]), 9, T1).await;
    let all = staff(0..10, &[]);
    let e = accept(d, t, "hris", FeedMode::Full, &all, 10, T1).await;
    d.apply_batch(&listing(t, e, "hris", &all), T1).await.unwrap();
    assert_eq!(status(d, t, e).await, FeedStatus::Processing, "the newer snapshot waits for the older");
    d.apply_batch(&listing(t, c, "hris", &staff(0..10, &[4])), T1).await.unwrap();
    assert_eq!(status(d, t, c).await, FeedStatus::Completed);
    assert_eq!(status(d, t, e).await, FeedStatus::Completed);
    assert!(is_active(d, t, "E4").await, "the newest snapshot lists E4");
    assert_eq!(active(d, t, 10).await, 10);
}

/// A person belongs to the source that said anything about them last, even
/// an identical record: the old source's next snapshot no longer judges them.
pub async fn an_identical_record_from_another_source_takes_ownership(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 10).await;
    let moved = accept(d, t, "contractors", FeedMode::Delta, &[], 1, T1).await;
    let same = sourced(t, moved, "contractors", json!({"externalId": "E3", "department": "Sales"}));
    assert_eq!(apply(d, &same).await, ApplyOutcome::Unchanged);
    let members = staff(0..10, &[3]);
    let s = accept(d, t, "hris", FeedMode::Full, &members, 9, T1).await;
    d.apply_batch(&listing(t, s, "hris", &members), T1).await.unwrap();
    let r = d.get_feed(t, s).await.unwrap().unwrap().reconciliation.unwrap();
    assert_eq!((r.state, r.active, r.absent), (ReconcileState::Applied, 9, 0));
    assert!(is_active(d, t, "E3").await, "E3 belongs to contractors now");
}

/// A delta sent before snapshot B but still queued when B's records are
/// applied must not make its person immune to B: B waits for it, then
/// judges E3 as the delta left them — a leaver.
pub async fn an_older_change_applied_late_does_not_exempt_from_a_newer_snapshot(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 10).await;
    let delta = accept(d, t, "hris", FeedMode::Delta, &[], 1, T1).await;
    let members = staff(0..10, &[3]);
    let b = accept(d, t, "hris", FeedMode::Full, &members, 9, T1).await;
    d.apply_batch(&listing(t, b, "hris", &members), T1).await.unwrap();
    let waiting = d.get_feed(t, b).await.unwrap().unwrap();
    assert_eq!(waiting.status, FeedStatus::Processing);
    let r = waiting.reconciliation.expect("a waiting reconciliation");
    assert_eq!(r.state, ReconcileState::Waiting);
    assert!(r.reason.unwrap().contains("1 feed"));
    assert!(is_active(d, t, "E3").await, "not judged yet");

    let change = sourced(t, delta, "hris", json!({"externalId": "E3", "department": "R&D"}));
    assert!(matches!(apply(d, &change).await, ApplyOutcome::Applied { .. }));
    let judged = d.get_feed(t, b).await.unwrap().unwrap();
    assert_eq!(judged.status, FeedStatus::Completed);
    assert_eq!(judged.counts.leavers, 1);
    assert!(!is_active(d, t, "E3").await, "B, the newer feed, left E3 out");
    assert_eq!(events_of(d, t, "E3").await, vec![EventType::Joined, EventType::Moved, EventType::Left]);
}

/// An earlier change that dead-letters settles its feed (counted failed), so
/// the snapshot after it is judged; redriven later, that change is older
/// than the snapshot's judgement and changes nothing.
pub async fn a_snapshot_waits_for_a_failed_earlier_change_and_its_redrive_is_stale(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 10).await;
    let delta = accept(d, t, "hris", FeedMode::Delta, &[], 1, T1).await;
    let members = staff(0..10, &[3]);
    let b = accept(d, t, "hris", FeedMode::Full, &members, 9, T1).await;
    d.apply_batch(&listing(t, b, "hris", &members), T1).await.unwrap();
    assert_eq!(status(d, t, b).await, FeedStatus::Processing);
    let change = sourced(t, delta, "hris", json!({"externalId": "E3", "title": "Lead"}));
    d.record_failure(&change, T1).await.unwrap();
    assert_eq!(status(d, t, delta).await, FeedStatus::CompletedWithErrors);
    assert_eq!(status(d, t, b).await, FeedStatus::Completed, "the failure settled the delta");
    assert!(!is_active(d, t, "E3").await);
    assert_eq!(apply(d, &change).await, ApplyOutcome::Stale, "the redrive is older than B");
    let p = d.get_person(t, &eid("E3")).await.unwrap().unwrap();
    assert!(!p.person.active);
    assert_eq!(p.person.title, None);
    let counts = d.get_feed(t, delta).await.unwrap().unwrap().counts;
    assert_eq!((counts.failed, counts.stale), (0, 1));
}

/// A change dead-lettered during an outage, redriven after a newer change
/// of the same person was applied, is stale: no backwards `person.moved`.
pub async fn a_change_older_than_the_persons_newest_is_stale_whatever_the_delivery_order(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let first = accept(d, t, "hris", FeedMode::Delta, &[], 1, T0).await;
    apply(d, &sourced(t, first, "hris", json!({"externalId": "E1", "title": "Engineer"}))).await;
    let older = accept(d, t, "hris", FeedMode::Delta, &[], 1, T1).await;
    let newer = accept(d, t, "hris", FeedMode::Delta, &[], 1, T1).await;
    let lead = sourced(t, older, "hris", json!({"externalId": "E1", "title": "Lead"}));
    d.record_failure(&lead, T1).await.unwrap();
    let director = sourced(t, newer, "hris", json!({"externalId": "E1", "title": "Director"}));
    assert_eq!(apply(d, &director).await, ApplyOutcome::Applied { event: Some(EventType::Moved) });
    assert_eq!(apply(d, &lead).await, ApplyOutcome::Stale);
    let p = d.get_person(t, &eid("E1")).await.unwrap().unwrap();
    assert_eq!(p.person.title.as_deref(), Some("Director"));
    assert_eq!(events_of(d, t, "E1").await, vec![EventType::Joined, EventType::Moved]);
    let counts = d.get_feed(t, older).await.unwrap().unwrap().counts;
    assert_eq!((counts.failed, counts.stale), (0, 1), "the redriven failure is now counted stale");
}

/// Snapshot A halts (a truncated export); the correct export B then
/// completes. A is superseded: approving it is refused and nobody B listed
/// is deactivated.
pub async fn a_halted_snapshot_is_superseded_by_a_newer_one(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 20).await;
    let truncated = staff(0..8, &[]);
    let a = accept(d, t, "hris", FeedMode::Full, &truncated, 8, T1).await;
    d.apply_batch(&listing(t, a, "hris", &truncated), T1).await.unwrap();
    assert_eq!(status(d, t, a).await, FeedStatus::Halted);
    let all = staff(0..20, &[]);
    let b = accept(d, t, "hris", FeedMode::Full, &all, 20, T1).await;
    d.apply_batch(&listing(t, b, "hris", &all), T1).await.unwrap();
    assert_eq!(status(d, t, b).await, FeedStatus::Completed);
    let a_now = d.get_feed(t, a).await.unwrap().unwrap();
    assert_eq!(a_now.status, FeedStatus::Superseded);
    let r = a_now.reconciliation.unwrap();
    assert_eq!(r.state, ReconcileState::Superseded);
    assert!(r.reason.unwrap().contains(&b.to_string()));
    match d.decide_snapshot(t, a, true, T1).await {
        Err(StoreError::Conflict(why)) => assert!(why.contains("superseded"), "{why}"),
        other => panic!("approving a superseded snapshot must conflict: {other:?}"),
    }
    assert_eq!(active(d, t, 20).await, 20);
}

/// Approving a halted snapshot later judges by feed order too: someone a
/// newer feed listed meanwhile is not deactivated.
pub async fn approving_a_halted_snapshot_spares_people_listed_since(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 20).await;
    let listed = staff(0..10, &[]);
    let a = accept(d, t, "hris", FeedMode::Full, &listed, 10, T1).await;
    d.apply_batch(&listing(t, a, "hris", &listed), T1).await.unwrap();
    assert_eq!(status(d, t, a).await, FeedStatus::Halted);
    let delta = accept(d, t, "hris", FeedMode::Delta, &[], 1, T1).await;
    apply(d, &sourced(t, delta, "hris", json!({"externalId": "E15", "department": "Sales"}))).await;
    let approved = d.decide_snapshot(t, a, true, T1).await.unwrap();
    assert_eq!(approved.counts.leavers, 9);
    assert!(is_active(d, t, "E15").await, "listed after the snapshot");
    assert!(!is_active(d, t, "E16").await);
}

/// Every record of a snapshot rejected (a broken export): it halts, even
/// where the floor would let everyone go.
pub async fn a_snapshot_with_only_rejected_records_halts(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 4).await;
    // The rejected rows' ids are members; E3's row had no readable id.
    let members = staff(0..3, &[]);
    let s = accept(d, t, "hris", FeedMode::Full, &members, 0, T1).await;
    let feed = d.get_feed(t, s).await.unwrap().unwrap();
    assert_eq!(feed.status, FeedStatus::Halted);
    assert!(feed.reconciliation.unwrap().reason.unwrap().contains("no valid record"));
    assert_eq!(active(d, t, 4).await, 4);
}

/// A snapshot's leaver, deactivated at T1, is not brought back by a resend
/// of the record they had (same `meta.lastModified`, older than T1).
pub async fn a_deactivation_is_as_new_as_its_snapshot(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let record =
        json!({"externalId": "E1", "title": "Clerk", "meta": {"lastModified": "2026-11-01T00:00:00Z"}});
    let first = accept(d, t, "hris", FeedMode::Delta, &[], 1, T0).await;
    apply(d, &sourced(t, first, "hris", record.clone())).await;
    let s = accept(d, t, "hris", FeedMode::Full, &[], 0, T1).await;
    // An empty snapshot halts; approve it (E1 really left).
    assert_eq!(status(d, t, s).await, FeedStatus::Halted);
    d.decide_snapshot(t, s, true, T1).await.unwrap();
    assert!(!is_active(d, t, "E1").await);
    let resend = accept(d, t, "hris", FeedMode::Delta, &[], 1, T1).await;
    assert_eq!(apply(d, &sourced(t, resend, "hris", record)).await, ApplyOutcome::Stale);
    assert!(!is_active(d, t, "E1").await);
}

/// A future starter that an export of the current staff leaves out is not
/// cancelled: the snapshot does not judge pending people (and says how many
/// it left alone); they join on their day.
pub async fn a_pending_hire_is_not_judged_by_a_snapshot(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 10).await;
    let hire = accept(d, t, "hris", FeedMode::Delta, &[], 1, T0).await;
    // T0 is 2027-01-15; the hire date is ahead.
    apply(d, &sourced(t, hire, "hris", json!({"externalId": "N1", "hireDate": "2027-01-20"}))).await;
    let all = staff(0..10, &[]);
    let s = accept(d, t, "hris", FeedMode::Full, &all, 10, T1).await;
    d.apply_batch(&listing(t, s, "hris", &all), T1).await.unwrap();
    let r = d.get_feed(t, s).await.unwrap().unwrap().reconciliation.unwrap();
    assert_eq!((r.state, r.absent, r.pending), (ReconcileState::Applied, 0, 1));
    let n1 = d.get_person(t, &eid("N1")).await.unwrap().unwrap();
    assert_eq!(n1.status, roster_core::Status::Pending);
    d.apply_due(super::TEN_DAYS_LATER, 100).await.unwrap();
    assert_eq!(events_of(d, t, "N1").await, vec![EventType::Joined]);
}

/// Stored inactive first (a pre-hire record), then active: that is their
/// first join, not a rehire.
pub async fn someone_first_stored_inactive_joins_on_activation(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = accept(d, t, "hris", FeedMode::Delta, &[], 2, T0).await;
    apply(d, &sourced(t, f, "hris", json!({"externalId": "E1", "active": false}))).await;
    let joined = apply(d, &sourced(t, f, "hris", json!({"externalId": "E1", "active": true}))).await;
    assert_eq!(joined, ApplyOutcome::Applied { event: Some(EventType::Joined) });
    // Left, then back: that one is a rehire.
    let g = accept(d, t, "hris", FeedMode::Delta, &[], 2, T1).await;
    apply(d, &sourced(t, g, "hris", json!({"op": "deactivate", "externalId": "E1"}))).await;
    let back = apply(d, &sourced(t, g, "hris", json!({"externalId": "E1", "active": true}))).await;
    assert_eq!(back, ApplyOutcome::Applied { event: Some(EventType::Rehired) });
}

/// Once the stall sweep has failed an upload, its (late) progress and its
/// seal are refused, so the client is never told `202` for a failed feed.
pub async fn a_failed_upload_can_be_neither_touched_nor_sealed(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let id = FeedId::new();
    d.create_feed(NewFeed {
        id,
        tenant_id: t,
        source: SourceName::default(),
        mode: FeedMode::Delta,
        format: "csv".into(),
        sealed: false,
        received: 0,
        accepted: 0,
        rejections: vec![],
        created_at: T0,
    })
    .await
    .unwrap();
    d.touch_feed(t, id, T1).await.expect("alive");
    assert_eq!(d.fail_stalled_feeds(T1, T1).await.unwrap(), 0, "touched at T1: not stalled");
    let later = Timestamp(T1.0 + 3_600_000);
    assert_eq!(d.fail_stalled_feeds(later, later).await.unwrap(), 1);
    assert!(matches!(d.touch_feed(t, id, later).await, Err(StoreError::Conflict(_))));
    let seal = FeedSeal { received: 1, accepted: 1, rejections: vec![], rejected: 0 };
    assert!(matches!(d.seal_feed(t, id, seal, later).await, Err(StoreError::Conflict(_))));
    assert_eq!(status(d, t, id).await, FeedStatus::Failed);
    let other = tenant(d, "globex").await;
    assert!(d.touch_feed(other, id, later).await.is_err(), "another tenant's feed");
}

pub async fn feeds_get_increasing_positions(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let other = tenant(d, "globex").await;
    let mut last = 0;
    for tenant in [t, other, t] {
        let f = accept(d, tenant, "hris", FeedMode::Delta, &[], 1, T0).await;
        let position = d.get_feed(tenant, f).await.unwrap().unwrap().position;
        assert!(position > last, "{position} after {last}");
        last = position;
    }
}

pub async fn old_bookkeeping_is_pruned_and_recent_is_kept(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = accept(d, t, "hris", FeedMode::Delta, &[], 3, T0).await;
    let old = sourced(t, f, "hris", json!({"externalId": "E1"}));
    let failed = sourced(t, f, "hris", json!({"externalId": "E2"}));
    apply(d, &old).await;
    d.record_failure(&failed, T0).await.unwrap();
    assert!(d.claim_idempotency_key(t, "k", T0, super::HOLD).await.is_ok());
    let recent = sourced(t, f, "hris", json!({"externalId": "E3"}));
    let month = Timestamp(T0.0 + 31 * 86_400_000);
    d.apply_batch(std::slice::from_ref(&recent), month).await.unwrap();

    let report = d.prune(Timestamp(T0.0 + 1), month).await.unwrap();
    assert_eq!(report.applied_messages, 1, "only the old applied id");
    assert_eq!(report.idempotency_keys, 1);
    assert_eq!(report.events, 1, "the old joined event (no endpoint waits for it)");
    // What stays still works: the recent id is a duplicate, the failed one
    // still moves its count when redriven.
    assert_eq!(apply(d, &recent).await, ApplyOutcome::Duplicate);
    assert!(matches!(apply(d, &failed).await, ApplyOutcome::Applied { .. }));
    assert_eq!(d.get_feed(t, f).await.unwrap().unwrap().counts.failed, 0);
    let events = super::person_events(d, t, 0, 10).await.unwrap();
    assert_eq!(events.len(), 2, "E3's and E2's joins remain");
}

/// A manager named before they exist is kept and flagged until they
/// arrive; a manager that would close a reporting cycle is refused.
pub async fn manager_references_wait_for_their_manager_and_cycles_are_refused(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = accept(d, t, "hris", FeedMode::Delta, &[], 5, T0).await;
    apply(d, &sourced(t, f, "hris", json!({"externalId": "E2", "manager": "M1"}))).await;
    let e2 = d.get_person(t, &eid("E2")).await.unwrap().unwrap();
    assert!(e2.manager_pending, "M1 is not in the directory yet");
    assert_eq!(e2.person.manager.as_ref().map(|m| m.as_str()), Some("M1"), "kept as sent");
    apply(d, &sourced(t, f, "hris", json!({"externalId": "M1", "manager": "CEO"}))).await;
    assert!(!d.get_person(t, &eid("E2")).await.unwrap().unwrap().manager_pending, "M1 arrived");
    assert!(d.get_person(t, &eid("M1")).await.unwrap().unwrap().manager_pending);

    // CEO reporting to E2 would close CEO ← M1 ← E2 ← CEO.
    let cycle = apply(d, &sourced(t, f, "hris", json!({"externalId": "CEO", "manager": "E2"}))).await;
    match cycle {
        ApplyOutcome::Rejected(why) => {
            assert!(why.contains("cycle of 3"), "{why}");
            assert!(!why.contains("E2") && !why.contains("M1"), "no ids in a logged reason: {why}");
        }
        other => panic!("a cycle must be refused: {other:?}"),
    }
    assert!(d.get_person(t, &eid("CEO")).await.unwrap().is_none(), "nothing stored");
    // M1 reporting to E2, its own report: a cycle of 2, refused too; M1 keeps CEO.
    let back = apply(d, &sourced(t, f, "hris", json!({"externalId": "M1", "manager": "E2"}))).await;
    assert!(matches!(back, ApplyOutcome::Rejected(ref why) if why.contains("cycle of 2")), "{back:?}");
    let m1 = d.get_person(t, &eid("M1")).await.unwrap().unwrap();
    assert_eq!(m1.person.manager.as_ref().map(|m| m.as_str()), Some("CEO"));
}
