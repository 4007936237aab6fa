//! System reads across tenants.

use super::*;

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
