//! The embedded queue: one SQLite file (WAL; see `Durability`) with Amazon
//! SQS FIFO semantics. See the crate docs for the semantics; this module is
//! how they map to tables.
//!
//! - `messages`: the source queue. `seq` (AUTOINCREMENT, never reused) is the
//!   send order; a message is receivable when it is the lowest `seq` of its
//!   group and `visible_at <= now`. A receipt handle is `seq:random`, so
//!   acknowledging is a primary-key lookup.
//! - `dead_letters`: the DLQ. A redriven message goes back with its original
//!   `seq`, so it keeps its place in its group.
//! - `dedup`: ids sent within the deduplication window.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use roster_core::{Clock, SystemClock, Timestamp};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::Notify;

use crate::{
    DeadLetter, DeadLetterFilter, MAX_GROUP_ID_LEN, OutgoingMessage, Queue, QueueError, QueueStats,
    ReceiptHandle, ReceiveRequest, ReceivedMessage, Redrive, SendOutcome,
};

/// Largest message body, as on SQS.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most dead letters one listing returns.
pub const MAX_LIST: usize = 1000;
/// How often a waiting receive looks again for messages whose visibility
/// timeout or delay has run out (those wake no one).
const POLL_INTERVAL: Duration = Duration::from_millis(100);

pub struct SqliteQueueConfig {
    pub path: PathBuf,
    /// Receives after which a message moves to the DLQ (SQS `maxReceiveCount`).
    pub max_receive_count: u32,
    /// Messages older than this move to the DLQ (SQS: at most 14 days).
    pub retention: Duration,
    /// A message id sent again within this window is dropped.
    pub dedup_window: Duration,
    pub clock: Arc<dyn Clock>,
}

impl SqliteQueueConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_receive_count: 5,
            retention: Duration::from_secs(14 * 24 * 3600),
            dedup_window: Duration::from_secs(5 * 60),
            clock: Arc::new(SystemClock),
        }
    }
}

pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    max_receive_count: u32,
    retention_ms: i64,
    dedup_ms: i64,
    /// Woken when messages may have become receivable.
    arrivals: Arc<Notify>,
    /// The connection's `synchronous` setting (a `Durability`).
    durability: Arc<AtomicU8>,
    /// Copies the WAL into the database off the connection's path.
    _checkpointer: roster_sqlite::Checkpointer,
}

/// How a commit reaches the disk. Whatever the queue promises the sender
/// (a sent message, a dead letter, a redrive) is `Synced`. The consumer's
/// bookkeeping (receive marks, deletes, visibility changes) is `Ordered`:
/// WAL with `synchronous=NORMAL` keeps it in order with everything else and
/// safe from a process crash, but a power loss may undo the last of them.
/// Undoing one only makes a message visible again (or leaves a message that
/// a receive moved to the DLQ to be moved again), and the directory treats a
/// second delivery as a duplicate — the at-least-once contract, at a third
/// of the fsyncs per consumer cycle.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Durability {
    Synced = 0,
    Ordered = 1,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Synced => "FULL",
            Durability::Ordered => "NORMAL",
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    group_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    body BLOB NOT NULL,
    sent_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_received_at INTEGER,
    last_received_at INTEGER,
    receipt TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS messages_group ON messages (group_id, seq);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (visible_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    group_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    body BLOB NOT NULL,
    sent_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    first_received_at INTEGER,
    last_received_at INTEGER,
    dead_lettered_at INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_tenant ON dead_letters (tenant, seq);
CREATE TABLE IF NOT EXISTS dedup (
    id TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedup_expiry ON dedup (expires_at);
";

fn storage(e: rusqlite::Error) -> QueueError {
    use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => QueueError::Unavailable(e.to_string()),
        _ => QueueError::Storage(e.to_string()),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl SqliteQueue {
    pub fn open(config: SqliteQueueConfig) -> Result<Self, QueueError> {
        let conn = Connection::open(&config.path).map_err(storage)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(storage)?;
        // FULL: a committed send survives power loss, not only a crash.
        conn.pragma_update(None, "synchronous", "FULL").map_err(storage)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(storage)?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(storage)?;
        if version < 1 {
            conn.execute_batch(SCHEMA).map_err(storage)?;
            conn.pragma_update(None, "user_version", 1).map_err(storage)?;
        }
        conn.pragma_update(None, "wal_autocheckpoint", roster_sqlite::BACKSTOP_PAGES).map_err(storage)?;
        let checkpointer =
            roster_sqlite::Checkpointer::start(&config.path, "queue-checkpoint").map_err(storage)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            clock: config.clock,
            max_receive_count: config.max_receive_count.max(1),
            retention_ms: millis(config.retention),
            dedup_ms: millis(config.dedup_window),
            arrivals: Arc::new(Notify::new()),
            durability: Arc::new(AtomicU8::new(Durability::Synced as u8)),
            _checkpointer: checkpointer,
        })
    }

    /// Runs `f` with the connection on a blocking thread; what it commits is
    /// on disk before this returns (`synchronous=FULL`).
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        self.with_conn_as(Durability::Synced, f).await
    }

    /// Runs `f` with the connection on a blocking thread, committing with
    /// the given durability.
    async fn with_conn_as<T: Send + 'static>(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut Connection) -> Result<T, QueueError> + Send + 'static,
    ) -> Result<T, QueueError> {
        let conn = Arc::clone(&self.conn);
        let current = Arc::clone(&self.durability);
        tokio::task::spawn_blocking(move || {
            let mut guard =
                conn.lock().map_err(|_| QueueError::Storage("queue connection poisoned".into()))?;
            // Read and changed under the connection's lock.
            if current.load(Ordering::Relaxed) != durability as u8 {
                guard.pragma_update(None, "synchronous", durability.pragma()).map_err(storage)?;
                current.store(durability as u8, Ordering::Relaxed);
            }
            f(&mut guard)
        })
        .await
        .map_err(|e| QueueError::Storage(format!("queue task failed: {e}")))?
    }

    async fn try_receive(&self, req: ReceiveRequest) -> Result<Vec<ReceivedMessage>, QueueError> {
        let now = self.clock.now().millis();
        let (max_receives, retention) = (self.max_receive_count, self.retention_ms);
        self.with_conn_as(Durability::Ordered, move |conn| {
            let tx = conn.transaction().map_err(storage)?;
            expire_retention(&tx, now, retention)?;
            let mut out = Vec::new();
            // One token for the whole receive: `seq` makes each receipt
            // unique, the token makes an earlier receive's receipt stale.
            let token = random_token();
            // Heads of their groups, oldest first. Dead-lettering a head makes
            // the next one of its group a head, hence the loop.
            while out.len() < req.max_messages {
                let heads = select_heads(&tx, now, req.max_messages - out.len())?;
                if heads.is_empty() {
                    break;
                }
                let mut moved_any = false;
                for h in heads {
                    if h.receive_count >= max_receives {
                        let reason = match &h.last_error {
                            Some(e) => format!("exceeded maxReceiveCount ({max_receives}); last error: {e}"),
                            None => format!("exceeded maxReceiveCount ({max_receives})"),
                        };
                        move_to_dlq(&tx, h.seq, now, &reason)?;
                        moved_any = true;
                        continue;
                    }
                    out.push(mark_received(&tx, h, now, millis(req.visibility_timeout), &token)?);
                }
                if !moved_any {
                    break;
                }
            }
            tx.commit().map_err(storage)?;
            Ok(out)
        })
        .await
    }
}

struct Head {
    seq: i64,
    id: String,
    group_id: String,
    tenant: String,
    body: Vec<u8>,
    sent_at: i64,
    receive_count: u32,
    first_received_at: Option<i64>,
    last_error: Option<String>,
}

fn select_heads(tx: &Transaction<'_>, now: i64, limit: usize) -> Result<Vec<Head>, QueueError> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT m.seq, m.id, m.group_id, m.tenant, m.body, m.sent_at, m.receive_count, m.first_received_at, m.last_error
             FROM messages m
             WHERE m.visible_at <= ?1
               AND m.seq = (SELECT MIN(h.seq) FROM messages h WHERE h.group_id = m.group_id)
             ORDER BY m.seq
             LIMIT ?2",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![now, limit as i64], |r| {
            Ok(Head {
                seq: r.get(0)?,
                id: r.get(1)?,
                group_id: r.get(2)?,
                tenant: r.get(3)?,
                body: r.get(4)?,
                sent_at: r.get(5)?,
                receive_count: r.get(6)?,
                first_received_at: r.get(7)?,
                last_error: r.get(8)?,
            })
        })
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

fn mark_received(
    tx: &Transaction<'_>,
    h: Head,
    now: i64,
    visibility_ms: i64,
    token: &str,
) -> Result<ReceivedMessage, QueueError> {
    let receipt = format!("{}:{token}", h.seq);
    tx.prepare_cached(
        "UPDATE messages SET receipt = ?2, receive_count = receive_count + 1,
                first_received_at = COALESCE(first_received_at, ?3), last_received_at = ?3,
                visible_at = ?4
         WHERE seq = ?1",
    )
    .map_err(storage)?
    .execute(params![h.seq, receipt, now, now.saturating_add(visibility_ms)])
    .map_err(storage)?;
    Ok(ReceivedMessage {
        id: h.id,
        group_id: h.group_id,
        tenant: h.tenant,
        body: h.body,
        receipt: ReceiptHandle(receipt),
        receive_count: h.receive_count + 1,
        sent_at: Timestamp(h.sent_at),
        first_received_at: Timestamp(h.first_received_at.unwrap_or(now)),
    })
}

/// Moves messages past the retention period to the DLQ. They are the
/// oldest, so only the front of the queue is looked at.
fn expire_retention(tx: &Transaction<'_>, now: i64, retention_ms: i64) -> Result<(), QueueError> {
    let cutoff = now.saturating_sub(retention_ms);
    loop {
        let oldest: Option<(i64, i64)> = tx
            .prepare_cached("SELECT seq, sent_at FROM messages ORDER BY seq LIMIT 1")
            .map_err(storage)?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(storage)?;
        match oldest {
            Some((seq, sent_at)) if sent_at < cutoff => {
                move_to_dlq(tx, seq, now, "retention period expired")?
            }
            _ => return Ok(()),
        }
    }
}

fn move_to_dlq(tx: &Transaction<'_>, seq: i64, now: i64, reason: &str) -> Result<(), QueueError> {
    tx.prepare_cached(
        "INSERT INTO dead_letters (seq, id, group_id, tenant, body, sent_at, receive_count,
                                   first_received_at, last_received_at, dead_lettered_at, reason)
         SELECT seq, id, group_id, tenant, body, sent_at, receive_count, first_received_at, last_received_at, ?2, ?3
         FROM messages WHERE seq = ?1",
    )
    .map_err(storage)?
    .execute(params![seq, now, reason])
    .map_err(storage)?;
    tx.prepare_cached("DELETE FROM messages WHERE seq = ?1")
        .map_err(storage)?
        .execute([seq])
        .map_err(storage)?;
    Ok(())
}

/// The `seq` a receipt handle names, if it is well-formed.
fn receipt_seq(r: &ReceiptHandle) -> Option<i64> {
    r.0.split_once(':').and_then(|(seq, _)| seq.parse().ok())
}

fn random_token() -> String {
    let mut b = [0u8; 12];
    // Uniqueness comes from `seq`; the token only guards against stale handles.
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn dead_letter_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeadLetter> {
    Ok(DeadLetter {
        id: r.get(0)?,
        group_id: r.get(1)?,
        tenant: r.get(2)?,
        body: r.get(3)?,
        sent_at: Timestamp(r.get(4)?),
        receive_count: r.get(5)?,
        first_received_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
        last_received_at: r.get::<_, Option<i64>>(7)?.map(Timestamp),
        dead_lettered_at: Timestamp(r.get(8)?),
        reason: r.get(9)?,
    })
}

const DEAD_LETTER_COLUMNS: &str = "id, group_id, tenant, body, sent_at, receive_count, first_received_at, \
                                   last_received_at, dead_lettered_at, reason";

#[async_trait]
impl Queue for SqliteQueue {
    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<SendOutcome, QueueError> {
        for m in &messages {
            if m.id.is_empty() || m.group_id.is_empty() || m.group_id.len() > MAX_GROUP_ID_LEN {
                return Err(QueueError::Invalid(format!(
                    "message ids and group ids must be non-empty, group ids at most {MAX_GROUP_ID_LEN} characters"
                )));
            }
            if m.body.len() > MAX_BODY_BYTES {
                return Err(QueueError::Invalid(format!(
                    "a message body is larger than {MAX_BODY_BYTES} bytes"
                )));
            }
        }
        let now = self.clock.now().millis();
        let dedup_ms = self.dedup_ms;
        // Bounded clean-up of the dedup window, so a send never stalls, but
        // twice what the send adds: expired ids go faster than new ones come.
        let cleanup = (2 * messages.len()).max(1000) as i64;
        let outcome = self
            .with_conn(move |conn| {
                let tx = conn.transaction().map_err(storage)?;
                tx.prepare_cached(
                    "DELETE FROM dedup WHERE id IN (SELECT id FROM dedup WHERE expires_at <= ?1 LIMIT ?2)",
                )
                .map_err(storage)?
                .execute(params![now, cleanup])
                .map_err(storage)?;
                let mut outcome = SendOutcome::default();
                {
                    let mut seen = tx
                        .prepare_cached(
                            "INSERT INTO dedup (id, expires_at) VALUES (?1, ?2)
                             ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
                             WHERE dedup.expires_at <= ?3",
                        )
                        .map_err(storage)?;
                    let mut insert = tx
                        .prepare_cached(
                            "INSERT INTO messages (id, group_id, tenant, body, sent_at, visible_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )
                        .map_err(storage)?;
                    for m in messages {
                        // 0 rows: the id was sent within the window.
                        if seen.execute(params![m.id, now.saturating_add(dedup_ms), now]).map_err(storage)?
                            == 0
                        {
                            outcome.duplicates += 1;
                            continue;
                        }
                        let visible_at = now.saturating_add(millis(m.delay));
                        match insert.execute(params![m.id, m.group_id, m.tenant, m.body, now, visible_at]) {
                            Ok(_) => outcome.sent += 1,
                            // Still queued from before the window: a duplicate too.
                            Err(e)
                                if e.sqlite_error_code()
                                    == Some(rusqlite::ErrorCode::ConstraintViolation) =>
                            {
                                outcome.duplicates += 1
                            }
                            Err(e) => return Err(storage(e)),
                        }
                    }
                }
                tx.commit().map_err(storage)?;
                Ok(outcome)
            })
            .await?;
        self.arrivals.notify_waiters();
        Ok(outcome)
    }

    async fn receive(&self, req: ReceiveRequest) -> Result<Vec<ReceivedMessage>, QueueError> {
        if req.max_messages == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + req.wait;
        loop {
            // Registered before looking, so a send in between is not missed.
            let arrived = self.arrivals.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let got = self.try_receive(req).await?;
            let now = tokio::time::Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            let nap = (deadline - now).min(POLL_INTERVAL);
            tokio::select! {
                _ = arrived => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn delete_batch(&self, receipts: &[ReceiptHandle]) -> Result<(), QueueError> {
        let keys: Vec<(i64, String)> =
            receipts.iter().filter_map(|r| receipt_seq(r).map(|seq| (seq, r.0.clone()))).collect();
        if keys.is_empty() {
            return Ok(());
        }
        self.with_conn_as(Durability::Ordered, move |conn| {
            let tx = conn.transaction().map_err(storage)?;
            {
                let mut del = tx
                    .prepare_cached("DELETE FROM messages WHERE seq = ?1 AND receipt = ?2")
                    .map_err(storage)?;
                for (seq, receipt) in keys {
                    del.execute(params![seq, receipt]).map_err(storage)?;
                }
            }
            tx.commit().map_err(storage)
        })
        .await?;
        // The next message of each group may be receivable now.
        self.arrivals.notify_waiters();
        Ok(())
    }

    async fn change_visibility(
        &self,
        receipt: &ReceiptHandle,
        timeout: Duration,
        last_error: Option<&str>,
    ) -> Result<(), QueueError> {
        let seq = receipt_seq(receipt).ok_or(QueueError::InvalidReceipt)?;
        let (receipt, error) = (receipt.0.clone(), last_error.map(str::to_owned));
        let visible_at = self.clock.now().millis().saturating_add(millis(timeout));
        let changed = self
            .with_conn_as(Durability::Ordered, move |conn| {
                conn.prepare_cached(
                    "UPDATE messages SET visible_at = ?3, last_error = COALESCE(?4, last_error)
                     WHERE seq = ?1 AND receipt = ?2",
                )
                .map_err(storage)?
                .execute(params![seq, receipt, visible_at, error])
                .map_err(storage)
            })
            .await?;
        if changed == 0 {
            return Err(QueueError::InvalidReceipt);
        }
        if timeout.is_zero() {
            self.arrivals.notify_waiters();
        }
        Ok(())
    }

    async fn dead_letter(&self, message: &ReceivedMessage, reason: &str) -> Result<(), QueueError> {
        let seq = receipt_seq(&message.receipt).ok_or(QueueError::InvalidReceipt)?;
        let (receipt, reason) = (message.receipt.0.clone(), reason.to_owned());
        let now = self.clock.now().millis();
        self.with_conn(move |conn| {
            let tx = conn.transaction().map_err(storage)?;
            let current: Option<String> = tx
                .prepare_cached("SELECT receipt FROM messages WHERE seq = ?1")
                .map_err(storage)?
                .query_row([seq], |r| r.get(0))
                .optional()
                .map_err(storage)?
                .flatten();
            if current.as_deref() != Some(receipt.as_str()) {
                return Err(QueueError::InvalidReceipt);
            }
            move_to_dlq(&tx, seq, now, &reason)?;
            tx.commit().map_err(storage)
        })
        .await?;
        self.arrivals.notify_waiters();
        Ok(())
    }

    async fn list_dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<DeadLetter>, QueueError> {
        let filter = filter.clone();
        let limit = filter.limit.clamp(1, MAX_LIST) as i64;
        self.with_conn(move |conn| {
            // Paging by id: resolve it to its seq, the listing order — within
            // the tenant, so another tenant's id is as unknown as a made-up
            // one (no oracle of its existence or its place in the order).
            let after_seq: i64 = match &filter.after {
                None => 0,
                Some(id) => conn
                    .prepare_cached(
                        "SELECT seq FROM dead_letters WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)",
                    )
                    .map_err(storage)?
                    .query_row(params![id, filter.tenant], |r| r.get(0))
                    .optional()
                    .map_err(storage)?
                    .unwrap_or(i64::MAX),
            };
            let sql = format!(
                "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters
                 WHERE seq > ?1 AND (?2 IS NULL OR tenant = ?2) ORDER BY seq LIMIT ?3"
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
            let rows = stmt
                .query_map(params![after_seq, filter.tenant, limit], dead_letter_from_row)
                .map_err(storage)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(storage)
        })
        .await
    }

    async fn get_dead_letter(&self, tenant: &str, id: &str) -> Result<Option<DeadLetter>, QueueError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        self.with_conn(move |conn| {
            let sql = format!("SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = ?1 AND tenant = ?2");
            conn.prepare_cached(&sql)
                .map_err(storage)?
                .query_row([id, tenant], dead_letter_from_row)
                .optional()
                .map_err(storage)
        })
        .await
    }

    async fn redrive(&self, which: &Redrive) -> Result<u64, QueueError> {
        let which = which.clone();
        let now = self.clock.now().millis();
        let moved = self
            .with_conn(move |conn| {
                let tx = conn.transaction().map_err(storage)?;
                // Back with their original seq (keeping their place in their
                // group), visible now, with a fresh receive count — and a
                // fresh retention period, as SQS's redrive (a new message)
                // gives: one dead-lettered long ago must not expire at once.
                let select = "INSERT INTO messages (seq, id, group_id, tenant, body, sent_at, visible_at)
                              SELECT seq, id, group_id, tenant, body, ?1, ?1 FROM dead_letters";
                let moved = match &which {
                    Redrive::All { tenant } => {
                        let n = tx
                            .execute(
                                &format!("{select} WHERE (?2 IS NULL OR tenant = ?2)"),
                                params![now, tenant],
                            )
                            .map_err(storage)?;
                        tx.execute(
                            "DELETE FROM dead_letters WHERE (?1 IS NULL OR tenant = ?1)",
                            params![tenant],
                        )
                        .map_err(storage)?;
                        n
                    }
                    Redrive::Ids { tenant, ids } => {
                        let mut n = 0;
                        for id in ids {
                            n += tx
                                .execute(
                                    &format!("{select} WHERE id = ?2 AND tenant = ?3"),
                                    params![now, id, tenant],
                                )
                                .map_err(storage)?;
                            tx.execute(
                                "DELETE FROM dead_letters WHERE id = ?1 AND tenant = ?2",
                                params![id, tenant],
                            )
                            .map_err(storage)?;
                        }
                        n
                    }
                };
                tx.commit().map_err(storage)?;
                Ok(moved as u64)
            })
            .await?;
        self.arrivals.notify_waiters();
        Ok(moved)
    }

    async fn purge_dead_letters(&self, tenant: Option<&str>) -> Result<u64, QueueError> {
        let tenant = tenant.map(str::to_owned);
        self.with_conn(move |conn| {
            let n = conn
                .execute("DELETE FROM dead_letters WHERE (?1 IS NULL OR tenant = ?1)", params![tenant])
                .map_err(storage)?;
            Ok(n as u64)
        })
        .await
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let now = self.clock.now().millis();
        self.with_conn(move |conn| {
            let count = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<u64, QueueError> {
                conn.prepare_cached(sql)
                    .map_err(storage)?
                    .query_row(p, |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
                    .map_err(storage)
            };
            let visible = count("SELECT COUNT(*) FROM messages WHERE visible_at <= ?1", &[&now])?;
            let in_flight =
                count("SELECT COUNT(*) FROM messages WHERE visible_at > ?1 AND receive_count > 0", &[&now])?;
            let delayed =
                count("SELECT COUNT(*) FROM messages WHERE visible_at > ?1 AND receive_count = 0", &[&now])?;
            let dead_letters = count("SELECT COUNT(*) FROM dead_letters", &[])?;
            // seq follows send order, so the first message is (nearly) the oldest.
            let oldest: Option<i64> = conn
                .prepare_cached("SELECT sent_at FROM messages ORDER BY seq LIMIT 1")
                .map_err(storage)?
                .query_row([], |r| r.get(0))
                .optional()
                .map_err(storage)?;
            Ok(QueueStats {
                visible,
                in_flight,
                delayed,
                dead_letters,
                oldest_age: oldest.map(|t| Duration::from_millis(now.saturating_sub(t).max(0) as u64)),
            })
        })
        .await
    }
}
