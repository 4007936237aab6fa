//! `roster bench`: the real platform in a temporary data directory, measured
//! end to end against the physical limit of the same machine (raw SQLite
//! inserts with the queue's durability settings), in one run. With
//! `--store postgres`, over a PostgreSQL directory against raw inserts on
//! the same server (`postgres.rs`). With `--queue sqs`, over an SQS FIFO
//! queue against a raw `SendMessageBatch` loop of the same messages
//! (`sqs.rs`).

mod baseline;
pub mod generate;
mod postgres;
mod report;
mod sqs;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::commands::tenants::create_tenant;
use crate::config::{QueueBackend, Settings, StoreBackend};
use generate::PeopleGenerator;
use report::{Report, Row};
use roster_app as app;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Records sent in the ingest and end-to-end runs.
    #[arg(long, default_value_t = 200_000)]
    pub records: u64,
    /// Records per request.
    #[arg(long, default_value_t = 1_000)]
    pub batch: u64,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4)]
    pub clients: u64,
    /// Minimum seconds of the sustained end-to-end run.
    #[arg(long, default_value_t = 30)]
    pub e2e_seconds: u64,
    /// Offered load of the latency run, records/s.
    #[arg(long, default_value_t = 5_000)]
    pub latency_rate: u64,
    /// Seconds of the latency run.
    #[arg(long, default_value_t = 10)]
    pub latency_seconds: u64,
    /// Consumer workers of the server under test.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Seed of the generated people.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Messages queued before the restart run.
    #[arg(long, default_value_t = 100_000)]
    pub restart_backlog: u64,
    /// Rows of the CSV full snapshot.
    #[arg(long, default_value_t = 1_000_000)]
    pub snapshot_rows: u64,
    /// Run only these figures (comma-separated; default: all). `latency` and
    /// `restart` run over the people of `end-to-end`, which then runs too.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Figure>,
    /// Write the results as JSON to this file too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A run of seconds with tiny sizes (for CI); figures mean little.
    #[arg(long)]
    pub smoke: bool,
    /// The directory under test: the embedded SQLite file, or PostgreSQL
    /// (`--database-url`; measures `baseline` and `end-to-end` only).
    #[arg(long, value_enum, default_value_t = StoreBackend::Sqlite)]
    pub store: StoreBackend,
    /// PostgreSQL server to measure on (libpq's URL). The bench makes a
    /// database of its own there per measurement and drops it after, so
    /// the user needs CREATEDB; the URL's own database is not written.
    #[arg(long, env = "ROSTER_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<roster_core::secret::Secret>,
    /// Consumer workers of each PostgreSQL end-to-end run, in turn.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2, 4])]
    pub pg_workers: Vec<usize>,
    /// The queue under test: the embedded SQLite file (in the temporary
    /// directory) or SQS FIFO (measures baseline, ingest and end-to-end:
    /// the raw baseline is then `SendMessageBatch` itself).
    #[arg(long, value_enum, default_value_t = QueueBackend::Sqlite)]
    pub queue: QueueBackend,
    /// URL of an empty SQS FIFO queue to measure end to end on (with
    /// --queue sqs). Without it and --sqs-dlq-url, the bench makes a queue
    /// and DLQ per measurement and deletes them after (the credentials need
    /// sqs:CreateQueue and sqs:DeleteQueue).
    #[arg(long, env = "ROSTER_SQS_QUEUE_URL")]
    pub sqs_queue_url: Option<String>,
    /// URL of its FIFO dead-letter queue (with --sqs-queue-url).
    #[arg(long, env = "ROSTER_SQS_DLQ_URL")]
    pub sqs_dlq_url: Option<String>,
    /// SQS endpoint override (e.g. a local emulator); credentials and
    /// region come from the AWS configuration chain.
    #[arg(long, env = "ROSTER_SQS_ENDPOINT_URL")]
    pub sqs_endpoint_url: Option<String>,
}

/// One figure of the report (what `--only` selects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Figure {
    Baseline,
    Ingest,
    EndToEnd,
    Latency,
    Restart,
    Snapshot,
}

impl BenchArgs {
    fn wants(&self, figure: Figure) -> bool {
        let needs_e2e = figure == Figure::EndToEnd
            && (self.only.contains(&Figure::Latency) || self.only.contains(&Figure::Restart));
        self.only.is_empty() || self.only.contains(&figure) || needs_e2e
    }

    fn effective(mut self) -> Self {
        if self.smoke {
            self.records = self.records.min(4_000);
            self.e2e_seconds = self.e2e_seconds.min(2);
            self.latency_rate = self.latency_rate.min(1_000);
            self.latency_seconds = self.latency_seconds.min(2);
            self.snapshot_rows = self.snapshot_rows.min(5_000);
            self.restart_backlog = self.restart_backlog.min(2_000);
        }
        self.batch = self.batch.clamp(1, 10_000);
        self.clients = self.clients.max(1);
        self
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let args = args.effective();
    if args.store == StoreBackend::Postgres {
        return run_postgres(args).await;
    }
    if args.queue == QueueBackend::Sqs {
        return run_sqs(args).await;
    }
    let tmp = tempfile::tempdir().context("creating a temporary data directory")?;
    let people = PeopleGenerator::new(args.seed);
    let mut report = Report::new(&args);

    let mut base = None;
    if args.wants(Figure::Baseline) {
        eprintln!("baseline: raw SQLite batched inserts (WAL, synchronous=FULL)...");
        let sample_body = sample_message_body(&people);
        let rate =
            baseline::measure(&tmp.path().join("baseline.db"), args.records, args.batch, sample_body.len())?;
        report.push(Row::rate("baseline", "raw SQLite inserts", rate, None));
        base = Some(rate);
    }

    if args.wants(Figure::Ingest) {
        eprintln!(
            "ingest: {} records over HTTP, {} clients, batches of {}...",
            args.records, args.clients, args.batch
        );
        let settings = settings(tmp.path().join("ingest"), 0);
        let running = app::start(&settings).await?;
        let key = tenant_key(&settings).await?;
        let prepared = bodies(&people, 0, args.records, args.batch);
        let t = Instant::now();
        send_all(&format!("http://{}", running.addr), &key, prepared, args.clients).await?;
        let rate = args.records as f64 / t.elapsed().as_secs_f64();
        running.shutdown().await?;
        report.push(Row::rate("ingest", "records/s acknowledged (durable 202)", rate, base));
    }

    let settings = settings(tmp.path().join("e2e"), args.workers);
    if args.wants(Figure::EndToEnd) {
        eprintln!("end to end: ingest and consumer together for at least {} s...", args.e2e_seconds);
        let (e2e, applied) = end_to_end(&settings, &people, &args).await?;
        report.push(Row::rate("end_to_end", "records/s applied to the directory", e2e, base));

        if args.wants(Figure::Latency) {
            eprintln!("latency: {} records/s offered for {} s...", args.latency_rate, args.latency_seconds);
            let lat = latency(&settings, &people, &args, applied).await?;
            report.push(Row::latency("latency", &lat));
        }
        if args.wants(Figure::Restart) {
            let secs = restart(&settings, &people, &args).await?;
            let what = format!(
                "seconds to ready with {applied} people and {} queued messages",
                args.restart_backlog
            );
            report.push(Row::seconds("restart", &what, secs));
        }
    }

    if args.wants(Figure::Snapshot) {
        eprintln!(
            "snapshot: a {}-row CSV full snapshot, streamed, applied and reconciled...",
            args.snapshot_rows
        );
        let (secs, peak) = snapshot(tmp.path(), &people, &args).await?;
        report.push(Row::rate(
            "snapshot",
            &format!("rows/s of a {}-row CSV full snapshot, reconciled in {secs:.1} s", args.snapshot_rows),
            args.snapshot_rows as f64 / secs,
            None,
        ));
        if let Some(mib) = peak {
            report.push(Row::mib("snapshot_peak_rss", "peak RSS of the process during the snapshot", mib));
        }
    }

    finish(&report, &args)
}

fn finish(report: &Report, args: &BenchArgs) -> anyhow::Result<()> {
    report.print();
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report.to_json())?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("results written to {}", path.display());
    }
    Ok(())
}

/// `--store postgres`: the raw baseline on the server, then end to end with
/// each of `pg_workers`, each on a new database (and, with the embedded
/// queue, a new queue file).
async fn run_postgres(args: BenchArgs) -> anyhow::Result<()> {
    let url = args
        .database_url
        .as_ref()
        .map(|u| u.expose().to_owned())
        .context("--store postgres needs --database-url (or ROSTER_DATABASE_URL)")?;
    let sqs = args.queue == QueueBackend::Sqs;
    let measured =
        |f: &Figure| matches!(f, Figure::Baseline | Figure::EndToEnd) || (sqs && *f == Figure::Ingest);
    if let Some(other) = args.only.iter().find(|f| !measured(f)) {
        anyhow::bail!(
            "--store postgres measures baseline and end-to-end only (and ingest with --queue sqs), not {other:?}"
        );
    }
    anyhow::ensure!(
        !args.pg_workers.is_empty() && !args.pg_workers.contains(&0),
        "--pg-workers must be at least 1 each"
    );
    let tmp = tempfile::tempdir().context("creating a temporary data directory")?;
    let people = PeopleGenerator::new(args.seed);
    let mut report = Report::new(&args);
    let run = run_name()?;
    let target = match sqs {
        true => Some(sqs_target(&args, &run).await?),
        false => None,
    };

    let mut base = None;
    if args.wants(Figure::Baseline) {
        let db = postgres::BenchDatabase::create(&url, &run, "baseline").await?;
        eprintln!(
            "baseline: raw PostgreSQL batched inserts (person + history + event) for at least {} s...",
            args.e2e_seconds
        );
        let at_least = Duration::from_secs(args.e2e_seconds);
        let result =
            postgres::baseline(&db.url, args.records, args.batch, &baseline_shape(&people), at_least).await;
        db.drop_database(&url).await?;
        let raw = result?;
        report.push(
            Row::rate(
                "baseline",
                &format!(
                    "raw PostgreSQL inserts: person + history + event (synchronous_commit={}, fsync={})",
                    raw.synchronous_commit, raw.fsync
                ),
                raw.rate,
                None,
            )
            .with_detail(json!({
                "synchronous_commit": raw.synchronous_commit, "fsync": raw.fsync,
                "rows": raw.rows, "seconds": raw.seconds,
            })),
        );
        base = Some(raw.rate);
    }
    if let Some(target) = &target {
        let pg = PgRun { url: &url, run: &run };
        sqs_send_figures(&args, target, &people, tmp.path(), Some(pg), &mut report).await?;
    }

    if args.wants(Figure::EndToEnd) {
        for &workers in &args.pg_workers {
            eprintln!(
                "end to end on PostgreSQL, {workers} worker(s): ingest and consumer together for at least {} s...",
                args.e2e_seconds
            );
            let queues = match &target {
                Some(t) => Some(t.queues(&format!("e2e-{workers}w")).await?),
                None => None,
            };
            let db = postgres::BenchDatabase::create(&url, &run, &format!("e2e_{workers}w")).await;
            let result = async {
                let db = db.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
                let settings = pg_settings(
                    &args,
                    tmp.path().join(format!("e2e-{workers}w")),
                    &db.url,
                    workers,
                    queues.as_ref(),
                );
                let (rate, sent) = end_to_end(&settings, &people, &args).await?;
                let applied = postgres::applied(&db.url).await?;
                anyhow::Ok((rate, sent, applied))
            }
            .await;
            if let Ok(db) = db {
                db.drop_database(&url).await?;
            }
            if let (Some(t), Some(q)) = (&target, queues) {
                t.delete(q).await?;
            }
            let (rate, sent, applied) = result?;
            // Each record is a new person: a row, a history row, a joiner event.
            anyhow::ensure!(
                applied.people == sent && applied.history == sent && applied.events == sent,
                "{workers} worker(s): {sent} records sent, but the directory holds {} people, {} history rows and {} events",
                applied.people,
                applied.history,
                applied.events
            );
            report.push(
                Row::rate(
                    &format!("end_to_end_{workers}w"),
                    &format!("records/s applied to the PostgreSQL directory, {workers} worker(s)"),
                    rate,
                    base,
                )
                .with_detail(json!({
                    "workers": workers, "sent": sent, "applied": applied.people,
                    "history": applied.history, "events": applied.events,
                })),
            );
        }
    }
    finish(&report, &args)
}

/// The settings of a node over the bench's PostgreSQL database and its
/// queue: the embedded one, or `queues` on SQS.
fn pg_settings(
    args: &BenchArgs,
    data_dir: PathBuf,
    url: &str,
    workers: usize,
    queues: Option<&sqs::BenchQueues>,
) -> Settings {
    let s = Settings {
        store: StoreBackend::Postgres,
        database_url: Some(roster_core::secret::Secret::new(url)),
        ..settings(data_dir, workers)
    };
    match queues {
        Some(q) => on_sqs(s, args, q),
        None => s,
    }
}

/// `settings` with `queues` on SQS as the queue.
fn on_sqs(settings: Settings, args: &BenchArgs, queues: &sqs::BenchQueues) -> Settings {
    Settings {
        queue: QueueBackend::Sqs,
        sqs_queue_url: Some(queues.queue_url.clone()),
        sqs_dlq_url: Some(queues.dlq_url.clone()),
        sqs_endpoint_url: args.sqs_endpoint_url.clone(),
        ..settings
    }
}

/// One name per run: databases and queues of runs at once never collide.
fn run_name() -> anyhow::Result<String> {
    Ok(format!(
        "{:x}{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis(),
        std::process::id()
    ))
}

async fn sqs_target(args: &BenchArgs, run: &str) -> anyhow::Result<sqs::SqsTarget> {
    sqs::SqsTarget::new(
        args.sqs_endpoint_url.as_deref(),
        args.sqs_queue_url.as_deref(),
        args.sqs_dlq_url.as_deref(),
        run,
    )
    .await
}

/// The PostgreSQL server of a `--store postgres` run, where each
/// measurement makes a database of its own.
#[derive(Clone, Copy)]
struct PgRun<'a> {
    url: &'a str,
    run: &'a str,
}

/// `--queue sqs` with the embedded directory: the raw `SendMessageBatch`
/// baseline, ingest and end to end, each on queues of its own.
async fn run_sqs(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(other) =
        args.only.iter().find(|f| !matches!(f, Figure::Baseline | Figure::Ingest | Figure::EndToEnd))
    {
        anyhow::bail!("--queue sqs measures baseline, ingest and end-to-end only, not {other:?}");
    }
    let tmp = tempfile::tempdir().context("creating a temporary data directory")?;
    let people = PeopleGenerator::new(args.seed);
    let mut report = Report::new(&args);
    let run = run_name()?;
    let target = sqs_target(&args, &run).await?;
    let raw = sqs_send_figures(&args, &target, &people, tmp.path(), None, &mut report).await?;

    if args.wants(Figure::EndToEnd) {
        eprintln!("end to end over SQS: ingest and consumer together for at least {} s...", args.e2e_seconds);
        let queues = target.queues("e2e").await?;
        let result = async {
            let settings = on_sqs(settings(tmp.path().join("e2e"), args.workers), &args, &queues);
            let (rate, sent) = end_to_end(&settings, &people, &args).await?;
            let applied = count_people(&settings).await?;
            let (_, dead) = target.depth(&queues).await?;
            anyhow::Ok((rate, sent, applied, dead))
        }
        .await;
        target.delete(queues).await?;
        let (rate, sent, applied, dead) = result?;
        anyhow::ensure!(
            applied == sent,
            "{sent} records sent over SQS, but the directory holds {applied} people ({dead} dead letters)"
        );
        report.push(
            Row::rate("end_to_end", "records/s applied to the directory over SQS", rate, raw)
                .with_detail(json!({"workers": args.workers, "sent": sent, "applied": applied})),
        );
    }
    finish(&report, &args)
}

/// The figures of sending to SQS, each on new queues: the raw
/// `SendMessageBatch` loop (`sqs_baseline`) and ingest over the adapter
/// (a node with no consumer; on a database of its own with `pg`). Returns
/// the raw rate. On queues the user named, neither can run: each leaves
/// its messages behind, which the next measurement would then count.
async fn sqs_send_figures(
    args: &BenchArgs,
    target: &sqs::SqsTarget,
    people: &PeopleGenerator,
    tmp: &std::path::Path,
    pg: Option<PgRun<'_>>,
    report: &mut Report,
) -> anyhow::Result<Option<f64>> {
    if !target.fresh() {
        let why = "needs SQS queues of its own: leave out --sqs-queue-url and --sqs-dlq-url so the bench makes them";
        if let Some(f) = args.only.iter().find(|f| matches!(f, Figure::Baseline | Figure::Ingest)) {
            anyhow::bail!("{f:?} over SQS {why}");
        }
        if args.only.is_empty() {
            eprintln!("raw SQS baseline and ingest skipped: each {why}");
        }
        return Ok(None);
    }
    let in_flight = roster_queue::sqs::IN_FLIGHT;
    let mut raw = None;
    if args.wants(Figure::Baseline) {
        eprintln!(
            "SQS baseline: raw SendMessageBatch of {} messages, {} senders with up to {in_flight} calls of 10 each...",
            args.records, args.clients
        );
        let (p, records, batch) = (*people, args.records, args.batch);
        let messages = tokio::task::spawn_blocking(move || sqs::messages(&p, records, batch)).await?;
        let queues = target.queues("raw").await?;
        let result = async {
            let rate = target.raw_send(&queues, messages, args.clients).await?;
            anyhow::Ok((rate, target.depth(&queues).await?.0))
        }
        .await;
        target.delete(queues).await?;
        let (rate, queued) = result?;
        let what = format!(
            "raw SendMessageBatch of the adapter's messages, {} senders x {in_flight} calls of 10",
            args.clients
        );
        report.push(Row::rate("sqs_baseline", &what, rate, None).with_detail(json!({
            "senders": args.clients, "in_flight_per_sender": in_flight,
            "sent": args.records, "queued": queued,
        })));
        raw = Some(rate);
    }
    if args.wants(Figure::Ingest) {
        eprintln!(
            "ingest over SQS: {} records over HTTP, {} clients, batches of {}...",
            args.records, args.clients, args.batch
        );
        let queues = target.queues("ingest").await?;
        let db = match pg {
            Some(pg) => Some(postgres::BenchDatabase::create(pg.url, pg.run, "ingest").await),
            None => None,
        };
        let result = async {
            let data_dir = tmp.join("ingest-sqs");
            let settings = match &db {
                Some(db) => {
                    let db = db.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
                    pg_settings(args, data_dir, &db.url, 0, Some(&queues))
                }
                None => on_sqs(settings(data_dir, 0), args, &queues),
            };
            let running = app::start(&settings).await?;
            let key = tenant_key(&settings).await?;
            let prepared = bodies(people, 0, args.records, args.batch);
            let t = Instant::now();
            send_all(&format!("http://{}", running.addr), &key, prepared, args.clients).await?;
            let rate = args.records as f64 / t.elapsed().as_secs_f64();
            running.shutdown().await?;
            anyhow::Ok((rate, target.depth(&queues).await?.0))
        }
        .await;
        if let (Some(pg), Some(Ok(db))) = (pg, db) {
            db.drop_database(pg.url).await?;
        }
        target.delete(queues).await?;
        let (rate, queued) = result?;
        report.push(
            Row::rate("ingest", "records/s acknowledged (202) over SQS, vs the raw loop", rate, raw)
                .with_detail(json!({"sent": args.records, "queued": queued})),
        );
    }
    Ok(raw)
}

/// People of the bench tenant in the directory of `settings`.
async fn count_people(settings: &Settings) -> anyhow::Result<u64> {
    let directory = app::open_directory(settings).await?;
    let tenant = directory.tenant_by_name("bench").await?.context("the bench tenant")?;
    let (mut count, mut cursor) = (0, None);
    loop {
        let page =
            directory.list_people(tenant.id, roster_store::limits::MAX_PAGE, cursor.as_deref()).await?;
        count += page.items.len() as u64;
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(count),
        }
    }
}

/// A generated person as the directory stores them and as their joiner
/// event carries them.
fn baseline_shape(people: &PeopleGenerator) -> postgres::Shape {
    let rec =
        roster_core::validate::parse_record(&people.person(12_345, 0)).expect("generated records are valid");
    let roster_core::Change::Upsert { person } = rec.change else {
        unreachable!("generated records are upserts")
    };
    let person_json = serde_json::to_string(&person).expect("a person serializes");
    let event_json = format!(
        r#"{{"type":"person.joined","status":"active","changedFields":["name","emails","title"],"person":{person_json}}}"#
    );
    postgres::Shape { person_json, event_json }
}

/// Restart with a backlog: an ingest-only node queues `restart_backlog`
/// changes over the end-to-end run's files, then the full node starts over
/// them; seconds until `/readyz` answers 200.
async fn restart(settings: &Settings, people: &PeopleGenerator, args: &BenchArgs) -> anyhow::Result<f64> {
    eprintln!("restart: time to be ready again with {} queued messages...", args.restart_backlog);
    {
        let ingest_only = Settings { workers: 0, ..settings.clone() };
        let running = app::start(&ingest_only).await?;
        let key = fresh_key(&ingest_only).await?;
        let base = format!("http://{}", running.addr);
        push_all(&base, &key, people, 0, args.restart_backlog, args.batch, args.clients).await?;
        running.shutdown().await?;
    }
    let t = Instant::now();
    let running = app::start(settings).await?;
    let http = reqwest::Client::new();
    loop {
        let ok =
            http.get(format!("http://{}/readyz", running.addr)).send().await.is_ok_and(|r| r.status() == 200);
        if ok {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    running.shutdown().await?;
    Ok(secs)
}

fn settings(data_dir: PathBuf, workers: usize) -> Settings {
    Settings {
        data_dir,
        listen: "127.0.0.1:0".parse().expect("a valid address"),
        workers,
        batch_size: 1000,
        max_queue_depth: u64::MAX,
        // The load generator is one credential sending as fast as it can.
        rate_limit_per_sec: 0.0,
        metrics_token: Some(roster_core::secret::Secret::new(METRICS_TOKEN)),
        ..Settings::default()
    }
}

/// The bench servers' metrics token: `/readyz` shows the queue's figures to it.
const METRICS_TOKEN: &str = "roster-bench-metrics-token";

async fn tenant_key(settings: &Settings) -> anyhow::Result<String> {
    let directory = app::open_directory(settings).await?;
    match directory.tenant_by_name("bench").await? {
        Some(_) => anyhow::bail!("the bench tenant exists already"),
        None => Ok(create_tenant(directory.as_ref(), "bench").await?.2.expose().to_owned()),
    }
}

fn sample_message_body(people: &PeopleGenerator) -> Vec<u8> {
    let rec =
        roster_core::validate::parse_record(&people.person(12_345, 0)).expect("generated records are valid");
    let msg = roster_core::ChangeMessage {
        message_id: roster_core::MessageId::new(),
        tenant_id: roster_core::TenantId::new(),
        feed_id: roster_core::FeedId::new(),
        source: roster_core::SourceName::default(),
        index: 0,
        accepted_at: roster_core::Timestamp(0),
        last_modified: None,
        request_id: None,
        change: rec.change,
        probe: false,
    };
    msg.to_bytes()
}

/// The request bodies for people `first..first+count`, `batch` per request,
/// built before any timing starts so the load generator's JSON work does not
/// compete with the server under test for the same cores.
fn bodies(people: &PeopleGenerator, first: u64, count: u64, batch: u64) -> Vec<Vec<u8>> {
    (first..first + count)
        .step_by(batch as usize)
        .map(|start| {
            let end = (start + batch).min(first + count);
            let mut body = String::with_capacity(700 * (end - start) as usize);
            body.push_str(r#"{"records":["#);
            for i in start..end {
                if i > start {
                    body.push(',');
                }
                people.write_person(&mut body, i, 0);
            }
            body.push_str("]}");
            body.into_bytes()
        })
        .collect()
}

/// Sends people `first..first+count` in batches from `clients` concurrent clients.
async fn push_all(
    base: &str,
    key: &str,
    people: &PeopleGenerator,
    first: u64,
    count: u64,
    batch: u64,
    clients: u64,
) -> anyhow::Result<()> {
    // Generating is CPU work: off the runtime's threads, which serve.
    let people = *people;
    let prepared = tokio::task::spawn_blocking(move || bodies(&people, first, count, batch)).await?;
    send_all(base, key, prepared, clients).await
}

/// Posts prepared bodies from `clients` concurrent clients.
async fn send_all(base: &str, key: &str, bodies: Vec<Vec<u8>>, clients: u64) -> anyhow::Result<()> {
    let queue = Arc::new(Mutex::new(bodies.into_iter()));
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (queue, http, base, key) = (queue.clone(), http.clone(), base.to_owned(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(body) = queue.lock().expect("body queue").next() else {
                    return anyhow::Ok(());
                };
                let res = http
                    .post(format!("{base}/integrations/hr-feed"))
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(res.status() == 202, "ingest answered {}", res.status());
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn post(http: &reqwest::Client, base: &str, key: &str, body: &Value) -> anyhow::Result<()> {
    let res = http.post(format!("{base}/integrations/hr-feed")).bearer_auth(key).json(body).send().await?;
    anyhow::ensure!(res.status() == 202, "ingest answered {}", res.status());
    Ok(())
}

/// Pushes continuously until `e2e_seconds` have passed and everything sent is
/// applied; returns records applied per second and how many people exist.
async fn end_to_end(
    settings: &Settings,
    people: &PeopleGenerator,
    args: &BenchArgs,
) -> anyhow::Result<(f64, u64)> {
    let running = app::start(settings).await?;
    let key = tenant_key(settings).await?;
    let base = format!("http://{}", running.addr);
    let t = Instant::now();
    let mut sent = 0;
    while t.elapsed() < Duration::from_secs(args.e2e_seconds) {
        push_all(&base, &key, people, sent, args.records, args.batch, args.clients).await?;
        sent += args.records;
    }
    let stats_http = reqwest::Client::new();
    loop {
        let ready: Value =
            stats_http.get(format!("{base}/readyz")).bearer_auth(METRICS_TOKEN).send().await?.json().await?;
        let q = &ready["queue"];
        if q["visible"] == 0 && q["inFlight"] == 0 && q["delayed"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = sent as f64 / t.elapsed().as_secs_f64();
    running.shutdown().await?;
    Ok((rate, sent))
}

/// A new ingest key of the bench tenant (the first one was shown once and
/// dropped).
async fn fresh_key(settings: &Settings) -> anyhow::Result<String> {
    let directory = app::open_directory(settings).await?;
    let tenant = directory.tenant_by_name("bench").await?.context("the bench tenant")?;
    let secret = roster_engine::credentials::generate_api_key();
    directory
        .create_api_key(
            roster_store::NewApiKey {
                name: "bench".into(),
                tenant_id: tenant.id,
                prefix: secret.shown_prefix(),
                hash: secret.hash(),
                scopes: vec![roster_store::Scope::Ingest],
                expires_at: None,
            },
            roster_core::Clock::now(&roster_core::SystemClock),
        )
        .await?;
    Ok(secret.expose().to_owned())
}

/// Offers `latency_rate` records/s in small batches and measures, per record,
/// the time from sending to being applied (the person's `updatedAt`).
async fn latency(
    settings: &Settings,
    people: &PeopleGenerator,
    args: &BenchArgs,
    existing: u64,
) -> anyhow::Result<Vec<f64>> {
    let running = app::start(settings).await?;
    let base = format!("http://{}", running.addr);
    let directory = app::open_directory(settings).await?;
    let tenant = directory.tenant_by_name("bench").await?.context("the bench tenant")?;
    let key = fresh_key(settings).await?;
    let http = reqwest::Client::new();
    let per_request = (args.latency_rate / 50).max(1); // 50 requests a second
    let total = args.latency_rate * args.latency_seconds;
    let interval = Duration::from_secs_f64(per_request as f64 / args.latency_rate as f64);
    let mut sent_at = Vec::new();
    let mut ticker = tokio::time::interval(interval);
    let mut i = 0;
    // Revision 1: every record changes its title, so each one is a real write.
    while i < total.min(existing) {
        ticker.tick().await;
        let end = (i + per_request).min(total.min(existing));
        let records: Vec<Value> = (i..end).map(|n| people.person(n, 1)).collect();
        let now = roster_core::Clock::now(&roster_core::SystemClock);
        post(&http, &base, &key, &json!({"records": records})).await?;
        sent_at.push((i, end, now));
        i = end;
    }
    let mut latencies = Vec::with_capacity(i as usize);
    let deadline = Instant::now() + Duration::from_secs(120);
    for (start, end, t0) in sent_at {
        for n in start..end {
            let id = roster_core::ExternalId::parse(&PeopleGenerator::external_id(n)).expect("valid id");
            loop {
                let p = directory.get_person(tenant.id, &id).await?.context("a sent person")?;
                if p.version >= 2 {
                    latencies.push((p.updated_at.millis() - t0.millis()) as f64 / 1000.0);
                    break;
                }
                anyhow::ensure!(Instant::now() < deadline, "records not applied within 120 s");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    running.shutdown().await?;
    Ok(latencies)
}

/// Writes a generated CSV of `snapshot_rows` people, pushes it as a full
/// snapshot (streamed: it is larger than the body limit) and waits until it
/// is applied and reconciled. Returns the seconds it took and the peak RSS
/// (MiB) of this process meanwhile, which runs the server.
async fn snapshot(
    tmp: &std::path::Path,
    people: &PeopleGenerator,
    args: &BenchArgs,
) -> anyhow::Result<(f64, Option<f64>)> {
    use std::io::Write;
    let file = tmp.join("snapshot.csv");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        writeln!(out, "{}", generate::CSV_HEADER)?;
        for i in 0..args.snapshot_rows {
            writeln!(out, "{}", people.csv_row(i))?;
        }
        out.flush()?;
    }
    let mut settings = settings(tmp.join("snapshot"), args.workers);
    settings.body_limit = 1024 * 1024;
    let running = app::start(&settings).await?;
    let key = tenant_key(&settings).await?;
    let base = format!("http://{}", running.addr);
    reset_peak_rss();
    let t = Instant::now();
    let size = std::fs::metadata(&file)?.len();
    let body =
        reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(tokio::fs::File::open(&file).await?));
    let res = reqwest::Client::new()
        .post(format!("{base}/integrations/hr-feed?mode=full&source=bench"))
        .bearer_auth(&key)
        .header("content-type", "text/csv")
        .header("content-length", size)
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(res.status() == 202, "ingest answered {}", res.status());
    let answer: Value = res.json().await?;
    let feed = answer["feedId"].as_str().context("a feed id")?.to_owned();
    anyhow::ensure!(answer["accepted"].as_u64() == Some(args.snapshot_rows), "rows were rejected: {answer}");
    let http = reqwest::Client::new();
    loop {
        let f: Value =
            http.get(format!("{base}/v1/feeds/{feed}")).bearer_auth(&key).send().await?.json().await?;
        match f["status"].as_str() {
            Some("completed") => break,
            Some("accepted" | "processing" | "receiving") => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            other => anyhow::bail!("the snapshot ended {other:?}: {f}"),
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let peak = peak_rss_mib();
    running.shutdown().await?;
    Ok((secs, peak))
}

/// Resets the kernel's peak-RSS mark of this process (Linux), so the
/// snapshot's peak is not an earlier phase's.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
