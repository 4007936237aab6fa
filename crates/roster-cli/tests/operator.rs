//! Operators: a separate kind of key for cross-tenant administration. It
//! opens the operator routes and no tenant's data API; tenant keys, even
//! admin ones, cannot use the operator routes; every operator action on a
//! tenant lands in that tenant's audit log.

mod support;

use std::time::{Duration, Instant};

use roster_cli::commands::operators::create_operator;
use serde_json::Value;
use support::spawn_app;

#[tokio::test]
async fn an_operator_administers_across_tenants_and_is_audited() {
    let app = spawn_app().await;
    let globex = app.new_tenant("globex").await;
    let directory = roster_cli::app::open_directory(&app.settings).unwrap();
    let (_, secret) = create_operator(directory.as_ref(), "platform-team").await.unwrap();
    let op = secret.expose().to_owned();
    assert!(op.starts_with("rk_op_"));

    let tenants: Value = app.get_as(&op, "/v1/operator/tenants").await.json().await.unwrap();
    let names: Vec<&str> =
        tenants["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["acme", "globex"]);

    // Tenant keys, even admin ones, are not operators; no key is 401.
    assert_eq!(app.get_as(&app.key, "/v1/operator/tenants").await.status(), 403);
    assert_eq!(app.http.get(app.url("/v1/operator/tenants")).send().await.unwrap().status(), 401);
    // Platform-wide reads: an operator may see the alarms.
    assert_eq!(app.get_as(&op, "/v1/alarms").await.status(), 200);
    // An operator key opens no tenant's data.
    assert_eq!(app.get_as(&op, "/v1/people").await.status(), 401);

    // acme has a dead letter; the operator purges it.
    let queue = roster_cli::app::Adapters::open(&app.settings).await.unwrap().queue;
    let poison = roster_queue::OutgoingMessage {
        id: "poison-op".into(),
        group_id: "g".into(),
        tenant: app.tenant_id.to_string(),
        body: b"{}".to_vec(),
        delay: Duration::ZERO,
    };
    queue.send_batch(vec![poison]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get_json("/v1/dlq").await["items"].as_array().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "not dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res =
        app.http.delete(app.url("/v1/operator/tenants/acme/dlq")).bearer_auth(&op).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["purged"], 1);
    assert!(app.get_json("/v1/dlq").await["items"].as_array().unwrap().is_empty());
    let res =
        app.http.delete(app.url("/v1/operator/tenants/nobody/dlq")).bearer_auth(&op).send().await.unwrap();
    assert_eq!(res.status(), 404);

    let log = app.get_json("/v1/audit").await["items"].as_array().unwrap().clone();
    let entry = log.iter().find(|e| e["action"] == "dlq.purged").expect("the purge is audited");
    assert_eq!(entry["actor"], "operator:platform-team");
    let other: Value = app.get_as(&globex, "/v1/audit").await.json().await.unwrap();
    let actions: Vec<&str> =
        other["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["key.used"], "globex's log holds only globex's own key's use");
}
