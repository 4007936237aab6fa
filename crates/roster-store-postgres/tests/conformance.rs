//! The PostgreSQL directory against the port's conformance suite, on a real
//! server. `scripts/test` starts a throwaway cluster and sets
//! `ROSTER_TEST_POSTGRES_URL` (and `ROSTER_REQUIRE_POSTGRES`); without the
//! URL these tests say so and pass only if `ROSTER_REQUIRE_POSTGRES` is
//! unset (a plain `cargo test` on a laptop).
//!
//! Each test gets a database of its own: the cross-tenant system reads
//! assume an empty store. The schema is migrated once into a template
//! database, and each test's database is a copy of it (`CREATE DATABASE
//! ... TEMPLATE`), which takes tens of milliseconds.

use std::hash::{Hash, Hasher};

use roster_store::StoreError;
use roster_store::conformance::Harness;
use roster_store::prelude::*;
use roster_store_postgres::{ConnectError, PgDirectory, SCHEMA_VERSION};
use sqlx::{Connection, Executor};

/// Connections per test directory: enough for the racing cases, few enough
/// that parallel tests stay under the server's `max_connections`.
const POOL: u32 = 4;

struct Postgres {
    /// The server's maintenance database, e.g. `postgres://postgres@localhost/postgres?host=/tmp/x`.
    admin_url: String,
}

fn postgres() -> Option<Postgres> {
    let Ok(admin_url) = std::env::var("ROSTER_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("ROSTER_REQUIRE_POSTGRES").is_none(),
            "ROSTER_REQUIRE_POSTGRES is set but ROSTER_TEST_POSTGRES_URL is not"
        );
        eprintln!("ROSTER_TEST_POSTGRES_URL not set: PostgreSQL conformance not run (scripts/test runs it)");
        return None;
    };
    Some(Postgres { admin_url })
}

/// The URL of database `name` on the same server.
fn url_of(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url.split_once('?').map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let root = base.rsplit_once('/').map_or(base, |(root, _)| root);
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Named after the migrations' text, so a persistent developer cluster
/// never serves a template of an older schema.
fn template_name() -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    include_str!("../migrations/0001_initial.sql").hash(&mut h);
    include_str!("../migrations/0002_tenants_and_key_names.sql").hash(&mut h);
    include_str!("../migrations/0003_webhooks.sql").hash(&mut h);
    include_str!("../migrations/0004_snapshot_leavers.sql").hash(&mut h);
    include_str!("../migrations/0005_delivery_generation.sql").hash(&mut h);
    include_str!("../migrations/0006_rate_buckets.sql").hash(&mut h);
    include_str!("../migrations/0007_outbox_occurred_at.sql").hash(&mut h);
    include_str!("../migrations/0008_alarm_states.sql").hash(&mut h);
    include_str!("../migrations/0009_console_sessions.sql").hash(&mut h);
    format!("roster_template_{SCHEMA_VERSION}_{:016x}", h.finish())
}

impl Postgres {
    /// A fresh database migrated from the template, by URL.
    async fn fresh_url(&self) -> String {
        let template = self.template().await;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = self.admin().await;
        admin
            .execute(format!("CREATE DATABASE {name} TEMPLATE {template}").as_str())
            .await
            .expect("copying the template");
        admin.close().await;
        url_of(&self.admin_url, &name)
    }

    /// One connection to the maintenance database (a pool of one: a
    /// `&PgPool` executor keeps the `async_trait` future `Send`).
    async fn admin(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.admin_url)
            .await
            .expect("connecting to the test server")
    }

    /// A new, empty database (not migrated).
    async fn empty_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = self.admin().await;
        admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
        admin.close().await;
        url_of(&self.admin_url, &name)
    }

    /// The template database, migrated; made by the first test that needs
    /// it, under an advisory lock (tests run in parallel).
    async fn template(&self) -> String {
        let name = template_name();
        let admin = self.admin().await;
        sqlx::query("SELECT pg_advisory_lock(7357)").execute(&admin).await.expect("lock");
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&admin)
            .await
            .expect("look up the template");
        if !exists {
            let building = format!("{name}_building");
            admin.execute(format!("DROP DATABASE IF EXISTS {building}").as_str()).await.unwrap();
            admin.execute(format!("CREATE DATABASE {building}").as_str()).await.unwrap();
            PgDirectory::migrate(&url_of(&self.admin_url, &building)).await.expect("migrating the template");
            // Renamed only once complete: a run killed half-way leaves no
            // template that looks ready.
            admin.execute(format!("ALTER DATABASE {building} RENAME TO {name}").as_str()).await.unwrap();
        }
        sqlx::query("SELECT pg_advisory_unlock(7357)").execute(&admin).await.expect("unlock");
        admin.close().await;
        name
    }
}

#[async_trait::async_trait]
impl Harness for Postgres {
    type D = PgDirectory;
    async fn fresh(&self) -> PgDirectory {
        PgDirectory::connect(&self.fresh_url().await, POOL).await.expect("connecting")
    }
    fn concurrent_writers(&self) -> bool {
        true
    }
    fn skip(&self) -> bool {
        self.admin_url.is_empty()
    }
}

/// The whole suite, each test on a fresh database. Without a configured
/// server every test returns at once, unless `ROSTER_REQUIRE_POSTGRES` is
/// set: then `harness()` panics, and every test fails.
fn harness() -> Postgres {
    postgres().unwrap_or(Postgres { admin_url: String::new() })
}

roster_store::directory_conformance_tests!(harness());

// What only this adapter has: the schema check, the error classification,
// and the concurrency the port's contracts promise across nodes.

#[tokio::test]
async fn connect_refuses_a_schema_that_is_not_this_builds_and_migrate_runs_once() {
    let Some(h) = postgres() else { return };
    let url = h.empty_database().await;
    match PgDirectory::connect(&url, 1).await {
        Err(e @ ConnectError::SchemaBehind { at: 0, .. }) => {
            assert!(e.to_string().contains("run `roster migrate`"), "{e}")
        }
        other => panic!("an unmigrated database must be refused: {other:?}"),
    }
    // Two deploy steps at once: each migration is applied once, both succeed.
    let (a, b) = tokio::join!(PgDirectory::migrate(&url), PgDirectory::migrate(&url));
    let mut before = [a.expect("migrate"), b.expect("migrate")];
    before.sort();
    assert_eq!(before, [0, SCHEMA_VERSION], "one of them found the database migrated");
    let d = PgDirectory::connect(&url, 1).await.expect("a migrated database is accepted");
    d.ping().await.expect("ping");
    drop(d);

    // A newer build migrated it: this one refuses to run against it.
    let mut c = roster_store_postgres::connect_one(&url).await.unwrap();
    sqlx::query("INSERT INTO roster_schema (version) VALUES ($1)")
        .bind(SCHEMA_VERSION + 1)
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.ok();
    match PgDirectory::connect(&url, 1).await {
        Err(e @ ConnectError::SchemaAhead { .. }) => assert!(e.to_string().contains("newer"), "{e}"),
        other => panic!("a newer schema must be refused: {other:?}"),
    }
    assert_eq!(PgDirectory::migrate(&url).await.expect("migrate"), SCHEMA_VERSION + 1, "never downgrades");
}

#[tokio::test]
async fn the_pools_connections_run_with_the_statement_timeout_they_are_given() {
    let Some(h) = postgres() else { return };
    let url = h.fresh_url().await;
    let d = PgDirectory::connect(&url, 1).await.expect("connect");
    assert_eq!(d.server_setting("statement_timeout").await.unwrap(), "30s", "the default");
    drop(d);
    let d =
        PgDirectory::connect_with(&url, 1, std::time::Duration::from_millis(1500)).await.expect("connect");
    assert_eq!(d.server_setting("statement_timeout").await.unwrap(), "1500ms");
    // A setting the server does not know is an error, not a panic.
    assert!(d.server_setting("no_such_setting").await.is_err());
}

#[tokio::test]
async fn transient_server_errors_are_unavailable_and_others_are_not() {
    let Some(h) = postgres() else { return };
    let mut c = roster_store_postgres::connect_one(&h.admin_url).await.expect("connect");
    let raise = |code: &str| format!("DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '{code}'; END $$");
    for code in ["40001", "40P01", "08006", "57P01", "53300"] {
        let e = c.execute(raise(code).as_str()).await.expect_err("raised");
        assert!(matches!(roster_store_postgres::classify(e), StoreError::Unavailable(_)), "{code}");
    }
    for code in ["23505", "22P02"] {
        let e = c.execute(raise(code).as_str()).await.expect_err("raised");
        assert!(matches!(roster_store_postgres::classify(e), StoreError::Storage(_)), "{code}");
    }
    // The real thing: the server ends this session (as on a failover).
    let e = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
        .execute(&mut c)
        .await
        .expect_err("ended");
    assert!(matches!(roster_store_postgres::classify(e), StoreError::Unavailable(_)));
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // A socket directory with no server in it.
    let dir = std::env::temp_dir().join(format!("roster-no-pg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("postgres://postgres@localhost/postgres?host={}", dir.display());
    match PgDirectory::connect(&url, 1).await {
        Err(ConnectError::Store(StoreError::Unavailable(_))) => {}
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir(&dir).ok();
}

#[tokio::test]
async fn of_concurrent_claims_of_a_new_key_exactly_one_is_claimed() {
    let Some(h) = postgres() else { return };
    let d = h.fresh().await;
    let t = d.create_tenant("acme", roster_core::Timestamp(1)).await.unwrap().id;
    let hold = std::time::Duration::from_secs(3600);
    let claims = futures_util::future::join_all(
        (0..8).map(|_| d.claim_idempotency_key(t, "k", roster_core::Timestamp(2), hold)),
    )
    .await;
    let claims: Vec<_> = claims.into_iter().map(|c| c.expect("never an error")).collect();
    let claimed = claims.iter().filter(|c| **c == roster_store::IdempotencyClaim::Claimed).count();
    assert_eq!(claimed, 1, "{claims:?}");
    assert!(claims.iter().all(|c| matches!(
        c,
        roster_store::IdempotencyClaim::Claimed | roster_store::IdempotencyClaim::InProgress
    )));
}

#[tokio::test]
async fn of_concurrent_creations_of_one_tenant_name_exactly_one_succeeds() {
    let Some(h) = postgres() else { return };
    let d = h.fresh().await;
    let results =
        futures_util::future::join_all((0..6).map(|_| d.create_tenant("acme", roster_core::Timestamp(1))))
            .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1);
    assert!(results.iter().all(|r| matches!(r, Ok(_) | Err(StoreError::Conflict(_)))), "{results:?}");
}

#[tokio::test]
async fn audit_entries_are_never_skipped_by_a_reader_paging_during_concurrent_appends() {
    let Some(h) = postgres() else { return };
    let d = h.fresh().await;
    let t = d.create_tenant("acme", roster_core::Timestamp(1)).await.unwrap().id;
    const EACH: usize = 60;
    let writer = |name: &'static str| {
        let d = &d;
        async move {
            for i in 0..EACH {
                d.append_audit(roster_store::NewAuditEntry {
                    at: roster_core::Timestamp(i as i64),
                    tenant_id: t,
                    actor: name.into(),
                    action: "key.created",
                    target: Some(format!("{name}-{i}")),
                    request_id: None,
                    client_request_id: None,
                })
                .await
                .expect("append");
            }
        }
    };
    // A reader that moves its cursor to the last seq it saw, as a client
    // paging the log (or a dispatcher) does, until the writers are done and
    // one more page finds nothing new. (It stops by itself, so a skipped
    // entry fails the assertion below instead of hanging the test.)
    let done = std::sync::atomic::AtomicBool::new(false);
    let writers = async {
        tokio::join!(writer("a"), writer("b"), writer("c"));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let reader = async {
        let mut seen = Vec::new();
        let mut after = 0;
        loop {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            let page = d.list_audit(t, after, 7).await.expect("list");
            for e in &page {
                after = e.seq;
                seen.push(e.target.clone().unwrap());
            }
            if finished && page.is_empty() {
                break seen;
            }
            tokio::task::yield_now().await;
        }
    };
    let ((), seen) = tokio::join!(writers, reader);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3 * EACH, "every entry seen once, none skipped");
}

// Correctness under concurrency (issue 16): workers on several nodes apply
// batches against one database at once. Each test races real transactions
// on the server (the pool holds several connections).

mod concurrency {
    use super::*;
    use roster_core::lifecycle::EventType;
    use roster_core::{
        ChangeMessage, ExternalId, FeedId, FeedMode, MessageId, SourceName, TenantId, Timestamp,
    };
    use roster_store::{ApplyOutcome, FeedSeal, FeedStatus, NewFeed, ReconcileState};
    use serde_json::json;

    const T0: Timestamp = Timestamp(1_800_000_000_000);

    async fn feed(d: &PgDirectory, t: TenantId, mode: FeedMode, sealed: bool, accepted: u64) -> FeedId {
        let id = FeedId::new();
        d.create_feed(NewFeed {
            id,
            tenant_id: t,
            source: SourceName::default(),
            mode,
            format: "json".into(),
            sealed,
            received: accepted,
            accepted,
            rejections: vec![],
            created_at: T0,
        })
        .await
        .expect("create feed");
        id
    }

    fn msg(t: TenantId, f: FeedId, record: serde_json::Value) -> ChangeMessage {
        let rec = roster_core::validate::parse_record(&record).expect("a valid test record");
        ChangeMessage {
            message_id: MessageId::new(),
            tenant_id: t,
            feed_id: f,
            source: SourceName::default(),
            index: 0,
            accepted_at: T0,
            last_modified: rec.last_modified,
            change: rec.change,
            request_id: None,
            probe: false,
        }
    }

    fn eid(s: &str) -> ExternalId {
        ExternalId::parse(s).unwrap()
    }

    async fn events_of(d: &PgDirectory, t: TenantId) -> Vec<roster_store::OutboxEvent> {
        let mut all = Vec::new();
        loop {
            let page = d
                .list_events(t, all.last().map_or(0, |e: &roster_store::OutboxEvent| e.seq), 500)
                .await
                .unwrap();
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// Versions 1..=n, each once: no lost or doubled write of the person.
    async fn assert_history_is_whole(d: &PgDirectory, t: TenantId, id: &str) -> u64 {
        let h = d.person_history(t, &eid(id)).await.unwrap();
        let versions: Vec<u64> = h.iter().map(|e| e.version).collect();
        assert_eq!(versions, (1..=h.len() as u64).collect::<Vec<_>>(), "{id}");
        let p = d.get_person(t, &eid(id)).await.unwrap().expect("stored");
        assert_eq!(p.version, h.len() as u64, "{id}: the row is the last history version");
        p.version
    }

    #[tokio::test]
    async fn the_same_batch_delivered_to_two_workers_at_once_is_applied_once() {
        let Some(h) = postgres() else { return };
        let d = h.fresh().await;
        let t = d.create_tenant("acme", T0).await.unwrap().id;
        const N: usize = 40;
        let f = feed(&d, t, FeedMode::Delta, true, N as u64).await;
        let batch: Vec<ChangeMessage> = (0..N)
            .map(|i| msg(t, f, json!({"externalId": format!("E{i}"), "department": "Sales"})))
            .collect();
        // The queue's at-least-once delivery: the same messages to several
        // workers at once, in different orders.
        let mut reversed = batch.clone();
        reversed.reverse();
        let (a, b, c) =
            tokio::join!(d.apply_batch(&batch, T0), d.apply_batch(&reversed, T0), d.apply_batch(&batch, T0));
        let outcomes: Vec<ApplyOutcome> =
            [a, b, c].into_iter().flat_map(|r| r.expect("never an error")).collect();
        let applied = outcomes.iter().filter(|o| matches!(o, ApplyOutcome::Applied { .. })).count();
        let duplicate = outcomes.iter().filter(|o| **o == ApplyOutcome::Duplicate).count();
        assert_eq!((applied, duplicate), (N, 2 * N), "each message applied by exactly one worker");
        let fd = d.get_feed(t, f).await.unwrap().unwrap();
        assert_eq!(fd.counts.applied, N as u64);
        assert_eq!(fd.status, FeedStatus::Completed);
        let events = events_of(&d, t).await;
        assert_eq!(events.len(), N + 1, "one person.joined each, never a second, and the feed's end");
        assert!(events[..N].iter().all(|e| e.kind == EventType::Joined));
        assert_eq!(
            (events[N].kind, events[N].feed_id),
            (EventType::FeedCompleted, f),
            "announced once, last"
        );
        for i in 0..N {
            assert_eq!(assert_history_is_whole(&d, t, &format!("E{i}")).await, 1);
        }
    }

    #[tokio::test]
    async fn four_workers_changing_the_same_people_of_one_feed_lose_no_update_and_no_count() {
        let Some(h) = postgres() else { return };
        let d = h.fresh().await;
        let t = d.create_tenant("acme", T0).await.unwrap().id;
        const PEOPLE: usize = 12;
        const ROUNDS: usize = 6;
        const WORKERS: usize = 4;
        let total = (PEOPLE * ROUNDS * WORKERS) as u64;
        let f = feed(&d, t, FeedMode::Delta, true, total).await;
        // Every worker's batches touch every person (in an order of its
        // own: locks are sorted by the store, not by the caller).
        let worker = |w: usize| {
            let d = &d;
            async move {
                let mut outcomes = Vec::new();
                for round in 0..ROUNDS {
                    let mut batch: Vec<ChangeMessage> = (0..PEOPLE)
                        .map(|i| {
                            msg(
                                t,
                                f,
                                json!({"externalId": format!("E{i}"), "title": format!("w{w} r{round}")}),
                            )
                        })
                        .collect();
                    if w % 2 == 1 {
                        batch.reverse();
                    }
                    outcomes.extend(d.apply_batch(&batch, T0).await.expect("no deadlock, no error"));
                }
                outcomes
            }
        };
        let results = futures_util::future::join_all((0..WORKERS).map(worker)).await;
        let outcomes: Vec<ApplyOutcome> = results.into_iter().flatten().collect();
        let applied = outcomes.iter().filter(|o| matches!(o, ApplyOutcome::Applied { .. })).count() as u64;
        let fd = d.get_feed(t, f).await.unwrap().unwrap();
        assert_eq!(fd.counts.applied + fd.counts.unchanged + fd.counts.stale, total, "{:?}", fd.counts);
        assert_eq!(fd.counts.applied, applied, "the counter is the sum of the outcomes");
        assert_eq!(fd.status, FeedStatus::Completed);
        let mut versions = 0;
        for i in 0..PEOPLE {
            versions += assert_history_is_whole(&d, t, &format!("E{i}")).await;
        }
        assert_eq!(versions, applied, "every applied change is one version of its person");
        let events = events_of(&d, t).await;
        let joined = events.iter().filter(|e| e.kind == EventType::Joined).count();
        assert_eq!(joined, PEOPLE);
        // Four workers finishing the feed: one of them announces it, once.
        let ends: Vec<_> = events.iter().filter(|e| e.kind.is_feed()).map(|e| e.kind).collect();
        assert_eq!(ends, vec![EventType::FeedCompleted]);
        assert_eq!(events.last().map(|e| e.kind), Some(EventType::FeedCompleted));
    }

    /// A report and their manager, new in two batches applied at once: each
    /// worker's statements must see the other's person once it committed,
    /// or the report is left waiting for a manager who is there.
    #[tokio::test]
    async fn a_report_and_their_manager_applied_at_once_by_two_workers_leave_no_one_waiting() {
        let Some(h) = postgres() else { return };
        let d = h.fresh().await;
        let t = d.create_tenant("acme", T0).await.unwrap().id;
        const PAIRS: usize = 30;
        const ROUNDS: usize = 8;
        let f = feed(&d, t, FeedMode::Delta, true, (2 * PAIRS * ROUNDS) as u64).await;
        for round in 0..ROUNDS {
            let reports: Vec<ChangeMessage> = (0..PAIRS)
                .map(|i| {
                    msg(
                        t,
                        f,
                        json!({"externalId": format!("R{round}-{i}"), "manager": format!("M{round}-{i}")}),
                    )
                })
                .collect();
            let managers: Vec<ChangeMessage> =
                (0..PAIRS).map(|i| msg(t, f, json!({"externalId": format!("M{round}-{i}")}))).collect();
            let (a, b) = tokio::join!(d.apply_batch(&reports, T0), d.apply_batch(&managers, T0));
            a.expect("the reports apply");
            b.expect("the managers apply");
            for i in 0..PAIRS {
                let r = d.get_person(t, &eid(&format!("R{round}-{i}"))).await.unwrap().expect("stored");
                assert!(!r.manager_pending, "round {round}, pair {i}: the manager is in the directory");
            }
        }
    }

    #[tokio::test]
    async fn a_snapshot_whose_records_are_counted_by_many_workers_at_once_is_reconciled_exactly_once() {
        let Some(h) = postgres() else { return };
        let d = h.fresh().await;
        let t = d.create_tenant("acme", T0).await.unwrap().id;
        const N: usize = 30;
        const KEEP: usize = 27;
        let pop = feed(&d, t, FeedMode::Delta, true, N as u64).await;
        let people: Vec<ChangeMessage> = (0..N)
            .map(|i| msg(t, pop, json!({"externalId": format!("E{i}"), "department": "Sales"})))
            .collect();
        d.apply_batch(&people, T0).await.unwrap();

        let later = Timestamp(T0.0 + 60_000);
        let snap = feed(&d, t, FeedMode::Full, false, 0).await;
        d.add_snapshot_members(t, snap, (0..KEEP).map(|i| eid(&format!("E{i}"))).collect(), later)
            .await
            .unwrap();
        let seal = FeedSeal { received: KEEP as u64, accepted: KEEP as u64, rejections: vec![], rejected: 0 };
        d.seal_feed(t, snap, seal, later).await.unwrap();
        // Its records one per batch, all at once: the last one counted may
        // be any of them, on any connection.
        let records: Vec<ChangeMessage> = (0..KEEP)
            .map(|i| msg(t, snap, json!({"externalId": format!("E{i}"), "department": "Sales"})))
            .collect();
        let results = futures_util::future::join_all(
            records.iter().map(|m| d.apply_batch(std::slice::from_ref(m), later)),
        )
        .await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");

        let fd = d.get_feed(t, snap).await.unwrap().unwrap();
        assert_eq!(fd.status, FeedStatus::Completed);
        assert_eq!(fd.counts.unchanged, KEEP as u64);
        assert_eq!(fd.counts.leavers, (N - KEEP) as u64);
        assert_eq!(fd.reconciliation.as_ref().map(|r| r.state), Some(ReconcileState::Applied));
        let events = events_of(&d, t).await;
        let left: Vec<_> = events.iter().filter(|e| e.kind == EventType::Left).collect();
        assert_eq!(left.len(), N - KEEP, "one person.left per leaver, never two");
        let ends: Vec<_> = events.iter().filter(|e| e.feed_id == snap && e.kind.is_feed()).collect();
        assert_eq!(ends.len(), 1, "the snapshot's end announced once by whichever worker counted last");
        assert_eq!(ends[0].kind, EventType::FeedCompleted);
        assert_eq!(ends[0].payload["snapshot"]["deactivated"], (N - KEEP) as u64);
        for i in KEEP..N {
            let id = format!("E{i}");
            assert!(!d.get_person(t, &eid(&id)).await.unwrap().unwrap().person.active);
            assert_eq!(assert_history_is_whole(&d, t, &id).await, 2, "joined, then left once");
        }
    }

    #[tokio::test]
    async fn two_schedulers_applying_due_changes_at_once_apply_each_once() {
        let Some(h) = postgres() else { return };
        let d = h.fresh().await;
        let t = d.create_tenant("acme", T0).await.unwrap().id;
        const N: usize = 20;
        let f = feed(&d, t, FeedMode::Delta, true, N as u64).await;
        let hires: Vec<ChangeMessage> = (0..N)
            .map(|i| msg(t, f, json!({"externalId": format!("E{i}"), "hireDate": "2027-01-25"})))
            .collect();
        d.apply_batch(&hires, T0).await.unwrap();
        let ten_days_later = Timestamp(T0.0 + 10 * 86_400_000);
        let (a, b, c) = tokio::join!(
            d.apply_due(ten_days_later, 100),
            d.apply_due(ten_days_later, 100),
            d.apply_due(ten_days_later, 100)
        );
        let first = a.unwrap() + b.unwrap() + c.unwrap();
        // A scheduler that found a person locked by another leaves them to
        // its next run: what is left is applied then, once.
        let rest = d.apply_due(ten_days_later, 100).await.unwrap();
        assert_eq!(first + rest, N as u64);
        assert_eq!(d.apply_due(ten_days_later, 100).await.unwrap(), 0);
        let events: Vec<_> = events_of(&d, t).await.into_iter().filter(|e| !e.kind.is_feed()).collect();
        assert_eq!(events.len(), N, "one person.joined each");
        for i in 0..N {
            assert_eq!(assert_history_is_whole(&d, t, &format!("E{i}")).await, 2);
        }
    }

    /// A report stored waiting for their manager; the manager's batch clears
    /// the wait on the report's row and is held before commit; a scheduler
    /// rewriting the report (due) meanwhile waits on that row and meets it
    /// after its own snapshot was taken, which does not see the manager. It
    /// must keep the cleared wait, not recompute it from that snapshot.
    #[tokio::test]
    async fn a_due_rewrite_racing_the_managers_insert_leaves_no_one_waiting() {
        let Some(h) = postgres() else { return };
        let url = h.fresh_url().await;
        let d = PgDirectory::connect(&url, POOL).await.unwrap();
        let t = d.create_tenant("acme", T0).await.unwrap().id;
        let fr = feed(&d, t, FeedMode::Delta, true, 1).await;
        let fm = feed(&d, t, FeedMode::Delta, true, 1).await;
        let hire = msg(t, fr, json!({"externalId": "R1", "manager": "M1", "hireDate": "2027-01-25"}));
        d.apply_batch(&[hire], T0).await.unwrap();
        assert!(d.get_person(t, &eid("R1")).await.unwrap().unwrap().manager_pending);

        // Holding the manager's feed row: its batch blocks at the counter
        // update, after it cleared R1's wait, before it commits.
        let mut holder = roster_store_postgres::connect_one(&url).await.unwrap();
        let mut watcher = roster_store_postgres::connect_one(&url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query("SELECT 1 FROM feeds WHERE id = $1 FOR UPDATE")
            .bind(fm.to_string())
            .execute(&mut holder)
            .await
            .unwrap();
        let manager = msg(t, fm, json!({"externalId": "M1"}));
        let ten_days_later = Timestamp(T0.0 + 10 * 86_400_000);
        let scheduler = async {
            until_waiting(&mut watcher, 1).await;
            let due = d.apply_due(ten_days_later, 100);
            let release = async {
                // The scheduler waits on R1's row, held by the manager's batch.
                until_waiting(&mut watcher, 2).await;
                sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
            };
            let (due, ()) = tokio::join!(due, release);
            due.unwrap()
        };
        let (applied, due) = tokio::join!(d.apply_batch(std::slice::from_ref(&manager), T0), scheduler);
        assert!(matches!(applied.unwrap()[0], ApplyOutcome::Applied { .. }));
        assert_eq!(due, 1, "R1's hire date came");
        let r1 = d.get_person(t, &eid("R1")).await.unwrap().unwrap();
        assert!(r1.person.active);
        assert!(!r1.manager_pending, "M1 is in the directory: R1 waits for no one");
    }

    /// How many backends of this database wait for a lock.
    async fn waiting(watcher: &mut sqlx::PgConnection) -> i64 {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *watcher)
        .await
        .unwrap()
    }

    /// Waits until `n` backends of this database wait for a lock.
    async fn until_waiting(watcher: &mut sqlx::PgConnection, n: i64) {
        for _ in 0..500 {
            if waiting(watcher).await >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{n} transaction(s) never came to wait");
    }

    #[tokio::test]
    async fn an_event_committed_late_is_not_skipped_by_a_cursor() {
        // Transaction A inserts its event (taking the lower seq) and is held
        // before commit; transaction B, of the same tenant, comes after. If
        // B's event (higher seq) could commit first, a reader would move its
        // cursor past A's and never see it.
        let Some(h) = postgres() else { return };
        let url = h.fresh_url().await;
        let d = PgDirectory::connect(&url, POOL).await.unwrap();
        let t = d.create_tenant("acme", T0).await.unwrap().id;
        let fa = feed(&d, t, FeedMode::Delta, true, 1).await;
        let fb = feed(&d, t, FeedMode::Delta, true, 1).await;
        // Holding A's feed row: A blocks at its counter update, after its
        // event is inserted, before it commits.
        let mut holder = roster_store_postgres::connect_one(&url).await.unwrap();
        let mut watcher = roster_store_postgres::connect_one(&url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query("SELECT 1 FROM feeds WHERE id = $1 FOR UPDATE")
            .bind(fa.to_string())
            .execute(&mut holder)
            .await
            .unwrap();
        let a = msg(t, fa, json!({"externalId": "A1"}));
        let b = msg(t, fb, json!({"externalId": "B1"}));
        let reader = async {
            until_waiting(&mut watcher, 1).await;
            let apply_b = d.apply_batch(std::slice::from_ref(&b), T0);
            let check = async {
                // Until B waits too, or its event shows (it committed).
                for _ in 0..500 {
                    if waiting(&mut watcher).await >= 2 || !d.list_events(t, 0, 10).await.unwrap().is_empty()
                    {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                // B waits for A (its tenant's events commit in order): the
                // reader sees neither yet, so its cursor stays put.
                let seen = d.list_events(t, 0, 10).await.unwrap();
                assert!(seen.is_empty(), "an event visible while an earlier one is in flight: {seen:?}");
                sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
            };
            let (applied, ()) = tokio::join!(apply_b, check);
            applied.unwrap()
        };
        let (applied_a, applied_b) = tokio::join!(d.apply_batch(std::slice::from_ref(&a), T0), reader);
        assert!(matches!(applied_a.unwrap()[0], ApplyOutcome::Applied { .. }));
        assert!(matches!(applied_b[0], ApplyOutcome::Applied { .. }));
        let events = events_of(&d, t).await;
        let seen: Vec<(FeedId, EventType)> = events.iter().map(|e| (e.feed_id, e.kind)).collect();
        assert_eq!(
            seen,
            vec![
                (fa, EventType::Joined),
                (fa, EventType::FeedCompleted),
                (fb, EventType::Joined),
                (fb, EventType::FeedCompleted)
            ],
            "both feeds' events seen, in the order they committed"
        );
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    }
}

/// Rate buckets are the cluster's: two nodes (two pools on one database)
/// spend one budget, and concurrent takes never spend a token twice.
#[tokio::test]
async fn a_rate_bucket_is_shared_by_every_node_and_never_overspent() {
    use roster_store::RateBuckets;
    let Some(h) = postgres() else { return };
    let url = h.fresh_url().await;
    let a = PgDirectory::connect(&url, POOL).await.unwrap();
    let b = PgDirectory::connect(&url, POOL).await.unwrap();
    for (i, node) in [&a, &b, &a].into_iter().enumerate() {
        assert_eq!(node.take_token("k1", 0.001, 3.0).await.unwrap(), None, "take {i}");
    }
    let wait = b.take_token("k1", 0.001, 3.0).await.unwrap().expect("the burst is spent");
    assert!(wait > std::time::Duration::from_secs(60), "{wait:?}");
    assert_eq!(a.take_token("k2", 0.001, 3.0).await.unwrap(), None, "another key, another bucket");

    // Refill by the server's clock: at 20 a second, a token in 50 ms.
    assert_eq!(a.take_token("k3", 20.0, 1.0).await.unwrap(), None);
    assert!(a.take_token("k3", 20.0, 1.0).await.unwrap().is_some());
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert_eq!(b.take_token("k3", 20.0, 1.0).await.unwrap(), None, "refilled");

    let takes =
        futures_util::future::join_all((0..24).map(|i| {
            if i % 2 == 0 { a.take_token("k4", 0.001, 5.0) } else { b.take_token("k4", 0.001, 5.0) }
        }))
        .await;
    let taken = takes.into_iter().map(|t| t.expect("never an error")).filter(Option::is_none).count();
    assert_eq!(taken, 5, "of 24 concurrent takes, the burst's 5");
}
