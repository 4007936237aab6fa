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

pub async fn tenants_are_renamed_and_their_names_stay_unique(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    tenant(d, "globex").await;
    let renamed = d.rename_tenant(a, "acme-corp").await.unwrap();
    assert_eq!((renamed.id, renamed.name.as_str()), (a, "acme-corp"));
    assert!(d.tenant_by_name("acme").await.unwrap().is_none());
    assert_eq!(d.tenant(a).await.unwrap().unwrap().name, "acme-corp");
    assert!(matches!(d.rename_tenant(a, "globex").await, Err(StoreError::Conflict(_))));
    assert!(matches!(d.rename_tenant(TenantId::new(), "x").await, Err(StoreError::NotFound)));
    assert!(d.tenant(TenantId::new()).await.unwrap().is_none());
}

/// A key of the tenant `t` with this hash, all scopes.
async fn any_key(d: &impl Directory, t: TenantId, hash: u8) {
    let key = NewApiKey {
        tenant_id: t,
        name: "admin".into(),
        prefix: "rk_live_abcd".into(),
        hash: [hash; 32],
        scopes: vec![Scope::Ingest, Scope::Read, Scope::Admin],
        expires_at: None,
    };
    d.create_api_key(key, T0).await.unwrap();
}

pub async fn a_tenant_is_purged_only_after_its_grace_period_unless_cancelled(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    for t in [a, b] {
        any_key(d, t, if t == a { 1 } else { 2 }).await;
        let workday = SourceName::parse("workday").unwrap();
        d.put_source(t, &workday, SourceSettings::default(), T0).await.unwrap();
    }
    let grace_end = T0.plus_millis(7 * 86_400_000);
    let deleting = d.schedule_tenant_deletion(a, T0, grace_end).await.unwrap();
    assert!(deleting.is_deleting());
    assert_eq!((deleting.deletion_requested_at, deleting.delete_after), (Some(T0), Some(grace_end)));
    assert!(d.tenant(a).await.unwrap().unwrap().is_deleting(), "stored");
    assert!(
        matches!(d.schedule_tenant_deletion(a, T1, grace_end).await, Err(StoreError::Conflict(_))),
        "scheduled once"
    );
    assert!(
        matches!(d.cancel_tenant_deletion(b, T1).await, Err(StoreError::Conflict(_))),
        "nothing to cancel"
    );

    // During the grace period nothing is purged, and it can be cancelled.
    assert!(d.purge_deleted_tenants(T1, 10).await.unwrap().is_empty());
    let kept = d.cancel_tenant_deletion(a, T1).await.unwrap();
    assert!(!kept.is_deleting());
    assert!(
        d.purge_deleted_tenants(grace_end, 10).await.unwrap().is_empty(),
        "a cancelled deletion purges nothing"
    );

    d.schedule_tenant_deletion(a, T1, grace_end).await.unwrap();
    let over = grace_end.plus_millis(1);
    assert!(
        matches!(d.cancel_tenant_deletion(a, grace_end).await, Err(StoreError::Conflict(_))),
        "the grace period ended: too late to cancel"
    );
    let purged = d.purge_deleted_tenants(over, 10).await.unwrap();
    assert_eq!(purged, vec![crate::PurgedTenant { id: a, name: "acme".into() }]);
    assert!(d.purge_deleted_tenants(over, 10).await.unwrap().is_empty(), "purged once");
    assert!(d.tenant(a).await.unwrap().is_none());
    assert!(d.tenant_by_name("acme").await.unwrap().is_none());
    assert!(d.list_api_keys(a).await.unwrap().is_empty());
    assert!(d.authenticate_key(&[1; 32], over).await.unwrap().is_none());
    assert!(d.list_sources(a).await.unwrap().is_empty());
    let platform = d.list_audit(crate::platform_log(), 0, 100).await.unwrap();
    let entry =
        platform.iter().find(|e| e.action == "tenant.purged").expect("the purge is in the platform log");
    assert_eq!(entry.actor, "scheduler");
    assert_eq!(
        entry.target.as_deref(),
        Some(roster_core::public_id::render(roster_core::public_id::Kind::Tenant, a).as_str())
    );
    // The other tenant is untouched, and the name is free again.
    assert_eq!(d.list_api_keys(b).await.unwrap().len(), 1);
    assert_eq!(d.list_sources(b).await.unwrap().len(), 1);
    assert_eq!(d.list_tenants().await.unwrap().len(), 1);
    tenant(d, "acme").await;
}

pub async fn purging_a_tenant_removes_its_people_feeds_events_and_endpoints(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    for t in [a, b] {
        let f = feed(d, t, 1).await;
        apply(d, &msg(t, f, json!({"externalId": "E1", "department": "Sales"}))).await;
        let endpoint = NewEndpoint {
            tenant_id: t,
            url: "https://hooks.example.com/roster".into(),
            description: None,
            event_types: None,
            secret: Secret::new("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"),
        };
        d.create_endpoint(endpoint, T0).await.unwrap();
        snapshot(d, t, "default", 1).await;
    }
    d.schedule_tenant_deletion(a, T0, T1).await.unwrap();
    assert_eq!(d.purge_deleted_tenants(T1, 10).await.unwrap().len(), 1);
    assert!(d.get_person(a, &eid("E1")).await.unwrap().is_none());
    assert!(d.person_history(a, &eid("E1")).await.unwrap().is_empty());
    assert!(d.list_feeds(a, 100, None).await.unwrap().items.is_empty());
    assert!(d.list_events(a, 0, 100).await.unwrap().is_empty());
    assert!(d.list_endpoints(a).await.unwrap().is_empty());
    // The other tenant's data stays.
    assert!(d.get_person(b, &eid("E1")).await.unwrap().is_some());
    assert_eq!(d.list_feeds(b, 100, None).await.unwrap().items.len(), 2);
    assert!(!d.list_events(b, 0, 100).await.unwrap().is_empty());
    assert_eq!(d.list_endpoints(b).await.unwrap().len(), 1);
}
