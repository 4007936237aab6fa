//! SQLite plumbing shared by the embedded queue and directory.
//!
//! WAL checkpoints off the writer's path: by default SQLite checkpoints
//! inside the commit that crosses `wal_autocheckpoint` pages, so each
//! adapter's one writer would stop to copy the WAL into the database file —
//! about a fifth of the directory's time under load. A [`Checkpointer`]
//! thread with its own connection checkpoints instead (`PASSIVE`: it never
//! blocks the writer or readers), on the other core. Writers keep
//! [`BACKSTOP_PAGES`] as their own threshold, so the WAL stays bounded should
//! the thread fall behind.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the background thread checkpoints.
const INTERVAL: Duration = Duration::from_millis(100);

/// The writer's own checkpoint threshold (`wal_autocheckpoint`), in pages of
/// 4 KiB: reached only if the background thread falls behind.
pub const BACKSTOP_PAGES: u32 = 16_384;

/// Checkpoints one database's WAL every 100 ms; stops and joins its thread
/// when dropped.
pub struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection of its own to `path` and starts the thread, named
    /// `name` (as `top` and profilers show it).
    pub fn start(path: &Path, name: &str) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(INTERVAL);
                    // A failed checkpoint is retried on the next tick; the
                    // writer's backstop bounds the WAL meanwhile.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::debug!(error = %e, "background checkpoint failed");
                    }
                }
            })
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_copies_the_wal_into_the_database_while_the_writer_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let db_size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let writer = Connection::open(&path).expect("open");
        writer.pragma_update(None, "journal_mode", "WAL").expect("wal");
        // The writer never checkpoints by itself: rows stay in the WAL.
        writer.pragma_update(None, "wal_autocheckpoint", 0).expect("autocheckpoint");
        writer.execute_batch("CREATE TABLE t (x TEXT)").expect("create");
        for _ in 0..50 {
            writer.execute("INSERT INTO t VALUES (hex(randomblob(2000)))", []).expect("insert");
        }
        let rows_bytes = 50 * 4000;
        assert!(db_size() < rows_bytes, "before: the rows are only in the WAL");

        let checkpointer = Checkpointer::start(&path, "test-checkpoint").expect("start");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while db_size() < rows_bytes && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(checkpointer);
        assert!(db_size() >= rows_bytes, "the background thread copied the rows into the database file");
        let n: i64 = writer.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
        assert_eq!(n, 50);
    }
}
