//! Due dates and stalled uploads: the scheduler's system jobs.

use super::*;

pub async fn future_hire_is_pending_until_its_day(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 2).await;
    let hire = json!({"externalId": "E1", "title": "Analyst", "hireDate": "2027-01-25"});
    assert_eq!(apply(d, &msg(t, f, hire)).await, ApplyOutcome::Applied { event: None });
    let p = d.get_person(t, &eid("E1")).await.unwrap().unwrap();
    assert_eq!(p.status, roster_core::Status::Pending);
    assert!(person_events(d, t, 0, 10).await.unwrap().is_empty(), "nobody is told before the start");
    // A change before the start is recorded, still silently.
    let moved = json!({"externalId": "E1", "title": "Lead", "hireDate": "2027-01-25"});
    assert_eq!(apply(d, &msg(t, f, moved)).await, ApplyOutcome::Applied { event: None });

    assert_eq!(d.apply_due(T1, 100).await.unwrap(), 0, "not yet due");
    assert_eq!(d.apply_due(TEN_DAYS_LATER, 100).await.unwrap(), 1);
    assert_eq!(d.apply_due(TEN_DAYS_LATER, 100).await.unwrap(), 0, "due once");
    let p = d.get_person(t, &eid("E1")).await.unwrap().unwrap();
    assert_eq!(p.status, roster_core::Status::Active);
    assert_eq!(p.version, 3);
    let events = person_events(d, t, 0, 10).await.unwrap();
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
    let events = person_events(d, t, 0, 10).await.unwrap();
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
