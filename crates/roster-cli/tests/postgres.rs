//! `roster` over the PostgreSQL directory, as a user runs it: `roster
//! migrate`, `roster tenants create` and `roster serve --store postgres` as
//! separate processes against the test server `scripts/test` starts
//! (`ROSTER_TEST_POSTGRES_URL`; with `ROSTER_REQUIRE_POSTGRES` set, a
//! missing server fails these tests instead of skipping them).

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod process;
use process::{BIN, Process as Server, free_port, start};

/// A password in the URL: the test server trusts local connections and
/// never asks for it, so it only shows whether Roster lets it out.
const PASSWORD: &str = "pw-never-logged-7c1e";

fn admin_url() -> Option<String> {
    match std::env::var("ROSTER_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var_os("ROSTER_REQUIRE_POSTGRES").is_none(),
                "ROSTER_REQUIRE_POSTGRES is set but ROSTER_TEST_POSTGRES_URL is not"
            );
            eprintln!(
                "ROSTER_TEST_POSTGRES_URL not set: PostgreSQL process test not run (scripts/test runs it)"
            );
            None
        }
    }
}

/// A new empty database on the test server; its URL, with the password.
async fn new_database(admin_url: &str) -> String {
    let url = process::new_database(admin_url, "cli").await;
    let url = url.replacen("postgres://postgres@", &format!("postgres://postgres:{PASSWORD}@"), 1);
    assert!(url.contains(PASSWORD), "the test URL names the user postgres: {admin_url}");
    url
}

fn roster(args: &[&str], url: &str, data_dir: &std::path::Path) -> Output {
    Command::new(BIN)
        .args(args)
        .env("ROSTER_STORE", "postgres")
        .env("ROSTER_DATABASE_URL", url)
        .env("ROSTER_DATA_DIR", data_dir)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains(PASSWORD), "the password reached stderr");
    assert!(out.status.success(), "roster failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn serve_over_postgres_applies_a_pushed_feed_end_to_end() {
    let Some(admin) = admin_url() else { return };
    let url = new_database(&admin).await;
    let dir = tempfile::tempdir().unwrap();

    // A deploy step migrates; a second run finds nothing to do.
    let out = ok(roster(&["migrate"], &url, dir.path()));
    assert!(out.contains("went from version 0 to"), "{out}");
    let out = ok(roster(&["migrate"], &url, dir.path()));
    assert!(out.contains("nothing to do"), "{out}");

    // Admin commands take the same settings (no data directory needed).
    let out = ok(roster(&["tenants", "create", "acme"], &url, &dir.path().join("none")));
    let key = out.lines().last().unwrap().trim().to_owned();
    assert!(key.starts_with("rk_live_"), "{out}");
    assert!(!dir.path().join("none").exists(), "nothing is made in a data directory");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let log = dir.path().join("serve.log");
    let child = Command::new(BIN)
        .args(["serve", "--store", "postgres"])
        .env("ROSTER_DATABASE_URL", &url)
        .env("ROSTER_DATA_DIR", dir.path())
        .env("ROSTER_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "roster serve did not start: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let http = reqwest::Client::new();
    let records: Vec<Value> = (0..40)
        .map(|i| match i {
            0 => json!({"externalId": "E00", "department": "Ops"}),
            _ => json!({"externalId": format!("E{i:02}"), "department": "Ops", "manager": "E00"}),
        })
        .collect();
    let res = http
        .post(format!("{base}/integrations/hr-feed"))
        .bearer_auth(&key)
        .json(&json!({"records": records}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let feed: Value = res.json().await.unwrap();
    assert_eq!(status, 202, "{feed}");
    let feed_id = feed["feedId"].as_str().expect("a feed id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let f: Value = http
            .get(format!("{base}/v1/feeds/{feed_id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if f["status"] == "completed" {
            break f;
        }
        assert!(Instant::now() < deadline, "the feed did not complete: {f}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["counts"]["applied"], 40, "{done}");
    let p: Value = http
        .get(format!("{base}/v1/people/E07"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["department"], "Ops", "{p}");
    let events: Value = http
        .get(format!("{base}/v1/events?limit=100"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = events["items"].as_array().expect("items");
    assert_eq!(items.len(), 41, "one event per joiner, then the feed's");
    assert!(items[..40].iter().all(|e| e["type"] == "person.joined"));
    assert_eq!(items[40]["type"], "feed.completed");

    drop(server);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("roster is serving"), "{logged}");
    assert!(!logged.contains(PASSWORD), "the password reached the log");
}

#[test]
fn postgres_without_a_url_is_refused_and_a_wrong_one_names_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["migrate", "--store", "postgres"])
        .env_remove("ROSTER_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs database_url"));
    // A socket directory with no server in it.
    let url = format!("postgres://postgres:{PASSWORD}@localhost/roster?host={}", dir.path().display());
    let out = roster(&["tenants", "create", "acme"], &url, dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PostgreSQL"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

/// `roster bench --store postgres` with tiny sizes, so it cannot rot: the
/// report's shape, every record applied with each worker count, and the
/// databases it made dropped again. Never a speed.
#[tokio::test]
async fn bench_on_postgres_reports_each_worker_count_with_every_record_applied() {
    let Some(admin) = admin_url() else { return };
    // Any database of the server will do: the bench makes its own.
    let url = new_database(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = Command::new(BIN)
        .args(["bench", "--store", "postgres", "--smoke", "--records", "300", "--batch", "100"])
        .args(["--e2e-seconds", "1", "--json", json_path.to_str().unwrap()])
        .env("ROSTER_DATABASE_URL", &url)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let table = ok(out);
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(report["params"]["store"], "postgres", "{report}");
    assert_eq!(report["params"]["queue"], "sqlite", "{report}");
    let results = report["results"].as_array().unwrap();
    let names: Vec<&str> = results.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["baseline", "end_to_end_1w", "end_to_end_2w", "end_to_end_4w"], "{table}");
    for r in results {
        let name = r["name"].as_str().unwrap();
        assert!(table.contains(name), "the table lacks {name}: {table}");
        assert!(r["value"].as_f64().is_some_and(|v| v > 0.0), "{name} measured nothing: {r}");
        assert_eq!(r["unit"], "records/s");
        if name == "baseline" {
            assert!(r["what"].as_str().unwrap().contains("synchronous_commit="), "{r}");
            continue;
        }
        assert!(r["ratio_to_baseline"].as_f64().is_some_and(|x| x > 0.0), "{r}");
        let d = &r["detail"];
        let sent = d["sent"].as_u64().unwrap();
        assert!(sent >= 300, "{r}");
        for what in ["applied", "history", "events"] {
            assert_eq!(
                d[what].as_u64(),
                Some(sent),
                "{name}: every record sent is a person, a history row and an event: {r}"
            );
        }
    }
    let admin = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&admin).await.unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'roster\\_bench\\_%'")
            .fetch_one(&admin)
            .await
            .unwrap();
    assert_eq!(left, 0, "the bench drops the databases it made");
}

/// Starts `roster serve --store postgres` with `env` and waits for it.
fn serve_node(url: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> (Server, String) {
    let port = free_port();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--store", "postgres", "--workers", "0"])
        .env("ROSTER_DATABASE_URL", url)
        .env("ROSTER_DATA_DIR", dir)
        .env("ROSTER_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .envs(env.iter().copied());
    (start(&mut cmd, port), format!("http://127.0.0.1:{port}"))
}

/// A credential's rate limit is the cluster's, not each node's: a key that
/// spreads its requests over two nodes gets its burst once, not twice.
#[tokio::test]
async fn a_keys_rate_limit_holds_across_the_nodes_of_a_cluster() {
    let Some(admin) = admin_url() else { return };
    let url = new_database(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let key = ok(roster(&["tenants", "create", "acme"], &url, dir.path()))
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    // A burst of 6 and almost no refill: the 7th request is over.
    let limits = [("ROSTER_RATE_LIMIT_PER_SEC", "0.01")];
    let config = dir.path().join("roster.toml");
    std::fs::write(&config, "rate_limit_burst = 6.0\n").unwrap();
    let config = config.to_str().unwrap().to_owned();
    let env = [limits[0], ("ROSTER_CONFIG", config.as_str())];
    let (_a, a) = serve_node(&url, dir.path(), &env);
    let (_b, b) = serve_node(&url, dir.path(), &env);

    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..10 {
        let base = if i % 2 == 0 { &a } else { &b };
        let res = http.get(format!("{base}/v1/people")).bearer_auth(&key).send().await.unwrap();
        if res.status() == 429 {
            assert!(res.headers().contains_key("retry-after"), "a 429 says when to come back");
        }
        statuses.push(res.status().as_u16());
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 6, "the burst is the cluster's: {statuses:?}");
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");

    // Another key has a bucket of its own.
    let other = ok_key(&url, dir.path());
    let res = http.get(format!("{b}/v1/people")).bearer_auth(&other).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// A second tenant's first key.
fn ok_key(url: &str, dir: &std::path::Path) -> String {
    ok(roster(&["tenants", "create", "globex"], url, dir)).lines().last().unwrap().trim().to_owned()
}
