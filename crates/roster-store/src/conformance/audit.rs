//! The audit log: per tenant, in order.

use super::*;

pub async fn audit_log_is_per_tenant_and_in_order(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    let entry = |tenant, action, target: &str| crate::NewAuditEntry {
        at: T0,
        tenant_id: tenant,
        actor: "key:k1".into(),
        action,
        target: Some(target.into()),
        request_id: Some("req-1".into()),
        client_request_id: Some("client-7".into()),
    };
    d.append_audit(entry(a, "key.created", "k2")).await.unwrap();
    d.append_audit(entry(b, "dlq.purged", "all")).await.unwrap();
    d.append_audit(entry(a, "key.revoked", "k1")).await.unwrap();
    let log = d.list_audit(a, 0, 10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["key.created", "key.revoked"]);
    assert_eq!((log[0].actor.as_str(), log[0].request_id.as_deref()), ("key:k1", Some("req-1")));
    assert_eq!(log[0].client_request_id.as_deref(), Some("client-7"), "the client's id, apart");
    assert_eq!(d.list_audit(a, log[0].seq, 10).await.unwrap().len(), 1, "paging by seq");
    assert_eq!(d.list_audit(b, 0, 10).await.unwrap().len(), 1);
}
