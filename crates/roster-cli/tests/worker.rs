//! `roster worker` and the ingest-only node as processes, as an operator
//! runs a cluster's two kinds of node: a `serve --workers 0` node takes
//! feeds and runs no job; the worker applies them and runs the jobs under
//! their leases, with only `/healthz`, `/readyz` and `/metrics` on its own
//! address; `/readyz` names the dependency that is down.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

mod process;
use process::{BIN, Process, create_tenant, free_port, get_json, post_json, start_logged, wait_for};

const METRICS_TOKEN: &str = "worker-metrics-token-0123456789";

struct Node {
    _process: Process,
    log: std::path::PathBuf,
    base: String,
}

impl Node {
    fn start(command: &str, data_dir: &Path, name: &str, envs: &[(&str, String)]) -> Node {
        let port = free_port();
        let log = data_dir.join(format!("{name}.log"));
        let mut cmd = Command::new(BIN);
        cmd.arg(command)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("ROSTER_DATA_DIR", data_dir)
            .env("ROSTER_METRICS_TOKEN", METRICS_TOKEN)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let process = start_logged(&mut cmd, port, &log);
        Node { _process: process, log, base: format!("http://127.0.0.1:{port}") }
    }

    fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines (a service's stderr is not a terminal).
    fn lines(&self) -> Vec<Value> {
        self.logged().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// The leases this node took, by the log.
    fn leases_taken(&self) -> Vec<String> {
        self.lines()
            .iter()
            .filter(|l| l["message"] == "lease taken: this node runs the job")
            .map(|l| l["lease"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The `jobs` field of the start-up line.
    fn runs_jobs(&self) -> Option<bool> {
        self.lines()
            .iter()
            .find(|l| l["message"].as_str().is_some_and(|m| m.starts_with("roster")))
            .and_then(|l| l["jobs"].as_bool())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_applies_what_an_ingest_only_node_takes_and_serves_only_health_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path());
    // Alarms evaluated every second, so the worker records them soon.
    let config = dir.path().join("worker.toml");
    std::fs::write(&config, "alarm_interval_secs = 1\n").unwrap();
    let fast =
        [("ROSTER_LEASE_TTL_SECS", "3".to_owned()), ("ROSTER_CONFIG", config.to_str().unwrap().to_owned())];
    let ingest = Node::start("serve", dir.path(), "serve", &[("ROSTER_WORKERS", "0".into())]);
    let worker = Node::start("worker", dir.path(), "worker", &fast);
    let http = reqwest::Client::new();

    // The worker: health, readiness and metrics; no public API.
    let health = http.get(worker.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: Value = http.get(worker.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    let figures = get_json(&http, &worker.url("/readyz"), METRICS_TOKEN).await;
    assert!(figures["queue"]["visible"].is_u64(), "{figures}");
    let metrics = http.get(worker.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    for (method, path) in [("POST", "/integrations/hr-feed"), ("GET", "/v1/people"), ("GET", "/v1/feeds")] {
        let res = http
            .request(method.parse().unwrap(), worker.url(path))
            .bearer_auth(&key)
            .json(&json!({"records": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{method} {path} on a worker");
    }

    // A feed taken by the ingest node is applied by the worker.
    let records: Vec<Value> =
        (0..5).map(|i| json!({"externalId": format!("W{i}"), "department": "Ops"})).collect();
    let res =
        post_json(&http, &ingest.url("/integrations/hr-feed"), &key, &json!({"records": records})).await;
    assert_eq!(res.status(), 202);
    let feed: Value = res.json().await.unwrap();
    let path = format!("/v1/feeds/{}", feed["feedId"].as_str().unwrap());
    wait_for("the worker to apply the feed", 30, async || {
        let f = get_json(&http, &ingest.url(&path), &key).await;
        f["status"] == "completed" && f["counts"]["applied"] == 5
    })
    .await;

    // The jobs run on the worker, each under its lease; the ingest-only
    // node runs none.
    wait_for("the worker to take its leases", 30, async || {
        let mut taken = worker.leases_taken();
        taken.sort();
        taken == ["alarms", "outbox", "scheduler"]
    })
    .await;
    assert_eq!(worker.runs_jobs(), Some(true), "{}", worker.logged());
    assert!(ingest.logged().contains("roster is serving"));
    assert_eq!(ingest.runs_jobs(), Some(false), "{}", ingest.logged());
    assert_eq!(ingest.leases_taken(), Vec::<String>::new(), "an ingest-only node took a lease");
    assert!(worker.logged().contains("roster worker is running"));
    // The worker evaluates the alarms; the ingest node shows what it
    // recorded in the directory, to an operator key only.
    let alarms = http.get(ingest.url("/v1/alarms")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(alarms.status(), 403, "alarms count every tenant's data: not for a tenant's key");
    let operator = process::last_line_of(
        Command::new(BIN)
            .args(["operators", "create", "ops"])
            .env("ROSTER_DATA_DIR", dir.path())
            .output()
            .unwrap(),
    );
    wait_for("the ingest node to show the worker's alarm states", 30, async || {
        let alarms = get_json(&http, &ingest.url("/v1/alarms"), &operator).await;
        let dlq =
            alarms["items"].as_array().and_then(|a| a.iter().find(|i| i["name"] == "dlq_depth")).cloned();
        alarms["evaluatedHere"] == false
            && dlq.is_some_and(|d| {
                d["state"] == "OK" && d["reason"].as_str().is_some_and(|r| r.contains("dlq_depth"))
            })
    })
    .await;
}

/// An ingest-only node told to (`--jobs true`) runs the jobs too.
#[tokio::test]
async fn an_ingest_only_node_runs_the_jobs_only_when_told_to() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path());
    let node = Node::start(
        "serve",
        dir.path(),
        "serve",
        &[("ROSTER_WORKERS", "0".into()), ("ROSTER_JOBS", "true".into())],
    );
    wait_for("the node to take its leases", 30, async || node.leases_taken().len() == 3).await;
    // The jobs start (and log their leases) before the start-up line is
    // written: wait for it too.
    wait_for("the start-up line", 30, async || node.runs_jobs().is_some()).await;
    assert_eq!(node.runs_jobs(), Some(true));
}

/// `/readyz` names the dependency that does not answer, in a problem
/// document, on the worker as on an API node.
#[tokio::test]
async fn readyz_names_the_dependency_that_is_down() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path());
    // An SQS endpoint where nothing listens.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let sqs = [
        ("ROSTER_QUEUE", "sqs".to_owned()),
        ("ROSTER_SQS_QUEUE_URL", format!("{dead}/123456789012/q.fifo")),
        ("ROSTER_SQS_DLQ_URL", format!("{dead}/123456789012/q-dlq.fifo")),
        ("ROSTER_SQS_ENDPOINT_URL", dead.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("ROSTER_WORKERS", "0".to_owned()),
    ];
    for command in ["worker", "serve"] {
        let node = Node::start(command, dir.path(), command, &sqs);
        let res = reqwest::get(node.url("/readyz")).await.unwrap();
        assert_eq!(res.status(), 503, "{command}");
        assert!(res.headers().contains_key("retry-after"));
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["dependency"], "queue", "{command}: {problem}");
        assert_eq!(problem["code"], "not_ready", "{problem}");
        assert!(problem["detail"].as_str().unwrap().starts_with("queue not ready"), "{problem}");
    }
}
