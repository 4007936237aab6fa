//! `roster bench --store postgres`: the platform over a PostgreSQL
//! directory, end to end with 1, 2 and 4 consumer workers, against raw
//! batched inserts of a person, its history row and its event on the same
//! server, in one run. Each measurement gets a database of its own, made
//! for it and dropped after it, so runs never see each other's rows.

use std::time::{Duration, Instant};

use anyhow::Context;
use roster_store_postgres::connect_one;
use sqlx::{Connection, PgConnection};

/// A database the bench made on the server it was given, dropped by
/// [`drop_database`](Self::drop_database).
pub struct BenchDatabase {
    name: String,
    /// The given URL with this database in place of its own.
    pub url: String,
}

impl BenchDatabase {
    /// Makes `roster_bench_<run>_<what>` on the server of `url` (whose own
    /// database is only connected to, never written).
    pub async fn create(url: &str, run: &str, what: &str) -> anyhow::Result<Self> {
        let name = format!("roster_bench_{run}_{what}");
        let mut c = connect(url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .with_context(|| format!("creating the bench's database {name} (the user needs CREATEDB)"))?;
        c.close().await.ok();
        Ok(Self { url: with_database(url, &name)?, name })
    }

    /// Drops it, ending any session still on it.
    pub async fn drop_database(self, url: &str) -> anyhow::Result<()> {
        let mut c = connect(url).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .execute(&mut c)
            .await
            .with_context(|| format!("dropping the bench's database {}", self.name))?;
        c.close().await.ok();
        Ok(())
    }
}

/// A connection with the directory's own connection options (the same
/// session settings as its pool's).
async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    connect_one(url).await.context("connecting to PostgreSQL (--database-url)")
}

/// `url` naming database `name` instead of its own (libpq's URL form: the
/// path is the database; a `dbname` parameter would override it, so it goes).
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").context("--database-url is not a postgres:// URL")? + 3;
    let end = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..end]);
    let params: Vec<&str> =
        query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.starts_with("dbname=")).collect();
    if !params.is_empty() {
        out.push('?');
        out.push_str(&params.join("&"));
    }
    Ok(out)
}

/// What one new person costs the baseline: the person's JSON (the row and
/// the history's new values) and its event's payload.
pub struct Shape {
    pub person_json: String,
    pub event_json: String,
}

/// What the baseline measured, and the durability it ran with.
pub struct Baseline {
    /// People (person + history row + event) per second.
    pub rate: f64,
    /// People inserted, and over how long.
    pub rows: u64,
    pub seconds: f64,
    pub synchronous_commit: String,
    pub fsync: String,
}

/// The physical limit: rounds of `rows` people, as transactions of `batch`,
/// each three `INSERT ... SELECT FROM unnest(...)` statements (people,
/// history, events: the directory's own way of writing a batch), into
/// tables keyed as the directory's are, until `at_least` has passed. Its
/// connection has the directory pool's session options, so the same
/// durability (`synchronous_commit`: the directory sets none, the server's
/// applies to both).
///
/// It runs as long as the end-to-end run pushes (`--e2e-seconds`), so both
/// pay the same checkpoints, WAL recycling and table growth: a burst of a
/// few seconds missed them and ran about a third faster than it can be
/// sustained.
pub async fn baseline(
    url: &str,
    rows: u64,
    batch: u64,
    shape: &Shape,
    at_least: Duration,
) -> anyhow::Result<Baseline> {
    let mut c = connect(url).await?;
    let (synchronous_commit, fsync): (String, String) =
        sqlx::query_as("SELECT current_setting('synchronous_commit'), current_setting('fsync')")
            .fetch_one(&mut c)
            .await?;
    for ddl in [
        "CREATE TABLE people (tenant_id text NOT NULL, external_id text COLLATE \"C\" NOT NULL,
            version bigint NOT NULL, data jsonb NOT NULL, updated_at bigint NOT NULL,
            PRIMARY KEY (tenant_id, external_id))",
        "CREATE TABLE person_history (tenant_id text NOT NULL, external_id text NOT NULL,
            version bigint NOT NULL, changes jsonb NOT NULL, at bigint NOT NULL,
            PRIMARY KEY (tenant_id, external_id, version))",
        "CREATE TABLE outbox (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id text NOT NULL,
            type text NOT NULL, occurred_at bigint NOT NULL, payload jsonb NOT NULL)",
    ] {
        sqlx::query(ddl).execute(&mut c).await.context("creating the baseline's tables")?;
    }
    let tenant = "tnt_0195f3c0a1b27c3d9e4f5a6b7c8d9e0f";
    let t = Instant::now();
    let mut n = 0;
    let mut round_end = rows;
    loop {
        if n == round_end {
            if t.elapsed() >= at_least {
                break;
            }
            round_end += rows;
        }
        let end = (n + batch).min(round_end);
        // The ids differ per row; the bodies are one real person's, sent
        // per row as the directory sends them (text cast to jsonb).
        let ids: Vec<String> = (n..end).map(|i| format!("E{i:09}")).collect();
        let people = vec![shape.person_json.as_str(); ids.len()];
        let events = vec![shape.event_json.as_str(); ids.len()];
        let now = t.elapsed().as_millis() as i64;
        let mut tx = c.begin().await?;
        sqlx::query(
            "INSERT INTO people (tenant_id, external_id, version, data, updated_at)
             SELECT $1, u.e, 1, u.d::jsonb, $3 FROM unnest($2::text[], $4::text[]) AS u(e, d)",
        )
        .bind(tenant)
        .bind(&ids)
        .bind(now)
        .bind(&people)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO person_history (tenant_id, external_id, version, changes, at)
             SELECT $1, u.e, 1, u.d::jsonb, $3 FROM unnest($2::text[], $4::text[]) AS u(e, d)",
        )
        .bind(tenant)
        .bind(&ids)
        .bind(now)
        .bind(&people)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO outbox (tenant_id, type, occurred_at, payload)
             SELECT $1, 'person.joined', $2, u.p::jsonb FROM unnest($3::text[]) AS u(p)",
        )
        .bind(tenant)
        .bind(now)
        .bind(&events)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        n = end;
    }
    let seconds = t.elapsed().as_secs_f64();
    c.close().await.ok();
    Ok(Baseline { rate: n as f64 / seconds, rows: n, seconds, synchronous_commit, fsync })
}

/// What the directory holds after an end-to-end run: people, history rows
/// and events (the bench's database has its one tenant).
pub struct Applied {
    pub people: u64,
    pub history: u64,
    pub events: u64,
}

pub async fn applied(url: &str) -> anyhow::Result<Applied> {
    let mut c = connect(url).await?;
    let (people, history, events): (i64, i64, i64) = sqlx::query_as(
        // Person events only: each feed also ends with a feed event.
        "SELECT (SELECT count(*) FROM people), (SELECT count(*) FROM person_history),
                (SELECT count(*) FROM outbox WHERE type LIKE 'person.%')",
    )
    .fetch_one(&mut c)
    .await
    .context("counting what the directory holds")?;
    c.close().await.ok();
    Ok(Applied { people: people as u64, history: history as u64, events: events as u64 })
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced_and_the_rest_kept() {
        let cases = [
            (
                "postgres://u:pw@db.example/roster?sslmode=require",
                "postgres://u:pw@db.example/b?sslmode=require",
            ),
            (
                "postgres://u@localhost/postgres?host=/tmp/x&port=5432",
                "postgres://u@localhost/b?host=/tmp/x&port=5432",
            ),
            ("postgres://db.example", "postgres://db.example/b"),
            ("postgres:///roster?host=/run/postgresql&dbname=other", "postgres:///b?host=/run/postgresql"),
        ];
        for (url, want) in cases {
            assert_eq!(with_database(url, "b").unwrap(), want, "{url}");
        }
        assert!(with_database("not a url", "b").is_err());
    }
}
