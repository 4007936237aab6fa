//! Filters on the lists, over the real server and the `roster` binary:
//! people by status, source, department, e-mail and last change; events by
//! type, person and feed; feeds by source and status; deleting a source.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::{TestApp, person, spawn_app};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["externalId"].as_str().or(p["id"].as_str()).unwrap_or_default().to_owned())
        .collect()
}

async fn feed(app: &TestApp, source: &str, records: Value) -> String {
    let res = app
        .http
        .post(app.url(&format!("/integrations/hr-feed?source={source}")))
        .bearer_auth(&app.key)
        .json(&json!({"mode": "delta", "records": records}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    let id = body["feedId"].as_str().unwrap().to_owned();
    app.wait_feed(&id).await;
    id
}

async fn problem(app: &TestApp, path: &str) -> Value {
    let res = app.get(path).await;
    assert_eq!(res.status(), 400, "GET {path}");
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_events_and_feeds_are_filtered_and_sources_deleted() {
    let app = spawn_app().await;
    let hr =
        feed(&app, "workday", json!([person("E1", "Sales"), person("E2", "R&D"), person("E3", "Sales")]))
            .await;
    let mut leaver = person("E4", "Sales");
    leaver["employmentStatus"] = "terminated".into();
    let other = feed(&app, "bamboohr", json!([leaver, person("E5", "Ops")])).await;
    // Just after the last write of the second feed.
    let mut last_write = 0;
    for id in ["E1", "E2", "E3", "E4", "E5"] {
        let at = app.get_json(&format!("/v1/people/{id}")).await["updatedAt"].as_str().unwrap().to_owned();
        last_write = last_write.max(roster_core::Timestamp::parse_rfc3339(&at).unwrap().0);
    }
    let before_move = roster_core::Timestamp(last_write + 1).to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let mover = feed(&app, "workday", json!([person("E2", "Sales")])).await;

    assert_eq!(ids(&app.get_json("/v1/people?department=Sales").await), ["E1", "E2", "E3", "E4"]);
    assert_eq!(ids(&app.get_json("/v1/people?department=Sales&status=inactive").await), ["E4"]);
    assert_eq!(ids(&app.get_json("/v1/people?source=bamboohr").await), ["E4", "E5"]);
    assert_eq!(ids(&app.get_json("/v1/people?email=E3%40EXAMPLE.com").await), ["E3"]);
    let since = format!("/v1/people?updatedSince={}", before_move.replace(':', "%3A"));
    assert_eq!(ids(&app.get_json(&since).await), ["E2"], "only E2 changed after the second feed");
    // Paging a filter: two pages of Sales people, then no cursor.
    let page = app.get_json("/v1/people?department=Sales&limit=3").await;
    assert_eq!(ids(&page), ["E1", "E2", "E3"]);
    let next = page["next"].as_str().expect("a next page");
    let rest = app.get_json(&format!("/v1/people?department=Sales&limit=3&cursor={next}")).await;
    assert_eq!(ids(&rest), ["E4"]);
    assert!(rest["next"].is_null());

    // Events by type, person and feed.
    let types = |v: &Value| -> Vec<(String, String)> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let who = e["payload"]["person"]["externalId"].as_str().unwrap_or_default();
                (e["type"].as_str().unwrap().to_owned(), who.to_owned())
            })
            .collect()
    };
    let moved = app.get_json("/v1/events?type=person.moved").await;
    assert_eq!(types(&moved), [("person.moved".into(), "E2".into())]);
    let e2 = app.get_json("/v1/events?person=E2").await;
    assert_eq!(types(&e2), [("person.joined".into(), "E2".into()), ("person.moved".into(), "E2".into())]);
    let of_feed = app.get_json(&format!("/v1/events?feed={mover}")).await;
    assert_eq!(types(&of_feed), [("person.moved".into(), "E2".into()), ("feed.completed".into(), "".into())]);

    // Feeds by source and status.
    assert_eq!(ids(&app.get_json("/v1/feeds?source=workday").await), [mover.as_str(), hr.as_str()]);
    assert_eq!(ids(&app.get_json("/v1/feeds?source=bamboohr&status=completed").await), [other.as_str()]);
    assert!(ids(&app.get_json("/v1/feeds?status=halted").await).is_empty());

    // A bad filter value is a 400 naming it, without echoing the value.
    for (path, param) in [
        ("/v1/people?status=gone", "status"),
        ("/v1/people?updatedSince=yesterday", "updatedSince"),
        ("/v1/people?source=no%20spaces", "source"),
        ("/v1/people?email=", "email"),
        ("/v1/events?type=person.promoted", "type"),
        ("/v1/events?feed=feed_nope", "feed"),
        ("/v1/feeds?status=done", "status"),
    ] {
        let p = problem(&app, path).await;
        assert_eq!(p["param"], param, "{path}: {p}");
        assert_eq!(p["code"], "invalid_parameter", "{path}: {p}");
    }
    let p = problem(&app, "/v1/people?dept=Sales").await;
    assert_eq!(p["param"], "dept", "an unknown filter is refused, not ignored: {p}");

    // Deleting a source and its mapping.
    let mapping = json!({"fields": {"externalId": {"column": "ID"}}});
    let res = app
        .put_json("/v1/sources/bamboohr", &json!({"deletionThresholdPercent": 5, "mapping": mapping}))
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let del = |path: &str| app.http.delete(app.url(path)).bearer_auth(&app.key).send();
    let res = del("/v1/sources/bamboohr/mapping").await.unwrap();
    assert_eq!(res.status(), 200);
    let source = app.get_json("/v1/sources/bamboohr").await;
    assert!(source["mapping"].is_null(), "{source}");
    assert_eq!(source["deletionThresholdPercent"], 5, "the other settings stay");
    assert_eq!(del("/v1/sources/bamboohr/mapping").await.unwrap().status(), 404);
    assert_eq!(del("/v1/sources/bamboohr").await.unwrap().status(), 200);
    let source = app.get_json("/v1/sources/bamboohr").await;
    assert_eq!(source["configured"], false, "back to the defaults: {source}");
    assert_eq!(del("/v1/sources/bamboohr").await.unwrap().status(), 404);
    assert_eq!(ids(&app.get_json("/v1/people?source=bamboohr").await), ["E4", "E5"], "its people stay");
    let audit = app.get_json("/v1/audit").await;
    let actions: Vec<&str> =
        audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"source.deleted") && actions.contains(&"mapping.deleted"), "{actions:?}");

    // The CLI takes the same filters.
    let out = Command::new(BIN)
        .args([
            "people",
            "ls",
            "--department",
            "Sales",
            "--status",
            "active",
            "--json",
            "--server",
            &app.base,
        ])
        .env("ROSTER_KEY", &app.key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed: Vec<&str> =
        listed.as_array().unwrap().iter().map(|p| p["externalId"].as_str().unwrap()).collect();
    assert_eq!(listed, ["E1", "E2", "E3"]);
    let out = Command::new(BIN)
        .args(["events", "ls", "--type", "person.moved", "--json", "--server", &app.base])
        .env("ROSTER_KEY", &app.key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let out = Command::new(BIN)
        .args(["feeds", "ls", "--source", "workday", "--json", "--server", &app.base])
        .env("ROSTER_KEY", &app.key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
}
