//! Tenants and keys without shell access: an operator creates, lists,
//! shows, renames and deletes tenants over HTTP (deletion after a grace
//! period, cancellable, purged by the scheduler) and mints recovery keys,
//! each audited in the platform log; keys have names; the tenant's last
//! admin key cannot be revoked.

mod support;

use std::process::Command;
use std::sync::Arc;

use reqwest::Response;
use roster_core::{Clock, ManualClock, SystemClock};
use roster_engine::{Scheduler, SchedulerConfig};
use serde_json::{Value, json};
use support::{TestApp, spawn_app};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

async fn send(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let req = app.http.request(method, app.url(path)).bearer_auth(key);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    req.send().await.unwrap()
}

/// Asserts the status and, for a problem, its `code`; returns the body.
async fn expect(res: Response, status: u16, code: Option<&str>) -> Value {
    assert_eq!(res.status(), status, "{:?}", res.url().path());
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if let Some(code) = code {
        assert_eq!(body["code"], code, "{body}");
    }
    body
}

async fn platform_actions(app: &TestApp, op: &str) -> Vec<Value> {
    let log: Value = app.get_as(op, "/v1/operator/audit?limit=1000").await.json().await.unwrap();
    log["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_operator_creates_renames_and_deletes_a_tenant_with_a_grace_period_all_audited() {
    use reqwest::Method;
    let app = spawn_app().await;
    let op = app.operator_key("platform-team").await;

    // Created over HTTP, with its first admin key, shown once.
    let created = expect(
        send(&app, &op, Method::POST, "/v1/operator/tenants", Some(json!({"name": "globex"}))).await,
        201,
        None,
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ten_"), "{created}");
    assert_eq!(created["status"], "active");
    let key = created["key"]["secret"].as_str().unwrap().to_owned();
    assert!(key.starts_with("rk_live_"));
    assert_eq!(created["key"]["name"], "admin");
    assert_eq!(app.get_as(&key, "/v1/keys").await.status(), 200, "an admin key of the new tenant");
    let again = send(&app, &op, Method::POST, "/v1/operator/tenants", Some(json!({"name": "globex"}))).await;
    expect(again, 409, Some("tenant_exists")).await;
    let bad = expect(
        send(&app, &op, Method::POST, "/v1/operator/tenants", Some(json!({"name": " "}))).await,
        400,
        None,
    )
    .await;
    assert_eq!(bad["param"], "name");
    assert_eq!(
        send(&app, &app.key, Method::POST, "/v1/operator/tenants", Some(json!({"name": "x"}))).await.status(),
        403,
        "a tenant's admin key is no operator's"
    );

    // Listed in pages, shown by id or name.
    let page =
        expect(send(&app, &op, Method::GET, "/v1/operator/tenants?limit=1", None).await, 200, None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next"].as_str().expect("a second page").to_owned();
    let path = format!("/v1/operator/tenants?limit=1&cursor={cursor}");
    let second = expect(send(&app, &op, Method::GET, &path, None).await, 200, None).await;
    let names: Vec<&str> = [&page, &second].iter().map(|p| p["items"][0]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["acme", "globex"]);
    assert_eq!(second["next"], Value::Null);
    let by_id =
        expect(send(&app, &op, Method::GET, &format!("/v1/operator/tenants/{id}"), None).await, 200, None)
            .await;
    assert_eq!(by_id["name"], "globex");
    expect(send(&app, &op, Method::GET, "/v1/operator/tenants/nobody", None).await, 404, Some("not_found"))
        .await;

    // Renamed: same id and keys.
    let renamed =
        send(&app, &op, Method::PATCH, "/v1/operator/tenants/globex", Some(json!({"name": "globex-eu"})));
    let renamed = expect(renamed.await, 200, None).await;
    assert_eq!((renamed["id"].as_str(), renamed["name"].as_str()), (Some(id.as_str()), Some("globex-eu")));
    expect(send(&app, &op, Method::GET, "/v1/operator/tenants/globex", None).await, 404, None).await;
    let taken =
        send(&app, &op, Method::PATCH, "/v1/operator/tenants/globex-eu", Some(json!({"name": "acme"})));
    expect(taken.await, 409, Some("tenant_exists")).await;
    assert_eq!(app.get_as(&key, "/v1/people").await.status(), 200);

    // Deleted only with its name repeated.
    let path = "/v1/operator/tenants/globex-eu";
    let unconfirmed =
        expect(send(&app, &op, Method::DELETE, path, None).await, 400, Some("confirmation_required")).await;
    assert_eq!(unconfirmed["param"], "confirm");
    let wrong = send(&app, &op, Method::DELETE, &format!("{path}?confirm=globex"), None).await;
    expect(wrong, 400, Some("confirmation_required")).await;
    assert_eq!(app.get_as(&key, "/v1/people").await.status(), 200, "nothing happened");
    let before = SystemClock.now();
    let deleting = send(&app, &op, Method::DELETE, &format!("{path}?confirm=globex-eu"), None).await;
    let deleting = expect(deleting, 202, None).await;
    assert_eq!(deleting["status"], "deleting");
    let delete_after =
        roster_core::Timestamp::parse_rfc3339(deleting["deleteAfter"].as_str().unwrap()).unwrap();
    let grace = delete_after.millis() - before.millis();
    assert!(
        (7 * 86_400_000 - 60_000..=7 * 86_400_000 + 60_000).contains(&grace),
        "7 days by default: {grace}"
    );
    let twice = send(&app, &op, Method::DELETE, &format!("{path}?confirm=globex-eu"), None).await;
    expect(twice, 409, Some("deletion_scheduled")).await;

    // During the grace period its keys are refused, ingest included.
    let refused = expect(app.get_as(&key, "/v1/people").await, 403, Some("tenant_deleting")).await;
    assert!(refused["detail"].as_str().unwrap().contains("scheduled for deletion"), "{refused}");
    let push = app.post_feed_as(&key, &json!({"records": [{"externalId": "E1"}]})).await;
    expect(push, 403, Some("tenant_deleting")).await;
    assert_eq!(app.get_as(&app.key, "/v1/people").await.status(), 200, "other tenants are untouched");
    let recovery = send(&app, &op, Method::POST, &format!("{path}/recovery-key"), None).await;
    expect(recovery, 409, Some("tenant_deleting")).await;

    // Cancelled: the keys work again; there is nothing left to cancel.
    let kept =
        expect(send(&app, &op, Method::POST, &format!("{path}/cancel-deletion"), None).await, 200, None)
            .await;
    assert_eq!((kept["status"].as_str(), &kept["deleteAfter"]), (Some("active"), &Value::Null));
    assert_eq!(app.get_as(&key, "/v1/people").await.status(), 200);
    let none = send(&app, &op, Method::POST, &format!("{path}/cancel-deletion"), None).await;
    expect(none, 409, Some("deletion_not_cancellable")).await;

    // A recovery key: admin, named, expiring; its secret is never logged.
    let recovery = send(&app, &op, Method::POST, &format!("{path}/recovery-key"), None).await;
    let recovery = expect(recovery, 201, None).await;
    let secret = recovery["secret"].as_str().unwrap().to_owned();
    assert_eq!(recovery["name"], "recovery");
    assert!(recovery["scopes"].as_array().unwrap().contains(&json!("admin")));
    assert!(recovery["expiresAt"].is_string(), "{recovery}");
    assert_eq!(app.get_as(&secret, "/v1/keys").await.status(), 200);

    let log = platform_actions(&app, &op).await;
    let mine: Vec<&str> = log
        .iter()
        .filter(|e| {
            e["actor"] == "operator:platform-team" && e["target"].as_str().is_some_and(|t| t.contains(&id))
        })
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        mine,
        [
            "tenant.created",
            "tenant.shown",
            "tenant.renamed",
            "tenant.deletion_scheduled",
            "tenant.deletion_cancelled",
            "key.recovery_minted"
        ]
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&secret) && !text.contains(&key), "no secret in the audit log");
    // The tenant's own log says who deleted it.
    let own: Value = app.get_as(&secret, "/v1/audit?limit=1000").await.json().await.unwrap();
    assert!(
        own["items"].as_array().unwrap().iter().any(|e| {
            e["action"] == "tenant.deletion_scheduled" && e["actor"] == "operator:platform-team"
        })
    );
}

#[tokio::test]
async fn after_the_grace_period_the_scheduler_purges_the_tenant_and_the_platform_log_keeps_the_record() {
    use reqwest::Method;
    let app = spawn_app().await;
    let op = app.operator_key("platform-team").await;
    let created =
        send(&app, &op, Method::POST, "/v1/operator/tenants", Some(json!({"name": "globex"}))).await;
    let created = expect(created, 201, None).await;
    let (id, key) =
        (created["id"].as_str().unwrap().to_owned(), created["key"]["secret"].as_str().unwrap().to_owned());
    let feed = app.post_feed_as(&key, &json!({"records": [support::person("E1", "Sales")]})).await;
    let feed: Value = expect(feed, 202, None).await;
    let feed_id = feed["feedId"].as_str().unwrap().to_owned();
    // Applied before the deletion (a tenant's key cannot read it after).
    for _ in 0..200 {
        let f: Value = app.get_as(&key, &format!("/v1/feeds/{feed_id}")).await.json().await.unwrap();
        if f["status"].as_str().is_some_and(|s| s.starts_with("completed")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(app.get_as(&key, "/v1/people/E1").await.status(), 200);
    let hook = json!({"url": "https://hooks.example.com/x", "description": "onboarding"});
    expect(send(&app, &key, Method::POST, "/v1/endpoints", Some(hook)).await, 201, None).await;
    expect(
        send(&app, &op, Method::DELETE, "/v1/operator/tenants/globex?confirm=globex", None).await,
        202,
        None,
    )
    .await;

    // A sweep during the grace period keeps it; one after purges it.
    let directory = roster_app::open_directory(&app.settings).await.unwrap();
    let sweep = |days: i64| {
        let clock = Arc::new(ManualClock::new(SystemClock.now().plus_millis(days * 86_400_000)));
        Scheduler::new(directory.clone(), clock, SchedulerConfig::default())
    };
    assert_eq!(sweep(6).run_once().await.unwrap().purged_tenants, 0);
    expect(send(&app, &op, Method::GET, "/v1/operator/tenants/globex", None).await, 200, None).await;
    assert_eq!(sweep(8).run_once().await.unwrap().purged_tenants, 1);

    expect(send(&app, &op, Method::GET, "/v1/operator/tenants/globex", None).await, 404, None).await;
    expect(app.get_as(&key, "/v1/people").await, 401, None).await;
    let tenant_id: roster_core::TenantId = id.trim_start_matches("ten_").parse().unwrap();
    let e1 = roster_core::ExternalId::parse("E1").unwrap();
    assert!(directory.get_person(tenant_id, &e1).await.unwrap().is_none(), "its people are gone");
    assert!(directory.list_feeds(tenant_id, 10, None).await.unwrap().items.is_empty(), "its feeds are gone");
    assert!(directory.list_events(tenant_id, 0, 10).await.unwrap().is_empty(), "its events are gone");
    assert!(directory.list_endpoints(tenant_id).await.unwrap().is_empty(), "its endpoints are gone");
    assert!(directory.list_api_keys(tenant_id).await.unwrap().is_empty(), "its keys are gone");
    let log = platform_actions(&app, &op).await;
    let of_it: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e["target"].as_str() == Some(id.as_str()))
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        of_it,
        [
            ("tenant.created", "operator:platform-team"),
            ("tenant.deletion_scheduled", "operator:platform-team"),
            ("tenant.shown", "operator:platform-team"),
            ("tenant.purged", "scheduler")
        ]
    );
    assert_eq!(app.get_as(&app.key, "/v1/people").await.status(), 200, "acme is untouched");
}

#[tokio::test]
async fn keys_have_names_and_the_last_admin_key_is_not_revoked() {
    use reqwest::Method;
    let app = spawn_app().await;
    let keys: Value = app.get_json("/v1/keys").await;
    let first = keys["items"][0].clone();
    assert_eq!(first["name"], "admin", "the first key of `tenants create`");
    let first_id = first["id"].as_str().unwrap().to_owned();

    let unnamed = send(&app, &app.key, Method::POST, "/v1/keys", Some(json!({"scopes": ["read"]}))).await;
    assert_eq!(expect(unnamed, 400, Some("invalid_parameter")).await["param"], "name");
    for bad in ["", "has space", "x/y", &"a".repeat(65)] {
        let res =
            send(&app, &app.key, Method::POST, "/v1/keys", Some(json!({"name": bad, "scopes": ["read"]})));
        assert_eq!(expect(res.await, 400, None).await["param"], "name", "{bad:?}");
    }
    let ingest = send(
        &app,
        &app.key,
        Method::POST,
        "/v1/keys",
        Some(json!({"name": "workday-prod", "scopes": ["ingest"]})),
    );
    let ingest = expect(ingest.await, 201, None).await;
    assert_eq!(ingest["name"], "workday-prod");
    let listed: Value = app.get_json("/v1/keys").await;
    let names: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["workday-prod", "admin"], "newest first, with their names");

    // The only admin key stays; an ingest key is no admin credential.
    let path = format!("/v1/keys/{first_id}");
    let refused =
        expect(send(&app, &app.key, Method::DELETE, &path, None).await, 409, Some("last_admin_key")).await;
    assert!(refused["detail"].as_str().unwrap().contains("create another admin key"), "{refused}");
    assert_eq!(app.get("/v1/keys").await.status(), 200, "it still works");
    let second = send(
        &app,
        &app.key,
        Method::POST,
        "/v1/keys",
        Some(json!({"name": "ops-admin", "scopes": ["admin"]})),
    );
    let second = expect(second.await, 201, None).await;
    expect(send(&app, &app.key, Method::DELETE, &path, None).await, 200, None).await;
    let secret = second["secret"].as_str().unwrap().to_owned();
    let own = format!("/v1/keys/{}", second["id"].as_str().unwrap());
    expect(send(&app, &secret, Method::DELETE, &own, None).await, 409, Some("last_admin_key")).await;
    assert_eq!(app.get_as(&secret, "/v1/keys").await.status(), 200);
}

/// Runs the CLI against the app with `key`; asserts it succeeded.
async fn roster(app: &TestApp, key: &str, args: &[&str]) -> String {
    let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    all.extend(["--server".into(), app.base.clone()]);
    let key = key.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN).args(&all).env("ROSTER_KEY", key).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "roster {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn the_cli_manages_tenants_with_an_operator_key() {
    let app = spawn_app().await;
    let op = app.operator_key("platform-team").await;
    app.new_tenant("globex").await;

    let table = roster(&app, &op, &["tenants", "ls"]).await;
    let header = table.lines().next().unwrap();
    assert!(header.contains("NAME") && header.contains("STATUS"), "{table}");
    assert!(table.lines().any(|l| l.contains("globex") && l.contains("active")), "{table}");
    let json: Value = serde_json::from_str(&roster(&app, &op, &["tenants", "ls", "--json"]).await).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);

    roster(&app, &op, &["tenants", "rename", "globex", "globex-eu"]).await;
    let shown = roster(&app, &op, &["tenants", "show", "globex-eu"]).await;
    assert!(shown.contains("globex-eu") && shown.contains("active"), "{shown}");

    let out = roster(&app, &op, &["tenants", "delete", "globex-eu", "--confirm", "globex-eu"]).await;
    assert!(out.contains("scheduled for deletion"), "{out}");
    let shown: Value =
        serde_json::from_str(&roster(&app, &op, &["tenants", "show", "globex-eu", "--json"]).await).unwrap();
    assert_eq!(shown["status"], "deleting");
    roster(&app, &op, &["tenants", "cancel-delete", "globex-eu"]).await;

    let out = roster(&app, &op, &["tenants", "recovery-key", "globex-eu", "--name", "break-glass"]).await;
    let secret = out.lines().last().unwrap().trim().to_owned();
    assert!(secret.starts_with("rk_live_"), "{out}");
    let keys: Value = app.get_as(&secret, "/v1/keys").await.json().await.unwrap();
    assert!(keys["items"].as_array().unwrap().iter().any(|k| k["name"] == "break-glass"));

    // A wrong confirmation deletes nothing and says why.
    let mut all: Vec<String> =
        ["tenants", "delete", "globex-eu", "--confirm", "globex"].iter().map(|s| (*s).to_owned()).collect();
    all.extend(["--server".into(), app.base.clone()]);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN).args(&all).env("ROSTER_KEY", op).output().unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("confirmation_required"));
    assert_eq!(app.get_as(&secret, "/v1/people").await.status(), 200);
}
