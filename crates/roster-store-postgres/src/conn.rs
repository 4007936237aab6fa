//! The pool, connecting (with the schema check), and how driver errors
//! become the port's error kinds.

use std::str::FromStr;
use std::time::Duration;

use roster_store::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::schema::{self, SCHEMA_VERSION};

/// The directory over a pool of PostgreSQL connections.
pub struct PgDirectory {
    pool: PgPool,
}

impl std::fmt::Debug for PgDirectory {
    // The URL and its password stay out of `Debug`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDirectory").field("pool_size", &self.pool.options().get_max_connections()).finish()
    }
}

/// Why [`PgDirectory::connect`] refused.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the database URL is not valid: {0}")]
    Url(String),
    #[error("database schema is at version {at}, this build needs {needs}: run `roster migrate`")]
    SchemaBehind { at: i64, needs: i64 },
    #[error(
        "database schema is at version {at}, newer than this build's {needs}: run a newer build of roster"
    )]
    SchemaAhead { at: i64, needs: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a statement may run before the server cancels it, unless the
/// caller says otherwise ([`PgDirectory::connect_with`]): a stuck query
/// must not hold a pooled connection (and its locks) for ever.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a call waits for a free pooled connection before it is
/// `Unavailable` (the caller retries).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

fn options(url: &str, statement_timeout: Duration) -> Result<PgConnectOptions, ConnectError> {
    // sqlx's message names the part that is wrong, never the password.
    let opts = PgConnectOptions::from_str(url).map_err(|e| ConnectError::Url(e.to_string()))?;
    // At least 1 ms: 0 would switch the server's timeout off.
    let timeout = format!("{}ms", statement_timeout.as_millis().max(1));
    Ok(opts
        .application_name("roster")
        .options([("statement_timeout", timeout.as_str())])
        .disable_statement_logging())
}

impl PgDirectory {
    /// A pool of at most `pool_size` connections to the database at `url`
    /// (libpq's URL form: `sslmode`, `sslrootcert`, a unix-socket `host`).
    /// Refuses a database whose schema is not this build's
    /// [`SCHEMA_VERSION`]; it does not migrate (see [`migrate`](Self::migrate)).
    pub async fn connect(url: &str, pool_size: u32) -> Result<Self, ConnectError> {
        Self::connect_with(url, pool_size, DEFAULT_STATEMENT_TIMEOUT).await
    }

    /// [`connect`](Self::connect) with the `statement_timeout` of the
    /// pool's connections: the server cancels a statement that runs longer
    /// (the caller sees an error and retries or fails the request).
    pub async fn connect_with(
        url: &str,
        pool_size: u32,
        statement_timeout: Duration,
    ) -> Result<Self, ConnectError> {
        let opts = options(url, statement_timeout)?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(1))
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(storage)?;
        let mut c = pool.acquire().await.map_err(storage)?;
        let at = schema::applied_version(&mut c).await?;
        drop(c);
        match at.cmp(&SCHEMA_VERSION) {
            std::cmp::Ordering::Less => Err(ConnectError::SchemaBehind { at, needs: SCHEMA_VERSION }),
            std::cmp::Ordering::Greater => Err(ConnectError::SchemaAhead { at, needs: SCHEMA_VERSION }),
            std::cmp::Ordering::Equal => Ok(Self { pool }),
        }
    }

    /// Brings the database's schema to this build's version, under an
    /// advisory lock (nodes or deploy steps running it at once apply each
    /// migration once). Returns the version it was at. A database already
    /// newer is left alone, and then `connect` refuses it.
    pub async fn migrate(url: &str) -> Result<i64, ConnectError> {
        let opts = options(url, DEFAULT_STATEMENT_TIMEOUT)?;
        let mut c = opts.connect().await.map_err(storage)?;
        let before = schema::migrate(&mut c).await?;
        c.close().await.map_err(storage)?;
        Ok(before)
    }

    /// A server setting as a pooled connection sees it (`current_setting`),
    /// e.g. `synchronous_commit` or `statement_timeout`: what the
    /// directory's transactions run with.
    pub async fn server_setting(&self, name: &str) -> Result<String, StoreError> {
        sqlx::query_scalar("SELECT current_setting($1)")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(storage)
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A connection of its own, for tests and tools (not pooled).
#[doc(hidden)]
pub async fn connect_one(url: &str) -> Result<PgConnection, ConnectError> {
    Ok(options(url, DEFAULT_STATEMENT_TIMEOUT)?.connect().await.map_err(storage)?)
}

/// SQLSTATEs that mean "nothing happened, retry": serialization failure,
/// deadlock (the server aborted this transaction to resolve it), the
/// server shutting down or crashing or not yet accepting connections, too
/// many connections; and every connection exception (class 08).
fn transient(code: &str) -> bool {
    matches!(code, "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300") || code.starts_with("08")
}

/// Classifies a driver error by the port's contract (see `StoreError`).
#[doc(hidden)]
pub fn storage(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.code().is_some_and(|c| transient(&c)) => {
            StoreError::Unavailable(e.to_string())
        }
        // The connection was lost or never made, or no pooled connection
        // came free in time.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Storage(e.to_string()),
    }
}

/// Whether the error is a unique-constraint violation (23505).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A stored id back into its type; a row that does not parse is corrupt.
pub(crate) fn parse_id<T: FromStr>(s: &str) -> Result<T, StoreError> {
    s.parse().map_err(|_| StoreError::Storage("a stored id does not parse".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transient_sqlstates_are_unavailable_and_others_are_not() {
        for code in ["40001", "40P01", "08000", "08006", "57P01", "53300"] {
            assert!(transient(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02", "57014"] {
            assert!(!transient(code), "{code}");
        }
    }
}
