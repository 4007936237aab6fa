//! The cluster at the process level (issue 16's proof): two ingest-only
//! nodes (`roster serve --workers 0`) and one `roster worker` over one
//! PostgreSQL database and one SQS FIFO queue on moto, concurrent clients
//! pushing to both nodes, a webhook receiver, and `kill -9` of a random
//! node at random moments with restarts. Then: every record whose request
//! got `202` is applied exactly once in effect, no person has a duplicated
//! history row or a second `person.joined`, every event reached the
//! receiver at least once and in order per person, and the alarm rule
//! notified each transition once, also when the worker holding the alarms
//! is killed while the alarm is on.
//!
//! Needs `ROSTER_TEST_POSTGRES_URL` and `ROSTER_TEST_SQS_ENDPOINT` (both set
//! by `scripts/test`, which also sets `ROSTER_REQUIRE_POSTGRES` and
//! `ROSTER_REQUIRE_SQS`: then a missing service fails the test).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

mod process;
use process::{
    BIN, Process, Rng, all_pages, free_port, get_ok, last_line_of, new_database, post_json, start_logged,
    unique, wait_for,
};

const PERSON_EVENTS: [&str; 5] =
    ["person.joined", "person.moved", "person.updated", "person.left", "person.rehired"];

const METRICS_TOKEN: &str = "cluster-metrics-token-0123456789";
const CLIENTS: usize = 4;
const BATCH: usize = 20;
const KILLS: usize = 6;
/// Acknowledged requests (of `BATCH` records each) the check needs.
const MIN_ACKED: usize = 2 * KILLS;

fn services() -> Option<(String, String)> {
    let pg = std::env::var("ROSTER_TEST_POSTGRES_URL");
    let sqs = std::env::var("ROSTER_TEST_SQS_ENDPOINT");
    match (pg, sqs) {
        (Ok(pg), Ok(sqs)) => Some((pg, sqs)),
        _ => {
            assert!(
                std::env::var_os("ROSTER_REQUIRE_POSTGRES").is_none()
                    && std::env::var_os("ROSTER_REQUIRE_SQS").is_none(),
                "ROSTER_REQUIRE_POSTGRES or ROSTER_REQUIRE_SQS is set but its service's URL is not"
            );
            eprintln!(
                "PostgreSQL or SQS not configured: the cluster test did not run (scripts/test runs it)"
            );
            None
        }
    }
}

/// What every node of the cluster is started with.
struct Shape {
    env: Vec<(String, String)>,
    logs: PathBuf,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Serve,
    Worker,
}

struct Node {
    kind: Kind,
    port: u16,
    name: &'static str,
    process: Option<Process>,
    starts: usize,
}

impl Node {
    fn start(&mut self, shape: &Shape) {
        let log = shape.logs.join(format!("{}-{}.log", self.name, self.starts));
        self.starts += 1;
        let mut cmd = Command::new(BIN);
        match self.kind {
            Kind::Serve => cmd.args(["serve", "--workers", "0"]),
            Kind::Worker => cmd.args(["worker"]),
        };
        cmd.args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .envs(shape.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null());
        self.process = Some(start_logged(&mut cmd, self.port, &log));
    }

    fn kill_9(&mut self) {
        self.process = None; // dropped: SIGKILL, reaped
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// What the receiver got, in arrival order: lifecycle events as
/// (webhook-id, person's external id), alarm notifications as (alarm, state).
#[derive(Default)]
struct Received {
    events: Mutex<Vec<(String, String)>>,
    alarms: Mutex<Vec<(String, String)>>,
}

async fn receiver() -> (String, Arc<Received>) {
    let state = Arc::new(Received::default());
    let app = Router::new()
        .route(
            "/hook",
            post(|State(r): State<Arc<Received>>, headers: HeaderMap, body: Bytes| async move {
                let id =
                    headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let event: Value = serde_json::from_slice(&body).unwrap_or_default();
                let person = event["payload"]["person"]["externalId"].as_str().unwrap_or_default().to_owned();
                r.events.lock().unwrap().push((id, person));
            }),
        )
        .route(
            "/alarm",
            post(|State(r): State<Arc<Received>>, body: Bytes| async move {
                let n: Value = serde_json::from_slice(&body).unwrap_or_default();
                let alarm = n["alarm"].as_str().unwrap_or_default().to_owned();
                r.alarms.lock().unwrap().push((alarm, n["state"].as_str().unwrap_or_default().to_owned()));
            }),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, state)
}

/// Request `b` of client `c`: `BATCH` new people, and the client's own
/// mover with a new title (so a person has many events, whose order counts).
fn request(c: usize, b: usize) -> Vec<Value> {
    let mut records: Vec<Value> = (0..BATCH)
        .map(|i| json!({"externalId": format!("C{c}-B{b:04}-R{i:02}"), "title": format!("T{c}"), "department": "Ops"}))
        .collect();
    records.push(json!({"externalId": format!("M{c}"), "title": format!("Step {b}"), "department": "Ops"}));
    records
}

fn config_file(dir: &Path, receiver: &str) -> PathBuf {
    let path = dir.join("roster.toml");
    std::fs::write(
        &path,
        format!(
            r#"
alarm_interval_secs = 1
schedule_interval_secs = 1
# Uploads cut by a kill are failed soon, so a later snapshot is judged.
upload_stall_secs = 3
database_pool_size = 6

[[alarms]]
name = "halted"
metric = "halted_feeds"
comparison = ">="
threshold = 1

[notifiers]
webhook = [{{ url = "{receiver}/alarm" }}]

[outbox]
allow_insecure_endpoints = true
allow_private_endpoints = true
poll_interval_ms = 50
retry_base_ms = 100
retry_cap_ms = 500
max_attempts = 100
"#
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_any_node_of_a_cluster_loses_doubles_and_reorders_nothing() {
    let Some((pg_admin, sqs)) = services() else { return };
    let mut rng = Rng::seeded("cluster test");
    let dir = tempfile::tempdir().unwrap();

    let url = new_database(&pg_admin, "cluster").await;
    let queue = format!("roster-cluster-{}", unique());
    roster_queue::SqsQueue::create(roster_queue::SqsQueue::emulator_client(&sqs), &queue, 5).await.unwrap();
    let (hooks, received) = receiver().await;
    let config = config_file(dir.path(), &hooks);
    let env: Vec<(String, String)> = [
        ("ROSTER_STORE", "postgres".to_owned()),
        ("ROSTER_DATABASE_URL", url.clone()),
        ("ROSTER_QUEUE", "sqs".to_owned()),
        ("ROSTER_SQS_QUEUE_URL", format!("{sqs}/123456789012/{queue}.fifo")),
        ("ROSTER_SQS_DLQ_URL", format!("{sqs}/123456789012/{queue}-dlq.fifo")),
        ("ROSTER_SQS_ENDPOINT_URL", sqs.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("ROSTER_CONFIG", config.display().to_string()),
        ("ROSTER_DATA_DIR", dir.path().join("data").display().to_string()),
        ("ROSTER_METRICS_TOKEN", METRICS_TOKEN.to_owned()),
        ("ROSTER_RATE_LIMIT_PER_SEC", "0".to_owned()),
        ("ROSTER_BATCH_SIZE", "16".to_owned()),
        // Messages in flight at a kill come back after this.
        ("ROSTER_VISIBILITY_TIMEOUT_SECS", "2".to_owned()),
        // A killed worker's jobs are taken over within this.
        ("ROSTER_LEASE_TTL_SECS", "3".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let shape = Shape { env, logs: dir.path().to_owned() };

    let key = last_line_of(
        Command::new(BIN)
            .args(["tenants", "create", "acme"])
            .envs(shape.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap(),
    );

    let mut nodes = vec![
        Node { kind: Kind::Serve, port: free_port(), name: "serve-a", process: None, starts: 0 },
        Node { kind: Kind::Serve, port: free_port(), name: "serve-b", process: None, starts: 0 },
        Node { kind: Kind::Worker, port: free_port(), name: "worker", process: None, starts: 0 },
    ];
    for n in &mut nodes {
        n.start(&shape);
    }
    let bases: Vec<String> = nodes[..2].iter().map(Node::base).collect();
    let worker = nodes[2].base();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
    // Person events: their order per person is what is checked (feed
    // events have no person).
    let endpoint = json!({"url": format!("{hooks}/hook"), "eventTypes": PERSON_EVENTS});
    let res = post_json(&http, &format!("{}/v1/endpoints", bases[0]), &key, &endpoint).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

    // (client, request) → answered 202?
    let ledger: Arc<Mutex<HashMap<(usize, usize), bool>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (ledger, stop, http, bases, key) =
            (ledger.clone(), stop.clone(), http.clone(), bases.clone(), key.clone());
        clients.push(tokio::spawn(async move {
            let mut b = 0;
            while !stop.load(Ordering::SeqCst) {
                // Each client alternates between the two ingest nodes.
                let base = &bases[(c + b) % 2];
                let res = http
                    .post(format!("{base}/integrations/hr-feed"))
                    .bearer_auth(&key)
                    .json(&json!({"records": request(c, b)}))
                    .send()
                    .await;
                let acked = matches!(&res, Ok(r) if r.status() == 202);
                if let Ok(r) = &res {
                    assert!(r.status() == 202 || r.status().is_server_error(), "unexpected {}", r.status());
                }
                ledger.lock().unwrap().insert((c, b), acked);
                b += 1;
                if !acked {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
            }
        }));
    }

    let mut killed = [0; 3];
    // Each node at least once (the worker twice), the rest at random.
    let mut order = vec![2, 0, 2, 1];
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(400 + rng.next() % 1000)).await;
        let n = if !order.is_empty() {
            order.swap_remove(rng.next() as usize % order.len())
        } else {
            (rng.next() % 3) as usize
        };
        killed[n] += 1;
        nodes[n].kill_9();
        tokio::time::sleep(Duration::from_millis(rng.next() % 300)).await;
        nodes[n].start(&shape);
    }
    eprintln!("killed (serve-a, serve-b, worker): {killed:?}");
    // moto's SendMessageBatch costs time linear in the queue's backlog
    // (it recounts every message per entry), so how many requests a killed
    // worker's backlog lets through varies: push on until there is enough
    // evidence rather than for a fixed time.
    wait_for("enough acknowledged requests", 120, async || {
        ledger.lock().unwrap().values().filter(|a| **a).count() >= MIN_ACKED
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }

    // The worker drains the queue.
    wait_for("the queue to drain", 90, async || {
        let ready = get_ok(&http, &format!("{worker}/readyz"), METRICS_TOKEN).await;
        let q = &ready["queue"];
        assert_eq!(q["deadLetters"], 0, "nothing may be dead-lettered: {ready}");
        q["visible"] == 0 && q["inFlight"] == 0 && q["delayed"] == 0
    })
    .await;

    let people: HashMap<String, Value> = all_pages(&http, &bases[1], "/v1/people", &key)
        .await
        .into_iter()
        .map(|p| (p["externalId"].as_str().unwrap().to_owned(), p))
        .collect();
    let ledger = ledger.lock().unwrap().clone();
    let acked = ledger.values().filter(|a| **a).count();
    eprintln!("{} requests, {acked} acknowledged, {} people", ledger.len(), people.len());
    assert!(acked >= MIN_ACKED, "too few acknowledged requests to prove anything");
    for (&(c, b), &was_acked) in &ledger {
        for i in 0..BATCH {
            let id = format!("C{c}-B{b:04}-R{i:02}");
            match people.get(&id) {
                Some(p) => {
                    assert_eq!(p["title"], format!("T{c}"), "{id}");
                    assert_eq!(p["version"], 1, "{id} applied more than once");
                }
                None => assert!(!was_acked, "acknowledged request ({c},{b}) lost {id}"),
            }
        }
    }
    for id in people.keys() {
        let (c, b) = match id.strip_prefix('C').and_then(|r| r.split_once("-B")) {
            Some((c, rest)) => (c.parse().unwrap(), rest[..4].parse().unwrap()),
            None => continue,
        };
        assert!(ledger.contains_key(&(c, b)), "{id}: no request sent it");
    }

    // Events, in the directory's order: one `person.joined` per person, as
    // many history rows as events, and the receiver got each in order.
    let events = all_pages(&http, &bases[0], "/v1/events", &key).await;
    let mut by_person: HashMap<String, Vec<String>> = HashMap::new();
    let mut joined: HashMap<String, usize> = HashMap::new();
    for e in events.iter().filter(|e| PERSON_EVENTS.contains(&e["type"].as_str().unwrap())) {
        let person = e["payload"]["person"]["externalId"].as_str().unwrap().to_owned();
        if e["type"] == "person.joined" {
            *joined.entry(person.clone()).or_default() += 1;
        }
        by_person.entry(person).or_default().push(e["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(joined.len(), people.len(), "every person joined");
    assert!(joined.values().all(|n| *n == 1), "a second person.joined");
    let sample = people
        .keys()
        .filter(|id| id.ends_with("R07"))
        .take(10)
        .chain(people.keys().filter(|id| id.starts_with('M')));
    for id in sample {
        let p = get_ok(&http, &format!("{}/v1/people/{id}?history=true", bases[0]), &key).await;
        assert_eq!(
            p["history"].as_array().unwrap().len(),
            by_person[id].len(),
            "{id}: a history row per event"
        );
    }
    wait_for("every event to reach the receiver", 60, async || {
        let got: HashSet<String> = received.events.lock().unwrap().iter().map(|(id, _)| id.clone()).collect();
        by_person.values().flatten().all(|id| got.contains(id))
    })
    .await;
    let mut first: HashMap<String, Vec<String>> = HashMap::new();
    let mut seen = HashSet::new();
    let got = received.events.lock().unwrap().clone();
    for (id, person) in &got {
        if seen.insert(id.clone()) {
            first.entry(person.clone()).or_default().push(id.clone());
        }
    }
    assert_eq!(first, by_person, "each person's events reached the receiver in order");
    eprintln!("{} events, {} deliveries", events.len(), got.len());

    // An alarm transition, with every node up: notified once by the cluster.
    let snapshot = json!({"mode": "full", "records": [{"externalId": "M0", "department": "Ops"}]});
    let res = post_json(&http, &format!("{}/integrations/hr-feed", bases[1]), &key, &snapshot).await;
    assert_eq!(res.status(), 202);
    let feed: Value = res.json().await.unwrap();
    let feed_id = feed["feedId"].as_str().unwrap().to_owned();
    wait_for("the snapshot to halt", 60, async || {
        get_ok(&http, &format!("{}/v1/feeds/{feed_id}", bases[0]), &key).await["status"] == "halted"
    })
    .await;
    let alarms = || received.alarms.lock().unwrap().clone();
    wait_for("the alarm to be notified", 30, async || !alarms().is_empty()).await;
    // The worker, which holds the alarms, dies with the alarm on: restarted,
    // it takes the lease over once the old holding expires and goes on from
    // the recorded ALARM, without notifying it again.
    nodes[2].kill_9();
    nodes[2].start(&shape);
    wait_for("the restarted worker to show the alarm", 30, async || {
        let res = http.get(format!("{worker}/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
        let metrics = res.text().await.unwrap();
        let on = r#"roster_alarm_state{alarm="halted",state="ALARM"} 1"#;
        metrics.lines().any(|l| l == on)
    })
    .await;
    let res =
        http.post(format!("{}/v1/feeds/{feed_id}/reject", bases[0])).bearer_auth(&key).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    wait_for("the alarm to clear", 30, async || alarms().len() >= 2).await;
    // Time for a second node's notification, were there one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let halted = |(a, s): &(String, String)| (a == "halted").then(|| s.clone());
    assert_eq!(alarms().iter().filter_map(halted).collect::<Vec<_>>(), ["ALARM", "OK"]);
}
