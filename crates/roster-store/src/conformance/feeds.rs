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
