//! Operators: a separate kind of key for cross-tenant administration. It
//! opens the operator routes and no tenant's data API; tenant keys, even
//! admin ones, cannot use the operator routes; every operator action on a
//! tenant lands in that tenant's audit log, the rest (listing tenants,
//! operator keys created and revoked by the CLI) in the platform's log.

mod support;

use std::time::{Duration, Instant};

use roster_cli::commands::operators::create_operator;
use serde_json::Value;
use support::spawn_app;

const BIN: &str = env!("CARGO_BIN_EXE_roster");

#[tokio::test]
async fn an_operator_administers_across_tenants_and_is_audited() {
    let app = spawn_app().await;
    let globex = app.new_tenant("globex").await;
    let directory = roster_app::open_directory(&app.settings).await.unwrap();
    let (_, secret) = create_operator(directory.as_ref(), "platform-team").await.unwrap();
    let op = secret.expose().to_owned();
    assert!(op.starts_with("rk_op_"));

    let tenants: Value = app.get_as(&op, "/v1/operator/tenants").await.json().await.unwrap();
    let names: Vec<&str> =
        tenants["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["acme", "globex"]);

    // Tenant keys, even admin ones, are not operators; no key is 401.
    assert_eq!(app.get_as(&app.key, "/v1/operator/tenants").await.status(), 403);
    assert_eq!(app.get_as(&app.key, "/v1/operator/audit").await.status(), 403);
    assert_eq!(app.http.get(app.url("/v1/operator/tenants")).send().await.unwrap().status(), 401);
    // Platform-wide reads: an operator may see the alarms, a tenant's admin may not.
    assert_eq!(app.get_as(&op, "/v1/alarms").await.status(), 200);
    assert_eq!(app.get_as(&app.key, "/v1/alarms").await.status(), 403);
    // An operator key opens no tenant's data.
    let refused = app.get_as(&op, "/v1/people").await;
    assert_eq!(refused.status(), 401);
    let problem: Value = refused.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("operator key opens only the operator routes"), "{detail}");

    // acme has a dead letter; the operator purges it.
    let queue = roster_app::Adapters::open(&app.settings).await.unwrap().queue;
    let poison = roster_queue::OutgoingMessage {
        id: "poison-op".into(),
        group_id: "g".into(),
        tenant: app.tenant_id.to_string(),
        body: b"{}".to_vec(),
        delay: Duration::ZERO,
    };
    queue.send_batch(vec![poison]).await.unwrap();
    wait_dead_lettered(&app).await;
    // The operator redrives it (it is poison: it comes back to the DLQ).
    let res = app
        .http
        .post(app.url("/v1/operator/tenants/acme/dlq/redrive"))
        .bearer_auth(&op)
        .header("x-request-id", "op-redrive-1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["redriven"], 1);
    let res = app.http.post(app.url("/v1/operator/tenants/nobody/dlq/redrive")).bearer_auth(&op).send().await;
    assert_eq!(res.unwrap().status(), 404);
    let res =
        app.http.post(app.url("/v1/operator/tenants/acme/dlq/redrive")).bearer_auth(&app.key).send().await;
    assert_eq!(res.unwrap().status(), 403, "a tenant's admin key is no operator's");
    wait_dead_lettered(&app).await;
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
    let entry = log.iter().find(|e| e["action"] == "dlq.redriven").expect("the redrive is audited");
    assert_eq!(
        (entry["actor"].as_str(), entry["target"].as_str(), entry["clientRequestId"].as_str()),
        (Some("operator:platform-team"), Some("all (1)"), Some("op-redrive-1"))
    );
    let other: Value = app.get_as(&globex, "/v1/audit").await.json().await.unwrap();
    let entries: Vec<(&str, &str)> = other["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(entries.len(), 3, "{other}");
    assert_eq!(&entries[..2], [("tenant.created", "cli"), ("key.created", "cli")], "made by the CLI");
    assert_eq!(entries[2].0, "key.used", "then only globex's own key's use");

    // The platform's log: tenants created and operator keys made by the
    // CLI, and the operator's listing of tenants.
    let platform: Value = app.get_as(&op, "/v1/operator/audit").await.json().await.unwrap();
    let entries: Vec<(&str, &str)> = platform["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        entries,
        [
            ("tenant.created", "cli"),
            ("tenant.created", "cli"),
            ("operator.created", "cli"),
            // The key's first use today.
            ("operator.used", "operator:platform-team"),
            ("tenants.listed", "operator:platform-team"),
            // The two 401s above, by address, with the rule that refused them.
            ("auth.failed", "address:127.0.0.1"),
            ("auth.failed", "address:127.0.0.1"),
        ]
    );
    let reasons: Vec<&str> = platform["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.failed")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert!(reasons[0].starts_with("missing Authorization header"), "{reasons:?}");
    assert!(reasons[1].starts_with("an operator key opens only the operator routes"), "{reasons:?}");
    assert!(!platform.to_string().contains("rk_"), "no credential in the log");
    // Reading the platform's log is itself audited.
    let again: Value = app.get_as(&op, "/v1/operator/audit").await.json().await.unwrap();
    assert_eq!(again["items"].as_array().unwrap().last().unwrap()["action"], "audit.read");
    assert!(!platform.to_string().contains("dlq."), "a tenant's actions stay in the tenant's log");
}

async fn wait_dead_lettered(app: &support::TestApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get_json("/v1/dlq").await["items"].as_array().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "not dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `roster operators <args>` on the app's data directory, off the runtime's thread.
async fn operators(app: &support::TestApp, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = vec!["operators".into()];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    all.extend(["--data-dir".into(), app.settings.data_dir.display().to_string()]);
    tokio::task::spawn_blocking(move || std::process::Command::new(BIN).args(&all).output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_operator_key_is_revoked_at_once_by_name_or_id() {
    let app = spawn_app().await;
    let out = operators(&app, &["create", "alice", "--expires-in-days", "30"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.lines().next().unwrap().contains("(expires 20"), "{printed}");
    let alice = printed.lines().last().unwrap().trim().to_owned();
    let out = operators(&app, &["create", "break-glass", "--no-expiry"]).await;
    assert!(String::from_utf8(out.stdout).unwrap().contains("(never expires)"));
    let bob = app.operator_key("bob").await;
    assert_eq!(app.get_as(&alice, "/v1/operator/tenants").await.status(), 200);

    let out = operators(&app, &["revoke", "alice"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(app.get_as(&alice, "/v1/operator/tenants").await.status(), 401, "refused on the next request");
    assert_eq!(app.get_as(&alice, "/metrics").await.status(), 401);
    assert_eq!(app.get_as(&bob, "/v1/operator/tenants").await.status(), 200, "bob's key still works");

    // By id, from the listing; the listing never shows a secret.
    let out = operators(&app, &["ls"]).await;
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(!table.contains(&bob) && !table.contains(&alice), "{table}");
    assert!(table.lines().next().unwrap().contains("EXPIRES") && table.contains("LAST USED"), "{table}");
    let row = table.lines().find(|l| l.contains(" bob ")).expect("bob's key is listed");
    assert!(row.matches("20").count() >= 3, "created, expires and last used: {row}");
    let id = row.split_whitespace().next().unwrap().to_owned();
    assert!(operators(&app, &["revoke", &id]).await.status.success());
    assert_eq!(app.get_as(&bob, "/v1/operator/tenants").await.status(), 401);
    let out = operators(&app, &["revoke", "nobody"]).await;
    assert!(!out.status.success(), "revoking nothing is an error");

    let directory = roster_app::open_directory(&app.settings).await.unwrap();
    let log = directory.list_audit(roster_store::platform_log(), 0, 100).await.unwrap();
    let revoked: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e.action == "operator.revoked")
        .map(|e| (e.actor.as_str(), e.target.as_deref().unwrap()))
        .collect();
    assert_eq!(revoked.len(), 2, "alice's key and bob's: {log:?}");
    assert!(revoked.iter().all(|(actor, _)| *actor == "cli"));
    assert_eq!(revoked[1].1, id, "the target is the key's id");
}

#[tokio::test]
async fn reads_of_personal_data_are_audited_without_the_data() {
    let app = spawn_app().await;
    let feed = app.push(serde_json::json!([support::person("E1", "R&D")])).await;
    app.wait_feed(feed["feedId"].as_str().unwrap()).await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/people").await.status(), 200);
    }
    assert_eq!(app.get("/v1/people/E1?history=true").await.status(), 200);
    assert_eq!(app.get("/v1/events").await.status(), 200);

    let log = app.get_json("/v1/audit").await;
    let reads: Vec<(&str, Option<&str>)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str()))
        .filter(|(action, _)| action.ends_with(".listed") || action.ends_with(".read"))
        .collect();
    assert_eq!(
        reads,
        [("people.listed", None), ("person.read", Some("E1")), ("events.listed", None)],
        "a listing once an hour per credential, a person each time: {log}"
    );
    assert!(!log.to_string().contains("R&D"), "who read whom, never what was read");
    // The read of the log is the next entry.
    let log = app.get_json("/v1/audit").await;
    assert_eq!(log["items"].as_array().unwrap().last().unwrap()["action"], "audit.read");
}
