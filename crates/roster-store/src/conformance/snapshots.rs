//! Full snapshots: leavers, the threshold, an operator's decision.

use super::*;

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

pub async fn a_halted_snapshot_announces_its_figures_then_completes_when_approved(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 20).await;
    let f = snapshot(d, t, "hris", 10).await;
    let events = super::feeds::feed_events(d, t).await;
    let of_f: Vec<_> = events.iter().filter(|e| e.feed_id == f).collect();
    assert_eq!(of_f.len(), 1, "{of_f:?}");
    assert_eq!(of_f[0].kind, EventType::FeedHalted);
    let p = &of_f[0].payload;
    assert_eq!(p["status"], "halted");
    assert_eq!((p["counts"]["received"].as_u64(), p["counts"]["applied"].as_u64()), (Some(10), Some(0)));
    assert_eq!(p["counts"]["unchanged"], 10);
    let s = &p["snapshot"];
    assert_eq!(
        (s["active"].as_u64(), s["wouldDeactivate"].as_u64(), s["deactivated"].as_u64()),
        (Some(20), Some(10), Some(0))
    );
    assert_eq!(
        (s["allowed"].as_u64(), s["thresholdPercent"].as_u64(), s["thresholdFloor"].as_u64()),
        (Some(5), Some(20), Some(5))
    );
    assert!(s["reason"].as_str().unwrap().contains("10 of 20"));
    assert_eq!(p["links"]["leavers"], format!("/v1/feeds/feed_{f}/leavers"));
    // Still halted: refreshed again, nothing more.
    let halted = EventFilter { kind: Some(EventType::FeedHalted), ..Default::default() };
    assert_eq!(d.find_events(t, &halted, 0, 10).await.unwrap().len(), 1);

    d.decide_snapshot(t, f, true, T1).await.unwrap();
    let all = d.list_events(t, 0, 1000).await.unwrap();
    let last = all.last().unwrap();
    assert_eq!((last.kind, last.feed_id), (EventType::FeedCompleted, f), "after its person.left events");
    assert_eq!(last.payload["snapshot"]["deactivated"], 10);
    assert!(last.payload["snapshot"].get("wouldDeactivate").is_none());
    assert_eq!(all.iter().filter(|e| e.kind == EventType::Left).count(), 10);

    // A rejected one announces its halt and nothing after.
    let g = snapshot(d, t, "hris", 2).await;
    d.decide_snapshot(t, g, false, T1).await.unwrap();
    let of_g: Vec<_> = super::feeds::feed_events(d, t)
        .await
        .into_iter()
        .filter(|e| e.feed_id == g)
        .map(|e| e.kind)
        .collect();
    assert_eq!(of_g, vec![EventType::FeedHalted]);
}

/// Every leaver of a snapshot, paging `limit` at a time.
async fn all_leavers(d: &impl Directory, t: TenantId, f: FeedId, limit: usize) -> Vec<crate::Leaver> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = d.feed_leavers(t, f, limit, cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= limit);
        all.extend(page.items);
        match page.next {
            Some(c) => cursor = Some(c),
            None => return all,
        }
    }
}

pub async fn a_snapshots_leavers_are_listed_halted_then_deactivated(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 20).await;
    let f = snapshot(d, t, "hris", 10).await;
    // Halted: the ten it would deactivate, in external id order, in pages.
    let would = all_leavers(d, t, f, 3).await;
    let ids: Vec<&str> = would.iter().map(|l| l.external_id.as_str()).collect();
    let mut want: Vec<String> = (10..20).map(|i| format!("E{i}")).collect();
    want.sort();
    assert_eq!(ids, want.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(would.iter().all(|l| l.deactivated_at.is_none() && l.department.as_deref() == Some("Sales")));
    assert!(!format!("{:?}", would[0]).contains("E1"), "Debug shows no personal data");
    // One of them is listed by a newer feed meanwhile: an approval spares
    // them, and the list says so already.
    let g = feed(d, t, 1).await;
    let mut m = msg(t, g, json!({"externalId": "E15", "department": "Sales"}));
    m.source = SourceName::parse("hris").unwrap();
    apply(d, &m).await;
    assert_eq!(all_leavers(d, t, f, 100).await.len(), 9);

    d.decide_snapshot(t, f, true, T1).await.unwrap();
    let gone = all_leavers(d, t, f, 4).await;
    assert_eq!(gone.len(), 9, "the people it deactivated");
    assert!(gone.iter().all(|l| l.deactivated_at == Some(T1)));
    assert!(gone.iter().all(|l| l.external_id.as_str() != "E15"));

    // A snapshot within the threshold lists its leavers too; a rejected one
    // and a delta list none (the delta is refused).
    let h = snapshot(d, t, "hris", 9).await;
    assert_eq!(d.get_feed(t, h).await.unwrap().unwrap().status, FeedStatus::Completed);
    let ids: Vec<String> =
        all_leavers(d, t, h, 100).await.into_iter().map(|l| l.external_id.to_string()).collect();
    assert_eq!(ids, ["E15", "E9"], "the two it did not list, bytewise");
    assert!(matches!(d.feed_leavers(t, g, 10, None).await, Err(StoreError::Invalid(_))));
    let other = tenant(d, "globex").await;
    assert!(matches!(d.feed_leavers(other, f, 10, None).await, Err(StoreError::NotFound)));
    assert!(matches!(d.feed_leavers(t, FeedId::new(), 10, None).await, Err(StoreError::NotFound)));
}

pub async fn a_rejected_snapshot_lists_no_leavers(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    population(d, t, "hris", 20).await;
    let f = snapshot(d, t, "hris", 4).await;
    assert_eq!(all_leavers(d, t, f, 100).await.len(), 16);
    d.decide_snapshot(t, f, false, T1).await.unwrap();
    assert!(all_leavers(d, t, f, 100).await.is_empty(), "nobody was deactivated by it");
}
