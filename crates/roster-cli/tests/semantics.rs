//! Directory semantics a newcomer relies on, end to end: which
//! `employmentStatus` values make someone inactive is a per-source setting
//! with the documented defaults, and an explicit `active` always wins.

mod support;

use serde_json::{Value, json};
use support::{TestApp, spawn_app};

async fn push(app: &TestApp, source: &str, content_type: &str, body: String) -> Value {
    let res = app.post_raw(&format!("?source={source}"), content_type, body).await;
    assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
    let receipt: Value = res.json().await.unwrap();
    app.wait_feed(receipt["feedId"].as_str().unwrap()).await
}

async fn active(app: &TestApp, id: &str) -> (bool, String) {
    let p = app.get_json(&format!("/v1/people/{id}")).await;
    (p["active"].as_bool().unwrap(), p["status"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn inactive_statuses_are_a_per_source_setting_with_defaults() {
    let app = spawn_app().await;
    let settings = json!({
        "inactiveStatuses": ["Terminated", "Garden Leave"],
        "mapping": {"fields": {"externalId": {"column": "ID"}, "employmentStatus": {"column": "Status"}}}
    });
    let res = app.put_json("/v1/sources/hris", &settings).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(
        app.get_json("/v1/sources/hris").await["inactiveStatuses"],
        json!(["Terminated", "Garden Leave"])
    );

    let records = json!({"records": [
        {"externalId": "H1", "employmentStatus": "garden leave"},
        {"externalId": "H2", "employmentStatus": "Retired"},
        {"externalId": "H3", "employmentStatus": "terminated", "active": true},
    ]});
    push(&app, "hris", "application/json", records.to_string()).await;
    assert_eq!(active(&app, "H1").await, (false, "inactive".into()), "listed by the source, any case");
    assert_eq!(active(&app, "H2").await, (true, "active".into()), "the source's list replaces the defaults");
    assert_eq!(active(&app, "H3").await, (true, "active".into()), "an explicit active wins");
    // CSV of the same source: the same rule.
    push(&app, "hris", "text/csv", "ID,Status\nH4,Garden Leave\nH5,deceased\n".into()).await;
    assert!(!active(&app, "H4").await.0);
    assert!(active(&app, "H5").await.0);

    // Another source keeps the defaults: retired and deceased are inactive.
    let records = json!([
        {"externalId": "D1", "employmentStatus": "Retired"},
        {"externalId": "D2", "employmentStatus": "deceased"},
        {"externalId": "D3", "employmentStatus": "garden leave"},
    ]);
    push(&app, "default", "application/json", json!({"records": records}).to_string()).await;
    assert!(!active(&app, "D1").await.0);
    assert!(!active(&app, "D2").await.0);
    assert!(active(&app, "D3").await.0);

    // A bad list is refused, naming the entry.
    let res = app.put_json("/v1/sources/hris", &json!({"inactiveStatuses": ["terminated", " "]})).await;
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["param"], "inactiveStatuses[1]", "{problem}");
}
