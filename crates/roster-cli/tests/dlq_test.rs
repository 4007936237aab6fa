//! Testing the dead-letter path in staging (`POST /v1/dlq/test`, `roster dlq
//! inject`): the test message is a dead letter on arrival, raises the DLQ
//! alarm, comes back on redrive, goes on purge — and never touches the
//! directory.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{TestApp, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

async fn dead_letters(app: &TestApp) -> Vec<Value> {
    app.get_json("/v1/dlq").await["items"].as_array().unwrap().clone()
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_message_walks_the_dead_letter_path_without_touching_the_directory() {
    let app = spawn_app_with(|s| s.alarm_interval_secs = 1).await;
    let op = app.operator_key("ops").await;
    let alarm = async |app: &TestApp| {
        let all = app.get_as(&op, "/v1/alarms").await.json::<Value>().await.unwrap();
        let items = all["items"].as_array().cloned().or(all.as_array().cloned()).unwrap_or_default();
        items
            .into_iter()
            .find(|a| a["name"] == "dlq_depth")
            .map(|a| a["state"].clone())
            .unwrap_or(Value::Null)
    };

    // A read key may not inject.
    let res = app.http.post(app.url("/v1/keys")).bearer_auth(&app.key);
    let read: Value =
        res.json(&serde_json::json!({"scopes": ["read"]})).send().await.unwrap().json().await.unwrap();
    let read = read["secret"].as_str().unwrap().to_owned();
    let res = app.http.post(app.url("/v1/dlq/test")).bearer_auth(&read).send().await.unwrap();
    assert_eq!(res.status(), 403);

    let base = app.base.clone();
    let key = app.key.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN).args(["dlq", "inject", "--server", &base]).env("ROSTER_KEY", &key).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(id.starts_with("dl_"), "the dead letter's id: {id}");

    wait_for("the test dead letter", async || dead_letters(&app).await.iter().any(|d| d["id"] == id)).await;
    let listed = dead_letters(&app).await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["reason"].as_str().unwrap().contains("test message"), "{}", listed[0]);
    assert_eq!(listed[0]["receiveCount"], 1, "dead-lettered on arrival, not after retries");
    wait_for("the DLQ alarm", async || alarm(&app).await == "ALARM").await;

    // Redrive sends it round again: back in the DLQ with a fresh count.
    let res = app.post_empty(&format!("/v1/dlq/{id}/redrive")).await;
    assert_eq!(res.status(), 200);
    wait_for("the redriven test message to come back", async || {
        dead_letters(&app).await.iter().any(|d| d["id"] == id && d["receiveCount"] == 1)
    })
    .await;
    // Purge removes it, and the alarm clears.
    let res = app.http.delete(app.url("/v1/dlq")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["purged"], 1);
    wait_for("the DLQ alarm to clear", async || alarm(&app).await == "OK").await;

    // Nothing of it reached the directory: no person, no feed, no event.
    assert!(app.get_json("/v1/people").await["items"].as_array().unwrap().is_empty());
    assert!(app.get_json("/v1/feeds").await["items"].as_array().unwrap().is_empty());
    assert!(app.events().await.is_empty());
    let audit = app.get_json("/v1/audit").await;
    assert!(
        audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "dlq.tested" && e["target"] == id)
    );
}
