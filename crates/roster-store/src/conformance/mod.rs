//! The conformance suite of the `Directory` port, written once against the
//! trait. Every adapter instantiates it with
//! [`directory_conformance_tests!`](crate::directory_conformance_tests) and an
//! async factory of fresh, empty directories.

use roster_core::lifecycle::EventType;
use roster_core::secret::Secret;
use roster_core::validate::parse_record;
use roster_core::{ChangeMessage, ExternalId, FeedId, FeedMode, MessageId, SourceName, TenantId, Timestamp};
use serde_json::{Value, json};

use crate::{
    ApplyOutcome, DeliveryUpdate, Directory, EventDeadLetterState, FeedSeal, FeedStatus, IdempotencyClaim,
    NewApiKey, NewEndpoint, NewFeed, OutboxEventRef, ReconcileState, RedeliveryUpdate, Scope, SourceSettings,
    StoreError,
};

/// One `#[tokio::test]` per conformance function; `$make` is an async
/// expression yielding a fresh, empty directory behind a value that derefs to
/// it (so a temp dir or a test database can live as long as the test).
#[macro_export]
macro_rules! directory_conformance_tests {
    ($make:expr) => {
        $crate::directory_conformance_tests!(@each $make;
            joiner_is_stored_with_history_and_event,
            same_message_twice_changes_nothing,
            lifecycle_events_follow_the_changes,
            stale_changes_are_skipped_and_counted,
            feed_status_follows_its_counts,
            failure_then_redriven_success_moves_the_counts,
            unknown_feed_is_rejected,
            tenants_are_isolated_in_the_store,
            api_keys_expire_and_authenticate_by_hash,
            people_pages_return_everyone_once,
            duplicate_tenant_names_conflict,
            full_snapshot_deactivates_the_absent,
            snapshot_over_threshold_halts_until_approved,
            rejected_snapshot_deactivates_nobody,
            empty_snapshot_halts,
            snapshot_judges_only_its_own_source,
            streamed_feed_completes_only_once_sealed,
            sources_keep_their_settings,
            idempotency_keys_replay_and_refuse_other_bodies,
            future_hire_is_pending_until_its_day,
            future_termination_leaves_on_its_day,
            stalled_uploads_are_failed,
            api_keys_are_listed_and_revoked_per_tenant,
            audit_log_is_per_tenant_and_in_order,
            operator_keys_are_apart_from_tenant_keys,
            operator_keys_are_revoked_at_once,
            feeds_are_counted_by_status_across_tenants,
            an_endpoint_sees_only_events_after_its_creation,
            an_endpoint_cursor_advances_and_its_retries_persist,
            an_event_dead_letter_is_listed_and_redriven,
            event_dead_letters_are_listed_in_pages,
            endpoints_and_their_dead_letters_are_scoped_by_tenant,
            an_endpoint_secret_rotates_with_a_grace_period,
            a_newer_unchanged_listing_protects_from_an_older_snapshot,
            an_identical_record_from_another_source_takes_ownership,
            an_older_change_applied_late_does_not_exempt_from_a_newer_snapshot,
            a_snapshot_waits_for_a_failed_earlier_change_and_its_redrive_is_stale,
            a_change_older_than_the_persons_newest_is_stale_whatever_the_delivery_order,
            a_halted_snapshot_is_superseded_by_a_newer_one,
            approving_a_halted_snapshot_spares_people_listed_since,
            a_snapshot_with_only_rejected_records_halts,
            a_deactivation_is_as_new_as_its_snapshot,
            a_pending_hire_is_not_judged_by_a_snapshot,
            someone_first_stored_inactive_joins_on_activation,
            a_failed_upload_can_be_neither_touched_nor_sealed,
            feeds_get_increasing_positions,
            old_bookkeeping_is_pruned_and_recent_is_kept,
            manager_references_wait_for_their_manager_and_cycles_are_refused
        );
    };
    (@each $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let fresh = $make.await;
                $crate::conformance::$name(std::ops::Deref::deref(&fresh)).await;
            }
        )*
    };
}

mod ordering;
pub use ordering::*;

const T0: Timestamp = Timestamp(1_800_000_000_000);

async fn tenant(d: &impl Directory, name: &str) -> TenantId {
    d.create_tenant(name, T0).await.expect("create tenant").id
}

async fn feed(d: &impl Directory, tenant: TenantId, accepted: u64) -> FeedId {
    let id = FeedId::new();
    d.create_feed(NewFeed {
        id,
        tenant_id: tenant,
        source: SourceName::default(),
        mode: FeedMode::Delta,
        format: "json".into(),
        sealed: true,
        received: accepted,
        accepted,
        rejections: vec![],
        created_at: T0,
    })
    .await
    .expect("create feed");
    id
}

fn msg(tenant: TenantId, feed: FeedId, record: Value) -> ChangeMessage {
    let rec = parse_record(&record).expect("a valid test record");
    ChangeMessage {
        message_id: MessageId::new(),
        tenant_id: tenant,
        feed_id: feed,
        source: SourceName::default(),
        index: 0,
        accepted_at: T0,
        last_modified: rec.last_modified,
        change: rec.change,
        request_id: None,
    }
}

fn eid(s: &str) -> ExternalId {
    ExternalId::parse(s).unwrap()
}

async fn apply(d: &impl Directory, m: &ChangeMessage) -> ApplyOutcome {
    let mut out = d.apply_batch(std::slice::from_ref(m), T0).await.expect("apply");
    out.pop().expect("one outcome per message")
}

pub async fn joiner_is_stored_with_history_and_event(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 1).await;
    let m = msg(t, f, json!({"externalId": "E1", "name": {"givenName": "Ann"}, "department": "Sales"}));
    assert_eq!(apply(d, &m).await, ApplyOutcome::Applied { event: Some(EventType::Joined) });
    let p = d.get_person(t, &eid("E1")).await.unwrap().expect("stored");
    assert_eq!(p.version, 1);
    assert_eq!(p.person.department.as_deref(), Some("Sales"));
    assert_eq!(p.last_feed_id, Some(f));
    let h = d.person_history(t, &eid("E1")).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].message_id, m.message_id.to_string());
    assert!(h[0].changed_fields.contains(&"department".to_owned()));
    assert_eq!(h[0].changes["department"], "Sales");
    let events = d.list_events(t, 0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventType::Joined);
    assert_eq!(events[0].payload["person"]["externalId"], "E1");
}

pub async fn same_message_twice_changes_nothing(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 2).await;
    let m = msg(t, f, json!({"externalId": "E1", "title": "Clerk"}));
    apply(d, &m).await;
    assert_eq!(apply(d, &m).await, ApplyOutcome::Duplicate);
    assert_eq!(d.person_history(t, &eid("E1")).await.unwrap().len(), 1, "no second history row");
    assert_eq!(d.list_events(t, 0, 10).await.unwrap().len(), 1, "no second event");
    let counts = d.get_feed(t, f).await.unwrap().unwrap().counts;
    assert_eq!((counts.applied, counts.unchanged), (1, 0), "counted once");
    // A new message with the same data is a real, but empty, change.
    let again = msg(t, f, json!({"externalId": "E1", "title": "Clerk"}));
    assert_eq!(apply(d, &again).await, ApplyOutcome::Unchanged);
    assert_eq!(d.get_person(t, &eid("E1")).await.unwrap().unwrap().version, 1);
}

pub async fn lifecycle_events_follow_the_changes(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 4).await;
    for (rec, want) in [
        (json!({"externalId": "E1", "department": "Sales"}), EventType::Joined),
        (json!({"externalId": "E1", "department": "R&D"}), EventType::Moved),
        (json!({"op": "deactivate", "externalId": "E1"}), EventType::Left),
        (json!({"externalId": "E1", "department": "R&D"}), EventType::Rehired),
    ] {
        assert_eq!(apply(d, &msg(t, f, rec)).await, ApplyOutcome::Applied { event: Some(want) });
    }
    let events = d.list_events(t, 0, 10).await.unwrap();
    assert_eq!(events[1].payload["changedFields"], json!(["department"]));
    assert_eq!(d.list_events(t, events[1].seq, 10).await.unwrap().len(), 2, "paging by seq");
    let p = d.get_person(t, &eid("E1")).await.unwrap().unwrap();
    assert_eq!(p.version, 4);
    assert!(p.person.active);
}

pub async fn stale_changes_are_skipped_and_counted(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 2).await;
    let newer =
        json!({"externalId": "E1", "title": "Lead", "meta": {"lastModified": "2026-11-02T00:00:00Z"}});
    let older =
        json!({"externalId": "E1", "title": "Intern", "meta": {"lastModified": "2026-11-01T00:00:00Z"}});
    apply(d, &msg(t, f, newer)).await;
    assert_eq!(apply(d, &msg(t, f, older)).await, ApplyOutcome::Stale);
    let p = d.get_person(t, &eid("E1")).await.unwrap().unwrap();
    assert_eq!(p.person.title.as_deref(), Some("Lead"), "a late, older change never overwrites");
    let feed = d.get_feed(t, f).await.unwrap().unwrap();
    assert_eq!((feed.counts.applied, feed.counts.stale), (1, 1));
    assert_eq!(feed.status, FeedStatus::Completed);
}

pub async fn feed_status_follows_its_counts(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 2).await;
    assert_eq!(d.get_feed(t, f).await.unwrap().unwrap().status, FeedStatus::Accepted);
    apply(d, &msg(t, f, json!({"externalId": "E1"}))).await;
    assert_eq!(d.get_feed(t, f).await.unwrap().unwrap().status, FeedStatus::Processing);
    apply(d, &msg(t, f, json!({"externalId": "E2"}))).await;
    let done = d.get_feed(t, f).await.unwrap().unwrap();
    assert_eq!(done.status, FeedStatus::Completed);
    assert!(done.completed_at.is_some());
    // A feed whose records were all rejected is done at once.
    let id = FeedId::new();
    let rejected =
        roster_core::RecordError::new(0, vec![roster_core::FieldError::new("externalId", "is required")]);
    let f2 = d
        .create_feed(NewFeed {
            id,
            tenant_id: t,
            source: SourceName::default(),
            mode: FeedMode::Delta,
            format: "json".into(),
            sealed: true,
            received: 1,
            accepted: 0,
            rejections: vec![rejected.clone()],
            created_at: T0,
        })
        .await
        .unwrap();
    assert_eq!(f2.status, FeedStatus::CompletedWithErrors);
    assert_eq!(d.get_feed(t, id).await.unwrap().unwrap().rejections, vec![rejected]);
    d.fail_feed(t, f, T0).await.unwrap();
    assert_eq!(d.get_feed(t, f).await.unwrap().unwrap().status, FeedStatus::Failed);
}

pub async fn failure_then_redriven_success_moves_the_counts(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 1).await;
    let m = msg(t, f, json!({"externalId": "E1"}));
    d.record_failure(&m, T0).await.unwrap();
    d.record_failure(&m, T0).await.unwrap();
    let feed_now = d.get_feed(t, f).await.unwrap().unwrap();
    assert_eq!(feed_now.counts.failed, 1, "a failure is counted once");
    assert_eq!(feed_now.status, FeedStatus::CompletedWithErrors);
    assert!(
        matches!(apply(d, &m).await, ApplyOutcome::Applied { .. }),
        "a failed message is not a duplicate"
    );
    let feed_now = d.get_feed(t, f).await.unwrap().unwrap();
    assert_eq!((feed_now.counts.failed, feed_now.counts.applied), (0, 1));
    assert_eq!(feed_now.status, FeedStatus::Completed);
    d.record_failure(&m, T0).await.unwrap();
    assert_eq!(
        d.get_feed(t, f).await.unwrap().unwrap().counts.failed,
        0,
        "an applied message cannot fail later"
    );
}

pub async fn unknown_feed_is_rejected(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let other = tenant(d, "globex").await;
    let f = feed(d, other, 1).await;
    let out = apply(d, &msg(t, FeedId::new(), json!({"externalId": "E1"}))).await;
    assert!(matches!(out, ApplyOutcome::Rejected(_)), "{out:?}");
    let out = apply(d, &msg(t, f, json!({"externalId": "E1"}))).await;
    assert!(matches!(out, ApplyOutcome::Rejected(_)), "another tenant's feed is unknown: {out:?}");
    assert!(d.get_person(t, &eid("E1")).await.unwrap().is_none());
}

pub async fn tenants_are_isolated_in_the_store(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    let f = feed(d, a, 1).await;
    apply(d, &msg(a, f, json!({"externalId": "E1"}))).await;
    assert!(d.get_person(b, &eid("E1")).await.unwrap().is_none());
    assert!(d.person_history(b, &eid("E1")).await.unwrap().is_empty());
    assert!(d.list_people(b, 100, None).await.unwrap().items.is_empty());
    assert!(d.get_feed(b, f).await.unwrap().is_none());
    assert!(d.list_feeds(b, 100, None).await.unwrap().items.is_empty());
    assert!(d.list_events(b, 0, 100).await.unwrap().is_empty());
    d.fail_feed(b, f, T0).await.unwrap();
    assert_ne!(
        d.get_feed(a, f).await.unwrap().unwrap().status,
        FeedStatus::Failed,
        "b cannot touch a's feed"
    );
}

pub async fn api_keys_expire_and_authenticate_by_hash(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let key = |hash: u8, expires_at| NewApiKey {
        tenant_id: t,
        prefix: "rk_live_abcd".into(),
        hash: [hash; 32],
        scopes: vec![Scope::Ingest, Scope::Read],
        expires_at,
    };
    let first = d.create_api_key(key(1, None), T0).await.unwrap();
    d.create_api_key(key(2, Some(T0.plus_millis(1000))), T0).await.unwrap();
    let ok = d.authenticate_key(&[1; 32], T0).await.unwrap().expect("a valid key");
    assert_eq!(ok.tenant_id, t);
    assert_eq!(ok.scopes, vec![Scope::Ingest, Scope::Read]);
    assert!(d.authenticate_key(&[3; 32], T0).await.unwrap().is_none(), "unknown hash");
    assert!(d.authenticate_key(&[2; 32], T0).await.unwrap().is_some(), "not yet expired");
    assert!(d.authenticate_key(&[2; 32], T0.plus_millis(1000)).await.unwrap().is_none(), "expired");
    let used = d.authenticate_key(&[1; 32], T0.plus_millis(120_000)).await.unwrap().unwrap();
    assert!(used.last_used_at.is_some(), "last use is recorded");
    // The first use each day is audited, not every use.
    let uses = |log: Vec<crate::AuditEntry>| {
        log.into_iter().filter(|e| e.action == "key.used" && e.target.as_deref() == Some(&first.id)).count()
    };
    assert_eq!(uses(d.list_audit(t, 0, 100).await.unwrap()), 1);
    d.authenticate_key(&[1; 32], T0.plus_millis(240_000)).await.unwrap();
    assert_eq!(uses(d.list_audit(t, 0, 100).await.unwrap()), 1, "the same day");
    d.authenticate_key(&[1; 32], T0.plus_millis(86_400_000)).await.unwrap();
    assert_eq!(uses(d.list_audit(t, 0, 100).await.unwrap()), 2, "the next day");
}

pub async fn people_pages_return_everyone_once(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 25).await;
    let batch: Vec<ChangeMessage> =
        (0..25).map(|i| msg(t, f, json!({"externalId": format!("E{i:02}")}))).collect();
    d.apply_batch(&batch, T0).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = d.list_people(t, 10, cursor.as_deref()).await.unwrap();
        seen.extend(page.items.iter().map(|p| p.person.external_id.as_str().to_owned()));
        match page.next {
            Some(c) => {
                assert!(!c.contains('E'), "cursors carry no external id in clear: {c}");
                cursor = Some(c);
            }
            None => break,
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("E{i:02}")).collect();
    assert_eq!(seen, want);
    assert!(d.list_people(t, 10, Some("zz-not-hex")).await.is_err(), "a malformed cursor is an error");
}

pub async fn duplicate_tenant_names_conflict(d: &impl Directory) {
    tenant(d, "acme").await;
    assert!(matches!(d.create_tenant("acme", T0).await, Err(StoreError::Conflict(_))));
    assert_eq!(d.tenant_by_name("acme").await.unwrap().unwrap().name, "acme");
    assert_eq!(d.list_tenants().await.unwrap().len(), 1);
}

// --- full snapshots ---

/// Later than everything applied at `T0`: a snapshot judges only people
/// written before it was accepted.
const T1: Timestamp = Timestamp(T0.0 + 60_000);

/// Puts `n` active people `E0..En` into `source` through a delta feed.
async fn population(d: &impl Directory, t: TenantId, source: &str, n: usize) {
    let f = feed(d, t, n as u64).await;
    let msgs: Vec<ChangeMessage> = (0..n)
        .map(|i| {
            let mut m = msg(t, f, json!({"externalId": format!("E{i}"), "department": "Sales"}));
            m.source = SourceName::parse(source).unwrap();
            m
        })
        .collect();
    d.apply_batch(&msgs, T0).await.expect("apply population");
}

/// A sealed full snapshot of `source` listing `E0..Ekeep` (all applied,
/// unchanged).
async fn snapshot(d: &impl Directory, t: TenantId, source: &str, keep: usize) -> FeedId {
    let id = FeedId::new();
    let source = SourceName::parse(source).unwrap();
    d.create_feed(NewFeed {
        id,
        tenant_id: t,
        source: source.clone(),
        mode: FeedMode::Full,
        format: "json".into(),
        sealed: false,
        received: 0,
        accepted: 0,
        rejections: vec![],
        created_at: T1,
    })
    .await
    .expect("create snapshot");
    let ids: Vec<ExternalId> = (0..keep).map(|i| eid(&format!("E{i}"))).collect();
    d.add_snapshot_members(t, id, ids, T1).await.expect("members");
    let msgs: Vec<ChangeMessage> = (0..keep)
        .map(|i| {
            let mut m = msg(t, id, json!({"externalId": format!("E{i}"), "department": "Sales"}));
            m.source = source.clone();
            m
        })
        .collect();
    let seal = FeedSeal { received: keep as u64, accepted: keep as u64, rejections: vec![], rejected: 0 };
    d.seal_feed(t, id, seal, T1).await.expect("seal");
    if !msgs.is_empty() {
        d.apply_batch(&msgs, T1).await.expect("apply snapshot");
    }
    id
}

async fn active(d: &impl Directory, t: TenantId, n: usize) -> usize {
    let mut count = 0;
    for i in 0..n {
        let p = d.get_person(t, &eid(&format!("E{i}"))).await.unwrap().expect("person");
        count += usize::from(p.person.active);
    }
    count
}

pub async fn full_snapshot_deactivates_the_absent(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 20).await;
    // 18 of 20 listed: 2 leavers, within the default threshold (20%).
    let f = snapshot(d, t, "hris", 18).await;
    let feed = d.get_feed(t, f).await.unwrap().unwrap();
    assert_eq!(feed.status, FeedStatus::Completed);
    assert_eq!(feed.counts.leavers, 2);
    let r = feed.reconciliation.expect("reconciled");
    assert_eq!((r.state, r.active, r.absent), (ReconcileState::Applied, 20, 2));
    assert_eq!(active(d, t, 20).await, 18);
    let left = d.get_person(t, &eid("E19")).await.unwrap().unwrap();
    assert!(!left.person.active);
    assert_eq!(left.last_feed_id, Some(f));
    let events = d.list_events(t, 0, 100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.kind == EventType::Left).count(), 2);
    let h = d.person_history(t, &eid("E19")).await.unwrap();
    assert_eq!(h.last().unwrap().event, Some(EventType::Left));
}

pub async fn snapshot_over_threshold_halts_until_approved(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 20).await;
    // A truncated export: 10 of 20 listed would deactivate 50%.
    let f = snapshot(d, t, "hris", 10).await;
    let feed = d.get_feed(t, f).await.unwrap().unwrap();
    assert_eq!(feed.status, FeedStatus::Halted);
    let r = feed.reconciliation.clone().expect("halted reconciliation");
    assert_eq!((r.state, r.absent, r.allowed), (ReconcileState::Halted, 10, 5));
    assert!(r.reason.unwrap().contains("10 of 20"));
    assert_eq!(active(d, t, 20).await, 20, "nobody deactivated while halted");
    assert_eq!(feed.completed_at, None);
    // Approving deactivates the absent.
    let approved = d.decide_snapshot(t, f, true, T1).await.unwrap();
    assert_eq!(approved.status, FeedStatus::Completed);
    assert_eq!(approved.counts.leavers, 10);
    assert_eq!(active(d, t, 20).await, 10);
    // A decision is taken once.
    assert!(matches!(d.decide_snapshot(t, f, false, T1).await, Err(StoreError::Conflict(_))));
    // Another tenant cannot decide it.
    let other = tenant(d, "globex").await;
    assert!(matches!(d.decide_snapshot(other, f, true, T1).await, Err(StoreError::NotFound)));
}

pub async fn rejected_snapshot_deactivates_nobody(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 20).await;
    let f = snapshot(d, t, "hris", 4).await;
    let rejected = d.decide_snapshot(t, f, false, T1).await.unwrap();
    assert_eq!(rejected.status, FeedStatus::Rejected);
    assert_eq!(rejected.reconciliation.unwrap().state, ReconcileState::Rejected);
    assert_eq!(rejected.counts.leavers, 0);
    assert_eq!(active(d, t, 20).await, 20);
}

pub async fn empty_snapshot_halts(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    // Few enough people that the floor alone would let them all go.
    population(d, t, "hris", 3).await;
    let f = snapshot(d, t, "hris", 0).await;
    let feed = d.get_feed(t, f).await.unwrap().unwrap();
    assert_eq!(feed.status, FeedStatus::Halted);
    assert!(feed.reconciliation.unwrap().reason.unwrap().contains("no valid record"));
    assert_eq!(active(d, t, 3).await, 3);
}

pub async fn snapshot_judges_only_its_own_source(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 10).await;
    // `contractors` has nobody; its empty-but-harmless snapshot changes nothing.
    let id = FeedId::new();
    d.create_feed(NewFeed {
        id,
        tenant_id: t,
        source: SourceName::parse("contractors").unwrap(),
        mode: FeedMode::Full,
        format: "json".into(),
        sealed: true,
        received: 0,
        accepted: 0,
        rejections: vec![],
        created_at: T1,
    })
    .await
    .unwrap();
    let feed = d.get_feed(t, id).await.unwrap().unwrap();
    assert_eq!(feed.status, FeedStatus::Completed);
    assert_eq!(feed.reconciliation.unwrap().absent, 0);
    assert_eq!(active(d, t, 10).await, 10);
}

pub async fn streamed_feed_completes_only_once_sealed(d: &impl Directory) {
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
    apply(d, &msg(t, id, json!({"externalId": "E1"}))).await;
    let receiving = d.get_feed(t, id).await.unwrap().unwrap();
    assert_eq!(receiving.status, FeedStatus::Receiving);
    assert_eq!(receiving.counts.applied, 1);
    let rejections = vec![roster_core::RecordError::new(1, vec![roster_core::FieldError::new("x", "bad")])];
    let sealed =
        d.seal_feed(t, id, FeedSeal { received: 2, accepted: 1, rejections, rejected: 1 }, T0).await.unwrap();
    assert_eq!(sealed.status, FeedStatus::CompletedWithErrors);
    assert_eq!((sealed.counts.received, sealed.counts.rejected), (2, 1));
    assert!(matches!(
        d.seal_feed(t, id, FeedSeal { received: 2, accepted: 1, rejections: vec![], rejected: 0 }, T0).await,
        Err(StoreError::Conflict(_))
    ));
}

pub async fn sources_keep_their_settings(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let name = SourceName::parse("workday").unwrap();
    assert!(d.get_source(t, &name).await.unwrap().is_none());
    let settings = SourceSettings {
        deletion_threshold_percent: 5,
        mapping: Some(json!({"fields": {"externalId": {"column": "ID"}}})),
        ..SourceSettings::default()
    };
    let s = d.put_source(t, &name, settings.clone(), T0).await.unwrap();
    assert_eq!(s.settings, settings);
    assert_eq!(d.get_source(t, &name).await.unwrap().unwrap().settings, settings);
    assert_eq!(d.list_sources(t).await.unwrap().len(), 1);
    let other = tenant(d, "globex").await;
    assert!(d.get_source(other, &name).await.unwrap().is_none());
    assert!(d.list_sources(other).await.unwrap().is_empty());
}

/// How long a claim is held: a streamed upload may run 4 hours.
const HOLD: std::time::Duration = std::time::Duration::from_secs(4 * 3600 + 60);

pub async fn idempotency_keys_replay_and_refuse_other_bodies(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let fp = [7u8; 32];
    assert_eq!(d.claim_idempotency_key(t, "k1", T0, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
    assert_eq!(d.claim_idempotency_key(t, "k1", T0, HOLD).await.unwrap(), IdempotencyClaim::InProgress);
    // The first answer stays: a late completion does not overwrite it.
    d.complete_idempotency_key(t, "k1", fp, 202, "{}".into(), Some("/v1/feeds/x".into())).await.unwrap();
    d.complete_idempotency_key(t, "k1", [9u8; 32], 500, "late".into(), None).await.unwrap();
    assert_eq!(
        d.claim_idempotency_key(t, "k1", T0, HOLD).await.unwrap(),
        IdempotencyClaim::Completed {
            fingerprint: fp,
            status: 202,
            body: "{}".into(),
            location: Some("/v1/feeds/x".into())
        }
    );
    // Keys are per tenant.
    let other = tenant(d, "globex").await;
    assert_eq!(d.claim_idempotency_key(other, "k1", T0, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
    // A failed request releases its claim, so the retry runs.
    assert_eq!(d.claim_idempotency_key(t, "k2", T0, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
    d.release_idempotency_key(t, "k2").await.unwrap();
    assert_eq!(d.claim_idempotency_key(t, "k2", T0, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
    // A claim is held as long as its request may run (a 4 h upload):
    // minutes later a retry is refused, not run a second time...
    let minutes = Timestamp(T0.0 + 10 * 60 * 1000);
    assert_eq!(d.claim_idempotency_key(t, "k2", minutes, HOLD).await.unwrap(), IdempotencyClaim::InProgress);
    // ...and one whose request never finished is given up after that.
    let soon = Timestamp(T0.0 + HOLD.as_millis() as i64 + 1);
    assert_eq!(d.claim_idempotency_key(t, "k2", soon, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
    // ...and a finished key is forgotten after a day.
    let later = Timestamp(T0.0 + 25 * 3600 * 1000);
    assert_eq!(d.claim_idempotency_key(t, "k1", later, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
}

/// T0 is 2027-01-15 (UTC); this is the morning of 2027-01-25.
const TEN_DAYS_LATER: Timestamp = Timestamp(T0.0 + 10 * 86_400_000);

pub async fn future_hire_is_pending_until_its_day(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 2).await;
    let hire = json!({"externalId": "E1", "title": "Analyst", "hireDate": "2027-01-25"});
    assert_eq!(apply(d, &msg(t, f, hire)).await, ApplyOutcome::Applied { event: None });
    let p = d.get_person(t, &eid("E1")).await.unwrap().unwrap();
    assert_eq!(p.status, roster_core::Status::Pending);
    assert!(d.list_events(t, 0, 10).await.unwrap().is_empty(), "nobody is told before the start");
    // A change before the start is recorded, still silently.
    let moved = json!({"externalId": "E1", "title": "Lead", "hireDate": "2027-01-25"});
    assert_eq!(apply(d, &msg(t, f, moved)).await, ApplyOutcome::Applied { event: None });

    assert_eq!(d.apply_due(T1, 100).await.unwrap(), 0, "not yet due");
    assert_eq!(d.apply_due(TEN_DAYS_LATER, 100).await.unwrap(), 1);
    assert_eq!(d.apply_due(TEN_DAYS_LATER, 100).await.unwrap(), 0, "due once");
    let p = d.get_person(t, &eid("E1")).await.unwrap().unwrap();
    assert_eq!(p.status, roster_core::Status::Active);
    assert_eq!(p.version, 3);
    let events = d.list_events(t, 0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventType::Joined);
    assert_eq!(events[0].feed_id, f, "caused by the feed that set the date");
    assert_eq!(events[0].payload["person"]["title"], "Lead");
    let h = d.person_history(t, &eid("E1")).await.unwrap();
    assert_eq!(h.last().unwrap().event, Some(EventType::Joined));
    assert_eq!(h.last().unwrap().message_id, "scheduled:2027-01-25");
}

pub async fn future_termination_leaves_on_its_day(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 2).await;
    apply(d, &msg(t, f, json!({"externalId": "E1", "hireDate": "2020-01-06"}))).await;
    let notice = json!({"externalId": "E1", "hireDate": "2020-01-06", "terminationDate": "2027-01-25"});
    assert_eq!(apply(d, &msg(t, f, notice)).await, ApplyOutcome::Applied { event: Some(EventType::Updated) });
    assert_eq!(d.get_person(t, &eid("E1")).await.unwrap().unwrap().status, roster_core::Status::Active);
    assert_eq!(d.apply_due(T1, 100).await.unwrap(), 0);
    assert_eq!(d.apply_due(TEN_DAYS_LATER, 100).await.unwrap(), 1);
    let p = d.get_person(t, &eid("E1")).await.unwrap().unwrap();
    assert_eq!(p.status, roster_core::Status::Inactive);
    assert!(!p.person.active);
    let events = d.list_events(t, 0, 10).await.unwrap();
    assert_eq!(events.last().unwrap().kind, EventType::Left);
}

pub async fn stalled_uploads_are_failed(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let sealed = feed(d, t, 1).await;
    let receiving = FeedId::new();
    d.create_feed(NewFeed {
        id: receiving,
        tenant_id: t,
        source: SourceName::default(),
        mode: FeedMode::Full,
        format: "csv".into(),
        sealed: false,
        received: 0,
        accepted: 0,
        rejections: vec![],
        created_at: T0,
    })
    .await
    .unwrap();
    // Members arriving are progress.
    d.add_snapshot_members(t, receiving, vec![eid("E1")], T1).await.unwrap();
    assert_eq!(d.fail_stalled_feeds(T1, T1).await.unwrap(), 0, "progress at T1 is not stalled at T1");
    assert_eq!(d.fail_stalled_feeds(TEN_DAYS_LATER, TEN_DAYS_LATER).await.unwrap(), 1);
    assert_eq!(d.get_feed(t, receiving).await.unwrap().unwrap().status, FeedStatus::Failed);
    assert_eq!(d.get_feed(t, sealed).await.unwrap().unwrap().status, FeedStatus::Accepted, "untouched");
}

pub async fn feeds_are_counted_by_status_across_tenants(d: &impl Directory) {
    assert_eq!(d.count_feeds_by_status().await.unwrap(), vec![], "no feeds, no rows");
    let t = tenant(d, "acme").await;
    let other = tenant(d, "globex").await;
    population(d, t, "hris", 20).await;
    snapshot(d, t, "hris", 10).await;
    feed(d, t, 1).await;
    feed(d, other, 1).await;
    let failed = feed(d, other, 1).await;
    d.fail_feed(other, failed, T1).await.unwrap();

    let mut counts = d.count_feeds_by_status().await.unwrap();
    counts.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        counts,
        vec![
            (FeedStatus::Accepted, 2),
            (FeedStatus::Completed, 1),
            (FeedStatus::Failed, 1),
            (FeedStatus::Halted, 1)
        ]
    );
}

pub async fn api_keys_are_listed_and_revoked_per_tenant(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    let key = |tenant, hash: u8| NewApiKey {
        tenant_id: tenant,
        prefix: "rk_live_abcd".into(),
        hash: [hash; 32],
        scopes: vec![Scope::Ingest],
        expires_at: None,
    };
    let old = d.create_api_key(key(a, 1), T0).await.unwrap();
    let new = d.create_api_key(key(a, 2), T1).await.unwrap();
    d.create_api_key(key(b, 3), T0).await.unwrap();
    let listed: Vec<String> = d.list_api_keys(a).await.unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(listed, vec![new.id.clone(), old.id.clone()], "newest first, only the tenant's");

    // Rotation: both keys work until the old one is revoked.
    assert!(d.authenticate_key(&[1; 32], T1).await.unwrap().is_some());
    assert!(d.authenticate_key(&[2; 32], T1).await.unwrap().is_some());
    assert!(
        matches!(d.revoke_api_key(b, &old.id, T1).await, Err(StoreError::NotFound)),
        "another tenant cannot revoke it, nor learn that it exists"
    );
    let revoked = d.revoke_api_key(a, &old.id, T1).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(T1));
    assert!(d.authenticate_key(&[1; 32], T1).await.unwrap().is_none(), "revocation is immediate");
    assert!(d.authenticate_key(&[2; 32], T1).await.unwrap().is_some());
    let again = d.revoke_api_key(a, &old.id, T1.plus_millis(5)).await.unwrap();
    assert_eq!(again.revoked_at, Some(T1), "revoking twice keeps the first time");
}

pub async fn audit_log_is_per_tenant_and_in_order(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    let entry = |tenant, action, target: &str| crate::NewAuditEntry {
        at: T0,
        tenant_id: tenant,
        actor: "key:k1".into(),
        action,
        target: Some(target.into()),
        request_id: Some("req-1".into()),
    };
    d.append_audit(entry(a, "key.created", "k2")).await.unwrap();
    d.append_audit(entry(b, "dlq.purged", "all")).await.unwrap();
    d.append_audit(entry(a, "key.revoked", "k1")).await.unwrap();
    let log = d.list_audit(a, 0, 10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["key.created", "key.revoked"]);
    assert_eq!((log[0].actor.as_str(), log[0].request_id.as_deref()), ("key:k1", Some("req-1")));
    assert_eq!(d.list_audit(a, log[0].seq, 10).await.unwrap().len(), 1, "paging by seq");
    assert_eq!(d.list_audit(b, 0, 10).await.unwrap().len(), 1);
}

pub async fn operator_keys_are_apart_from_tenant_keys(d: &impl Directory) {
    let op = d.create_operator_key("platform-team", "rk_op_abcd".into(), [7; 32], T0).await.unwrap();
    assert_eq!(op.name, "platform-team");
    let found = d.authenticate_operator_key(&[7; 32]).await.unwrap().expect("the operator key");
    assert_eq!(found.id, op.id);
    assert!(d.authenticate_key(&[7; 32], T0).await.unwrap().is_none(), "not a tenant's key");
    assert!(d.authenticate_operator_key(&[8; 32]).await.unwrap().is_none());
}

pub async fn operator_keys_are_revoked_at_once(d: &impl Directory) {
    let old = d.create_operator_key("alice", "rk_op_aaaa".into(), [21; 32], T0).await.unwrap();
    let new = d.create_operator_key("bob", "rk_op_bbbb".into(), [22; 32], T0.plus_millis(1)).await.unwrap();
    let listed: Vec<String> = d.list_operator_keys().await.unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(listed, [old.id.clone(), new.id.clone()], "every operator key, oldest first");
    let revoked = d.revoke_operator_key(&old.id, T1).await.unwrap();
    assert_eq!((revoked.name.as_str(), revoked.revoked_at), ("alice", Some(T1)));
    assert!(d.authenticate_operator_key(&[21; 32]).await.unwrap().is_none(), "refused on the next request");
    assert!(d.authenticate_operator_key(&[22; 32]).await.unwrap().is_some(), "the other key still works");
    let again = d.revoke_operator_key(&old.id, T1.plus_millis(5)).await.unwrap();
    assert_eq!(again.revoked_at, Some(T1), "revoking twice keeps the first time");
    assert!(matches!(d.revoke_operator_key("no-such-key", T1).await, Err(StoreError::NotFound)));
    let listed = d.list_operator_keys().await.unwrap();
    assert_eq!(listed.len(), 2, "a revoked key is still listed");
    assert_eq!(listed[0].revoked_at, Some(T1));
}

// --- webhook endpoints and the outbox dispatcher's state ---

fn new_endpoint(tenant: TenantId, types: Option<Vec<EventType>>) -> NewEndpoint {
    NewEndpoint {
        tenant_id: tenant,
        url: "https://hooks.example.com/roster".into(),
        description: Some("HRIS onboarding".into()),
        event_types: types,
        secret: roster_core::secret::Secret::new("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"),
    }
}

/// Applies a joiner for `id` in tenant `t`: one `person.joined` event.
async fn joiner(d: &impl Directory, t: TenantId, id: &str) {
    let f = feed(d, t, 1).await;
    let m = msg(t, f, json!({"externalId": id, "department": "Sales"}));
    assert!(matches!(apply(d, &m).await, ApplyOutcome::Applied { .. }));
}

pub async fn an_endpoint_sees_only_events_after_its_creation(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    joiner(d, t, "E1").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    let events = d.list_events(t, 0, 10).await.unwrap();
    assert_eq!(ep.cursor, events[0].seq, "the cursor starts at the newest event");
    joiner(d, t, "E2").await;
    let after = d.list_events(t, ep.cursor, 10).await.unwrap();
    assert_eq!(after.len(), 1, "only the event that happened after the endpoint");
    assert_eq!(after[0].payload["person"]["externalId"], "E2");
    let backlog = d.outbox_backlog().await.unwrap();
    assert_eq!(backlog.len(), 1);
    assert_eq!((backlog[0].pending, backlog[0].oldest_pending_at), (1, Some(T0)));

    // A filtered endpoint counts only the types it wants.
    let leavers = d.create_endpoint(new_endpoint(t, Some(vec![EventType::Left])), T0).await.unwrap();
    joiner(d, t, "E3").await;
    let backlog = d.outbox_backlog().await.unwrap();
    let of = |id: &str| backlog.iter().find(|b| b.endpoint_id == id).unwrap().pending;
    assert_eq!((of(&ep.id), of(&leavers.id)), (2, 0));
    assert!(
        leavers.wants(EventType::Left) && !leavers.wants(EventType::Joined) && ep.wants(EventType::Joined)
    );
}

pub async fn an_endpoint_cursor_advances_and_its_retries_persist(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    joiner(d, t, "E1").await;
    joiner(d, t, "E2").await;
    let events = d.list_events(t, ep.cursor, 10).await.unwrap();
    let target = d.delivery_targets(T1).await.unwrap().pop().expect("the active endpoint");
    assert_eq!(
        (target.endpoint.id.as_str(), target.attempts, target.next_attempt_at),
        (ep.id.as_str(), 0, None)
    );
    assert_eq!(target.secret.expose(), "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0");
    assert!(!format!("{target:?}").contains("c2VjcmV0"), "Debug redacts the secret");

    let retry_at = T0.plus_millis(5_000);
    d.record_delivery(&ep.id, DeliveryUpdate::Retry { attempts: 1, next_attempt_at: retry_at }, T0)
        .await
        .unwrap();
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!(
        (target.attempts, target.next_attempt_at, target.endpoint.cursor),
        (1, Some(retry_at), ep.cursor)
    );

    d.record_delivery(&ep.id, DeliveryUpdate::Done { seq: events[0].seq }, T0).await.unwrap();
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!((target.attempts, target.next_attempt_at, target.endpoint.cursor), (0, None, events[0].seq));
    assert_eq!(d.outbox_backlog().await.unwrap()[0].pending, 1);
    // A late record of an older position does not move the cursor back.
    d.record_delivery(&ep.id, DeliveryUpdate::Done { seq: ep.cursor }, T0).await.unwrap();
    assert_eq!(d.get_endpoint(t, &ep.id).await.unwrap().unwrap().cursor, events[0].seq);
    d.record_delivery(&ep.id, DeliveryUpdate::Done { seq: events[1].seq }, T0).await.unwrap();
    assert_eq!(d.outbox_backlog().await.unwrap()[0].pending, 0);

    let disabled = d.disable_endpoint(t, &ep.id, T1).await.unwrap();
    assert_eq!(disabled.disabled_at, Some(T1));
    assert!(d.delivery_targets(T1).await.unwrap().is_empty(), "a disabled endpoint gets nothing");
    let again = d.disable_endpoint(t, &ep.id, T1.plus_millis(5)).await.unwrap();
    assert_eq!(again.disabled_at, Some(T1), "disabling twice keeps the first time");
    assert_eq!(d.list_endpoints(t).await.unwrap().len(), 1, "still listed");
}

/// Pages of an endpoint's dead letters: `after` is the outbox position of
/// the last one of the previous page.
pub async fn event_dead_letters_are_listed_in_pages(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    for id in ["E1", "E2", "E3"] {
        joiner(d, t, id).await;
    }
    let events = d.list_events(t, ep.cursor, 10).await.unwrap();
    for e in &events {
        let dead = DeliveryUpdate::DeadLetter {
            event: OutboxEventRef::from(e),
            attempts: 5,
            last_status: Some(500),
            last_error: "answered HTTP 500".into(),
        };
        d.record_delivery(&ep.id, dead, T1).await.unwrap();
    }
    let first = d.list_event_dead_letters(t, &ep.id, 0, 2).await.unwrap();
    let seqs: Vec<u64> = first.iter().map(|dl| dl.event.seq).collect();
    assert_eq!(seqs, [events[0].seq, events[1].seq]);
    let rest = d.list_event_dead_letters(t, &ep.id, events[1].seq, 2).await.unwrap();
    assert_eq!(rest.iter().map(|dl| dl.event.seq).collect::<Vec<_>>(), [events[2].seq]);
    assert!(d.list_event_dead_letters(t, &ep.id, events[2].seq, 2).await.unwrap().is_empty());
}

pub async fn an_event_dead_letter_is_listed_and_redriven(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    joiner(d, t, "E1").await;
    joiner(d, t, "E2").await;
    let events = d.list_events(t, ep.cursor, 10).await.unwrap();
    let dead = DeliveryUpdate::DeadLetter {
        event: OutboxEventRef::from(&events[0]),
        attempts: 5,
        last_status: Some(500),
        last_error: "answered HTTP 500".into(),
    };
    d.record_delivery(&ep.id, dead.clone(), T1).await.unwrap();
    d.record_delivery(&ep.id, dead, T1).await.unwrap();
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!(target.endpoint.cursor, events[0].seq, "the cursor moves past a dead letter");
    let listed = d.list_event_dead_letters(t, &ep.id, 0, 10).await.unwrap();
    assert_eq!(listed.len(), 1, "recorded once");
    let dl = &listed[0];
    assert_eq!((dl.event.id.as_str(), dl.attempts, dl.last_status), (events[0].id.as_str(), 5, Some(500)));
    assert_eq!((dl.state, dl.dead_lettered_at), (EventDeadLetterState::Dead, T1));
    assert_eq!(d.outbox_backlog().await.unwrap()[0].dead_letters, 1);
    assert!(d.due_redeliveries(&ep.id, T1, 10).await.unwrap().is_empty(), "nothing due before a redrive");

    assert_eq!(d.redrive_event_dead_letters(t, &ep.id, T1).await.unwrap(), 1);
    assert_eq!(d.redrive_event_dead_letters(t, &ep.id, T1).await.unwrap(), 0, "only waiting ones");
    let due = d.due_redeliveries(&ep.id, T1, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].event.id.as_str(), due[0].dead_letter.attempts), (events[0].id.as_str(), 0));
    assert_eq!(due[0].event.payload, events[0].payload, "with the event to send");
    let backlog = d.outbox_backlog().await.unwrap();
    assert_eq!((backlog[0].pending, backlog[0].dead_letters), (2, 0), "redriven counts as pending");

    let later = T1.plus_millis(1_000);
    let retry = RedeliveryUpdate::Retry { attempts: 1, next_attempt_at: later };
    d.record_redelivery(&due[0].dead_letter.id, retry, T1).await.unwrap();
    assert!(d.due_redeliveries(&ep.id, T1, 10).await.unwrap().is_empty(), "not before its retry time");
    let dead_again =
        RedeliveryUpdate::Dead { attempts: 5, last_status: None, last_error: "timed out".into() };
    d.record_redelivery(&due[0].dead_letter.id, dead_again, later).await.unwrap();
    let listed = d.list_event_dead_letters(t, &ep.id, 0, 10).await.unwrap();
    assert_eq!((listed[0].state, listed[0].last_status), (EventDeadLetterState::Dead, None));

    d.redrive_event_dead_letters(t, &ep.id, later).await.unwrap();
    let due = d.due_redeliveries(&ep.id, later, 10).await.unwrap();
    d.record_redelivery(&due[0].dead_letter.id, RedeliveryUpdate::Delivered, later).await.unwrap();
    assert!(d.list_event_dead_letters(t, &ep.id, 0, 10).await.unwrap().is_empty(), "delivered: gone");
}

pub async fn endpoints_and_their_dead_letters_are_scoped_by_tenant(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    let ep = d.create_endpoint(new_endpoint(a, None), T0).await.unwrap();
    joiner(d, a, "E1").await;
    let events = d.list_events(a, ep.cursor, 10).await.unwrap();
    let dead = DeliveryUpdate::DeadLetter {
        event: OutboxEventRef::from(&events[0]),
        attempts: 1,
        last_status: Some(410),
        last_error: "answered HTTP 410".into(),
    };
    d.record_delivery(&ep.id, dead, T0).await.unwrap();

    assert!(d.list_endpoints(b).await.unwrap().is_empty());
    assert_eq!(d.get_endpoint(b, &ep.id).await.unwrap(), None);
    assert!(matches!(d.disable_endpoint(b, &ep.id, T1).await, Err(StoreError::NotFound)));
    assert!(matches!(d.list_event_dead_letters(b, &ep.id, 0, 10).await, Err(StoreError::NotFound)));
    assert!(matches!(d.redrive_event_dead_letters(b, &ep.id, T1).await, Err(StoreError::NotFound)));
    assert_eq!(d.list_event_dead_letters(a, &ep.id, 0, 10).await.unwrap().len(), 1, "untouched");
    assert_eq!(d.get_endpoint(a, &ep.id).await.unwrap().unwrap().disabled_at, None);

    // B's events never move A's endpoint: its backlog counts A's events only.
    joiner(d, b, "E1").await;
    let backlog = d.outbox_backlog().await.unwrap();
    assert_eq!((backlog[0].tenant_id, backlog[0].pending), (a, 0));
}

pub async fn an_endpoint_secret_rotates_with_a_grace_period(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    let ep = d.create_endpoint(new_endpoint(a, None), T0).await.unwrap();
    let old = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";
    let new = "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0";
    let until = T1.plus_millis(60_000);

    // Another tenant cannot rotate it: nothing changes.
    let refused = d.rotate_endpoint_secret(b, &ep.id, Secret::new("whsec_b3RoZXI="), until, T0).await;
    assert!(matches!(refused, Err(StoreError::NotFound)));
    let target = d.delivery_targets(T0).await.unwrap().pop().unwrap();
    assert_eq!((target.secret.expose(), target.previous_secret.is_none()), (old, true));

    let rotated = d.rotate_endpoint_secret(a, &ep.id, Secret::new(new), until, T0).await.unwrap();
    assert_eq!((rotated.id.as_str(), rotated.cursor), (ep.id.as_str(), ep.cursor), "only the secret changes");
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!(target.secret.expose(), new, "the new secret signs first");
    let previous = target.previous_secret.as_ref().expect("the old one is still valid");
    assert_eq!((previous.secret.expose(), previous.expires_at), (old, until));
    assert!(previous.valid_at(T1).is_some() && previous.valid_at(until).is_none());
    assert!(!format!("{target:?}").contains("c2VjcmV0") && !format!("{target:?}").contains("bmV3"));

    // Once it expires, the target carries the new secret only.
    let target = d.delivery_targets(until).await.unwrap().pop().unwrap();
    assert_eq!((target.secret.expose(), target.previous_secret.is_none()), (new, true));

    // No grace period: the replaced secret is dropped at once.
    let newest = "whsec_bmV3ZXN0";
    d.rotate_endpoint_secret(a, &ep.id, Secret::new(newest), T1, T1).await.unwrap();
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!((target.secret.expose(), target.previous_secret.is_none()), (newest, true));

    // A disabled endpoint is not rotated.
    d.disable_endpoint(a, &ep.id, T1).await.unwrap();
    let disabled = d.rotate_endpoint_secret(a, &ep.id, Secret::new(new), until, T1).await;
    assert!(matches!(disabled, Err(StoreError::NotFound)));
}
