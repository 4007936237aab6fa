//! A feed's status follows its counts; a streamed feed waits for its seal.

use super::*;

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

pub async fn feeds_are_filtered_by_source_and_status(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let workday = SourceName::parse("workday").unwrap();
    let mut made = Vec::new();
    for i in 0..6u64 {
        let id = FeedId::new();
        d.create_feed(NewFeed {
            id,
            tenant_id: t,
            source: if i % 2 == 0 { workday.clone() } else { SourceName::default() },
            mode: FeedMode::Delta,
            format: "json".into(),
            sealed: true,
            received: 1,
            accepted: 1,
            rejections: vec![],
            created_at: T0,
        })
        .await
        .unwrap();
        made.push(id);
    }
    // Feeds 0 and 3 complete.
    for &i in &[0usize, 3] {
        apply(d, &msg(t, made[i], json!({"externalId": format!("E{i}")}))).await;
    }
    async fn all(d: &impl Directory, t: TenantId, filter: &FeedFilter) -> Vec<FeedId> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = d.find_feeds(t, filter, 2, cursor.as_deref()).await.unwrap();
            seen.extend(page.items.iter().map(|f| f.id));
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        seen
    }
    let newest_first = |v: &[usize]| v.iter().rev().map(|&i| made[i]).collect::<Vec<_>>();
    let by_source = FeedFilter { source: Some(workday.clone()), ..Default::default() };
    assert_eq!(all(d, t, &by_source).await, newest_first(&[0, 2, 4]));
    let done = FeedFilter { status: Some(FeedStatus::Completed), ..Default::default() };
    assert_eq!(all(d, t, &done).await, newest_first(&[0, 3]));
    let both = FeedFilter { source: Some(workday), status: Some(FeedStatus::Accepted) };
    assert_eq!(all(d, t, &both).await, newest_first(&[2, 4]));
    assert_eq!(all(d, t, &FeedFilter::default()).await.len(), 6);
}

/// The tenant's feed events (`feed.*`), oldest first.
pub(super) async fn feed_events(d: &impl Directory, t: TenantId) -> Vec<crate::OutboxEvent> {
    d.list_events(t, 0, 1000).await.unwrap().into_iter().filter(|e| e.kind.is_feed()).collect()
}

pub async fn a_feed_announces_its_end_once(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 2).await;
    let first = msg(t, f, json!({"externalId": "E1"}));
    apply(d, &first).await;
    assert!(feed_events(d, t).await.is_empty(), "nothing until the feed is final");
    apply(d, &msg(t, f, json!({"externalId": "E2"}))).await;
    // Redelivered after the end: a duplicate, no second event.
    assert_eq!(apply(d, &first).await, ApplyOutcome::Duplicate);
    let events = feed_events(d, t).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!((e.kind, e.feed_id), (EventType::FeedCompleted, f));
    let all = d.list_events(t, 0, 100).await.unwrap();
    assert_eq!(all.last().map(|e| e.kind), Some(EventType::FeedCompleted), "after the person events");
    let p = &e.payload;
    assert_eq!(p["type"], "feed.completed");
    assert_eq!(p["feedId"], roster_core::public_id::render(roster_core::public_id::Kind::Feed, f));
    assert_eq!(
        (p["status"].as_str(), p["mode"].as_str(), p["source"].as_str()),
        (Some("completed"), Some("delta"), Some("default"))
    );
    assert_eq!((p["counts"]["received"].as_u64(), p["counts"]["applied"].as_u64()), (Some(2), Some(2)));
    assert!(p.get("snapshot").is_none() && p["links"].get("leavers").is_none(), "a delta has no leavers");
    assert_eq!(p["links"]["feed"], format!("/v1/feeds/feed_{f}"));
    // By type, as `GET /v1/events?type=` asks.
    let filter = EventFilter { kind: Some(EventType::FeedCompleted), ..Default::default() };
    assert_eq!(d.find_events(t, &filter, 0, 10).await.unwrap().len(), 1);

    // Rejected records at ingest: with errors, at once, once.
    let id = FeedId::new();
    let rejected =
        roster_core::RecordError::new(0, vec![roster_core::FieldError::new("externalId", "is required")]);
    d.create_feed(NewFeed {
        id,
        tenant_id: t,
        source: SourceName::default(),
        mode: FeedMode::Delta,
        format: "json".into(),
        sealed: true,
        received: 1,
        accepted: 0,
        rejections: vec![rejected],
        created_at: T0,
    })
    .await
    .unwrap();
    let events = feed_events(d, t).await;
    assert_eq!(events.len(), 2);
    assert_eq!((events[1].kind, events[1].feed_id), (EventType::FeedCompletedWithErrors, id));
    assert_eq!(events[1].payload["counts"]["rejected"], 1);

    // A record dead-lettered: with errors; its redrive applied later moves
    // the counts but announces nothing more.
    let g = feed(d, t, 1).await;
    let m = msg(t, g, json!({"externalId": "E3"}));
    d.record_failure(&m, T0).await.unwrap();
    d.record_failure(&m, T0).await.unwrap();
    assert!(matches!(apply(d, &m).await, ApplyOutcome::Applied { .. }));
    assert_eq!(d.get_feed(t, g).await.unwrap().unwrap().status, FeedStatus::Completed);
    let of_g: Vec<_> = feed_events(d, t).await.into_iter().filter(|e| e.feed_id == g).collect();
    assert_eq!(of_g.len(), 1);
    assert_eq!(of_g[0].kind, EventType::FeedCompletedWithErrors);
    assert_eq!(of_g[0].payload["counts"]["failed"], 1);
    // Another tenant hears nothing of it.
    let other = tenant(d, "globex").await;
    assert!(feed_events(d, other).await.is_empty());
}

pub async fn a_failed_feed_is_announced_once(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let receiving = |id| NewFeed {
        id,
        tenant_id: t,
        source: SourceName::parse("workday").unwrap(),
        mode: FeedMode::Full,
        format: "csv".into(),
        sealed: false,
        received: 0,
        accepted: 0,
        rejections: vec![],
        created_at: T0,
    };
    // Ingest could not queue it.
    let a = FeedId::new();
    d.create_feed(receiving(a)).await.unwrap();
    d.fail_feed(t, a, T0).await.unwrap();
    d.fail_feed(t, a, T0).await.unwrap();
    // Its upload stalled.
    let b = FeedId::new();
    d.create_feed(receiving(b)).await.unwrap();
    assert_eq!(d.fail_stalled_feeds(TEN_DAYS_LATER, TEN_DAYS_LATER).await.unwrap(), 1);
    assert_eq!(d.fail_stalled_feeds(TEN_DAYS_LATER, TEN_DAYS_LATER).await.unwrap(), 0);
    let events = feed_events(d, t).await;
    let seen: Vec<_> = events.iter().map(|e| (e.kind, e.feed_id)).collect();
    assert_eq!(seen, vec![(EventType::FeedFailed, a), (EventType::FeedFailed, b)]);
    assert_eq!(events[1].payload["status"], "failed");
    assert_eq!(events[1].payload["source"], "workday");
    assert_eq!(events[1].occurred_at, TEN_DAYS_LATER);
}
