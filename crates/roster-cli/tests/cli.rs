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
    assert!(ok(roster(&["tenants", "ls"], dir.path())).contains("acme"));
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
