//! `metrics_format = "emf"`: `roster serve` writes the engine's metrics as
//! CloudWatch Embedded Metric Format lines on stdout (logs stay on stderr),
//! each line valid by the format's rules, with the counts of what it did.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use roster_server::metrics::emf;
use serde_json::{Value, json};

mod process;
use process::{BIN, free_port, last_line_of, start};

fn create_tenant(data_dir: &Path) -> String {
    last_line_of(
        Command::new(BIN)
            .args(["tenants", "create", "acme", "--init"])
            .env("ROSTER_DATA_DIR", data_dir)
            .output()
            .unwrap(),
    )
}

fn lines(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    std::io::BufReader::new(file).lines().map_while(Result::ok).collect()
}

/// The sum of `metric` over the lines whose dimensions are exactly `dims`.
fn total(docs: &[Value], metric: &str, dims: &[(&str, &str)]) -> f64 {
    docs.iter()
        .filter(|d| {
            let set = &d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0];
            let keys: Vec<&str> = set.as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
            keys.len() == dims.len() && dims.iter().all(|(k, v)| keys.contains(k) && d[*k] == *v)
        })
        .filter_map(|d| d[metric].as_f64())
        .sum()
}

#[tokio::test]
async fn serve_writes_valid_emf_lines_with_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_tenant(dir.path());
    let config = dir.path().join("roster.toml");
    std::fs::write(&config, "metrics_format = \"emf\"\nemf_interval_secs = 1\n").unwrap();
    let port = free_port();
    let out_path = dir.path().join("stdout");
    let mut child = start(
        Command::new(BIN)
            .args(["serve"])
            .env("ROSTER_DATA_DIR", dir.path())
            .env("ROSTER_CONFIG", &config)
            .env("ROSTER_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(Stdio::null()),
        port,
    );
    let base = format!("http://127.0.0.1:{port}");

    let http = reqwest::Client::new();
    let body =
        json!({"records": [{"externalId": "E1"}, {"externalId": "E2"}, {"externalId": "bad id\u{1}"}]});
    let res =
        http.post(format!("{base}/integrations/hr-feed")).bearer_auth(&key).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 202);
    let feed: Value = res.json().await.unwrap();
    let tenant: Value =
        http.get(format!("{base}/v1/whoami")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
    let tenant_id = tenant["tenant"]["id"].as_str().unwrap().trim_start_matches("ten_").to_owned();

    // The flushes come every second: wait for one after the feed completed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let docs: Vec<Value> = loop {
        let f: Value = http
            .get(format!("{base}/v1/feeds/{}", feed["feedId"].as_str().unwrap()))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let all = lines(&out_path);
        let docs: Vec<Value> =
            all.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
        let done = f["status"] == "completed_with_errors";
        if done && total(&docs, "Feeds", &[("Status", "completed_with_errors")]) >= 1.0 {
            break docs;
        }
        assert!(Instant::now() < deadline, "no EMF line shows the completed feed: {all:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = child.0.kill();
    let _ = child.0.wait();

    for line in lines(&out_path) {
        emf::validate(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
    assert!(!docs.is_empty());
    assert!(docs.iter().all(|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Roster"));
    // Counters carry increments: their sum over the flushes is the count.
    assert_eq!(total(&docs, "RecordsAccepted", &[("Format", "json")]), 2.0, "the platform's total");
    assert_eq!(total(&docs, "RecordsAccepted", &[("Format", "json"), ("Tenant", &tenant_id)]), 2.0);
    assert_eq!(total(&docs, "RecordsRejected", &[("Format", "json")]), 1.0);
    assert_eq!(total(&docs, "MessagesDeleted", &[]), 2.0, "both applied: {docs:#?}");
    assert!(
        docs.iter().any(|d| d["ApplyDurationSeconds"].is_number() || d["ApplyDurationSeconds"].is_array())
    );
}
