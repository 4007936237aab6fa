//! The console's sessions: found by hash while live, ended by the idle and
//! the absolute timeout, by sign-out and by purging.

use std::time::Duration;

use super::*;
use crate::NewConsoleSession;

const IDLE: Duration = Duration::from_secs(30 * 60);

fn session(hash: u8, created_at: i64, expires_at: i64) -> NewConsoleSession {
    NewConsoleSession {
        hash: [hash; 32],
        subject: format!("sub-{hash}"),
        display_name: "Ada Admin".into(),
        groups: vec!["roster-acme-admins".into(), "everyone".into()],
        created_at: Timestamp(created_at),
        expires_at: Timestamp(expires_at),
    }
}

const HOUR: i64 = 3_600_000;

pub async fn a_console_session_is_found_by_its_hash_while_live(d: &impl Directory) {
    d.create_console_session(session(1, 0, 8 * HOUR)).await.unwrap();
    let found = d.use_console_session(&[1; 32], Timestamp(60_000), IDLE).await.unwrap().expect("live");
    assert_eq!(found.subject, "sub-1");
    assert_eq!(found.display_name, "Ada Admin");
    assert_eq!(found.groups, vec!["roster-acme-admins".to_owned(), "everyone".to_owned()]);
    assert_eq!((found.created_at, found.last_seen_at), (Timestamp(0), Timestamp(60_000)));
    assert_eq!(found.expires_at, Timestamp(8 * HOUR));
    assert!(
        d.use_console_session(&[2; 32], Timestamp(60_000), IDLE).await.unwrap().is_none(),
        "unknown hash"
    );
    assert!(
        matches!(d.create_console_session(session(1, 0, HOUR)).await, Err(StoreError::Conflict(_))),
        "a hash is stored once"
    );
}

pub async fn a_console_session_ends_when_idle_or_past_its_absolute_timeout(d: &impl Directory) {
    d.create_console_session(session(1, 0, 8 * HOUR)).await.unwrap();
    // Each use moves the idle deadline: 20 minutes apart, it stays live.
    for minute in [20, 40, 60, 80] {
        let now = Timestamp(minute * 60_000);
        assert!(d.use_console_session(&[1; 32], now, IDLE).await.unwrap().is_some(), "used at {minute} min");
    }
    // 31 minutes after the last use: idle too long, and gone for good.
    let late = Timestamp(111 * 60_000);
    assert!(d.use_console_session(&[1; 32], late, IDLE).await.unwrap().is_none(), "idle past 30 min");
    let longer = Duration::from_secs(3 * 3600);
    assert!(
        d.use_console_session(&[1; 32], late, longer).await.unwrap().is_none(),
        "a timed-out session does not come back"
    );

    d.create_console_session(session(2, 0, HOUR)).await.unwrap();
    for minute in [25, 50] {
        assert!(d.use_console_session(&[2; 32], Timestamp(minute * 60_000), IDLE).await.unwrap().is_some());
    }
    assert!(
        d.use_console_session(&[2; 32], Timestamp(HOUR), IDLE).await.unwrap().is_none(),
        "active, but past its absolute timeout"
    );
}

pub async fn console_sessions_are_deleted_and_purged(d: &impl Directory) {
    d.create_console_session(session(1, 0, 8 * HOUR)).await.unwrap();
    d.create_console_session(session(2, 0, 8 * HOUR)).await.unwrap();
    d.create_console_session(session(3, 0, HOUR)).await.unwrap();
    d.delete_console_session(&[1; 32]).await.unwrap();
    d.delete_console_session(&[1; 32]).await.unwrap();
    assert!(d.use_console_session(&[1; 32], Timestamp(1), IDLE).await.unwrap().is_none(), "signed out");
    for minute in [20, 40, 60] {
        assert!(d.use_console_session(&[2; 32], Timestamp(minute * 60_000), IDLE).await.unwrap().is_some());
    }
    // At 1h10: 3 is past its absolute timeout; 2 was used at 1h, so live.
    assert_eq!(d.purge_console_sessions(Timestamp(HOUR + 600_000), IDLE).await.unwrap(), 1);
    assert!(d.use_console_session(&[2; 32], Timestamp(HOUR + 600_000), IDLE).await.unwrap().is_some());
    // Three hours on, 2 has been idle too long.
    assert_eq!(d.purge_console_sessions(Timestamp(4 * HOUR), IDLE).await.unwrap(), 1);
    assert_eq!(d.purge_console_sessions(Timestamp(4 * HOUR), IDLE).await.unwrap(), 0);
}
