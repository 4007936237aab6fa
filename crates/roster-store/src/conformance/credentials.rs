//! API keys and operator keys: hashes, scopes, expiry, revocation.

use super::*;

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
