//! The `roster` binary as a user runs it: separate processes, real signals.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_roster");

fn roster(args: &[&str], data_dir: &Path) -> Output {
    Command::new(BIN).args(args).env("ROSTER_DATA_DIR", data_dir).env_remove("ROSTER_KEY").output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "roster failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A push that went through with some records rejected: exit code 3.
fn some_rejected(out: Output) -> String {
    assert_eq!(out.status.code(), Some(3), "roster: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// `roster serve`, configured by environment variables, ready to serve.
    fn start(data_dir: &Path) -> Server {
        let port = free_port();
        let child = Command::new(BIN)
            .arg("serve")
            .env("ROSTER_DATA_DIR", data_dir)
            .env("ROSTER_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            // Messages in flight at a kill -9 come back after this.
            .env("ROSTER_VISIBILITY_TIMEOUT_SECS", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "roster serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, base }
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "graceful shutdown exits 0, got {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn create_tenant(data_dir: &Path, name: &str) -> String {
    let out = ok(roster(&["tenants", "create", name], data_dir));
    out.lines().last().unwrap().trim().to_owned()
}

async fn get(base: &str, key: &str, path: &str) -> Value {
    let res = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(key).send().await.unwrap();
    assert!(res.status().is_success(), "GET {path}: {}", res.status());
    res.json().await.unwrap()
}

async fn wait_completed(base: &str, key: &str, feed: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let f = get(base, key, &format!("/v1/feeds/{feed}")).await;
        if f["status"].as_str().unwrap().starts_with("completed") {
            return f;
        }
        assert!(Instant::now() < deadline, "feed not completed: {f}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn tenants_create_prints_the_key_last_and_stores_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path(), "acme");
    assert!(key.starts_with("rk_live_") && key.len() > 40, "{key}");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "the key is stored in clear");
    }
    let again = roster(&["tenants", "create", "acme"], dir.path());
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    // Listing is the operator API's (`tenants ls` talks to a server): the
    // directory itself holds the one tenant.
    let settings = roster_app::Settings { data_dir: dir.path().to_owned(), ..Default::default() };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let directory = rt.block_on(roster_app::open_directory(&settings)).unwrap();
    let names: Vec<String> =
        rt.block_on(directory.list_tenants()).unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["acme"]);
}

#[test]
fn a_data_directory_that_does_not_exist_is_refused_unless_init() {
    let parent = tempfile::tempdir().unwrap();
    let typo = parent.path().join("roster-dtaa");
    let out = roster(&["tenants", "create", "acme"], &typo);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist") && err.contains("--init"), "{err}");
    assert!(!typo.exists(), "nothing was created");
    let out = roster(&["operators", "create", "ops"], &typo);
    assert!(!out.status.success() && !typo.exists());
    let key = ok(roster(&["tenants", "create", "acme", "--init"], &typo));
    assert!(key.lines().last().unwrap().starts_with("rk_live_"));
    assert!(typo.join("directory.db").exists());
}

#[tokio::test]
async fn serve_push_and_read_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path(), "acme");
    let server = Server::start(dir.path());
    // The data lives where configured, in SQLite files in WAL mode.
    for db in ["queue.db", "directory.db"] {
        let header = std::fs::read(dir.path().join(db)).unwrap();
        assert_eq!(&header[..16], b"SQLite format 3\0");
        assert_eq!((header[18], header[19]), (2, 2), "{db} is not in WAL mode");
    }

    let records: Vec<Value> = (0..250)
        .map(|i| json!({"externalId": format!("E{i:03}"), "name": {"givenName": "G", "familyName": format!("F{i}")}, "department": "Ops"}))
        .collect();
    let file = dir.path().join("people.json");
    std::fs::write(&file, serde_json::to_vec(&json!({"records": records})).unwrap()).unwrap();
    let out = Command::new(BIN)
        .args([
            "push",
            file.to_str().unwrap(),
            "--server",
            &server.base,
            "--key",
            &key,
            "--batch-size",
            "100",
        ])
        .output()
        .unwrap();
    let stdout = ok(out.clone());
    let feeds: Vec<&str> = stdout.lines().collect();
    assert_eq!(feeds.len(), 3, "one feed per batch of 100: {stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("250 accepted"));
    for f in &feeds {
        wait_completed(&server.base, &key, f).await;
    }

    let out = Command::new(BIN)
        .args(["feeds", "show", feeds[0], "--server", &server.base])
        .env("ROSTER_KEY", &key)
        .output()
        .unwrap();
    let shown: Value = serde_json::from_str(&ok(out)).unwrap();
    assert_eq!(shown["status"], "completed");
    assert_eq!(shown["counts"]["applied"], 100);

    let out = Command::new(BIN)
        .args(["people", "ls", "--server", &server.base, "--key", &key, "--limit", "1000"])
        .output()
        .unwrap();
    let table = ok(out);
    assert_eq!(table.lines().count(), 251, "a header and 250 people");
    assert!(table.contains("E249"));

    let out = Command::new(BIN)
        .args(["people", "ls", "--server", &server.base, "--key", "rk_live_wrong"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));

    let dlq = |args: &[&str]| {
        Command::new(BIN)
            .arg("dlq")
            .args(args)
            .args(["--server", &server.base, "--key", &key])
            .output()
            .unwrap()
    };
    assert!(ok(dlq(&["ls"])).starts_with("ID"), "an empty DLQ lists a header only");
    assert!(!dlq(&["purge"]).status.success(), "purge wants --yes");
    assert_eq!(ok(dlq(&["purge", "--yes"])).trim(), "purged: 0");
    assert_eq!(ok(dlq(&["redrive", "--all"])).trim(), "redriven: 0");
    server.terminate();
}

#[tokio::test]
async fn an_acknowledged_feed_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path(), "acme");
    let server = Server::start(dir.path());
    let records: Vec<Value> =
        (0..2000).map(|i| json!({"externalId": format!("K{i:05}"), "title": "Clerk"})).collect();
    let res = reqwest::Client::new()
        .post(format!("{}/integrations/hr-feed", server.base))
        .bearer_auth(&key)
        .json(&json!({"records": records}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let feed = res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap().to_owned();
    server.kill9(); // at once: the consumer has had little or no time

    let server = Server::start(dir.path());
    let done = wait_completed(&server.base, &key, &feed).await;
    assert_eq!(done["counts"]["applied"], 2000);
    let people = get(&server.base, &key, "/v1/people?limit=1000").await;
    assert_eq!(people["items"].as_array().unwrap().len(), 1000);
    let one = get(&server.base, &key, "/v1/people/K01999?history=true").await;
    assert_eq!(one["history"].as_array().unwrap().len(), 1);
    server.terminate();
}

#[test]
fn bench_smoke_run_reports_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = Command::new(BIN)
        .args(["bench", "--smoke", "--records", "2000", "--json", json_path.to_str().unwrap()])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let table = ok(out);
    for figure in ["baseline", "ingest", "end_to_end", "latency", "restart", "snapshot"] {
        assert!(table.contains(figure), "the table lacks {figure}: {table}");
    }
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    for name in ["baseline", "ingest", "end_to_end", "latency", "restart", "snapshot"] {
        let row =
            results.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no {name} in {report}"));
        assert!(row["value"].as_f64().is_some_and(|v| v > 0.0), "{name} measured nothing: {row}");
    }
    assert_eq!(report["params"]["smoke"], true);
}

/// `roster bench --queue sqs` against the emulator (`ROSTER_TEST_SQS_ENDPOINT`,
/// started by scripts/test) with tiny sizes, so it cannot rot: the raw
/// `SendMessageBatch` baseline, ingest and end to end, every message
/// queued, every record applied, and the queues it made deleted. Never a speed.
#[tokio::test]
async fn bench_over_sqs_reports_the_raw_baseline_ingest_and_end_to_end() {
    let Ok(endpoint) = std::env::var("ROSTER_TEST_SQS_ENDPOINT") else {
        assert!(std::env::var_os("ROSTER_REQUIRE_SQS").is_none(), "ROSTER_TEST_SQS_ENDPOINT is not set");
        eprintln!("ROSTER_TEST_SQS_ENDPOINT not set: the SQS bench not run (scripts/test runs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = Command::new(BIN)
        .args(["bench", "--queue", "sqs", "--sqs-endpoint-url", &endpoint, "--smoke"])
        .args([
            "--records",
            "60",
            "--batch",
            "20",
            "--e2e-seconds",
            "1",
            "--json",
            json_path.to_str().unwrap(),
        ])
        // The emulator takes any credentials; the AWS configuration chain wants some.
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env_remove("ROSTER_SQS_QUEUE_URL")
        .env_remove("ROSTER_SQS_DLQ_URL")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let table = ok(out);
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(report["params"]["queue"], "sqs", "{report}");
    let results = report["results"].as_array().unwrap();
    let names: Vec<&str> = results.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sqs_baseline", "ingest", "end_to_end"], "{table}");
    for r in results {
        let name = r["name"].as_str().unwrap();
        assert!(table.contains(name), "the table lacks {name}: {table}");
        assert!(r["value"].as_f64().is_some_and(|v| v > 0.0), "{name} measured nothing: {r}");
        let d = &r["detail"];
        match name {
            "sqs_baseline" | "ingest" => {
                assert_eq!(d["queued"], 60, "{name}: every message is in its queue: {r}")
            }
            _ => assert_eq!(d["applied"], d["sent"], "every record sent is applied: {r}"),
        }
        if name != "sqs_baseline" {
            assert!(r["ratio_to_baseline"].as_f64().is_some_and(|x| x > 0.0), "{name} vs the raw loop: {r}");
        }
    }
    let client = roster_queue::SqsQueue::emulator_client(&endpoint);
    let left = client.list_queues().queue_name_prefix("roster-bench-").send().await.unwrap();
    assert!(left.queue_urls().is_empty(), "the bench deletes the queues it made: {:?}", left.queue_urls());
}

/// `roster` as a client of `server`, with the key in the environment.
fn client(server: &Server, key: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("ROSTER_SERVER", &server.base)
        .env("ROSTER_KEY", key)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

#[tokio::test]
async fn csv_snapshots_with_a_mapping_profile_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path(), "acme");
    let server = Server::start(dir.path());
    let profile = dir.path().join("profile.json");
    std::fs::write(
        &profile,
        r#"{"delimiter": ";", "fields": {
              "externalId": {"column": "ID"},
              "name.familyName": {"column": "Surname"},
              "hireDate": {"column": "Start", "dateFormat": "DD.MM.YYYY"}}}"#,
    )
    .unwrap();
    ok(client(&server, &key, &["mappings", "set", "sap", profile.to_str().unwrap()]));
    let shown: Value =
        serde_json::from_str(&ok(client(&server, &key, &["mappings", "show", "sap"]))).unwrap();
    assert_eq!(shown["fields"]["hireDate"]["dateFormat"], "DD.MM.YYYY");
    // A broken profile is refused with the path at fault.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, r#"{"fields": {"name.familyName": {"column": "Surname"}}}"#).unwrap();
    let out = client(&server, &key, &["mappings", "set", "sap", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fields.externalId"));

    let mut csv = String::from("ID;Surname;Start\n");
    for i in 0..20 {
        csv.push_str(&format!("X{i};Name{i};0{}.03.2021\n", 1 + i % 9));
    }
    let full = dir.path().join("sap.csv");
    std::fs::write(&full, &csv).unwrap();
    // The dry run prints the mapped records and queues nothing.
    let dry: Value = serde_json::from_str(&ok(client(
        &server,
        &key,
        &["push", full.to_str().unwrap(), "--source", "sap", "--full", "--dry-run"],
    )))
    .unwrap();
    assert_eq!(dry["accepted"], 20);
    assert_eq!(dry["records"][0]["person"]["hireDate"], "2021-03-01");
    assert!(get(&server.base, &key, "/v1/feeds").await["items"].as_array().unwrap().is_empty());

    let out = ok(client(&server, &key, &["push", full.to_str().unwrap(), "--source", "sap", "--full"]));
    let first = out.lines().last().unwrap().trim().to_owned();
    assert_eq!(wait_completed(&server.base, &key, &first).await["counts"]["applied"], 20);
    tokio::time::sleep(Duration::from_millis(5)).await;

    // A truncated file: half the people missing halts the snapshot...
    let half: String = csv.lines().take(11).map(|l| format!("{l}\n")).collect();
    std::fs::write(&full, half).unwrap();
    let out = ok(client(&server, &key, &["push", full.to_str().unwrap(), "--source", "sap", "--full"]));
    let second = out.lines().last().unwrap().trim().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&server.base, &key, &format!("/v1/feeds/{second}")).await["status"] != "halted" {
        assert!(Instant::now() < deadline, "the truncated snapshot did not halt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listing = ok(client(&server, &key, &["feeds", "ls"]));
    assert!(listing.contains("halted") && listing.contains("sap"), "{listing}");
    // ...until an operator approves it.
    let said = ok(client(&server, &key, &["feeds", "approve", &second]));
    assert!(said.contains("completed") && said.contains("10 deactivated"), "{said}");
    let people = get(&server.base, &key, "/v1/people?limit=100").await;
    let active = people["items"].as_array().unwrap().iter().filter(|p| p["active"] == true).count();
    assert_eq!(active, 10);
    server.terminate();
}

/// Polls a feed until it has settled: completed, halted, rejected or failed.
async fn wait_settled(base: &str, key: &str, feed: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let f = get(base, key, &format!("/v1/feeds/{feed}")).await;
        let status = f["status"].as_str().unwrap().to_owned();
        if status.starts_with("completed") || matches!(status.as_str(), "halted" | "rejected" | "failed") {
            return f;
        }
        assert!(Instant::now() < deadline, "feed not settled: {f}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn feed_count(server: &Server, key: &str) -> usize {
    get(&server.base, key, "/v1/feeds?limit=1000").await["items"].as_array().unwrap().len()
}

async fn active_people(server: &Server, key: &str) -> usize {
    let people = get(&server.base, key, "/v1/people?limit=1000").await;
    people["items"].as_array().unwrap().iter().filter(|p| p["active"] == true).count()
}

#[tokio::test]
async fn push_with_an_idempotency_key_queues_a_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path(), "acme");
    let server = Server::start(dir.path());

    // A JSON file in three batches: each batch carries its own key.
    let records: Vec<Value> =
        (0..250).map(|i| json!({"externalId": format!("I{i:03}"), "department": "Ops"})).collect();
    let file = dir.path().join("people.json");
    std::fs::write(&file, serde_json::to_vec(&json!({"records": records})).unwrap()).unwrap();
    let push = |path: &Path, extra: &[&str]| {
        let mut args = vec!["push", path.to_str().unwrap(), "--idempotency-key", "nightly-2026-11-25"];
        args.extend_from_slice(extra);
        client(&server, &key, &args)
    };
    let first = ok(push(&file, &["--batch-size", "100"]));
    assert_eq!(first.lines().count(), 3, "{first}");
    let again = push(&file, &["--batch-size", "100"]);
    let said = stderr(&again);
    assert_eq!(ok(again), first, "the replay answers with the same feeds");
    for batch in 1..=3 {
        assert!(
            said.contains(&format!(
                "batch {batch}: already pushed with Idempotency-Key nightly-2026-11-25-{batch}"
            )),
            "{said}"
        );
    }
    assert!(said.contains("nothing was queued again"), "{said}");
    assert_eq!(feed_count(&server, &key).await, 3, "the second push queued nothing");
    let mut applied = 0;
    for f in first.lines() {
        applied += wait_completed(&server.base, &key, f).await["counts"]["applied"].as_u64().unwrap();
    }
    assert_eq!(applied, 250, "every record applied once");

    // A CSV file is one request: the key goes as it is.
    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "externalId,department\nC1,Ops\nC2,Ops\n").unwrap();
    let push_csv = |k: &str| client(&server, &key, &["push", csv.to_str().unwrap(), "--idempotency-key", k]);
    let first = ok(push_csv("csv-1"));
    let again = push_csv("csv-1");
    assert!(stderr(&again).contains("already pushed with Idempotency-Key csv-1"), "{}", stderr(&again));
    assert_eq!(ok(again), first);
    assert_eq!(feed_count(&server, &key).await, 4);
    // The same key with another file is refused, and says why.
    std::fs::write(&csv, "externalId,department\nC1,Ops\nC3,Ops\n").unwrap();
    let refused = push_csv("csv-1");
    assert!(!refused.status.success());
    let said = stderr(&refused);
    assert!(
        said.contains("422") && said.contains("Idempotency-Key was used for a different request"),
        "{said}"
    );
    assert_eq!(feed_count(&server, &key).await, 4, "the refused push queued nothing");
    assert_eq!(get(&server.base, &key, "/v1/people/C1").await["department"], "Ops");
    // A key that cannot be a header value is refused before anything is sent.
    let bad = push_csv("two words");
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("visible ASCII"), "{}", stderr(&bad));
    server.terminate();
}

#[tokio::test]
async fn push_sends_a_scim_bulk_request_file_and_reports_each_failed_operation() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path(), "acme");
    let server = Server::start(dir.path());
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let bulk = |id: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {"method": "POST", "bulkId": "op-1", "path": "/Users", "data": {
                    "externalId": id, "userName": format!("{id}@example.com"), "active": true,
                    ent: {"department": "Tour Operations", "manager": {"value": "89607"}}}},
                {"method": "POST", "bulkId": "op-2", "path": "/Users", "data": {
                    "externalId": "555", "emails": [{"value": "unique-bad-address"}]}}
            ]
        })
    };
    // `.scim.json` is sent as application/scim+json...
    let file = dir.path().join("entra.scim.json");
    std::fs::write(&file, bulk("701984").to_string()).unwrap();
    let out = client(&server, &key, &["push", file.to_str().unwrap()]);
    let said = stderr(&out);
    let feed = some_rejected(out).trim().to_owned();
    assert!(said.contains("operation op-2: ") && said.contains("data.emails[0].value"), "{said}");
    assert!(!said.contains("unique-bad-address"));
    let done = wait_completed(&server.base, &key, &feed).await;
    assert_eq!(done["format"], "scim");
    let p = get(&server.base, &key, "/v1/people/701984").await;
    assert_eq!((p["department"].as_str(), p["manager"].as_str()), (Some("Tour Operations"), Some("89607")));

    // ...any other name by its content (a BulkRequest), or with --format scim;
    // forced to plain JSON it is refused.
    let file = dir.path().join("bulk.json");
    std::fs::write(&file, bulk("701985").to_string()).unwrap();
    let out = client(&server, &key, &["push", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "a BulkRequest is not a JSON batch");
    assert!(stderr(&out).contains("records"), "{}", stderr(&out));
    let feed = some_rejected(client(&server, &key, &["push", file.to_str().unwrap()]));
    let done = wait_completed(&server.base, &key, feed.trim()).await;
    assert_eq!(done["format"], "scim");
    assert_eq!(get(&server.base, &key, "/v1/people/701985").await["active"], true);
    server.terminate();
}

#[tokio::test]
async fn push_prints_each_rejected_record_by_row_or_index_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path(), "acme");
    let server = Server::start(dir.path());
    // A partial source (the default): valid records go on, errors are printed.
    let file = dir.path().join("people.json");
    let records = json!([
        {"externalId": "P0"}, {"externalId": "P1"}, {"externalId": "P2"},
        {"externalId": "P3", "emails": ["unique-bad-address"], "hireDate": "someday"}
    ]);
    std::fs::write(&file, records.to_string()).unwrap();
    let out = client(&server, &key, &["push", file.to_str().unwrap(), "--batch-size", "2"]);
    let said = stderr(&out);
    assert_eq!(some_rejected(out).lines().count(), 2);
    // Numbered in the file, not in its batch.
    assert!(said.contains("record 3: emails[0]: "), "{said}");
    assert!(said.contains("record 3: hireDate: "), "{said}");
    assert!(said.contains("3 accepted, 1 rejected"), "{said}");
    assert!(!said.contains("unique-bad-address"));

    let csv = dir.path().join("people.csv");
    std::fs::write(&csv, "externalId,hireDate\nQ1,2024-01-02\nQ2,31/12/2024\n").unwrap();
    let out = client(&server, &key, &["push", csv.to_str().unwrap()]);
    let said = stderr(&out);
    some_rejected(out);
    assert!(said.contains("row 3: hireDate: "), "{said}");
    assert!(said.contains("2 received, 1 accepted, 1 rejected"), "{said}");

    // A strict source refuses the whole file: every error printed, exit 1.
    let set = ok(client(&server, &key, &["sources", "set", "payroll", "--validation", "strict"]));
    assert_eq!(serde_json::from_str::<Value>(&set).unwrap()["validation"], "strict");
    let before = feed_count(&server, &key).await;
    let strict = dir.path().join("payroll.csv");
    std::fs::write(&strict, "externalId,hireDate,emails\nS1,2024-01-02,s1@example.com\nS2,someday,s2@example.com\nS3,2024-01-02,nope\n")
        .unwrap();
    let out = client(&server, &key, &["push", strict.to_str().unwrap(), "--source", "payroll"]);
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(1));
    let said = stderr(&out);
    assert!(said.contains("row 3: hireDate: "), "{said}");
    assert!(said.contains("row 4: emails[0]"), "{said}");
    assert!(said.contains("422") && said.contains("strict"), "{said}");
    assert!(out.stdout.is_empty(), "no feed id is printed");
    let out = client(&server, &key, &["push", file.to_str().unwrap(), "--source", "payroll"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("record 3: hireDate: "), "{}", stderr(&out));
    assert_eq!(feed_count(&server, &key).await, before, "nothing of a refused file was queued");
    let people = get(&server.base, &key, "/v1/people?limit=1000").await;
    assert!(!people.to_string().contains("\"S1\""), "the valid row of a strict file was not stored");
    server.terminate();
}

#[tokio::test]
async fn the_deletion_threshold_set_by_the_cli_decides_whether_a_snapshot_halts() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path(), "acme");
    let server = Server::start(dir.path());
    let file = dir.path().join("hris.csv");
    let snapshot = |ids: std::ops::Range<usize>| {
        let mut csv = String::from("externalId,name.givenName,department\n");
        for i in ids {
            csv.push_str(&format!("H{i:02},Given{i},Ops\n"));
        }
        std::fs::write(&file, csv).unwrap();
        let out = ok(client(&server, &key, &["push", file.to_str().unwrap(), "--source", "hris", "--full"]));
        out.trim().to_owned()
    };
    let (base, k) = (server.base.as_str(), key.as_str());
    let settle = |feed: String| async move {
        let f = wait_settled(base, k, &feed).await;
        // A snapshot judges people written before it: let the clock move on.
        tokio::time::sleep(Duration::from_millis(5)).await;
        (feed, f)
    };
    let (_, f) = settle(snapshot(0..20)).await;
    assert_eq!(f["status"], "completed");

    // Defaults (20% or 5 people): 6 of 20 missing halts the snapshot...
    let (id, f) = settle(snapshot(0..14)).await;
    assert_eq!(f["status"], "halted", "{f}");
    // ...and an operator rejects it: nobody leaves.
    let said = ok(client(&server, &key, &["feeds", "reject", &id]));
    assert!(said.contains(&format!("feed {id} is rejected")) && said.contains("6 of 20"), "{said}");
    assert!(said.contains("0 deactivated"), "{said}");
    assert_eq!(wait_settled(&server.base, &key, &id).await["status"], "rejected");
    assert_eq!(active_people(&server, &key).await, 20);
    let again = client(&server, &key, &["feeds", "reject", &id]);
    assert!(!again.status.success(), "a decided feed cannot be decided again");
    assert!(stderr(&again).contains("409"), "{}", stderr(&again));

    // 30% of 20 allows 6 leavers: the same snapshot now goes through.
    let set = ok(client(&server, &key, &["sources", "set", "hris", "--threshold-percent", "30"]));
    let set: Value = serde_json::from_str(&set).unwrap();
    assert_eq!(
        (set["deletionThresholdPercent"].as_u64(), set["deletionThresholdFloor"].as_u64()),
        (Some(30), Some(5))
    );
    let (_, f) = settle(snapshot(0..14)).await;
    assert_eq!((f["status"].as_str(), f["counts"]["leavers"].as_u64()), (Some("completed"), Some(6)), "{f}");
    assert_eq!(active_people(&server, &key).await, 14);

    // The floor: with no percentage, 3 leavers are allowed, 4 halt...
    ok(client(
        &server,
        &key,
        &["sources", "set", "hris", "--threshold-percent", "0", "--threshold-floor", "3"],
    ));
    let (_, f) = settle(snapshot(0..10)).await;
    assert_eq!(f["status"], "halted", "{f}");
    assert!(f["reconciliation"]["reason"].as_str().unwrap().contains("4 of 14"), "{f}");
    // ...a floor of 4 lets them go.
    ok(client(&server, &key, &["sources", "set", "hris", "--threshold-floor", "4"]));
    let listing = ok(client(&server, &key, &["sources", "ls"]));
    assert!(
        listing.lines().any(|l| l.starts_with("hris") && l.contains("0%") && l.contains(" 4 ")),
        "{listing}"
    );
    let (_, f) = settle(snapshot(0..10)).await;
    assert_eq!((f["status"].as_str(), f["counts"]["leavers"].as_u64()), (Some("completed"), Some(4)), "{f}");
    assert_eq!(active_people(&server, &key).await, 10);
    server.terminate();
}
