//! API keys and the audit log over HTTP and the CLI: scoped keys, rotation
//! without downtime, immediate revocation, tenant isolation, and an audit
//! entry for each administrative action.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::{TestApp, spawn_app};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

async fn create_key(app: &TestApp, admin: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url("/v1/keys")).bearer_auth(admin).json(&body).send().await.unwrap()
}

async fn revoke(app: &TestApp, admin: &str, id: &str, request_id: &str) -> reqwest::Response {
    app.http
        .delete(app.url(&format!("/v1/keys/{id}")))
        .bearer_auth(admin)
        .header("x-request-id", request_id)
        .send()
        .await
        .unwrap()
}

/// The audit log's administrative entries made through the API (without
/// the daily `key.used`, nor the tenant's creation by the CLI).
async fn audit(app: &TestApp, key: &str) -> Vec<Value> {
    let res = app.get_as(key, "/v1/audit").await;
    assert_eq!(res.status(), 200);
    let items = res.json::<Value>().await.unwrap()["items"].as_array().unwrap().clone();
    items.into_iter().filter(|e| e["action"] != "key.used" && e["actor"] != "cli").collect()
}

/// `roster <args> --server .. --key ..`, off the runtime's thread (the server
/// it talks to runs on it).
async fn roster(app: &TestApp, key: &str, args: &[&str]) -> String {
    let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    all.extend(["--server".into(), app.base.clone(), "--key".into(), key.to_owned()]);
    let out =
        tokio::task::spawn_blocking(move || Command::new(BIN).args(&all).output().unwrap()).await.unwrap();
    assert!(out.status.success(), "roster {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_scoped_key_rotates_without_downtime_and_revocation_is_immediate() {
    let app = spawn_app().await;
    let res = create_key(&app, &app.key, json!({"name": "test-key", "scopes": ["ingest"]})).await;
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    let first_secret = first["secret"].as_str().unwrap().to_owned();
    assert!(first_secret.starts_with("rk_live_"), "greppable when leaked");
    assert_eq!(first["scopes"], json!(["ingest"]));

    // An ingest key pushes, and cannot read people or manage keys.
    assert_eq!(
        app.post_feed_as(&first_secret, &json!({"records": [{"externalId": "E1"}]})).await.status(),
        202
    );
    assert_eq!(app.get_as(&first_secret, "/v1/people").await.status(), 403);
    assert_eq!(app.get_as(&first_secret, "/v1/keys").await.status(), 403);

    // Listing never shows a secret again.
    let listed = app.get_json("/v1/keys").await;
    let text = listed.to_string();
    assert!(text.contains(first["id"].as_str().unwrap()));
    assert!(!text.contains(&first_secret), "the secret is shown once only");
    assert!(text.contains(&first_secret[..14]), "the prefix identifies it");

    // Rotation: a second key; both work until the first is revoked.
    let second: Value = create_key(&app, &app.key, json!({"name": "test-key", "scopes": ["ingest"]}))
        .await
        .json()
        .await
        .unwrap();
    let second_secret = second["secret"].as_str().unwrap();
    for key in [first_secret.as_str(), second_secret] {
        assert_eq!(app.post_feed_as(key, &json!({"records": [{"externalId": "E2"}]})).await.status(), 202);
    }
    let res = revoke(&app, &app.key, first["id"].as_str().unwrap(), "rotate-1").await;
    assert_eq!(res.status(), 200);
    assert!(support::is_time(&res.json::<Value>().await.unwrap()["revokedAt"]));
    let refused = app.post_feed_as(&first_secret, &json!({"records": [{"externalId": "E3"}]})).await;
    assert_eq!(refused.status(), 401, "revoked on the next request");
    assert_eq!(
        app.post_feed_as(second_secret, &json!({"records": [{"externalId": "E3"}]})).await.status(),
        202
    );

    // Each administrative action is in the audit log, with who and the request id.
    let log = audit(&app, &app.key).await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["key.created", "key.created", "key.revoked"]);
    let revoked = &log[2];
    assert_eq!(revoked["target"], first["id"]);
    assert_eq!(revoked["clientRequestId"], "rotate-1", "the client's id, beside the server's");
    assert!(revoked["requestId"].as_str().is_some_and(|id| id != "rotate-1"));
    let keys: Value = app.get_json("/v1/keys").await;
    let ids: Vec<&Value> = keys["items"].as_array().unwrap().iter().map(|k| &k["id"]).collect();
    assert!(
        revoked["actor"].as_str().unwrap().starts_with("key_") && ids.contains(&&revoked["actor"]),
        "the actor is a key as `keys ls` shows it: {revoked}"
    );
    assert!(!revoked["actor"].as_str().unwrap().contains(&app.key[8..]), "never the secret");

    // Credential use: each key's first use of the day is in the log, once.
    let all: Value = app.get_json("/v1/audit").await;
    let used: Vec<&Value> =
        all["items"].as_array().unwrap().iter().filter(|e| e["action"] == "key.used").collect();
    assert_eq!(used.len(), 3, "the admin key and both new keys, once each: {all}");
    for e in used {
        assert!(ids.contains(&&e["target"]) && e["actor"] == e["target"], "{e}");
    }
}

#[tokio::test]
async fn bad_key_requests_are_refused_with_the_field_named() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"name": "test-key", "scopes": ["root"]}), "scopes"),
        (json!({"name": "test-key", "scopes": []}), "scopes"),
        (json!({"name": "test-key", "scopes": ["read"], "expiresAt": "2001-01-01T00:00:00Z"}), "expiresAt"),
        (json!({"name": "test-key", "scopes": ["read"], "expiresAt": "tomorrow"}), "expiresAt"),
    ] {
        let res = create_key(&app, &app.key, body.clone()).await;
        assert_eq!(res.status(), 400, "{body}");
        let problem: Value = res.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().contains(field), "{problem}");
    }
    assert!(audit(&app, &app.key).await.is_empty(), "nothing was created, nothing is logged");
}

#[tokio::test]
async fn another_tenant_cannot_see_revoke_or_read_the_audit_of_a_key() {
    let app = spawn_app().await;
    let other = app.new_tenant("globex").await;
    let mine: Value = create_key(&app, &app.key, json!({"name": "test-key", "scopes": ["read"]}))
        .await
        .json()
        .await
        .unwrap();
    let id = mine["id"].as_str().unwrap();
    assert_eq!(revoke(&app, &other, id, "x").await.status(), 404, "as if it did not exist");
    assert!(!app.get_as(&other, "/v1/keys").await.text().await.unwrap().contains(id));
    assert!(audit(&app, &other).await.is_empty(), "globex sees none of acme's entries");
    assert_eq!(app.get_as(mine["secret"].as_str().unwrap(), "/v1/people").await.status(), 200, "still valid");
}

#[tokio::test]
async fn admin_actions_on_sources_and_the_dlq_are_audited() {
    let app = spawn_app().await;
    let res = app.put_json("/v1/sources/workday", &json!({"validation": "strict"})).await;
    assert_eq!(res.status(), 200);
    let res = app.http.delete(app.url("/v1/dlq")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let log = audit(&app, &app.key).await;
    let got: Vec<(String, String)> = log
        .iter()
        .map(|e| (e["action"].as_str().unwrap().into(), e["target"].as_str().unwrap().into()))
        .collect();
    assert_eq!(got, [("source.updated".into(), "workday".into()), ("dlq.purged".into(), "all (0)".into())]);
    assert!(
        log.iter().all(|e| e["requestId"].is_string()),
        "the server's request id when the client sent none"
    );
}

#[tokio::test]
async fn the_cli_creates_lists_and_revokes_keys_and_reads_the_audit_log() {
    let app = spawn_app().await;
    let out =
        roster(&app, &app.key, &["keys", "create", "--name", "workday-prod", "--scopes", "read,ingest"])
            .await;
    let secret = out.lines().last().unwrap().trim().to_owned();
    assert!(secret.starts_with("rk_live_"), "{out}");
    assert_eq!(app.get_as(&secret, "/v1/people").await.status(), 200);

    let table = roster(&app, &app.key, &["keys", "ls"]).await;
    let row = table.lines().find(|l| l.contains(&secret[..14])).expect("the new key is listed");
    let id = row.split_whitespace().next().unwrap().to_owned();
    assert_eq!(row.split_whitespace().nth(1), Some("workday-prod"), "its name is listed: {table}");
    assert!(table.lines().next().unwrap().contains("NAME"), "{table}");
    assert!(!table.contains(&secret), "ls never prints a secret");

    roster(&app, &app.key, &["keys", "revoke", &id]).await;
    assert_eq!(app.get_as(&secret, "/v1/people").await.status(), 401);

    let log: Value = serde_json::from_str(&roster(&app, &app.key, &["audit", "ls", "--json"]).await).unwrap();
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "tenant.created",
            "key.created",
            "key.used",
            "key.created",
            "key.used",
            "people.listed",
            "key.revoked"
        ],
        "the tenant and its first key made by the CLI, then each key's first use today too, and the read of people"
    );
}

/// Posts with the admin key and a request id; asserts 200.
async fn admin_post(app: &TestApp, path: &str, request_id: &str) -> Value {
    let res =
        app.http.post(app.url(path)).bearer_auth(&app.key).header("x-request-id", request_id).send().await;
    let res = res.unwrap();
    assert_eq!(res.status(), 200, "POST {path}");
    res.json().await.unwrap()
}

/// An empty full snapshot after people exist: halted until decided.
async fn halted_feed(app: &TestApp) -> String {
    let res = app.post_feed(&json!({"mode": "full", "records": []})).await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_feed(&id).await["status"], "halted");
    id
}

#[tokio::test]
async fn deciding_feeds_mapping_and_redriving_are_audited_with_actor_target_and_request_id() {
    let app = spawn_app().await;
    let feed = app.push(json!([support::person("E1", "Sales"), support::person("E2", "Sales")])).await;
    app.wait_feed(feed["feedId"].as_str().unwrap()).await;

    let rejected = halted_feed(&app).await;
    assert_eq!(
        admin_post(&app, &format!("/v1/feeds/{rejected}/reject"), "req-reject").await["status"],
        "rejected"
    );
    let approved = halted_feed(&app).await;
    assert_eq!(
        admin_post(&app, &format!("/v1/feeds/{approved}/approve"), "req-approve").await["status"],
        "completed"
    );

    let profile =
        json!({"fields": {"externalId": {"column": "Employee ID"}, "name.givenName": {"column": "First"}}});
    let res = app
        .http
        .put(app.url("/v1/sources/workday/mapping"))
        .bearer_auth(&app.key)
        .header("x-request-id", "req-mapping")
        .json(&profile)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // A dead letter of the tenant, redriven by its id.
    let queue = roster_app::Adapters::open(&app.settings).await.unwrap().queue;
    let poison = roster_queue::OutgoingMessage {
        id: "poison-audit".into(),
        group_id: "g".into(),
        tenant: app.tenant_id.to_string(),
        body: b"{}".to_vec(),
        delay: std::time::Duration::ZERO,
    };
    queue.send_batch(vec![poison]).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.get_json("/v1/dlq").await["items"].as_array().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "not dead-lettered");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(admin_post(&app, "/v1/dlq/poison-audit/redrive", "req-redrive").await["redriven"], 1);

    let log = audit(&app, &app.key).await;
    let got: Vec<(&str, &str, &str)> = log
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
                e["clientRequestId"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("feed.rejected", rejected.as_str(), "req-reject"),
            ("feed.approved", approved.as_str(), "req-approve"),
            ("mapping.updated", "workday", "req-mapping"),
            ("dlq.redriven", "dl_poison-audit", "req-redrive"),
        ]
    );
    let admin_id = app.get_json("/v1/keys").await["items"][0]["id"].as_str().unwrap().to_owned();
    for e in &log {
        // The actor names the key by its id, as `GET /v1/keys` shows it.
        assert_eq!(e["actor"], admin_id.as_str(), "the admin key did each: {e}");
        assert!(support::is_time(&e["at"]), "{e}");
    }
}
