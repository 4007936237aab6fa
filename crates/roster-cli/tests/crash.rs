//! Crash safety for real: `roster serve` as a separate process, concurrent
//! clients pushing, `kill -9` at random moments, restarts — and then every
//! record whose request got a 202 is applied exactly once, and no request
//! that got no answer left half a batch.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;

mod process;
use process::{BIN, Process, Rng, all_pages, create_tenant, drained, free_port, get_json};

/// The server's metrics token: `/readyz` shows the queue's figures to it.
const METRICS_TOKEN: &str = "test-metrics-token-0123456789";
const CLIENTS: usize = 4;
const BATCH: usize = 40;
const KILLS: usize = 6;

fn serve(data_dir: &Path, port: u16) -> Process {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
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
        .stderr(Stdio::null());
    process::start(&mut cmd, port)
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
    let mut rng = Rng::seeded("crash test");

    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");

    let mut server = serve(dir.path(), port);
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
        drop(server); // SIGKILL
        tokio::time::sleep(Duration::from_millis(rng.next() % 100)).await;
        server = serve(dir.path(), port);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }

    // Let the consumer drain the queue, then compare the directory with the ledger.
    let ready = drained(&http, &base, METRICS_TOKEN, 60).await;
    assert_eq!(ready["queue"]["deadLetters"], 0, "nothing may be dead-lettered");

    let people: HashMap<String, Value> = all_pages(&http, &base, "/v1/people", &key)
        .await
        .into_iter()
        .map(|p| (p["externalId"].as_str().unwrap().to_owned(), p))
        .collect();

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
        let p = get_json(&http, &format!("{base}/v1/people/{id}?history=true"), &key).await;
        assert_eq!(p["history"].as_array().unwrap().len(), 1);
    }
    let events = all_pages(&http, &base, "/v1/events", &key).await;
    let joined = events.iter().filter(|e| e["type"] == "person.joined").count();
    assert_eq!(joined, expected_people, "one joined event per person");
    drop(server);
}
