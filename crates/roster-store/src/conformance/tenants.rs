//! Tenants: names are unique, data is per tenant.

use super::*;

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

pub async fn duplicate_tenant_names_conflict(d: &impl Directory) {
    tenant(d, "acme").await;
    assert!(matches!(d.create_tenant("acme", T0).await, Err(StoreError::Conflict(_))));
    assert_eq!(d.tenant_by_name("acme").await.unwrap().unwrap().name, "acme");
    assert_eq!(d.list_tenants().await.unwrap().len(), 1);
}
