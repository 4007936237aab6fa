//! `roster push FILE`: sends a JSON file of records in batches, with a
//! progress bar, retrying when the server asks to (429/503).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{Client, ServerArgs, json_or_problem, problem_text};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// A JSON file: `{"mode": ..., "records": [...]}` or a bare array of records.
    pub file: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Records per request (a delta feed is split into one feed per batch).
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Send as a full snapshot (one feed, never split).
    #[arg(long)]
    pub full: bool,
    /// Attempts per batch when the server is busy or unreachable.
    #[arg(long, default_value_t = 5)]
    pub attempts: u32,
}

pub async fn run(args: PushArgs) -> anyhow::Result<()> {
    let text = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let doc: Value = serde_json::from_slice(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid JSON (line {}, column {})",
            args.file.display(),
            e.line(),
            e.column()
        )
    })?;
    let (file_mode, records) = match doc {
        Value::Array(records) => (None, records),
        Value::Object(mut map) => {
            let mode = map.get("mode").and_then(Value::as_str).map(str::to_owned);
            match map.remove("records") {
                Some(Value::Array(records)) => (mode, records),
                _ => bail!("{}: expected a \"records\" array", args.file.display()),
            }
        }
        _ => bail!("{}: expected an object with \"records\" or an array", args.file.display()),
    };
    let full = args.full || file_mode.as_deref() == Some("full");
    let mode = if full { "full" } else { "delta" };
    let batch_size = if full { records.len().max(1) } else { args.batch_size.max(1) };

    let client = Client::new(&args.server)?;
    let bar = ProgressBar::new(records.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} records ({per_sec})",
        )
        .expect("a valid template"),
    );
    let (mut accepted, mut rejected, mut feeds) = (0u64, 0u64, 0usize);
    for (batch_no, chunk) in records.chunks(batch_size).enumerate() {
        let body = serde_json::to_vec(&json!({"mode": mode, "records": chunk}))?;
        let answer = send_with_retries(&client, body, args.attempts, &bar).await?;
        let feed_id = answer["feedId"].as_str().unwrap_or("?").to_owned();
        accepted += answer["accepted"].as_u64().unwrap_or(0);
        for r in answer["rejected"].as_array().into_iter().flatten() {
            rejected += 1;
            let index = r["index"].as_u64().unwrap_or(0) + (batch_no * batch_size) as u64;
            for e in r["errors"].as_array().into_iter().flatten() {
                bar.suspend(|| {
                    eprintln!(
                        "record {index}: {}: {}",
                        e["path"].as_str().unwrap_or(""),
                        e["message"].as_str().unwrap_or("")
                    )
                });
            }
        }
        bar.suspend(|| println!("{feed_id}"));
        feeds += 1;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    eprintln!(
        "pushed {} records in {feeds} feed(s): {accepted} accepted, {rejected} rejected",
        records.len()
    );
    Ok(())
}

async fn send_with_retries(
    client: &Client,
    body: Vec<u8>,
    attempts: u32,
    bar: &ProgressBar,
) -> anyhow::Result<Value> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let sent = client
            .post("/integrations/hr-feed")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let wait = match sent {
            Ok(res)
                if res.status() == StatusCode::TOO_MANY_REQUESTS
                    || res.status() == StatusCode::SERVICE_UNAVAILABLE =>
            {
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                let status = res.status();
                let body: Value = res.json().await.unwrap_or(Value::Null);
                if attempt >= attempts {
                    bail!("{}", problem_text(status, &body));
                }
                Duration::from_secs(retry_after.min(60))
            }
            Ok(res) => return json_or_problem(res).await,
            Err(e) if attempt < attempts && (e.is_connect() || e.is_timeout()) => {
                Duration::from_secs(1 << attempt.min(5))
            }
            Err(e) => return Err(e).context("sending the batch"),
        };
        bar.suspend(|| {
            eprintln!("server busy; retrying in {}s (attempt {attempt}/{attempts})", wait.as_secs())
        });
        tokio::time::sleep(wait).await;
    }
}
