//! Crash safety for real: `roster serve` as a separate process, concurrent
//! clients pushing, `kill -9` at random moments, restarts — and then every
//! record whose request got a 202 is applied exactly once, and no request
//! that got no answer left half a batch.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

const BIN: &str = env!("CARGO_BIN_EXE_roster");
/// The server's metrics token: `/readyz` shows the queue's figures to it.
const METRICS_TOKEN: &str = "test-metrics-token-0123456789";
const CLIENTS: usize = 4;
const BATCH: usize = 40;
const KILLS: usize = 6;

fn start(data_dir: &Path, port: u16) -> Child {
    let child = Command::new(BIN)
        .arg("serve")
        .env("ROSTER_DATA_DIR", data_dir)
        .env("ROSTER_LISTEN", format!("127.0.0.1:{port}"))
        .env("ROSTER_METRICS_TOKEN", METRICS_TOKEN)
        .env("ROSTER_BATCH_SIZE", "16")
        // Messages in flight at a kill come back after this.
        .env("ROSTER_VISIBILITY_TIMEOUT_SECS", "2")
        .env("RUST_LOG", "error")
        // Four clients as fast as they can: durability is tested here, not the rate limit.
        .env("ROSTER_RATE_LIMIT_PER_SEC", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "roster serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// A small deterministic generator; the seed is printed so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn record(client: usize, batch: usize, i: usize) -> Value {
    json!({
        "externalId": format!("C{client}-B{batch:04}-R{i:02}"),
        "name": {"givenName": format!("G{i}"), "familyName": format!("F{batch}")},
        "title": format!("T{client}"),
        "department": "Ops"
    })
}

#[derive(Default)]
struct Ledger {
    /// (client, batch) → answered with 202?
    outcomes: HashMap<(usize, usize), bool>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_and_doubles_nothing() {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("crash test seed: {seed}");
    let mut rng = Rng(seed);

    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["tenants", "create", "acme"])
        .env("ROSTER_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");

    let mut server = start(dir.path(), port);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (ledger, stop, http, base, key) =
            (ledger.clone(), stop.clone(), http.clone(), base.clone(), key.clone());
        clients.push(tokio::spawn(async move {
            let mut b = 0;
            while !stop.load(Ordering::SeqCst) {
                let records: Vec<Value> = (0..BATCH).map(|i| record(c, b, i)).collect();
                let res = http
                    .post(format!("{base}/integrations/hr-feed"))
                    .bearer_auth(&key)
                    .json(&json!({"records": records}))
                    .send()
                    .await;
                let acked = matches!(&res, Ok(r) if r.status() == 202);
                if let Ok(r) = &res {
                    assert!(r.status() == 202 || r.status().is_server_error(), "unexpected {}", r.status());
                }
                ledger.lock().await.outcomes.insert((c, b), acked);
                b += 1;
                if !acked {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }
        }));
    }

    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(150 + rng.next() % 600)).await;
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(rng.next() % 100)).await;
        server = start(dir.path(), port);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }

    // Let the consumer drain the queue, then compare the directory with the ledger.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready: Value = http
            .get(format!("{base}/readyz"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let q = &ready["queue"];
        if q["visible"] == 0 && q["inFlight"] == 0 && q["delayed"] == 0 {
            assert_eq!(q["deadLetters"], 0, "nothing may be dead-lettered");
            break;
        }
        assert!(Instant::now() < deadline, "queue did not drain: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut people: HashMap<String, Value> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/people?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: Value = http.get(url).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        for p in page["items"].as_array().unwrap() {
            people.insert(p["externalId"].as_str().unwrap().to_owned(), p.clone());
        }
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }

    let ledger = ledger.lock().await;
    let acked = ledger.outcomes.values().filter(|a| **a).count();
    eprintln!("{} requests, {acked} acknowledged, {} people", ledger.outcomes.len(), people.len());
    assert!(acked >= KILLS, "too few acknowledged requests to prove anything");
    let mut expected_people = 0;
    for (&(c, b), &was_acked) in &ledger.outcomes {
        let present: Vec<bool> =
            (0..BATCH).map(|i| people.contains_key(&format!("C{c}-B{b:04}-R{i:02}"))).collect();
        let all = present.iter().all(|p| *p);
        let none = present.iter().all(|p| !*p);
        assert!(all || none, "request ({c},{b}) left half a batch");
        if was_acked {
            assert!(all, "acknowledged request ({c},{b}) lost records");
        }
        if all {
            expected_people += BATCH;
            for i in 0..BATCH {
                let want = record(c, b, i);
                let got = &people[&format!("C{c}-B{b:04}-R{i:02}")];
                assert_eq!(got["name"], want["name"]);
                assert_eq!(got["title"], want["title"]);
                assert_eq!(got["version"], 1, "applied more than once");
            }
        }
    }
    assert_eq!(people.len(), expected_people, "people that no request sent");

    // No duplicate history rows: sample persons across all clients.
    for (&(c, b), _) in ledger.outcomes.iter().filter(|(_, a)| **a).take(20) {
        let id = format!("C{c}-B{b:04}-R07");
        let p: Value = http
            .get(format!("{base}/v1/people/{id}?history=true"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(p["history"].as_array().unwrap().len(), 1);
    }
    let mut joined = 0;
    let mut cursor = String::new();
    loop {
        let url = format!("{base}/v1/events?limit=1000{cursor}");
        let page: Value = http.get(url).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        joined += items.iter().filter(|e| e["type"] == "person.joined").count();
        match page["next"].as_str() {
            Some(n) => cursor = format!("&cursor={n}"),
            None => break,
        }
    }
    assert_eq!(joined, expected_people, "one joined event per person");
    server.kill().unwrap();
    server.wait().unwrap();
}
