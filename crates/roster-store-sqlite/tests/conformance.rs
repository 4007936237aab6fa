//! The embedded directory against the conformance suite, plus durability.

use std::sync::atomic::{AtomicUsize, Ordering};

use roster_store::conformance::Harness;
use roster_store::prelude::*;
use roster_store_sqlite::SqliteDirectory;

/// Fresh directories as files in one temp dir, which lives as long as the
/// harness (the whole test).
struct Sqlite {
    dir: tempfile::TempDir,
    made: AtomicUsize,
}

fn sqlite() -> Sqlite {
    Sqlite { dir: tempfile::tempdir().unwrap(), made: AtomicUsize::new(0) }
}

#[async_trait::async_trait]
impl Harness for Sqlite {
    type D = SqliteDirectory;
    async fn fresh(&self) -> SqliteDirectory {
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        SqliteDirectory::open(&self.dir.path().join(format!("directory-{n}.db"))).unwrap()
    }
}

roster_store::directory_conformance_tests!(sqlite());

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("directory.db");
    let d = SqliteDirectory::open(&path).unwrap();
    let t = d.create_tenant("acme", roster_core::Timestamp(1)).await.unwrap();
    drop(d);
    let d = SqliteDirectory::open(&path).unwrap();
    assert_eq!(d.tenant_by_name("acme").await.unwrap(), Some(t));
}

#[tokio::test]
async fn a_write_waits_out_a_lock_held_by_another_process_instead_of_failing() {
    // An operator's `sqlite3` (or a CLI command on the data dir) holding the
    // write lock for a second: the writes wait under the busy timeout, they
    // are not refused at once (a read-first transaction used to be).
    use roster_core::{FeedId, FeedMode, SourceName, Timestamp};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("directory.db");
    let d = SqliteDirectory::open(&path).unwrap();
    let t = d.create_tenant("acme", Timestamp(1)).await.unwrap().id;
    let feed = FeedId::new();
    let new_feed = roster_store::NewFeed {
        id: feed,
        tenant_id: t,
        source: SourceName::default(),
        mode: FeedMode::Delta,
        format: "json".into(),
        sealed: true,
        received: 1,
        accepted: 1,
        rejections: vec![],
        created_at: Timestamp(1),
    };
    d.create_feed(new_feed).await.unwrap();
    let record = serde_json::json!({"externalId": "E1"});
    let rec = roster_core::validate::parse_record(&record).unwrap();
    let msg = roster_core::ChangeMessage {
        message_id: roster_core::MessageId::new(),
        tenant_id: t,
        feed_id: feed,
        source: SourceName::default(),
        index: 0,
        accepted_at: Timestamp(1),
        last_modified: None,
        change: rec.change,
        request_id: None,
        probe: false,
    };

    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1000));
        c.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    let out = d.apply_batch(std::slice::from_ref(&msg), Timestamp(2)).await.expect("waited, then applied");
    assert!(matches!(out[0], roster_store::ApplyOutcome::Applied { .. }), "{out:?}");
    d.record_failure(&msg, Timestamp(2)).await.expect("a write that reads first waits too");
    holder.join().unwrap();
}
