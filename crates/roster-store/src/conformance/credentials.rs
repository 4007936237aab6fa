//! API keys and operator keys: hashes, scopes, expiry, revocation.

use super::*;

pub async fn api_keys_expire_and_authenticate_by_hash(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let key = |hash: u8, expires_at| NewApiKey {
        tenant_id: t,
        name: format!("key-{hash}"),
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
        let target = crate::key_actor(&first.id);
        log.into_iter()
            .filter(|e| e.action == "key.used" && e.target.as_deref() == Some(target.as_str()))
            .count()
    };
    assert_eq!(uses(d.list_audit(t, 0, 100).await.unwrap()), 1);
    d.authenticate_key(&[1; 32], T0.plus_millis(240_000)).await.unwrap();
    assert_eq!(uses(d.list_audit(t, 0, 100).await.unwrap()), 1, "the same day");
    d.authenticate_key(&[1; 32], T0.plus_millis(86_400_000)).await.unwrap();
    assert_eq!(uses(d.list_audit(t, 0, 100).await.unwrap()), 2, "the next day");
}

pub async fn api_keys_are_listed_and_revoked_per_tenant(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    let key = |tenant, hash: u8| NewApiKey {
        tenant_id: tenant,
        name: if hash == 1 { "workday-prod".into() } else { "bamboohr".into() },
        prefix: "rk_live_abcd".into(),
        hash: [hash; 32],
        scopes: vec![Scope::Ingest],
        expires_at: None,
    };
    let old = d.create_api_key(key(a, 1), T0).await.unwrap();
    let new = d.create_api_key(key(a, 2), T1).await.unwrap();
    d.create_api_key(key(b, 3), T0).await.unwrap();
    let listed: Vec<(String, String)> =
        d.list_api_keys(a).await.unwrap().into_iter().map(|k| (k.id, k.name)).collect();
    assert_eq!(
        listed,
        vec![(new.id.clone(), "bamboohr".to_owned()), (old.id.clone(), "workday-prod".to_owned())],
        "newest first, only the tenant's, with their names"
    );

    // Rotation: both keys work until the old one is revoked.
    assert!(d.authenticate_key(&[1; 32], T1).await.unwrap().is_some());
    assert!(d.authenticate_key(&[2; 32], T1).await.unwrap().is_some());
    assert!(
        matches!(d.revoke_api_key(b, &old.id, T1, LastAdmin::Keep).await, Err(StoreError::NotFound)),
        "another tenant cannot revoke it, nor learn that it exists"
    );
    let revoked = d.revoke_api_key(a, &old.id, T1, LastAdmin::Keep).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(T1));
    assert!(d.authenticate_key(&[1; 32], T1).await.unwrap().is_none(), "revocation is immediate");
    assert!(d.authenticate_key(&[2; 32], T1).await.unwrap().is_some());
    let again = d.revoke_api_key(a, &old.id, T1.plus_millis(5), LastAdmin::Keep).await.unwrap();
    assert_eq!(again.revoked_at, Some(T1), "revoking twice keeps the first time");
}

fn admin_key(tenant: TenantId, hash: u8, scopes: Vec<Scope>, expires_at: Option<Timestamp>) -> NewApiKey {
    NewApiKey {
        tenant_id: tenant,
        name: format!("admin-{hash}"),
        prefix: "rk_live_abcd".into(),
        hash: [hash; 32],
        scopes,
        expires_at,
    }
}

pub async fn the_last_active_admin_key_is_not_revoked(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let other = tenant(d, "globex").await;
    let admin = d.create_api_key(admin_key(t, 1, vec![Scope::Admin], None), T0).await.unwrap();
    let ingest = d.create_api_key(admin_key(t, 2, vec![Scope::Ingest], None), T0).await.unwrap();
    // An expired admin key and another tenant's admin key do not count.
    d.create_api_key(admin_key(t, 3, vec![Scope::Read, Scope::Admin], Some(T1)), T0).await.unwrap();
    d.create_api_key(admin_key(other, 4, vec![Scope::Admin], None), T0).await.unwrap();
    let later = T1.plus_millis(1);
    match d.revoke_api_key(t, &admin.id, later, LastAdmin::Keep).await {
        Err(StoreError::Conflict(why)) => assert_eq!(why, crate::LAST_ADMIN_KEY),
        other => panic!("the last admin key must stay: {other:?}"),
    }
    assert!(d.authenticate_key(&[1; 32], later).await.unwrap().is_some(), "still works");
    d.revoke_api_key(t, &ingest.id, later, LastAdmin::Keep).await.expect("not an admin key: revoked");
    // Another admin key makes it revocable; so does a caller that knows of
    // another admin credential.
    d.create_api_key(admin_key(t, 5, vec![Scope::Ingest, Scope::Admin], None), later).await.unwrap();
    let revoked = d.revoke_api_key(t, &admin.id, later, LastAdmin::Keep).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(later));
    let last = d.list_api_keys(t).await.unwrap().into_iter().find(|k| k.name == "admin-5").unwrap();
    assert!(matches!(
        d.revoke_api_key(t, &last.id, later, LastAdmin::Keep).await,
        Err(StoreError::Conflict(_))
    ));
    d.revoke_api_key(t, &last.id, later, LastAdmin::MayRevoke).await.expect("allowed by the caller");
    assert!(d.authenticate_key(&[5; 32], later).await.unwrap().is_none());
}

pub async fn of_concurrent_revocations_of_the_last_two_admin_keys_one_fails(d: &impl Directory) {
    for round in 0..5u8 {
        let t = tenant(d, &format!("acme-{round}")).await;
        let a = d.create_api_key(admin_key(t, round * 2 + 1, vec![Scope::Admin], None), T0).await.unwrap();
        let b = d.create_api_key(admin_key(t, round * 2 + 2, vec![Scope::Admin], None), T0).await.unwrap();
        let (ra, rb) = tokio::join!(
            d.revoke_api_key(t, &a.id, T1, LastAdmin::Keep),
            d.revoke_api_key(t, &b.id, T1, LastAdmin::Keep)
        );
        let refused = [&ra, &rb].iter().filter(|r| matches!(r, Err(StoreError::Conflict(_)))).count();
        assert!(ra.is_ok() || rb.is_ok(), "one of them is revoked: {ra:?} {rb:?}");
        assert_eq!(refused, 1, "exactly one is refused: {ra:?} {rb:?}");
        let live = d.list_api_keys(t).await.unwrap().into_iter().filter(|k| k.revoked_at.is_none()).count();
        assert_eq!(live, 1, "the tenant keeps one admin key");
    }
}

pub async fn operator_keys_are_apart_from_tenant_keys(d: &impl Directory) {
    let op = d.create_operator_key("platform-team", "rk_op_abcd".into(), [7; 32], None, T0).await.unwrap();
    assert_eq!(op.name, "platform-team");
    let found = d.authenticate_operator_key(&[7; 32], T1).await.unwrap().expect("the operator key");
    assert_eq!(found.id, op.id);
    assert!(d.authenticate_key(&[7; 32], T0).await.unwrap().is_none(), "not a tenant's key");
    assert!(d.authenticate_operator_key(&[8; 32], T1).await.unwrap().is_none());
}

pub async fn operator_keys_are_revoked_at_once(d: &impl Directory) {
    let old = d.create_operator_key("alice", "rk_op_aaaa".into(), [21; 32], None, T0).await.unwrap();
    let new =
        d.create_operator_key("bob", "rk_op_bbbb".into(), [22; 32], None, T0.plus_millis(1)).await.unwrap();
    let listed: Vec<String> = d.list_operator_keys().await.unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(listed, [old.id.clone(), new.id.clone()], "every operator key, oldest first");
    let revoked = d.revoke_operator_key(&old.id, T1).await.unwrap();
    assert_eq!((revoked.name.as_str(), revoked.revoked_at), ("alice", Some(T1)));
    assert!(
        d.authenticate_operator_key(&[21; 32], T1).await.unwrap().is_none(),
        "refused on the next request"
    );
    assert!(d.authenticate_operator_key(&[22; 32], T1).await.unwrap().is_some(), "the other key still works");
    let again = d.revoke_operator_key(&old.id, T1.plus_millis(5)).await.unwrap();
    assert_eq!(again.revoked_at, Some(T1), "revoking twice keeps the first time");
    assert!(matches!(d.revoke_operator_key("no-such-key", T1).await, Err(StoreError::NotFound)));
    let listed = d.list_operator_keys().await.unwrap();
    assert_eq!(listed.len(), 2, "a revoked key is still listed");
    assert_eq!(listed[0].revoked_at, Some(T1));
}

pub async fn operator_keys_expire_and_record_their_last_use(d: &impl Directory) {
    let expires = T1.plus_millis(3_600_000);
    let key =
        d.create_operator_key("oncall", "rk_op_cccc".into(), [31; 32], Some(expires), T0).await.unwrap();
    assert_eq!((key.expires_at, key.last_used_at), (Some(expires), None));
    let used = d.authenticate_operator_key(&[31; 32], T1).await.unwrap().expect("valid before it expires");
    assert_eq!(used.id, key.id);
    // Seconds later: still the first use (written at most once a minute).
    d.authenticate_operator_key(&[31; 32], T1.plus_millis(5_000)).await.unwrap().expect("valid");
    let listed = d.list_operator_keys().await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(T1));
    assert!(d.authenticate_operator_key(&[31; 32], expires).await.unwrap().is_none(), "expired");
    // The first use of the day is in the platform log, named by the holder.
    let log = d.list_audit(crate::platform_log(), 0, 100).await.unwrap();
    let used: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e.action == "operator.used")
        .map(|e| (e.actor.as_str(), e.target.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(used, [("operator:oncall", key.id.as_str())]);
}
