//! One convention everywhere, over the real server and the `roster` binary:
//! times are RFC 3339 UTC strings, every list pages as `{items, next}` with
//! opaque cursors, ids carry their type prefix (and are taken without it),
//! every error is a problem with `code`, `param` and the request id.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::{TestApp, is_time, person, spawn_app};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// Every member that holds a time (`...At`, `at`, `since`), anywhere in `v`.
fn times<'a>(v: &'a Value, path: &str, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{path}.{k}");
                if k.ends_with("At") || k == "at" || k == "since" {
                    out.push((p.clone(), v));
                }
                times(v, &p, out);
            }
        }
        Value::Array(items) => {
            items.iter().enumerate().for_each(|(i, v)| times(v, &format!("{path}[{i}]"), out))
        }
        _ => {}
    }
}

/// A tenant with something in every list: people and their history, feeds,
/// events, a key, an endpoint, a source, a dead letter, audit entries.
async fn busy_app() -> (TestApp, String) {
    let app = spawn_app().await;
    let feed = app.push(json!([person("E1", "R&D"), person("E2", "Sales"), person("E3", "Ops")])).await;
    let feed_id = feed["feedId"].as_str().unwrap().to_owned();
    app.wait_feed(&feed_id).await;
    let res = app.http.post(app.url("/v1/keys")).bearer_auth(&app.key);
    let res = res
        .json(&json!({"name": "test-key", "scopes": ["read"], "expiresAt": "2099-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = app.put_json("/v1/sources/workday", &json!({"validation": "partial"})).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let res = app.http.post(app.url("/v1/endpoints")).bearer_auth(&app.key);
    let res = res.json(&json!({"url": "https://hooks.example.com/roster"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    (app, feed_id)
}

#[tokio::test]
async fn every_time_in_every_output_is_rfc3339_utc() {
    let (app, feed_id) = busy_app().await;
    let op = app.operator_key("ops").await;
    let mut outputs = vec![
        app.get_json("/v1/people").await,
        app.get_json("/v1/people/E1?history=true").await,
        app.get_json("/v1/feeds").await,
        app.get_json(&format!("/v1/feeds/{feed_id}")).await,
        app.get_json("/v1/events").await,
        app.get_json("/v1/keys").await,
        app.get_json("/v1/endpoints").await,
        app.get_json("/v1/sources").await,
        app.get_json("/v1/audit").await,
    ];
    for path in ["/v1/operator/tenants", "/v1/operator/audit", "/v1/alarms"] {
        outputs.push(app.get_as(&op, path).await.json().await.unwrap());
    }
    let mut found = Vec::new();
    for o in &outputs {
        times(o, "", &mut found);
    }
    let names: std::collections::BTreeSet<&str> =
        found.iter().map(|(p, _)| p.rsplit('.').next().unwrap()).collect();
    for expected in ["createdAt", "updatedAt", "occurredAt", "expiresAt", "lastUsedAt", "at"] {
        assert!(names.contains(expected), "{expected} is among the outputs: {names:?}");
    }
    for (path, v) in &found {
        assert!(v.is_null() || is_time(v), "{path} = {v}");
    }
    // The CLI prints them the same.
    let out = roster(&app, &["keys", "ls"]).await;
    assert!(out.contains("2099-01-01T00:00:00.000Z"), "{out}");
}

#[tokio::test]
async fn every_list_pages_with_limit_and_an_opaque_cursor() {
    let (app, _) = busy_app().await;
    // A second tenant key, endpoint and source, so each list has two pages.
    let res = app.http.post(app.url("/v1/keys")).bearer_auth(&app.key);
    assert_eq!(
        res.json(&json!({"name": "test-key", "scopes": ["ingest"]})).send().await.unwrap().status(),
        201
    );
    let res = app.http.post(app.url("/v1/endpoints")).bearer_auth(&app.key);
    let res = res.json(&json!({"url": "https://hooks2.example.com/roster"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(app.put_json("/v1/sources/bamboo", &json!({})).await.status(), 200);
    let second = app.push(json!([person("E4", "R&D")])).await;
    app.wait_feed(second["feedId"].as_str().unwrap()).await;

    for list in
        ["/v1/people", "/v1/feeds", "/v1/events", "/v1/keys", "/v1/endpoints", "/v1/sources", "/v1/audit"]
    {
        let whole = app.get_json(list).await;
        assert_eq!(whole.as_object().unwrap().len(), 2, "{list}: items and next only: {whole}");
        assert!(whole["next"].is_null(), "{list}: one page holds all");
        let all = whole["items"].as_array().unwrap().clone();
        assert!(all.len() >= 2, "{list} has two pages at limit=1");
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("{list}?limit=1"),
                Some(c) => format!("{list}?limit=1&cursor={c}"),
            };
            let page = app.get_json(&path).await;
            paged.extend(page["items"].as_array().unwrap().clone());
            match page["next"].as_str() {
                Some(next) => {
                    assert!(!next.contains(':') && !next.contains('='), "{list}: opaque, url-safe: {next}");
                    cursor = Some(next.to_owned());
                }
                None => break,
            }
            // Reading the audit log is audited: it grows as it is read.
            if list == "/v1/audit" && paged.len() >= all.len() {
                break;
            }
            assert!(paged.len() <= all.len(), "{list}: pages end");
        }
        assert!(paged.len() >= all.len(), "{list}: the pages miss items");
        assert_eq!(paged[..all.len()], all[..], "{list}: the pages hold every item once, in order");
    }
    // A cursor of one list is refused by another, naming `cursor`.
    let people_next = app.get_json("/v1/people?limit=1").await["next"].as_str().unwrap().to_owned();
    let res = app.get(&format!("/v1/feeds?cursor={people_next}")).await;
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(
        (problem["code"].as_str(), problem["param"].as_str()),
        (Some("invalid_cursor"), Some("cursor"))
    );
}

#[tokio::test]
async fn ids_carry_their_type_and_are_taken_with_or_without_it() {
    let (app, feed_id) = busy_app().await;
    assert!(feed_id.starts_with("feed_"), "{feed_id}");
    let bare = feed_id.strip_prefix("feed_").unwrap();
    let by_prefixed = app.get_json(&format!("/v1/feeds/{feed_id}")).await;
    assert_eq!(by_prefixed["id"], feed_id.as_str());
    assert!(by_prefixed["tenantId"].as_str().unwrap().starts_with("ten_"), "{by_prefixed}");
    assert_eq!(app.get_json(&format!("/v1/feeds/{bare}")).await, by_prefixed, "taken bare too");

    let person = app.get_json("/v1/people/E1?history=true").await;
    assert_eq!(person["lastFeedId"], feed_id.as_str());
    assert_eq!(person["history"][0]["feedId"], feed_id.as_str());
    let event = &app.events().await[0];
    assert!(event["id"].as_str().unwrap().starts_with("evt_"), "{event}");
    assert_eq!(event["feedId"], feed_id.as_str());

    let keys = app.get_json("/v1/keys").await;
    let read_key = keys["items"].as_array().unwrap().iter().find(|k| k["scopes"] == json!(["read"])).unwrap();
    let key_id = read_key["id"].as_str().unwrap();
    assert!(key_id.starts_with("key_"), "{key_id}");
    let endpoints = app.get_json("/v1/endpoints").await;
    let ep_id = endpoints["items"][0]["id"].as_str().unwrap().to_owned();
    assert!(ep_id.starts_with("ep_"), "{ep_id}");
    let dead = app.get_json(&format!("/v1/endpoints/{ep_id}/dead-letters")).await;
    assert_eq!(dead["items"], json!([]));
    assert!(dead.get("next").is_some());
    let bare_ep = ep_id.strip_prefix("ep_").unwrap();
    assert_eq!(app.get_json(&format!("/v1/endpoints/{bare_ep}/dead-letters")).await, dead);

    // Revoking by the bare id, disabling by the prefixed one.
    let res = app.http.delete(app.url(&format!("/v1/keys/{}", key_id.strip_prefix("key_").unwrap())));
    let revoked: Value = res.bearer_auth(&app.key).send().await.unwrap().json().await.unwrap();
    assert_eq!(revoked["id"], key_id);
    let res = app.http.delete(app.url(&format!("/v1/endpoints/{ep_id}"))).bearer_auth(&app.key);
    let disabled: Value = res.send().await.unwrap().json().await.unwrap();
    assert_eq!(disabled["id"], ep_id.as_str());
    // The audit log names them as outputs do.
    let audit = app.get_json("/v1/audit").await.to_string();
    assert!(audit.contains(&format!("\"target\":\"{key_id}\"")), "{audit}");
    assert!(audit.contains(&format!("\"target\":\"{ep_id}\"")), "{audit}");
    // Another kind's id names nothing here.
    let res = app.get(&format!("/v1/feeds/key_{bare}")).await;
    assert_eq!(res.status(), 404);

    // The CLI shows and takes the same ids.
    let out = roster(&app, &["feeds", "ls"]).await;
    assert!(out.contains(&feed_id), "{out}");
    let out = roster(&app, &["feeds", "show", bare]).await;
    assert!(out.contains(&format!("\"id\": \"{feed_id}\"")), "{out}");
}

#[tokio::test]
async fn errors_are_problems_with_code_param_and_request_id() {
    let app = spawn_app().await;
    let res = app.http.get(app.url("/v1/people?limit=many")).bearer_auth(&app.key);
    let res = res.header("x-request-id", "conv-test-1").send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let p: Value = res.json().await.unwrap();
    assert_eq!((p["code"].as_str(), p["param"].as_str()), (Some("invalid_parameter"), Some("limit")), "{p}");
    // The request id is the server's (the client's rides beside it, in the logs).
    assert_eq!(p["requestId"], res_id.as_str(), "{p}");
    assert_eq!(p["type"], "about:blank");

    let res = app.get("/v1/feeds?after=3").await;
    let p: Value = res.json().await.unwrap();
    assert_eq!((p["code"].as_str(), p["param"].as_str()), (Some("unknown_parameter"), Some("after")), "{p}");

    let res =
        app.post_raw("?mode=full", "application/json", r#"{"mode":"delta","records":[{"externalId":"E1"}]}"#);
    let p: Value = res.await.json().await.unwrap();
    assert_eq!((p["code"].as_str(), p["param"].as_str()), (Some("mode_conflict"), Some("mode")), "{p}");
    assert_eq!(app.get_json("/v1/feeds").await["items"], json!([]), "nothing was stored");

    let res =
        app.http.post(app.url("/v1/keys")).bearer_auth(&app.key).body("scopes=read").send().await.unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(res.headers()["content-type"], "application/problem+json");

    // The CLI tells the code and the request id.
    let out = run(&app, &["feeds", "show", "feed_nope"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not_found") && err.contains("request id"), "{err}");
}

/// `roster` as a user runs it, against the app: its exit status, stdout
/// and stderr (off the runtime's thread: the server it asks runs on that thread).
async fn run(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(["--server".into(), app.base.clone(), "--key".into(), app.key.clone()]);
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&all).output().unwrap()).await.unwrap()
}

/// The stdout of a `roster` command that succeeds.
async fn roster(app: &TestApp, args: &[&str]) -> String {
    let out = run(app, args).await;
    assert!(out.status.success(), "roster {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
