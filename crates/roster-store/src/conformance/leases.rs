//! Leases: one holder at a time, by the store's clock; an expired holding
//! is taken over and lost to its old holder.

use std::time::Duration;

use super::*;

const LONG: Duration = Duration::from_secs(60);
/// Short enough to wait out, long enough that a slow call on a loaded
/// machine does not outlive it.
const SHORT: Duration = Duration::from_secs(1);

pub async fn a_lease_has_one_holder_until_released(d: &impl Directory) {
    let a = d.acquire("scheduler", "node-a", LONG).await.unwrap().expect("a free lease is taken");
    assert_eq!((a.name.as_str(), a.holder.as_str()), ("scheduler", "node-a"));
    assert!(d.acquire("scheduler", "node-b", LONG).await.unwrap().is_none(), "held by another holder");
    assert!(
        d.acquire("scheduler", "node-a", LONG).await.unwrap().is_none(),
        "held: its own holder renews instead"
    );
    assert!(d.acquire("outbox", "node-b", LONG).await.unwrap().is_some(), "names are independent");
    d.release(&a).await.unwrap();
    let b = d.acquire("scheduler", "node-b", LONG).await.unwrap().expect("released: free again");
    assert_ne!(a.token, b.token, "each holding has a token of its own");
    assert!(d.renew(&a, LONG).await.unwrap().is_none(), "a released holding cannot be renewed");
    d.release(&a).await.unwrap();
    assert!(
        d.acquire("scheduler", "node-c", LONG).await.unwrap().is_none(),
        "releasing a lost holding ends nobody else's"
    );
}

pub async fn an_expired_lease_is_taken_over_and_lost_to_its_old_holder(d: &impl Directory) {
    let a = d.acquire("alarms", "node-a", SHORT).await.unwrap().expect("taken");
    tokio::time::sleep(SHORT * 2).await;
    let b = d.acquire("alarms", "node-b", LONG).await.unwrap().expect("expired: another holder takes it");
    assert!(d.renew(&a, LONG).await.unwrap().is_none(), "the old holder lost it");
    d.release(&a).await.unwrap();
    assert!(d.acquire("alarms", "node-c", LONG).await.unwrap().is_none(), "still the new holder's");
    assert!(d.renew(&b, LONG).await.unwrap().is_some(), "the new holder renews");
}

pub async fn renewing_keeps_a_lease_past_its_first_expiry(d: &impl Directory) {
    let a = d.acquire("outbox", "node-a", SHORT).await.unwrap().expect("taken");
    tokio::time::sleep(SHORT / 2).await;
    let renewed = d.renew(&a, SHORT * 4).await.unwrap().expect("renewed while held");
    assert_eq!(renewed.token, a.token, "the same holding");
    assert!(renewed.expires_at > a.expires_at, "{renewed:?} after {a:?}");
    tokio::time::sleep(SHORT).await;
    assert!(
        d.acquire("outbox", "node-b", LONG).await.unwrap().is_none(),
        "past the first expiry, the renewal still holds"
    );
}

pub async fn of_racing_acquires_one_wins(d: &impl Directory) {
    let name = "connector:acme:hris";
    let (a, b, c, e) = tokio::join!(
        d.acquire(name, "node-a", LONG),
        d.acquire(name, "node-b", LONG),
        d.acquire(name, "node-c", LONG),
        d.acquire(name, "node-d", LONG),
    );
    let won: Vec<Lease> = [a, b, c, e].into_iter().filter_map(|r| r.expect("acquire")).collect();
    assert_eq!(won.len(), 1, "{won:?}");
}
