//! No personal data in logs or error answers: `roster serve` at `debug` runs
//! every kind of feed — valid and invalid JSON records, a CSV with a mapping
//! profile (and a dry run), a SCIM BulkRequest, a strict source's refusal,
//! stale updates, reads — and then neither its log nor any error answer may
//! contain a name, e-mail, phone number, date of birth, national id or home
//! address of the test data.

use std::process::{Command, Stdio};

use serde_json::json;

mod process;
use process::{BIN, create_tenant, drained, free_port, get_json, start_logged};

/// The server's metrics token: `/readyz` shows the queue's figures to it.
const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// Personal data that appears in the feeds below and must appear nowhere else.
const PERSONAL: &[&str] = &[
    "Hypatia",
    "Alexandrina",
    "hypatia.alex@example.org",
    "Leopoldine",
    "Vasquez-Oyelaran",
    "leo.vo@example.org",
    "+49 30 5550199",
    "Bartholomew",
    "Quintessa",
    "quintessa@example.org",
    "Zebulon",
    "not-an-email@@example.org",
    // A date of birth, a national id and a home address (custom attributes
    // of P1; in P5 as invalid values that an error message could quote).
    "1967-08-14",
    "756.1234.5678.97",
    "17 Rue des Oliviers",
    "75011 Paris",
];

#[tokio::test]
async fn neither_logs_nor_error_answers_carry_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path());
    let port = free_port();
    let log_path = dir.path().join("serve.log");
    let server = start_logged(
        Command::new(BIN)
            .args(["serve", "--log-level", "debug"])
            .env("ROSTER_DATA_DIR", dir.path())
            .env("ROSTER_LISTEN", format!("127.0.0.1:{port}"))
            .env("ROSTER_METRICS_TOKEN", METRICS_TOKEN)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null()),
        port,
        &log_path,
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    let mut send = async |req: reqwest::RequestBuilder| {
        let res = req.bearer_auth(&key).send().await.unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        if !status.is_success() {
            answers.push(format!("{status}: {body}"));
        }
        (status.as_u16(), body)
    };

    // JSON: one valid person, and records invalid in ways that tempt an
    // error message to quote the value.
    let (status, body) = send(http.post(format!("{base}/integrations/hr-feed")).json(&json!({"records": [
        {"externalId": "P1", "name": {"givenName": "Hypatia", "familyName": "Alexandrina"},
         "emails": [{"value": "hypatia.alex@example.org"}], "phoneNumbers": [{"value": "+49 30 5550199"}],
         "hireDate": "2020-02-03", "customAttributes": {"birthDate": "1967-08-14",
            "nationalId": "756.1234.5678.97", "homeAddress": "17 Rue des Oliviers, 75011 Paris"}},
        {"externalId": "P2", "name": {"givenName": "Bartholomew"}, "emails": [{"value": "not-an-email@@example.org"}]},
        {"externalId": "P3", "name": {"givenName": "Zebulon"}, "hireDate": "31/31/2020"},
        {"externalId": "P4", "name": {"givenName": "Zebulon\u{7}"}},
        {"externalId": "P5", "emails": [{"value": "17 Rue des Oliviers, 75011 Paris"}],
         "hireDate": "756.1234.5678.97", "terminationDate": "1967-08-14T99"},
        {"externalId": "P1", "name": {"givenName": "Hypatia"}}
    ]}))).await;
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("\"rejected\""), "{body}");
    for p in PERSONAL {
        assert!(!body.contains(p), "the 202 answer quotes {p:?}: {body}");
    }

    // A stale update of the same person.
    let stale = json!({"records": [{"externalId": "P1", "name": {"givenName": "Hypatia"},
        "meta": {"lastModified": "2001-01-01T00:00:00Z"}}]});
    send(http.post(format!("{base}/integrations/hr-feed")).json(&stale)).await;

    // CSV with a mapping profile, a dry run and a bad row.
    let profile = json!({"fields": {
        "externalId": {"column": "ID"}, "name.givenName": {"column": "First"},
        "name.familyName": {"column": "Last"}, "emails": {"column": "Mail"},
        "hireDate": {"column": "Start", "dateFormat": "MM/DD/YYYY"}}});
    let (status, _) = send(http.put(format!("{base}/v1/sources/hr/mapping")).json(&profile)).await;
    assert_eq!(status, 200);
    let csv = "ID,First,Last,Mail,Start\nC1,Leopoldine,Vasquez-Oyelaran,leo.vo@example.org,02/03/2021\n\
               C2,Quintessa,Zebulon,quintessa@example.org,2021-13-45\n";
    for query in ["?source=hr&dryRun=true", "?source=hr"] {
        let req = http
            .post(format!("{base}/integrations/hr-feed{query}"))
            .header("content-type", "text/csv")
            .body(csv.to_owned());
        let (status, body) = send(req).await;
        assert!(status == 200 || status == 202, "{status}: {body}");
        if query.contains("dryRun") {
            assert!(body.contains("Leopoldine"), "a dry run shows its owner the mapped records");
        } else {
            assert!(!body.contains("Quintessa") && !body.contains("2021-13-45"), "{body}");
        }
    }

    // A strict source refuses a whole feed: 422 naming rows and fields only.
    let (status, _) =
        send(http.put(format!("{base}/v1/sources/strict")).json(&json!({"validation": "strict"}))).await;
    assert_eq!(status, 200);
    let (status, _) = send(http.post(format!("{base}/integrations/hr-feed?source=strict")).json(&json!({"records": [
        {"externalId": "S1", "name": {"givenName": "Quintessa"}, "emails": [{"value": "not-an-email@@example.org"}]}
    ]}))).await;
    assert_eq!(status, 422);

    // SCIM BulkRequest with a broken operation.
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
        {"method": "POST", "bulkId": "b1", "path": "/Users", "data": {"externalId": "K1", "userName": "quintessa@example.org",
            "name": {"givenName": "Quintessa"}, "emails": [{"value": "quintessa@example.org"}]}},
        {"method": "POST", "bulkId": "b2", "path": "/Users", "data": {"externalId": "K2", "name": {"givenName": "Bartholomew"},
            "emails": [{"value": "not-an-email@@example.org"}]}}
    ]});
    let req = http
        .post(format!("{base}/integrations/hr-feed"))
        .header("content-type", "application/scim+json")
        .body(bulk.to_string());
    send(req).await;

    // Malformed JSON whose text holds personal data.
    let req = http
        .post(format!("{base}/integrations/hr-feed"))
        .header("content-type", "application/json")
        .body("{\"records\": [{\"externalId\": \"M1\", \"name\": {\"givenName\": \"Bartholomew\"");
    let (status, _) = send(req).await;
    assert_eq!(status, 400);

    // Reads, including of what does not exist.
    for path in ["/v1/people", "/v1/people/P1?history=true", "/v1/people/nobody", "/v1/feeds", "/v1/events"] {
        send(http.get(format!("{base}{path}"))).await;
    }

    // Let the consumer apply everything, then stop the server.
    drained(&http, &base, METRICS_TOKEN, 30).await;
    let people = get_json(&http, &format!("{base}/v1/people/C1"), &key).await;
    assert_eq!(people["name"]["givenName"], "Leopoldine", "the data itself was stored");
    let p1 = get_json(&http, &format!("{base}/v1/people/P1?history=true"), &key).await;
    assert!(p1.to_string().contains("756.1234.5678.97"), "the national id was stored: {p1}");
    drop(server);

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.lines().count() > 20, "the server logged its work: {logs}");
    // Not a terminal: JSON mode, where every line is one JSON object (a log
    // shipper parses each), the start-up line included.
    for line in logs.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        assert!(v.is_object() && v["level"].is_string(), "{line}");
    }
    assert!(logs.contains("\"roster is serving\""), "the start-up line is a JSON log line");
    for p in PERSONAL {
        let hits: Vec<&str> = logs.lines().filter(|l| l.contains(p)).collect();
        assert!(hits.is_empty(), "the log carries {p:?}:\n{}", hits.join("\n"));
        for a in &answers {
            assert!(!a.contains(p), "an error answer carries {p:?}: {a}");
        }
    }
    assert!(!answers.is_empty(), "the error answers were checked");
}
