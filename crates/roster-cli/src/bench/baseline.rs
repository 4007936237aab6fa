//! The physical limit: batched inserts of rows shaped like queue messages
//! into SQLite with the queue's journal mode and synchronous setting.

use std::path::Path;
use std::time::Instant;

use rusqlite::{Connection, params};

/// Rows per second.
pub fn measure(path: &Path, rows: u64, batch: u64, body_len: usize) -> anyhow::Result<f64> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, group_id TEXT NOT NULL,
         tenant TEXT NOT NULL, body BLOB NOT NULL, sent_at INTEGER NOT NULL, visible_at INTEGER NOT NULL)",
    )?;
    let body = vec![b'x'; body_len];
    let t = Instant::now();
    let mut n = 0;
    while n < rows {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO messages (id, group_id, tenant, body, sent_at, visible_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )?;
            for i in n..(n + batch).min(rows) {
                let id = format!("{i:020}-0000-7000-8000-000000000000");
                stmt.execute(params![id, format!("group-{i}"), "tenant", body, i as i64])?;
            }
        }
        tx.commit()?;
        n += batch;
    }
    Ok(rows as f64 / t.elapsed().as_secs_f64())
}
