//! The CLI as a cron job and a human use it: `roster push`'s exit code
//! says what happened (README, "Exit codes"), `--wait` waits for the feeds
//! to be final, the file's format is found by extension or content;
//! `roster whoami` checks the key; completions for the shells.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::{TestApp, person, spawn_app};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// `roster push` against the app, off the test's runtime threads.
async fn push(app: &TestApp, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("push").args(args).args(["--server", &app.base]).env("ROSTER_KEY", &app.key);
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_exits_by_what_became_of_the_records() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();

    // All accepted, waited for: 0, and the final status is told.
    let good =
        write(dir.path(), "good.json", &json!([person("E1", "Sales"), person("E2", "Ops")]).to_string());
    let out = push(&app, &[&good, "--wait"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains(": completed (2 applied"), "{}", stderr(&out));

    // One record invalid: the others go on, the exit code is 3.
    let mut bad = person("E3", "Sales");
    bad["hireDate"] = "yesterday".into();
    let mixed = write(dir.path(), "mixed.json", &json!([person("E4", "Ops"), bad]).to_string());
    let out = push(&app, &[&mixed]).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("record 1: hireDate"),
        "the rejected record and field are named: {}",
        stderr(&out)
    );
    let feed = String::from_utf8(out.stdout.clone()).unwrap().trim().to_owned();
    assert!(feed.starts_with("feed_"), "stdout is the feed id: {feed}");
    // ...and still 3 once waited for: the feed completed, with the rejection.
    let out = push(&app, &[&mixed, "--wait"]).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("completed_with_errors"), "{}", stderr(&out));

    // A full snapshot that would deactivate too many halts: 5.
    let res = app
        .put_json(
            "/v1/sources/default",
            &json!({"deletionThresholdPercent": 10, "deletionThresholdFloor": 0}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let snapshot = write(
        dir.path(),
        "snapshot.json",
        &json!({"mode": "full", "records": [person("E1", "Sales")]}).to_string(),
    );
    let out = push(&app, &[&snapshot, "--wait"]).await;
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("halted") && stderr(&out).contains("roster feeds approve"),
        "{}",
        stderr(&out)
    );

    // Refused whole (a strict source): 1, nothing queued.
    let res = app.put_json("/v1/sources/strict", &json!({"validation": "strict"})).await;
    assert_eq!(res.status(), 200);
    let out = push(&app, &[&mixed, "--source", "strict"]).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // The server unreachable: 1.
    let out = Command::new(BIN)
        .args(["push", &good, "--server", "http://127.0.0.1:9", "--attempts", "1"])
        .env("ROSTER_KEY", &app.key)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // A usage error is clap's 2.
    let out = Command::new(BIN).args(["push", &good, "--wait-timeout", "5"]).output().unwrap();
    assert_eq!(code(&out), 2, "--wait-timeout needs --wait: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_format_is_found_by_extension_or_content() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let mapping = json!({"fields": {
        "externalId": {"column": "Employee ID"},
        "name.givenName": {"column": "First"},
        "department": {"column": "Dept"}
    }});
    let res = app.put_json("/v1/sources/hris/mapping", &mapping).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let tsv = write(dir.path(), "export.tsv", "Employee ID\tFirst\tDept\nT1\tAda\tSales, EMEA\n");
    let csv_no_ext = write(dir.path(), "export.dat", "Employee ID,First,Dept\nT2,Grace,Ops\n");
    let json_txt = write(dir.path(), "records.txt", &json!([person("T3", "Legal")]).to_string());
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "bulkId": "b1", "path": "/Users",
            "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "externalId": "T4", "userName": "t4@example.com", "active": true}}]
    });
    let scim_json = write(dir.path(), "bulk.json", &bulk.to_string());
    for file in [&tsv, &csv_no_ext] {
        let out = push(&app, &[file, "--source", "hris", "--wait"]).await;
        assert_eq!(code(&out), 0, "{file}: {}", stderr(&out));
    }
    for file in [&json_txt, &scim_json] {
        let out = push(&app, &[file, "--wait"]).await;
        assert_eq!(code(&out), 0, "{file}: {}", stderr(&out));
    }
    let t1 = app.get_json("/v1/people/T1").await;
    assert_eq!(t1["department"], "Sales, EMEA", "tab-separated, so the comma is data: {t1}");
    assert_eq!(app.get_json("/v1/people/T2").await["department"], "Ops");
    assert_eq!(app.get_json("/v1/people/T3").await["department"], "Legal");
    let t4: Value = app.get_json("/v1/people/T4").await;
    assert_eq!(t4["userName"], "t4@example.com", "a .json BulkRequest goes as SCIM: {t4}");
    // --format overrides: a TSV named .txt.
    let tsv_txt = write(dir.path(), "tabs.txt", "Employee ID\tFirst\tDept\nT5\tAlan\tR&D\n");
    let out = push(&app, &[&tsv_txt, "--format", "tsv", "--source", "hris", "--wait"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(app.get_json("/v1/people/T5").await["department"], "R&D");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_names_the_tenant_key_scopes_and_expiry() {
    let app = spawn_app().await;
    let res = app.http.post(app.url("/v1/keys")).bearer_auth(&app.key);
    let res =
        res.json(&json!({"scopes": ["ingest"], "expiresAt": "2099-01-01T00:00:00Z"})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let ingest_key = created["key"].as_str().or(created["secret"].as_str()).expect("the new key").to_owned();

    let me = app.get_json("/v1/whoami").await;
    assert_eq!(me["tenant"]["name"], "acme");
    assert!(me["tenant"]["id"].as_str().unwrap().starts_with("ten_"));
    assert_eq!(me["credential"]["type"], "api_key");
    assert_eq!(me["credential"]["scopes"], json!(["admin"]));
    assert!(me["credential"].get("hash").is_none() && !me.to_string().contains(&app.key), "never the secret");

    let mut cmd = Command::new(BIN);
    cmd.args(["whoami", "--server", &app.base]).env("ROSTER_KEY", &ingest_key);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l.starts_with("tenant") && l.contains("acme (ten_")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("scopes") && l.ends_with("ingest")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("expires") && l.contains("2099-01-01T00:00:00")), "{text}");
    assert!(!text.contains(&ingest_key), "the key itself is never printed");
    // --json is the API's answer.
    let mut cmd = Command::new(BIN);
    cmd.args(["whoami", "--json", "--server", &app.base]).env("ROSTER_KEY", &ingest_key);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["credential"]["id"], created["id"]);
    // A wrong key: non-zero, and says so.
    let mut cmd = Command::new(BIN);
    cmd.args(["whoami", "--server", &app.base]).env("ROSTER_KEY", "rk_live_wrong");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
}

#[test]
fn completions_are_generated_for_the_shells() {
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef roster"), ("fish", "complete -c roster")]
    {
        let out = Command::new(BIN).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {}", &script[..script.len().min(200)]);
        assert!(script.contains("whoami") && script.contains("push"), "{shell} completes the subcommands");
    }
}
