//! The connections: one writer and one reader on the same file (WAL lets
//! reads run while the consumer writes), each used from a blocking task.

use roster_store::StoreError;
use rusqlite::Connection;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::schema;

pub struct SqliteDirectory {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    _checkpointer: roster_sqlite::Checkpointer,
}

pub(crate) fn storage(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Storage(e.to_string()),
    }
}

pub(crate) fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: the consumer acknowledges a message once its apply committed, so
    // the commit must survive power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// A write transaction that takes the write lock at its start. A deferred
/// one that reads first would be refused `SQLITE_BUSY` at once, without the
/// busy timeout, when another connection (an operator's `sqlite3`, a CLI
/// command on the data dir) holds the lock at its first write.
pub(crate) fn immediate(c: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(storage)
}

impl SqliteDirectory {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut writer = open_connection(path).map_err(storage)?;
        schema::migrate(&mut writer).map_err(storage)?;
        writer.pragma_update(None, "wal_autocheckpoint", roster_sqlite::BACKSTOP_PAGES).map_err(storage)?;
        let reader = open_connection(path).map_err(storage)?;
        let checkpointer =
            roster_sqlite::Checkpointer::start(path, "directory-checkpoint").map_err(storage)?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            _checkpointer: checkpointer,
        })
    }

    pub(crate) async fn run<T: Send + 'static>(
        conn: &Arc<Mutex<Connection>>,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Storage("connection poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Storage(format!("store task failed: {e}")))?
    }

    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        Self::run(&self.writer, f).await
    }

    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        Self::run(&self.reader, f).await
    }
}
