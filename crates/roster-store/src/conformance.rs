//! The conformance suite of the `Directory` port, written once against the
//! trait. Every adapter instantiates it with
//! [`directory_conformance_tests!`](crate::directory_conformance_tests) and an
//! async factory of fresh, empty directories.

use roster_core::lifecycle::EventType;
use roster_core::validate::parse_record;
use roster_core::{ChangeMessage, ExternalId, FeedId, FeedMode, MessageId, TenantId, Timestamp};
use serde_json::{Value, json};

use crate::{ApplyOutcome, Directory, FeedStatus, NewApiKey, NewFeed, Scope, StoreError};

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
            duplicate_tenant_names_conflict
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

const T0: Timestamp = Timestamp(1_800_000_000_000);

async fn tenant(d: &impl Directory, name: &str) -> TenantId {
    d.create_tenant(name, T0).await.expect("create tenant").id
}

async fn feed(d: &impl Directory, tenant: TenantId, accepted: u64) -> FeedId {
    let id = FeedId::new();
    d.create_feed(NewFeed {
        id,
        tenant_id: tenant,
        mode: FeedMode::Delta,
        format: "json".into(),
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
        index: 0,
        accepted_at: T0,
        last_modified: rec.last_modified,
        change: rec.change,
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
    let rejected = roster_core::RecordError {
        index: 0,
        errors: vec![roster_core::FieldError::new("externalId", "is required")],
    };
    let f2 = d
        .create_feed(NewFeed {
            id,
            tenant_id: t,
            mode: FeedMode::Delta,
            format: "json".into(),
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
    d.create_api_key(key(1, None), T0).await.unwrap();
    d.create_api_key(key(2, Some(T0.plus_millis(1000))), T0).await.unwrap();
    let ok = d.authenticate_key(&[1; 32], T0).await.unwrap().expect("a valid key");
    assert_eq!(ok.tenant_id, t);
    assert_eq!(ok.scopes, vec![Scope::Ingest, Scope::Read]);
    assert!(d.authenticate_key(&[3; 32], T0).await.unwrap().is_none(), "unknown hash");
    assert!(d.authenticate_key(&[2; 32], T0).await.unwrap().is_some(), "not yet expired");
    assert!(d.authenticate_key(&[2; 32], T0.plus_millis(1000)).await.unwrap().is_none(), "expired");
    let used = d.authenticate_key(&[1; 32], T0.plus_millis(120_000)).await.unwrap().unwrap();
    assert!(used.last_used_at.is_some(), "last use is recorded");
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
