//! Feeds as HR systems send them, end to end over HTTP: CSV with a mapping
//! profile (and dry runs), SCIM BulkRequests, full snapshots with the
//! deletion threshold, strict sources, stale updates and idempotency keys.

mod support;

use serde_json::{Value, json};
use support::{TestApp, person, spawn_app, spawn_app_with};

const PROFILE: &str = r#"{
  "fields": {
    "externalId": {"column": "Employee ID"},
    "name.givenName": {"column": "First Name"},
    "name.familyName": {"column": "Last Name"},
    "displayName": {"concat": ["First Name", "Last Name"]},
    "emails": {"column": "Work Email", "transforms": ["lowercase"]},
    "hireDate": {"column": "Start Date", "dateFormat": "MM/DD/YYYY"},
    "employmentStatus": {"column": "Status", "valueMap": {"A": "active", "T": "terminated"}},
    "department": {"column": "Dept"},
    "organization": {"default": "Acme Corp"}
  }
}"#;

const CSV: &str = "Employee ID;First Name;Last Name;Work Email;Start Date;Status;Dept;Shoe Size\n\
                   1001;Ada;Lovelace;ADA@Example.com;03/01/2024;A;R&D;38\n\
                   1002;Grace;Hopper;grace@example.com;31/12/2024;A;Navy;40\n\
                   1003;\"Alan; \"\"M.\"\"\";Turing;alan@example.com;06/23/2020;T;Math;\"44\n45\"\n";

async fn with_profile(app: &TestApp, source: &str) {
    let profile: Value = serde_json::from_str(PROFILE).unwrap();
    let res = app.put_json(&format!("/v1/sources/{source}/mapping"), &profile).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

async fn feeds(app: &TestApp) -> Vec<Value> {
    app.get_json("/v1/feeds").await["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn csv_is_mapped_by_the_source_profile_and_a_dry_run_queues_nothing() {
    let app = spawn_app().await;
    with_profile(&app, "workday").await;

    let res = app.post_raw("?source=workday&dryRun=true", "text/csv", CSV).await;
    assert_eq!(res.status(), 200);
    let dry: Value = res.json().await.unwrap();
    assert_eq!(dry["dryRun"], true);
    assert_eq!((dry["received"].as_u64(), dry["accepted"].as_u64()), (Some(3), Some(2)));
    let ada = &dry["records"][0]["person"];
    assert_eq!(ada["externalId"], "1001");
    assert_eq!(ada["displayName"], "Ada Lovelace");
    assert_eq!(ada["emails"][0]["value"], "ada@example.com");
    assert_eq!(ada["hireDate"], "2024-03-01");
    assert_eq!(ada["organization"], "Acme Corp");
    // Grace's start date is not MM/DD/YYYY: her row is rejected, by row
    // number and field, and the error does not repeat the value.
    let rejected = &dry["rejected"][0];
    assert_eq!(rejected["row"], 3);
    assert_eq!(rejected["errors"][0]["path"], "hireDate");
    assert!(rejected["errors"][0]["message"].as_str().unwrap().contains("Start Date"));
    assert!(!rejected.to_string().contains("31/12/2024"));
    assert!(dry["warnings"][0].as_str().unwrap().contains("Shoe Size"));
    assert!(feeds(&app).await.is_empty(), "a dry run records no feed");
    assert!(app.get_json("/v1/people").await["items"].as_array().unwrap().is_empty());

    let res = app.post_raw("?source=workday", "text/csv", CSV).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["source"], "workday");
    let feed = app.wait_feed(body["feedId"].as_str().unwrap()).await;
    assert_eq!(feed["status"], "completed_with_errors");
    assert_eq!(feed["format"], "csv");
    assert_eq!(feed["counts"]["applied"], 2);
    let alan = app.get_json("/v1/people/1003").await;
    assert_eq!(alan["name"]["givenName"], "Alan; \"M.\"", "quoted delimiters and quotes survive");
    assert_eq!(alan["active"], false, "status T maps to terminated");
}

#[tokio::test]
async fn a_workday_style_latin1_export_with_month_names_and_fallback_columns_is_read() {
    let app = spawn_app().await;
    let profile = json!({"encoding": "windows-1252", "fields": {
        "externalId": {"column": "Worker ID"},
        "displayName": {"coalesce": ["Preferred Name", "Legal Name"]},
        "hireDate": {"column": "Hire Date", "dateFormat": "DD-MMM-YY"},
        "meta.lastModified": {"column": "Last Changed", "dateFormat": "M/D/YYYY hh:mm A"}}});
    let res = app.put_json("/v1/sources/workday/mapping", &profile).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // As a Windows-1252 export writes "Zoë", "José Núñez".
    let mut csv = b"Worker ID,Preferred Name,Legal Name,Hire Date,Last Changed\n".to_vec();
    csv.extend_from_slice(b"W1,Zo\xEB,Zoe Smith,01-Mar-24,11/30/2026 4:05 PM\n");
    csv.extend_from_slice(b"W2,,Jos\xE9 N\xFA\xF1ez,15-SEP-98,11/30/2026 9:00 AM\n");
    let res = app.post_raw("?source=workday", "text/csv", csv).await;
    assert_eq!(res.status(), 202);
    let feed = app.wait_feed(res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap()).await;
    assert_eq!(feed["counts"]["applied"], 2, "{feed}");
    let zoe = app.get_json("/v1/people/W1").await;
    assert_eq!((zoe["displayName"].as_str(), zoe["hireDate"].as_str()), (Some("Zoë"), Some("2024-03-01")));
    assert_eq!(zoe["source"], "workday", "the person shows the source it belongs to");
    let jose = app.get_json("/v1/people/W2").await;
    assert_eq!(jose["displayName"], "José Núñez", "the legal name when no preferred one");
    assert_eq!(jose["hireDate"], "1998-09-15", "98 is past the pivot: 1998");
}

#[tokio::test]
async fn a_feed_naming_a_source_never_set_up_is_warned_about() {
    let app = spawn_app().await;
    let body = json!({"mode": "delta", "records": [person("E1", "R&D")]});
    let post = |query: &'static str| {
        let (app, body) = (&app, body.clone());
        async move {
            let res = app
                .http
                .post(app.url(&format!("/integrations/hr-feed{query}")))
                .bearer_auth(&app.key)
                .json(&body);
            let res = res.send().await.unwrap();
            assert_eq!(res.status(), 202);
            res.json::<Value>().await.unwrap()
        }
    };
    let typo = post("?source=wrokday").await;
    let warning = typo["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("source `wrokday` does not exist yet"), "{typo}");
    assert!(post("").await.get("warnings").is_none(), "the default source needs no set-up");
    let res = app.put_json("/v1/sources/workday", &json!({"validation": "partial"})).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert!(post("?source=workday").await.get("warnings").is_none(), "a source that exists");
    let csv = app.post_raw("?source=wrokday", "text/csv", "externalId,department\nE2,R&D\n").await;
    let csv: Value = csv.json().await.unwrap();
    assert!(csv["warnings"].to_string().contains("does not exist yet"), "{csv}");
}

#[tokio::test]
async fn a_broken_mapping_profile_is_refused_with_its_paths() {
    let app = spawn_app().await;
    let res = app
        .put_json(
            "/v1/sources/workday/mapping",
            &json!({"fields": {"hireDate": {"column": "Start", "dateFormat": "DD-MON-YY"}}}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let problem: Value = res.json().await.unwrap();
    let paths: Vec<&str> = problem["errors"][0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"fields.hireDate.dateFormat"), "{paths:?}");
    assert!(paths.contains(&"fields.externalId"), "externalId must be mapped: {paths:?}");
    assert_eq!(app.get("/v1/sources/workday/mapping").await.status(), 404, "nothing was stored");
}

#[tokio::test]
async fn a_csv_larger_than_the_body_limit_is_streamed() {
    let app = spawn_app_with(|s| s.body_limit = 4096).await;
    let mut csv = String::from("externalId,name.givenName,department\n");
    for i in 0..3000 {
        csv.push_str(&format!("S{i:05},Name{i},Dept{}\n", i % 9));
    }
    csv.push_str("S00001,Again,Dup\n");
    assert!(csv.len() > 4096 * 10);
    let res = app.post_raw("?mode=full&source=hris", "text/csv", csv).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["received"].as_u64(), body["accepted"].as_u64()), (Some(3001), Some(3000)));
    assert!(body["rejected"][0]["errors"][0]["message"].as_str().unwrap().contains("duplicate"));
    // The streamed set keeps a fingerprint of each id, and the row it was first seen at.
    assert_eq!(body["rejected"][0]["row"], 3002);
    assert_eq!(body["rejected"][0]["errors"][0]["path"], "externalId");
    assert_eq!(body["rejected"][0]["errors"][0]["message"], "duplicate in this feed (first at row 3)");
    let feed = app.wait_feed(body["feedId"].as_str().unwrap()).await;
    assert_eq!(feed["counts"]["applied"], 3000);
    assert_eq!(feed["mode"], "full");
    // JSON is still held to the body limit.
    let big = json!({"records": (0..200).map(|i| person(&format!("J{i}"), "Sales")).collect::<Vec<_>>()});
    assert_eq!(app.post_feed(&big).await.status(), 413);
}

#[tokio::test]
async fn a_scim_bulk_request_is_answered_per_operation() {
    let app = spawn_app().await;
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "bulkId": "op-1", "path": "/Users", "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ent],
                "externalId": "701984", "userName": "bjensen@example.com",
                "name": {"givenName": "Barbara", "familyName": "Jensen"}, "active": true,
                ent: {"employeeNumber": "701984", "department": "Tour Operations", "manager": {"value": "89607"}}}},
            {"method": "POST", "bulkId": "op-2", "path": "/Users", "data": {
                "externalId": "89607", "userName": "boss@example.com", "active": true}},
            {"method": "POST", "bulkId": "op-3", "path": "/Users", "data": {
                "externalId": "555", "emails": [{"value": "unique-bad-address"}]}}
        ]
    });
    let res = app.post_raw("", "application/scim+json", bulk.to_string()).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.headers()["content-type"], "application/scim+json");
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:BulkResponse");
    let ops = answer["Operations"].as_array().unwrap();
    let status: Vec<(&str, &str)> =
        ops.iter().map(|o| (o["bulkId"].as_str().unwrap(), o["status"].as_str().unwrap())).collect();
    assert_eq!(status, [("op-1", "202"), ("op-2", "202"), ("op-3", "400")]);
    assert!(ops[2]["response"]["detail"].as_str().unwrap().contains("emails[0].value"));
    assert!(!answer.to_string().contains("unique-bad-address"));
    app.wait_feed(answer["feedId"].as_str().unwrap()).await;
    let barbara = app.get_json("/v1/people/701984").await;
    assert_eq!(barbara["department"], "Tour Operations");
    assert_eq!(barbara["manager"], "89607");

    // DELETE is a leaver.
    let leave = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "DELETE", "bulkId": "d", "path": "/Users/701984"}]
    });
    let answer: Value =
        app.post_raw("", "application/scim+json", leave.to_string()).await.json().await.unwrap();
    app.wait_feed(answer["feedId"].as_str().unwrap()).await;
    assert_eq!(app.get_json("/v1/people/701984").await["active"], false);
    let kinds: Vec<String> =
        app.events().await.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds[kinds.len() - 2..], ["person.left", "feed.completed"]);
}

/// Ten active people in source `hris`, sent as a full snapshot.
async fn ten_people(app: &TestApp) {
    let records: Vec<Value> = (0..10).map(|i| person(&format!("H{i}"), "Ops")).collect();
    let res = app
        .post_raw("?source=hris", "application/json", json!({"mode": "full", "records": records}).to_string())
        .await;
    let body: Value = res.json().await.unwrap();
    let feed = app.wait_feed(body["feedId"].as_str().unwrap()).await;
    assert_eq!(feed["status"], "completed");
    assert_eq!(feed["reconciliation"]["state"], "applied");
    // A snapshot judges people written before it: let the clock move on.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
}

async fn active_count(app: &TestApp) -> usize {
    let people = app.get_json("/v1/people?limit=1000").await;
    people["items"].as_array().unwrap().iter().filter(|p| p["active"] == true).count()
}

#[tokio::test]
async fn a_truncated_snapshot_halts_until_an_operator_approves() {
    let app = spawn_app().await;
    ten_people(&app).await;
    // Last night's export was cut off after two rows.
    let csv = "externalId,name.givenName,department\nH0,GivenH0,Ops\nH1,GivenH1,Ops\n";
    let res = app.post_raw("?source=hris&mode=full", "text/csv", csv).await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap().to_owned();
    let feed = app.wait_feed(&id).await;
    assert_eq!(feed["status"], "halted");
    assert_eq!(feed["reconciliation"]["absent"], 8);
    assert_eq!(feed["reconciliation"]["active"], 10);
    assert!(feed["reconciliation"]["reason"].as_str().unwrap().contains("8 of 10"));
    assert_eq!(active_count(&app).await, 10, "nobody leaves while the feed is halted");

    let approved: Value = app.post_empty(&format!("/v1/feeds/{id}/approve")).await.json().await.unwrap();
    assert_eq!(approved["status"], "completed");
    assert_eq!(approved["counts"]["leavers"], 8);
    assert_eq!(active_count(&app).await, 2);
    let left = app.events().await.iter().filter(|e| e["type"] == "person.left").count();
    assert_eq!(left, 8);
    // Deciding twice is a conflict.
    assert_eq!(app.post_empty(&format!("/v1/feeds/{id}/reject")).await.status(), 409);
}

#[tokio::test]
async fn an_empty_snapshot_halts_and_a_rejected_one_deactivates_nobody() {
    let app = spawn_app().await;
    ten_people(&app).await;
    let res = app.post_raw("?source=hris&mode=full", "text/csv", "externalId,name.givenName\n").await;
    let id = res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap().to_owned();
    let feed = app.wait_feed(&id).await;
    assert_eq!(feed["status"], "halted");
    assert!(feed["reconciliation"]["reason"].as_str().unwrap().contains("empty"));
    let rejected: Value = app.post_empty(&format!("/v1/feeds/{id}/reject")).await.json().await.unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(active_count(&app).await, 10);
    // Another tenant cannot see or decide the feed.
    let other = app.new_tenant("globex").await;
    let res =
        app.http.post(app.url(&format!("/v1/feeds/{id}/approve"))).bearer_auth(&other).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_strict_source_rejects_the_whole_feed() {
    let app = spawn_app().await;
    let res = app.put_json("/v1/sources/payroll", &json!({"validation": "strict"})).await;
    assert_eq!(res.status(), 200);
    let body = json!({"records": [person("P1", "Sales"), {"externalId": "P2", "hireDate": "someday"}]});
    let res = app.post_raw("?source=payroll", "application/json", body.to_string()).await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("strict"));
    assert_eq!(problem["errors"][0]["index"], 1);
    assert_eq!(problem["errors"][0]["errors"][0]["path"], "hireDate");
    assert!(feeds(&app).await.is_empty());
    assert_eq!(app.get("/v1/people/P1").await.status(), 404, "the valid record was not queued either");
    let source = app.get_json("/v1/sources/payroll").await;
    assert_eq!(source["validation"], "strict");
    assert_eq!(source["deletionThresholdPercent"], 20);
}

#[tokio::test]
async fn an_older_change_never_overwrites_a_newer_one() {
    let app = spawn_app().await;
    let mut newer = person("E1", "Finance");
    newer["meta"] = json!({"lastModified": "2026-11-02T10:00:00Z"});
    let mut older = person("E1", "Sales");
    older["meta"] = json!({"lastModified": "2026-11-01T10:00:00Z"});
    let first = app.push(json!([newer])).await;
    app.wait_feed(first["feedId"].as_str().unwrap()).await;
    let late = app.push(json!([older])).await;
    let feed = app.wait_feed(late["feedId"].as_str().unwrap()).await;
    assert_eq!(feed["counts"]["stale"], 1);
    assert_eq!(feed["counts"]["applied"], 0);
    assert_eq!(app.get_json("/v1/people/E1").await["department"], "Finance");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let app = spawn_app().await;
    let body = json!({"records": [person("K1", "Sales")]}).to_string();
    let send = |key: &'static str, body: String| {
        app.http
            .post(app.url("/integrations/hr-feed"))
            .bearer_auth(&app.key)
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(body)
            .send()
    };
    let first = send("nightly-2026-11-25", body.clone()).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = send("nightly-2026-11-25", body.clone()).await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["feedId"], first["feedId"]);
    assert_eq!(feeds(&app).await.len(), 1, "the replay queued nothing");
    // The same key with another body is refused.
    let other = json!({"records": [person("K2", "Sales")]}).to_string();
    let res = send("nightly-2026-11-25", other).await.unwrap();
    assert_eq!(res.status(), 422);
    assert_eq!(feeds(&app).await.len(), 1);
}

#[tokio::test]
async fn a_future_hire_is_pending_and_a_future_leaver_still_active() {
    let app = spawn_app().await;
    let now = roster_core::Clock::now(&roster_core::SystemClock);
    let ahead = now.plus_millis(30 * 86_400_000).date().to_string();
    let receipt = app
        .push(json!([
            {"externalId": "E1", "name": {"givenName": "Ada"}, "hireDate": ahead},
            {"externalId": "E2", "hireDate": "2019-05-01", "terminationDate": ahead},
            {"externalId": "E3", "hireDate": "2019-05-01", "terminationDate": "2020-01-31", "active": true}
        ]))
        .await;
    app.wait_feed(receipt["feedId"].as_str().unwrap()).await;
    let status = |p: Value| p["status"].as_str().unwrap().to_owned();
    assert_eq!(status(app.get_json("/v1/people/E1").await), "pending");
    assert_eq!(status(app.get_json("/v1/people/E2").await), "active");
    // A termination date in the past wins over `active: true`.
    let e3 = app.get_json("/v1/people/E3").await;
    assert_eq!((status(e3.clone()), e3["active"].as_bool()), ("inactive".to_owned(), Some(false)));
    // Only E2 joined: the pending hire is not announced before the day.
    let kinds: Vec<Value> = app.person_events().await.iter().map(|e| e["type"].clone()).collect();
    assert_eq!(kinds, vec![json!("person.joined")]);
}

/// The queue's depth, as `/readyz` reports it.
async fn queued(app: &TestApp) -> u64 {
    let ready = app.readyz().await;
    ["visible", "inFlight", "delayed"].iter().map(|k| ready["queue"][*k].as_u64().unwrap_or(0)).sum()
}

/// Nothing of a submission was kept: no feed, no person, no message.
async fn assert_nothing_stored(app: &TestApp) {
    assert!(feeds(app).await.is_empty(), "a feed was recorded");
    assert!(app.get_json("/v1/people").await["items"].as_array().unwrap().is_empty(), "a person was stored");
    assert_eq!(queued(app).await, 0, "a message was queued");
}

#[tokio::test]
async fn a_json_dry_run_shows_the_records_and_errors_and_stores_nothing() {
    // No consumer: whatever was queued would stay visible in the queue.
    let app = spawn_app_with(|s| s.workers = 0).await;
    let body = json!({"mode": "full", "records": [
        person("D1", "Sales"),
        {"externalId": "D2", "hireDate": "31/12/2024", "emails": ["unique-bad-address"]},
        {"op": "deactivate", "externalId": "D3"}
    ]});
    let res = app.post_raw("?dryRun=true", "application/json", body.to_string()).await;
    assert_eq!(res.status(), 200);
    let dry: Value = res.json().await.unwrap();
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["mode"], "full");
    assert_eq!((dry["received"].as_u64(), dry["accepted"].as_u64()), (Some(3), Some(2)));
    assert!(dry.get("feedId").is_none(), "a dry run has no feed: {dry}");
    let records = dry["records"].as_array().unwrap();
    assert_eq!(records[0]["person"]["externalId"], "D1");
    assert_eq!(records[0]["person"]["emails"][0]["value"], "d1@example.com");
    assert_eq!(records[0]["person"]["department"], "Sales");
    assert_eq!((records[1]["index"].as_u64(), records[1]["externalId"].as_str()), (Some(2), Some("D3")));
    let rejected = &dry["rejected"][0];
    assert_eq!(rejected["index"], 1);
    let paths: Vec<&str> =
        rejected["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"hireDate") && paths.contains(&"emails[0]"), "{paths:?}");
    assert!(!dry.to_string().contains("unique-bad-address"), "errors do not echo values");
    assert_nothing_stored(&app).await;
    // The same request for real queues the valid records.
    let res = app.post_raw("", "application/json", body.to_string()).await;
    assert_eq!(res.status(), 202);
    assert_eq!(queued(&app).await, 2);
}

#[tokio::test]
async fn a_scim_dry_run_shows_the_records_and_errors_and_stores_nothing() {
    let app = spawn_app_with(|s| s.workers = 0).await;
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "bulkId": "ok", "path": "/Users", "data": {
                "externalId": "701984", "userName": "bjensen@example.com", "active": true,
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                ent: {"department": "Tour Operations", "manager": {"value": "89607"}}}},
            {"method": "POST", "bulkId": "bad", "path": "/Users", "data": {
                "externalId": "555", "emails": [{"value": "unique-bad-address"}]}},
            {"method": "DELETE", "bulkId": "gone", "path": "/Users/42"}
        ]
    });
    let res = app.post_raw("?dryRun=true", "application/scim+json", bulk.to_string()).await;
    assert_eq!(res.status(), 200);
    let dry: Value = res.json().await.unwrap();
    assert_eq!(dry["dryRun"], true);
    assert_eq!((dry["received"].as_u64(), dry["accepted"].as_u64()), (Some(3), Some(2)));
    let barbara = &dry["records"][0]["person"];
    assert_eq!(barbara["externalId"], "701984");
    assert_eq!(barbara["department"], "Tour Operations");
    assert_eq!(barbara["manager"], "89607");
    assert_eq!(dry["records"][1]["externalId"], "42", "DELETE is a deactivation: {dry}");
    let rejected = &dry["rejected"][0];
    assert_eq!((rejected["index"].as_u64(), rejected["bulkId"].as_str()), (Some(1), Some("bad")));
    assert_eq!(rejected["errors"][0]["path"], "data.emails[0].value");
    assert!(!dry.to_string().contains("unique-bad-address"));
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn a_csv_in_another_encoding_is_refused_by_row_and_nothing_is_stored() {
    let app = spawn_app_with(|s| s.workers = 0).await;
    let text = "externalId,name.givenName,department\nE1,Ann,Ops\nE2,Bob,Ops\n";
    // Excel's "Unicode text": UTF-16LE with a byte-order mark.
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    // Latin-1: "Jürgen" with ü as the single byte 0xFC, on the third row.
    let mut latin1 = b"externalId,name.givenName,department\nE1,Ann,Ops\nE2,J".to_vec();
    latin1.extend_from_slice(&[0xFC]);
    latin1.extend_from_slice(b"rgen,Ops\nE3,Cy,Ops\n");
    for (body, row, says) in [(utf16, "row 1", "UTF-16"), (latin1, "row 3", "UTF-8")] {
        for mode in ["delta", "full"] {
            let res = app.post_raw(&format!("?mode={mode}&source=hris"), "text/csv", body.clone()).await;
            assert_eq!(res.status(), 400);
            assert_eq!(res.headers()["content-type"], "application/problem+json");
            let problem: Value = res.json().await.unwrap();
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains(row) && detail.contains(says), "{detail}");
            assert!(!detail.contains("rgen"), "the detail does not echo the data: {detail}");
        }
    }
    assert_nothing_stored(&app).await;
}

#[tokio::test]
async fn a_stale_csv_row_with_a_mapped_last_modified_is_skipped() {
    let app = spawn_app().await;
    let profile = json!({"fields": {
        "externalId": {"column": "Emp"},
        "department": {"column": "Dept"},
        "meta.lastModified": {"column": "Changed At"}
    }});
    assert_eq!(app.put_json("/v1/sources/hris/mapping", &profile).await.status(), 200);
    let app = &app;
    let send = |csv: &'static str| async move {
        let res = app.post_raw("?source=hris", "text/csv", csv).await;
        assert_eq!(res.status(), 202);
        let body: Value = res.json().await.unwrap();
        app.wait_feed(body["feedId"].as_str().unwrap()).await
    };
    let first =
        send("Emp,Dept,Changed At\nC1,Finance,2026-11-02T10:00:00Z\nC2,Ops,2026-11-02T10:00:00Z\n").await;
    assert_eq!(first["counts"]["applied"], 2);
    // A late retry of yesterday's export: C1's row is older than what is stored.
    let late =
        send("Emp,Dept,Changed At\nC1,Sales,2026-11-01T10:00:00Z\nC2,Legal,2026-11-03T08:00:00Z\n").await;
    assert_eq!(late["counts"]["stale"], 1);
    assert_eq!(late["counts"]["applied"], 1);
    assert_eq!(app.get_json("/v1/people/C1").await["department"], "Finance", "the older row was not applied");
    assert_eq!(app.get_json("/v1/people/C2").await["department"], "Legal", "the newer row was");
    let history = app.get_json("/v1/people/C1?history=true").await;
    assert_eq!(history["history"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_stale_scim_operation_by_meta_last_modified_is_skipped() {
    let app = spawn_app().await;
    let op = |dept: &str, at: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [{"method": "POST", "bulkId": "1", "path": "/Users", "data": {
                "externalId": "S1", "userName": "s1@example.com", "active": true,
                "meta": {"resourceType": "User", "lastModified": at},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": dept}}}]
        })
        .to_string()
    };
    let send = |body: String| async {
        let res = app.post_raw("", "application/scim+json", body).await;
        assert_eq!(res.status(), 202);
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["Operations"][0]["status"], "202");
        app.wait_feed(answer["feedId"].as_str().unwrap()).await
    };
    send(op("Finance", "2026-11-02T10:00:00Z")).await;
    let late = send(op("Sales", "2026-11-01T10:00:00Z")).await;
    assert_eq!((late["counts"]["stale"].as_u64(), late["counts"]["applied"].as_u64()), (Some(1), Some(0)));
    assert_eq!(app.get_json("/v1/people/S1").await["department"], "Finance");
    let newer = send(op("Legal", "2026-11-03T10:00:00Z")).await;
    assert_eq!(newer["counts"]["applied"], 1);
    assert_eq!(app.get_json("/v1/people/S1").await["department"], "Legal");
}

#[tokio::test]
async fn a_manager_listed_after_their_report_in_a_csv_is_resolved() {
    let app = spawn_app().await;
    let csv = "externalId,name.givenName,department,manager\n\
               R1,Rae,Ops,M1\n\
               R2,Ray,Ops,M1\n\
               M1,Mia,Ops,\n";
    let res = app.post_raw("?source=hris", "text/csv", csv).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!((body["received"].as_u64(), body["accepted"].as_u64()), (Some(3), Some(3)));
    let feed = app.wait_feed(body["feedId"].as_str().unwrap()).await;
    assert_eq!(feed["status"], "completed");
    assert_eq!(feed["counts"]["applied"], 3);
    for report in ["R1", "R2"] {
        let p = app.get_json(&format!("/v1/people/{report}")).await;
        assert_eq!((p["manager"].as_str(), p["active"].as_bool()), (Some("M1"), Some(true)), "{p}");
    }
    assert_eq!(app.get_json("/v1/people/M1").await["name"]["givenName"], "Mia");

    // A new manager for R1 later on is a move.
    let csv = "externalId,name.givenName,department,manager\nR1,Rae,Ops,R2\n";
    let body: Value = app.post_raw("?source=hris", "text/csv", csv).await.json().await.unwrap();
    app.wait_feed(body["feedId"].as_str().unwrap()).await;
    assert_eq!(app.get_json("/v1/people/R1").await["manager"], "R2");
    let last = app.person_events().await.pop().unwrap();
    assert_eq!(last["type"], "person.moved", "{last}");
    assert_eq!(last["payload"]["changedFields"], json!(["manager"]), "{last}");
}

/// The fenced block of `lang` that follows `after` in the README.
fn readme_block(readme: &str, after: &str, lang: &str) -> String {
    let from = readme.find(after).expect("the README section");
    let open = format!("```{lang}\n");
    let start = from + readme[from..].find(&open).expect("the block") + open.len();
    let end = start + readme[start..].find("```").unwrap();
    readme[start..end].to_owned()
}

#[tokio::test]
async fn the_readme_csv_example_maps_as_the_readme_says() {
    let app = spawn_app_with(|s| s.workers = 0).await;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = "## Feeds as HR systems send them";
    let profile: Value = serde_json::from_str(&readme_block(&readme, section, "json")).unwrap();
    let csv = readme_block(&readme, section, "csv");
    let expected: Value = serde_json::from_str(&readme_block(&readme, "Row 3 (Grace)", "json")).unwrap();
    assert_eq!(app.put_json("/v1/sources/workday/mapping", &profile).await.status(), 200);

    let res = app.post_raw("?source=workday&dryRun=true", "text/csv", csv).await;
    assert_eq!(res.status(), 200);
    let dry: Value = res.json().await.unwrap();
    assert_eq!((dry["received"].as_u64(), dry["accepted"].as_u64()), (Some(3), Some(3)), "{dry}");
    assert!(dry["warnings"][0].as_str().unwrap().contains("Shoe Size"), "{dry}");
    let grace = &dry["records"][1]["person"];
    for (attribute, value) in expected.as_object().unwrap() {
        assert_eq!(&grace[attribute], value, "{attribute} of {grace}");
    }
    let alan = &dry["records"][2]["person"];
    assert_eq!(
        (alan["name"]["givenName"].as_str(), alan["active"].as_bool()),
        (Some("Alan; \"M.\""), Some(false))
    );
}

/// A consumer backlog (feeds queued by an ingest-only node, applied later by
/// a node with workers, in one go): snapshots are judged by feed order, not
/// by how the backlog happened to be batched.
#[tokio::test]
async fn a_backlog_applies_snapshots_and_deltas_in_feed_order() {
    let mut app = spawn_app().await;
    let staff = |except: &str| -> Vec<Value> {
        (0..10).map(|i| format!("E{i}")).filter(|id| id != except).map(|id| person(&id, "Sales")).collect()
    };
    let all = app.push(json!(staff("none"))).await;
    app.wait_feed(all["feedId"].as_str().unwrap()).await;

    // The backlog: queued while no worker runs.
    app.stop().await;
    app.settings.workers = 0;
    app.restart().await;
    let post = |body: Value| {
        let app = &app;
        async move {
            let res = app.post_feed(&body).await;
            assert_eq!(res.status(), 202);
            res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap().to_owned()
        }
    };
    // A omits E3; a later delta lists E3 as it is: A must not take E3 away.
    let a = post(json!({"mode": "full", "records": staff("E3")})).await;
    post(json!({"records": [person("E3", "Sales")]})).await;
    // E5 is promoted, then snapshot C leaves E5 out: E5 left after all.
    let mut promoted = person("E5", "Sales");
    promoted["title"] = json!("Lead");
    post(json!({"records": [promoted]})).await;
    let c = post(json!({"mode": "full", "records": staff("E5")})).await;

    app.stop().await;
    app.settings.workers = 2;
    app.restart().await;
    let a_done = app.wait_feed(&a).await;
    let c_done = app.wait_feed(&c).await;
    assert_eq!(
        (a_done["status"].as_str(), a_done["counts"]["leavers"].as_u64()),
        (Some("completed"), Some(0))
    );
    assert_eq!(
        (c_done["status"].as_str(), c_done["counts"]["leavers"].as_u64()),
        (Some("completed"), Some(1))
    );
    let e3 = app.get_json("/v1/people/E3").await;
    assert_eq!(e3["active"], true, "listed by a feed newer than A: {e3}");
    let e5 = app.get_json("/v1/people/E5").await;
    assert_eq!(e5["active"], false, "C, the newest snapshot, leaves E5 out: {e5}");
    let events = app.events().await;
    let of = |id: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["payload"]["person"]["externalId"] == id)
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(of("E3"), ["person.joined"], "no left and rehired for E3");
    assert_eq!(of("E5"), ["person.joined", "person.moved", "person.left"]);
}

/// `roster` run as a user runs it, against the app (off the runtime's
/// thread: the server it asks runs there): its stdout, once it succeeded.
async fn roster(app: &TestApp, args: &[&str]) -> String {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(["--server".into(), app.base.clone(), "--key".into(), app.key.clone()]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_roster")).args(&all).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "roster {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn a_halted_snapshot_is_announced_and_its_leavers_are_listed_before_and_after_approval() {
    let app = spawn_app().await;
    ten_people(&app).await;
    let csv = "externalId,name.givenName,department\nH0,GivenH0,Ops\nH1,GivenH1,Ops\n";
    let res = app.post_raw("?source=hris&mode=full", "text/csv", csv).await;
    let id = res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_feed(&id).await["status"], "halted");

    // The integration hears of it, with the figures and where to look.
    let halted = app.get_json("/v1/events?type=feed.halted").await["items"].as_array().unwrap().clone();
    assert_eq!(halted.len(), 1, "{halted:?}");
    let e = &halted[0];
    assert_eq!((e["type"].as_str(), e["feedId"].as_str()), (Some("feed.halted"), Some(id.as_str())));
    let p = &e["payload"];
    assert_eq!(
        (p["feedId"].as_str(), p["source"].as_str(), p["mode"].as_str()),
        (Some(id.as_str()), Some("hris"), Some("full"))
    );
    assert_eq!((p["counts"]["received"].as_u64(), p["counts"]["rejected"].as_u64()), (Some(2), Some(0)));
    let s = &p["snapshot"];
    assert_eq!(
        (s["active"].as_u64(), s["wouldDeactivate"].as_u64(), s["deactivated"].as_u64()),
        (Some(10), Some(8), Some(0))
    );
    assert_eq!(
        (s["allowed"].as_u64(), s["thresholdPercent"].as_u64(), s["thresholdFloor"].as_u64()),
        (Some(5), Some(20), Some(5))
    );
    let link = p["links"]["leavers"].as_str().unwrap().to_owned();
    assert_eq!(link, format!("/v1/feeds/{id}/leavers"));

    // The link lists the eight an approval would deactivate, in pages.
    let first = app.get_json(&format!("{link}?limit=5")).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 5);
    let next = first["next"].as_str().expect("a second page").to_owned();
    let rest = app.get_json(&format!("{link}?limit=5&cursor={next}")).await;
    assert_eq!(rest["next"], Value::Null);
    let ids: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|l| l["externalId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, (2..10).map(|i| format!("H{i}")).collect::<Vec<_>>());
    assert_eq!(first["items"][0]["department"], "Ops");
    assert_eq!(first["items"][0]["deactivatedAt"], Value::Null, "not yet");
    assert!(first["items"][0]["email"].as_str().unwrap().contains('@'));
    // The CLI shows the same, as a table and as JSON.
    let table = roster(&app, &["feeds", "leavers", &id]).await;
    assert!(table.lines().next().unwrap().contains("EXTERNAL ID"), "{table}");
    assert_eq!(table.lines().filter(|l| l.starts_with('H')).count(), 8, "{table}");
    let listed: Vec<Value> =
        serde_json::from_str(&roster(&app, &["feeds", "leavers", &id, "--json"]).await).unwrap();
    assert_eq!(listed.len(), 8);

    // Approved, the snapshot completes: announced after its leavers.
    app.post_empty(&format!("/v1/feeds/{id}/approve")).await;
    let events = app.events().await;
    let last = events.last().unwrap();
    assert_eq!((last["type"].as_str(), last["feedId"].as_str()), (Some("feed.completed"), Some(id.as_str())));
    assert_eq!(last["payload"]["snapshot"]["deactivated"], 8);
    let of_feed: Vec<&str> =
        events.iter().filter(|e| e["feedId"] == id.as_str()).map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(of_feed.iter().filter(|t| **t == "person.left").count(), 8);
    assert_eq!(
        of_feed.iter().filter(|t| t.starts_with("feed.")).copied().collect::<Vec<_>>(),
        ["feed.halted", "feed.completed"]
    );
    let gone = app.get_json(&link).await;
    assert_eq!(gone["items"].as_array().unwrap().len(), 8);
    assert!(support::is_time(&gone["items"][0]["deactivatedAt"]), "{gone}");

    // A delta has no leavers; another tenant's snapshot is not found.
    let delta = app.push(json!([person("D1", "Ops")])).await;
    let delta_id = delta["feedId"].as_str().unwrap();
    app.wait_feed(delta_id).await;
    assert_eq!(app.get(&format!("/v1/feeds/{delta_id}/leavers")).await.status(), 409);
    let other = app.new_tenant("globex").await;
    assert_eq!(app.get_as(&other, &link).await.status(), 404);
}

/// A BambooHR-style export names each person's supervisor by e-mail.
const BAMBOO_PROFILE: &str = r#"{
  "fields": {
    "externalId": {"column": "Employee #"},
    "name.givenName": {"column": "First Name"},
    "name.familyName": {"column": "Last Name"},
    "emails": {"column": "Work Email", "transforms": ["lowercase"]},
    "department": {"column": "Department"},
    "title": {"column": "Job Title"},
    "manager": {"column": "Supervisor Email"}
  }
}"#;

async fn bamboo_source(app: &TestApp) {
    let settings =
        json!({"managerBy": "email", "mapping": serde_json::from_str::<Value>(BAMBOO_PROFILE).unwrap()});
    let res = app.put_json("/v1/sources/bamboohr", &settings).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

async fn manager_of(app: &TestApp, id: &str) -> Value {
    app.get_json(&format!("/v1/people/{id}")).await["manager"].clone()
}

#[tokio::test]
async fn managers_named_by_e_mail_are_resolved_from_the_export_or_the_directory() {
    let app = spawn_app_with(|s| s.body_limit = 4096).await;
    bamboo_source(&app).await;
    // The CEO is in the directory already (from a JSON feed of the source).
    let ceo = json!({"mode": "delta", "records": [{"externalId": "100", "displayName": "Chief",
        "emails": [{"value": "CEO@acme.example", "primary": true}]}]});
    let res = app.post_raw("?source=bamboohr", "application/json", ceo.to_string()).await;
    app.wait_feed(res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap()).await;

    let csv = "Employee #,First Name,Last Name,Work Email,Department,Job Title,Supervisor Email\n\
               201,Ann,Lee,ann.lee@acme.example,Sales,Account Executive,Mia.Wong@acme.example\n\
               202,Mia,Wong,mia.wong@acme.example,Sales,Sales Director,ceo@acme.example\n\
               203,Raj,Patel,raj.patel@acme.example,Sales,Intern,nobody@acme.example\n\
               204,Sam,Ito,sam.ito@acme.example,Sales,Analyst,\n";
    let res = app.post_raw("?source=bamboohr", "text/csv", csv).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_array().map(Vec::len)),
        (Some(4), Some(0)),
        "a lookup rejects nothing"
    );
    let warnings: Vec<&str> = body["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let warning =
        warnings.iter().find(|w| w.contains("`manager`")).expect("a warning for the unknown supervisor");
    assert!(
        warning.starts_with("record 2 (row 4): `manager` matches no person by e-mail address"),
        "{warning}"
    );
    assert!(!warnings.iter().any(|w| w.contains('@')), "no address in a warning: {warnings:?}");
    app.wait_feed(body["feedId"].as_str().unwrap()).await;
    assert_eq!(manager_of(&app, "201").await, "202", "from later in the same export, any case");
    assert_eq!(manager_of(&app, "202").await, "100", "from the directory");
    assert_eq!(manager_of(&app, "203").await, Value::Null, "unresolved: none stored, none set");
    assert_eq!(manager_of(&app, "204").await, Value::Null);

    // A JSON feed of the source names managers the same way; later an
    // unknown address keeps the manager stored.
    let json_feed = json!({"records": [{"externalId": "203", "emails": [{"value": "raj.patel@acme.example"}],
        "department": "Sales", "title": "Intern", "manager": "ann.lee@acme.example"}]});
    let res = app.post_raw("?source=bamboohr", "application/json", json_feed.to_string()).await;
    let body: Value = res.json().await.unwrap();
    assert!(!body["warnings"].to_string().contains("manager"), "{body}");
    app.wait_feed(body["feedId"].as_str().unwrap()).await;
    assert_eq!(manager_of(&app, "203").await, "201");
    let csv = "Employee #,First Name,Last Name,Work Email,Department,Job Title,Supervisor Email\n\
               203,Raj,Patel,raj.patel@acme.example,Sales,Intern,gone@acme.example\n";
    let body: Value = app.post_raw("?source=bamboohr", "text/csv", csv).await.json().await.unwrap();
    assert!(body["warnings"].to_string().contains("record 0 (row 2): `manager`"), "{body}");
    app.wait_feed(body["feedId"].as_str().unwrap()).await;
    assert_eq!(manager_of(&app, "203").await, "201", "kept, not cleared");

    // A streamed export (past the body limit) resolves the same way, its
    // supervisors listed before their reports as HR exports sort them.
    let mut csv =
        String::from("Employee #,First Name,Last Name,Work Email,Department,Job Title,Supervisor Email\n");
    csv.push_str("300,Lead,Person,lead@acme.example,Ops,Head of Ops,CEO@ACME.EXAMPLE\n");
    for i in 1..200 {
        csv.push_str(&format!("4{i:03},Name{i},Family,p{i}@acme.example,Ops,Operator,lead@acme.example\n"));
    }
    csv.push_str("499,Late,Person,late@acme.example,Ops,Operator,unknown@acme.example\n");
    assert!(csv.len() > 4096);
    let res = app.post_raw("?source=bamboohr", "text/csv", csv).await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["accepted"], 201);
    let warnings = body["warnings"].to_string();
    assert!(warnings.contains("record 200 (row 202): `manager` matches no person"), "{warnings}");
    assert!(!warnings.contains("unknown@"), "{warnings}");
    app.wait_feed(body["feedId"].as_str().unwrap()).await;
    assert_eq!(manager_of(&app, "300").await, "100");
    assert_eq!(manager_of(&app, "4001").await, "300");
    assert_eq!(manager_of(&app, "4199").await, "300");
    assert_eq!(manager_of(&app, "499").await, Value::Null);
}
