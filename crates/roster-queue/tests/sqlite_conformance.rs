//! The embedded queue against the conformance suite, plus what only a local
//! file can show: durability across reopen and retention.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use roster_core::{Clock, ManualClock, Timestamp};
use roster_queue::conformance::{Harness, message};
use roster_queue::{DeadLetterFilter, Queue, ReceiveRequest, SqliteQueue, SqliteQueueConfig};

struct Sqlite {
    clock: ManualClock,
    dir: tempfile::TempDir,
}

fn sqlite() -> Sqlite {
    Sqlite { clock: ManualClock::new(Timestamp(1_700_000_000_000)), dir: tempfile::tempdir().unwrap() }
}

impl Sqlite {
    fn open(&self, max_receive_count: u32) -> SqliteQueue {
        let mut c = SqliteQueueConfig::new(self.dir.path().join("queue.db"));
        c.clock = Arc::new(self.clock.clone());
        c.max_receive_count = max_receive_count;
        SqliteQueue::open(c).unwrap()
    }
}

#[async_trait]
impl Harness for Sqlite {
    type Q = SqliteQueue;
    async fn queue(&self, max_receive_count: u32) -> SqliteQueue {
        self.open(max_receive_count)
    }
    async fn advance(&self, d: Duration) {
        self.clock.advance_millis(d.as_millis() as i64);
    }
}

roster_queue::conformance_tests!(sqlite());

const RECEIVE: ReceiveRequest =
    ReceiveRequest { max_messages: 10, visibility_timeout: Duration::from_secs(30), wait: Duration::ZERO };

#[tokio::test]
async fn messages_and_their_state_survive_reopening_the_file() {
    let h = sqlite();
    let q = h.open(5);
    q.send_batch(vec![message("a", "g1", "t"), message("b", "g2", "t")]).await.unwrap();
    let got = q.receive(ReceiveRequest { max_messages: 1, ..RECEIVE }).await.unwrap();
    drop(q);
    let q = h.open(5);
    let s = q.stats().await.unwrap();
    assert_eq!((s.visible, s.in_flight), (1, 1), "the in-flight one stays in flight");
    q.delete_batch(&[got[0].receipt.clone()]).await.unwrap();
    assert_eq!(q.stats().await.unwrap().depth(), 1, "receipts stay valid across reopening");
}

#[tokio::test]
async fn messages_past_retention_move_to_the_dlq_never_vanish() {
    let h = sqlite();
    let mut c = SqliteQueueConfig::new(h.dir.path().join("queue.db"));
    c.clock = Arc::new(h.clock.clone());
    c.retention = Duration::from_secs(3600);
    let q = SqliteQueue::open(c).unwrap();
    q.send_batch(vec![message("old", "g1", "t")]).await.unwrap();
    h.clock.advance_millis(1_800_000);
    q.send_batch(vec![message("new", "g2", "t")]).await.unwrap();
    h.clock.advance_millis(1_900_000);
    let got = q.receive(RECEIVE).await.unwrap();
    assert_eq!(got.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["new"]);
    let dead = q.get_dead_letter("t", "old").await.unwrap().expect("expired into the DLQ");
    assert_eq!(dead.reason, "retention period expired");
    assert_eq!(dead.dead_lettered_at, h.clock.now());
}

#[tokio::test]
async fn a_redrive_restarts_the_retention_period() {
    // Dead-lettered on day 1 during an outage, redriven on day 15 after the
    // fix: it must be applied, not expire straight back into the DLQ.
    let h = sqlite();
    let mut c = SqliteQueueConfig::new(h.dir.path().join("queue.db"));
    c.clock = Arc::new(h.clock.clone());
    c.retention = Duration::from_secs(14 * 86_400);
    let q = SqliteQueue::open(c).unwrap();
    q.send_batch(vec![message("m", "g1", "t")]).await.unwrap();
    let got = q.receive(RECEIVE).await.unwrap();
    q.dead_letter(&got[0], "directory unavailable").await.unwrap();
    h.clock.advance_millis(15 * 86_400_000);
    assert_eq!(q.redrive(&roster_queue::Redrive::All { tenant: None }).await.unwrap(), 1);
    let again = q.receive(RECEIVE).await.unwrap();
    assert_eq!(again.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m"], "received, not expired");
    assert_eq!(q.stats().await.unwrap().dead_letters, 0);
}

#[tokio::test]
async fn the_dedup_window_is_cleaned_as_fast_as_it_fills() {
    let h = sqlite();
    let q = h.open(5);
    let batch =
        |round: usize| (0..3000).map(|i| message(&format!("r{round}-{i}"), "g", "t")).collect::<Vec<_>>();
    q.send_batch(batch(0)).await.unwrap();
    // Past the 5-minute window, each send removes up to twice what it adds.
    h.clock.advance_millis(6 * 60_000);
    q.send_batch(batch(1)).await.unwrap();
    let path = h.dir.path().join("queue.db");
    let rows: i64 = rusqlite::Connection::open(path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM dedup", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 3000, "the first round's ids are gone, the second's kept");
}

#[tokio::test]
async fn a_dead_letter_cursor_of_another_tenant_is_an_unknown_one() {
    let h = sqlite();
    let q = h.open(5);
    q.send_batch(vec![message("a", "g1", "t1"), message("b", "g2", "t2"), message("c", "g3", "t1")])
        .await
        .unwrap();
    for m in q.receive(RECEIVE).await.unwrap() {
        q.dead_letter(&m, "poison").await.unwrap();
    }
    let after = |id: &str| DeadLetterFilter { tenant: Some("t1".into()), after: Some(id.into()), limit: 100 };
    let ids = |list: Vec<roster_queue::DeadLetter>| list.into_iter().map(|d| d.id).collect::<Vec<_>>();
    assert_eq!(ids(q.list_dead_letters(&after("a")).await.unwrap()), ["c"], "paging within the tenant");
    assert_eq!(
        ids(q.list_dead_letters(&after("b")).await.unwrap()),
        ids(q.list_dead_letters(&after("made-up")).await.unwrap()),
        "t2's id tells t1 nothing"
    );
}
