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
    format!("roster_template_{SCHEMA_VERSION}_{:016x}", h.finish())
}

impl Postgres {
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
        let template = self.template().await;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let admin = self.admin().await;
        admin
            .execute(format!("CREATE DATABASE {name} TEMPLATE {template}").as_str())
            .await
            .expect("copying the template");
        admin.close().await;
        PgDirectory::connect(&url_of(&self.admin_url, &name), POOL).await.expect("connecting")
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
