//! `roster push FILE`: sends a feed file — JSON records in batches, a CSV
//! file or a SCIM BulkRequest whole — with a progress bar, retrying when the
//! server asks to (429/503).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::client::{Client, ServerArgs, json_or_problem, problem_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    Json,
    /// Comma-, semicolon-, tab- or pipe-separated: the server finds the
    /// delimiter (or takes the mapping profile's).
    Csv,
    /// Tab-separated values: sent as CSV, whose delimiter the server finds.
    Tsv,
    Scim,
}

/// What `roster push` exits with, for cron jobs and CI (README, "Exit codes").
pub mod exit {
    /// Every record was accepted (and, with `--wait`, every feed completed).
    pub const OK: u8 = 0;
    /// Nothing or not everything was sent: the server refused a request, was
    /// unreachable, or a feed failed. Also any other error.
    pub const FAILED: u8 = 1;
    // 2 is a usage error (clap's).
    /// Sent, but some records were rejected (invalid): they are not queued.
    pub const REJECTED: u8 = 3;
    /// With `--wait`: a feed completed with errors (records that failed to
    /// apply are in the dead-letter queue).
    pub const COMPLETED_WITH_ERRORS: u8 = 4;
    /// With `--wait`: a full snapshot halted (too many leavers) and waits
    /// for `roster feeds approve` or `reject`.
    pub const HALTED: u8 = 5;
    /// With `--wait`: a feed was not final within `--wait-timeout`.
    pub const WAIT_TIMED_OUT: u8 = 6;
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// A JSON file (`{"mode": ..., "records": [...]}` or a bare array of
    /// records), a CSV file (mapped by the source's profile) or a SCIM
    /// BulkRequest.
    pub file: PathBuf,
    /// The file's format [default: by its extension (.csv, .tsv, .scim.json,
    /// .json), else by its content: JSON if it starts with `{` or `[` (SCIM
    /// if it is a BulkRequest), CSV otherwise].
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// The tenant's source (integration channel) the feed comes through.
    #[arg(long)]
    pub source: Option<String>,
    /// Parse, map and validate only: print the mapped records and errors,
    /// queue nothing.
    #[arg(long)]
    pub dry_run: bool,
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
    /// Sends an `Idempotency-Key`, so that pushing the same file again (a
    /// retry, a re-run of a nightly job) queues nothing twice: the server
    /// replays its first answer. A CSV file or a SCIM BulkRequest (one
    /// request) carries KEY as is; a JSON file's batch N (from 1) carries
    /// `KEY-N`, so re-run it with the same --batch-size. The same key with
    /// another file is refused. At most 240 visible ASCII characters.
    #[arg(long, value_name = "KEY", value_parser = parse_idempotency_key)]
    pub idempotency_key: Option<String>,
    /// Wait until every feed sent is final (applied, halted or failed), print
    /// its status, and exit by it (see the README's exit codes).
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECS", requires = "wait")]
    pub wait_timeout: u64,
}

fn parse_idempotency_key(s: &str) -> Result<String, String> {
    if (1..=240).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_owned())
    } else {
        Err("an idempotency key is 1 to 240 visible ASCII characters (no spaces)".into())
    }
}

/// The `Idempotency-Key` of a JSON file's batch `batch_no` (from 0).
fn batch_key(key: &str, batch_no: usize) -> String {
    format!("{key}-{}", batch_no + 1)
}

fn query(args: &PushArgs, mode: &str) -> String {
    let mut q = format!("?mode={mode}");
    if let Some(source) = &args.source {
        q.push_str(&format!("&source={}", super::people::urlencode(source)));
    }
    if args.dry_run {
        q.push_str("&dryRun=true");
    }
    q
}

/// Sends the file; the exit code (see [`exit`]).
pub async fn run(args: PushArgs) -> anyhow::Result<u8> {
    let format = match args.format {
        Some(f) => f,
        None => detect(&args.file)?,
    };
    let sent = match format {
        FileFormat::Json => push_json(&args).await?,
        FileFormat::Csv | FileFormat::Tsv => push_whole(&args, "text/csv").await?,
        FileFormat::Scim => push_whole(&args, "application/scim+json").await?,
    };
    if args.dry_run {
        return Ok(exit::OK);
    }
    let mut code = if sent.rejected > 0 { exit::REJECTED } else { exit::OK };
    if args.wait {
        let client = Client::new(&args.server)?;
        let deadline = std::time::Instant::now() + Duration::from_secs(args.wait_timeout);
        for feed in &sent.feeds {
            code = code.max(wait_for(&client, feed, deadline).await?);
        }
    }
    Ok(code)
}

/// The format of a file by its extension, else by its first bytes.
fn detect(file: &std::path::Path) -> anyhow::Result<FileFormat> {
    let name = file.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".csv") {
        return Ok(FileFormat::Csv);
    }
    if name.ends_with(".tsv") || name.ends_with(".tab") {
        return Ok(FileFormat::Tsv);
    }
    if name.ends_with(".scim.json") {
        return Ok(FileFormat::Scim);
    }
    let mut head = vec![0u8; 64 * 1024];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
        f.read(&mut head).with_context(|| format!("reading {}", file.display()))?
    };
    Ok(sniff(&head[..n], name.ends_with(".json")))
}

fn sniff(head: &[u8], json_extension: bool) -> FileFormat {
    let text = head.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(head);
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    let bulk = b"urn:ietf:params:scim:api:messages:2.0:BulkRequest";
    match first {
        Some(b'{') if text.windows(bulk.len()).any(|w| w == bulk) => FileFormat::Scim,
        Some(b'{' | b'[') => FileFormat::Json,
        _ if json_extension => FileFormat::Json,
        _ => FileFormat::Csv,
    }
}

/// What a push sent: the feeds it created and the records refused.
#[derive(Debug, Default)]
struct Sent {
    feeds: Vec<String>,
    rejected: u64,
}

/// Polls a feed until it is final; prints its status and returns its exit code.
async fn wait_for(client: &Client, feed: &str, deadline: std::time::Instant) -> anyhow::Result<u8> {
    let path = format!("/v1/feeds/{}", super::people::urlencode(feed));
    let mut pause = Duration::from_millis(100);
    loop {
        let f = client.get_json(&path).await?;
        let status = f["status"].as_str().unwrap_or_default().to_owned();
        let code = match status.as_str() {
            "receiving" | "accepted" | "processing" => None,
            "completed" => Some(exit::OK),
            // Only rejected at ingest: what the push already told.
            "completed_with_errors" if f["counts"]["failed"] == 0 => Some(exit::REJECTED),
            "completed_with_errors" => Some(exit::COMPLETED_WITH_ERRORS),
            "halted" => Some(exit::HALTED),
            // An operator decided a halted snapshot meanwhile, or a newer one
            // overtook it: final, and not this run's failure.
            "rejected" | "superseded" => Some(exit::OK),
            _ => Some(exit::FAILED),
        };
        if let Some(code) = code {
            let c = &f["counts"];
            eprintln!(
                "feed {feed}: {status} ({} applied, {} unchanged, {} stale, {} failed, {} leavers)",
                c["applied"], c["unchanged"], c["stale"], c["failed"], c["leavers"]
            );
            if status == "halted" {
                eprintln!("  the snapshot waits for a decision: roster feeds approve {feed} (or reject)");
            }
            return Ok(code);
        }
        if std::time::Instant::now() + pause > deadline {
            eprintln!("feed {feed}: still {status} when --wait-timeout ran out");
            return Ok(exit::WAIT_TIMED_OUT);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// A CSV file or a SCIM BulkRequest goes as one request: a CSV full
/// snapshot must be one feed, and the server streams large CSV files.
async fn push_whole(args: &PushArgs, content_type: &'static str) -> anyhow::Result<Sent> {
    let mode = if args.full { "full" } else { "delta" };
    let path = format!("/integrations/hr-feed{}", query(args, mode));
    let client = Client::new(&args.server)?;
    let size =
        std::fs::metadata(&args.file).with_context(|| format!("reading {}", args.file.display()))?.len();
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec})",
        )
        .expect("a valid template"),
    );
    let file = args.file.clone();
    let progress = bar.clone();
    let body = move || -> anyhow::Result<reqwest::Body> {
        let f = std::fs::File::open(&file).with_context(|| format!("reading {}", file.display()))?;
        let progress = progress.clone();
        progress.set_position(0);
        let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(f));
        let stream = futures_util::StreamExt::inspect(stream, move |chunk| {
            if let Ok(c) = chunk {
                progress.inc(c.len() as u64);
            }
        });
        Ok(reqwest::Body::wrap_stream(stream))
    };
    let key = args.idempotency_key.as_deref();
    let sent =
        send_with_retries(&client, &path, content_type, Some(size), body, key, args.attempts, &bar).await;
    bar.finish_and_clear();
    let (answer, replayed) = sent.inspect_err(|e| report_refusal(e, 0, &bar))?;
    if replayed {
        eprintln!(
            "already pushed with Idempotency-Key {}: the server replayed its first answer, nothing was queued again",
            key.unwrap_or_default()
        );
    }
    if args.dry_run {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(Sent::default());
    }
    let mut sent =
        Sent { feeds: answer["feedId"].as_str().map(str::to_owned).into_iter().collect(), rejected: 0 };
    if content_type == "text/csv" {
        sent.rejected = answer["rejected"].as_array().map_or(0, |r| r.len() as u64);
        report_rejections(&answer, 0, &bar);
        for w in answer["warnings"].as_array().into_iter().flatten() {
            eprintln!("warning: {}", w.as_str().unwrap_or(""));
        }
        println!("{}", answer["feedId"].as_str().unwrap_or("?"));
        eprintln!(
            "pushed {}: {} received, {} accepted, {} rejected",
            args.file.display(),
            answer["received"],
            answer["accepted"],
            answer["received"].as_u64().unwrap_or(0).saturating_sub(answer["accepted"].as_u64().unwrap_or(0))
        );
    } else {
        for op in answer["Operations"].as_array().into_iter().flatten() {
            if op["status"] != "202" {
                sent.rejected += 1;
                eprintln!(
                    "operation {}: {}",
                    op["bulkId"].as_str().unwrap_or("-"),
                    op["response"]["detail"].as_str().unwrap_or("rejected")
                );
            }
        }
        println!("{}", answer["feedId"].as_str().unwrap_or("?"));
    }
    Ok(sent)
}

fn report_rejections(answer: &Value, offset: u64, bar: &ProgressBar) {
    for r in answer["rejected"].as_array().into_iter().flatten() {
        let at = match r["row"].as_u64() {
            Some(row) => format!("row {row}"),
            None => format!("record {}", r["index"].as_u64().unwrap_or(0) + offset),
        };
        for e in r["errors"].as_array().into_iter().flatten() {
            bar.suspend(|| {
                eprintln!(
                    "{at}: {}: {}",
                    e["path"].as_str().unwrap_or(""),
                    e["message"].as_str().unwrap_or("")
                )
            });
        }
    }
}

async fn push_json(args: &PushArgs) -> anyhow::Result<Sent> {
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
    let path = format!("/integrations/hr-feed{}", query(args, mode));
    let mut sent = Sent::default();
    for (batch_no, chunk) in records.chunks(batch_size).enumerate() {
        let body = serde_json::to_vec(&json!({"mode": mode, "records": chunk}))?;
        let size = body.len() as u64;
        let make = move || Ok(reqwest::Body::from(body.clone()));
        let key = args.idempotency_key.as_deref().map(|k| batch_key(k, batch_no));
        let (answer, replayed) = send_with_retries(
            &client,
            &path,
            "application/json",
            Some(size),
            make,
            key.as_deref(),
            args.attempts,
            &bar,
        )
        .await
        .inspect_err(|e| report_refusal(e, (batch_no * batch_size) as u64, &bar))
        .with_context(|| format!("batch {} of {}", batch_no + 1, records.len().div_ceil(batch_size)))?;
        if replayed {
            bar.suspend(|| {
                eprintln!(
                    "batch {}: already pushed with Idempotency-Key {}: the server replayed its first answer, nothing was queued again",
                    batch_no + 1,
                    key.as_deref().unwrap_or_default()
                )
            });
        }
        if args.dry_run {
            bar.suspend(|| println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default()));
            bar.inc(chunk.len() as u64);
            continue;
        }
        let feed_id = answer["feedId"].as_str().unwrap_or("?").to_owned();
        accepted += answer["accepted"].as_u64().unwrap_or(0);
        rejected += answer["rejected"].as_array().map_or(0, |r| r.len() as u64);
        report_rejections(&answer, (batch_no * batch_size) as u64, &bar);
        bar.suspend(|| println!("{feed_id}"));
        sent.feeds.push(feed_id);
        feeds += 1;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    eprintln!(
        "pushed {} records in {feeds} feed(s): {accepted} accepted, {rejected} rejected",
        records.len()
    );
    sent.rejected = rejected;
    Ok(sent)
}

/// The server refused a request (4xx/5xx): its problem document.
#[derive(Debug)]
struct Refused {
    status: StatusCode,
    problem: Value,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&problem_text(self.status, &self.problem))
    }
}

impl std::error::Error for Refused {}

/// Prints the invalid records a refusal lists (a strict source refuses a
/// feed whole and names each of them), by row or record number and field.
fn report_refusal(err: &anyhow::Error, offset: u64, bar: &ProgressBar) {
    if let Some(r) = err.downcast_ref::<Refused>() {
        report_rejections(&json!({"rejected": r.problem["errors"]}), offset, bar);
    }
}

/// Sends one request, retrying while the server is busy or unreachable; the
/// answer, and whether it is the replay of an earlier request with the same
/// `Idempotency-Key`.
#[allow(clippy::too_many_arguments)]
async fn send_with_retries(
    client: &Client,
    path: &str,
    content_type: &str,
    length: Option<u64>,
    body: impl Fn() -> anyhow::Result<reqwest::Body>,
    idempotency_key: Option<&str>,
    attempts: u32,
    bar: &ProgressBar,
) -> anyhow::Result<(Value, bool)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut req = client.post(path).header("content-type", content_type).body(body()?);
        if let Some(n) = length {
            req = req.header("content-length", n);
        }
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        let sent = req.send().await;
        let wait = match sent {
            Ok(res)
                if res.status() == StatusCode::TOO_MANY_REQUESTS
                    || res.status() == StatusCode::SERVICE_UNAVAILABLE
                    // The first request with this key is still running
                    // (an earlier attempt that timed out): its answer follows.
                    || (idempotency_key.is_some() && res.status() == StatusCode::CONFLICT) =>
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
            Ok(res) if res.status().is_success() => {
                let replayed = res.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
                return Ok((json_or_problem(res).await?, replayed));
            }
            Ok(res) => {
                let status = res.status();
                let problem: Value = res.json().await.unwrap_or(Value::Null);
                return Err(Refused { status, problem }.into());
            }
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
