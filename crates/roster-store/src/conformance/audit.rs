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

/// The console's audit page: newest first, filtered by actor and action,
/// paged by `seq`, one tenant's only.
pub async fn recent_audit_is_newest_first_and_filtered_by_actor_and_action(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    let entry = |tenant, actor: &str, action| crate::NewAuditEntry {
        at: T0,
        tenant_id: tenant,
        actor: actor.into(),
        action,
        target: None,
        request_id: None,
        client_request_id: None,
    };
    for (actor, action) in [
        ("console:ann", "feed.approved"),
        ("key_1", "key.created"),
        ("console:ann", "dlq.redriven"),
        ("console:bob", "feed.approved"),
        ("console:ann", "feed.approved"),
    ] {
        d.append_audit(entry(a, actor, action)).await.unwrap();
    }
    d.append_audit(entry(b, "console:ann", "feed.approved")).await.unwrap();
    let find = |actor: Option<&str>, action: Option<&'static str>, before, limit| {
        let filter = crate::AuditFilter { actor: actor.map(Into::into), action: action.map(Into::into) };
        async move { d.recent_audit(a, &filter, before, limit).await.unwrap() }
    };
    let all = find(None, None, None, 10).await;
    assert_eq!(all.len(), 5, "one tenant's entries only");
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    let ann = find(Some("console:ann"), None, None, 10).await;
    let actions: Vec<&str> = ann.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["feed.approved", "dlq.redriven", "feed.approved"]);
    let approvals = find(None, Some("feed.approved"), None, 10).await;
    assert_eq!(approvals.len(), 3);
    let anns_approvals = find(Some("console:ann"), Some("feed.approved"), None, 10).await;
    assert_eq!(anns_approvals.len(), 2);
    // Paging: the next page starts below the last seq seen.
    let first = find(None, None, None, 2).await;
    let rest = find(None, None, Some(first[1].seq), 10).await;
    assert_eq!(first.len() + rest.len(), 5);
    assert!(rest.iter().all(|e| e.seq < first[1].seq));
    assert!(find(Some("nobody"), None, None, 10).await.is_empty());
}
