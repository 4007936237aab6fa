//! The conformance suite of the `Queue` port, written once against the trait.
//! Every adapter instantiates it with [`conformance_tests!`](crate::conformance_tests)
//! and a [`Harness`] that makes fresh queues and moves time (a manual clock
//! for the embedded queue, real sleeps for a remote one).
//!
//! Each function panics with a message saying which promise was broken.

use std::time::Duration;

use async_trait::async_trait;

use crate::{DeadLetterFilter, OutgoingMessage, Queue, QueueError, ReceiveRequest, ReceivedMessage, Redrive};

#[async_trait]
pub trait Harness: Send + Sync {
    type Q: Queue;
    /// A fresh, empty queue (and dead-letter queue).
    async fn queue(&self, max_receive_count: u32) -> Self::Q;
    /// Lets `d` pass for the queue's notion of time.
    async fn advance(&self, d: Duration);
    /// Per-message delays (SQS FIFO queues have none).
    fn supports_delay(&self) -> bool {
        true
    }
    /// Whether a message moved by `maxReceiveCount` keeps its receive count
    /// and last error (SQS's redrive policy keeps neither).
    fn keeps_dead_letter_details(&self) -> bool {
        true
    }
    /// Whether `stats` reports the age of the oldest message (on SQS it is a
    /// CloudWatch metric).
    fn reports_oldest_age(&self) -> bool {
        true
    }
    /// Whether a receipt from an earlier receive is refused, and whether a
    /// deduplication id outlives the deletion of its message. Both hold on
    /// the embedded queue; the SQS emulator used in tests is laxer than SQS.
    fn strict_receipts_and_dedup(&self) -> bool {
        true
    }
}

/// One `#[tokio::test]` per conformance function, for the harness `$h`.
#[macro_export]
macro_rules! conformance_tests {
    ($h:expr) => {
        $crate::conformance_tests!(@each $h;
            send_receive_delete,
            unacknowledged_message_comes_back,
            change_visibility_hides_or_releases,
            dead_letter_after_max_receives,
            dead_letter_at_once,
            redrive_one_and_all,
            purge_dead_letters,
            group_order_is_kept,
            duplicate_ids_are_dropped,
            invalid_batch_stores_nothing,
            empty_receive_waits,
            long_poll_wakes_on_send,
            delayed_message_is_hidden,
            stats_follow_the_messages,
            dead_letters_are_filtered_by_tenant,
            a_dead_letter_is_shown_and_redriven_only_to_its_tenant,
            stale_receipt_is_refused,
            a_batch_of_more_than_ten_is_sent_and_received_whole
        );
    };
    (@each $h:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let harness = $h;
                $crate::conformance::$name(&harness).await;
            }
        )*
    };
}

pub fn message(id: &str, group: &str, tenant: &str) -> OutgoingMessage {
    OutgoingMessage {
        id: id.to_owned(),
        group_id: group.to_owned(),
        tenant: tenant.to_owned(),
        body: format!("body of {id}").into_bytes(),
        delay: Duration::ZERO,
    }
}

const VISIBILITY: Duration = Duration::from_secs(2);

fn req(max: usize) -> ReceiveRequest {
    ReceiveRequest { max_messages: max, visibility_timeout: VISIBILITY, wait: Duration::ZERO }
}

async fn receive_all<Q: Queue>(q: &Q, max: usize) -> Vec<ReceivedMessage> {
    q.receive(req(max)).await.expect("receive")
}

fn ids(msgs: &[ReceivedMessage]) -> Vec<&str> {
    let mut v: Vec<&str> = msgs.iter().map(|m| m.id.as_str()).collect();
    v.sort_unstable();
    v
}

pub async fn send_receive_delete<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    let sent = q.send_batch(vec![message("a", "g1", "t"), message("b", "g2", "t")]).await.unwrap();
    assert_eq!(sent.sent, 2, "both messages stored");
    let got = receive_all(&q, 10).await;
    assert_eq!(ids(&got), ["a", "b"], "both received");
    let a = got.iter().find(|m| m.id == "a").unwrap();
    assert_eq!(a.body, b"body of a", "body intact");
    assert_eq!(a.receive_count, 1);
    assert_eq!(a.tenant, "t");
    q.delete_batch(&got.iter().map(|m| m.receipt.clone()).collect::<Vec<_>>()).await.unwrap();
    h.advance(VISIBILITY * 2).await;
    assert!(receive_all(&q, 10).await.is_empty(), "deleted messages never come back");
}

pub async fn unacknowledged_message_comes_back<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    q.send_batch(vec![message("a", "g", "t")]).await.unwrap();
    let first = receive_all(&q, 10).await;
    assert_eq!(first.len(), 1);
    assert!(receive_all(&q, 10).await.is_empty(), "hidden while in flight");
    h.advance(VISIBILITY + Duration::from_millis(500)).await;
    let again = receive_all(&q, 10).await;
    assert_eq!(again.len(), 1, "visible again after the visibility timeout");
    assert_eq!(again[0].receive_count, 2, "receive count grows");
    assert_ne!(again[0].receipt, first[0].receipt, "a new receipt per receive");
}

pub async fn change_visibility_hides_or_releases<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    q.send_batch(vec![message("a", "g", "t")]).await.unwrap();
    let got = receive_all(&q, 1).await;
    q.change_visibility(&got[0].receipt, Duration::ZERO, Some("try again")).await.unwrap();
    let again = receive_all(&q, 1).await;
    assert_eq!(again.len(), 1, "visibility 0 releases the message at once");
    q.change_visibility(&again[0].receipt, Duration::from_secs(30), None).await.unwrap();
    h.advance(VISIBILITY + Duration::from_millis(500)).await;
    assert!(receive_all(&q, 1).await.is_empty(), "a longer visibility keeps it hidden");
}

pub async fn dead_letter_after_max_receives<H: Harness>(h: &H) {
    let q = h.queue(2).await;
    q.send_batch(vec![message("a", "g", "t")]).await.unwrap();
    for attempt in 1..=2 {
        let got = receive_all(&q, 1).await;
        assert_eq!(got.len(), 1, "receive {attempt} delivers");
        q.change_visibility(&got[0].receipt, Duration::ZERO, Some("boom")).await.unwrap();
    }
    // The next receive finds it over maxReceiveCount: it moves to the DLQ.
    assert!(receive_all(&q, 1).await.is_empty(), "not delivered a third time");
    let dead = q.get_dead_letter("t", "a").await.unwrap().expect("in the dead-letter queue");
    assert_eq!(dead.body, b"body of a");
    assert!(dead.reason.contains("maxReceiveCount"), "{}", dead.reason);
    if h.keeps_dead_letter_details() {
        assert_eq!(dead.receive_count, 2);
        assert!(dead.first_received_at.is_some() && dead.last_received_at.is_some());
        assert!(dead.reason.contains("boom"), "the last error is kept: {}", dead.reason);
    }
}

pub async fn dead_letter_at_once<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    q.send_batch(vec![message("a", "g", "t"), message("b", "g", "t")]).await.unwrap();
    let got = receive_all(&q, 1).await;
    assert_eq!(ids(&got), ["a"]);
    q.dead_letter(&got[0], "cannot decode").await.unwrap();
    let dead = q.get_dead_letter("t", "a").await.unwrap().expect("dead-lettered");
    assert_eq!(dead.reason, "cannot decode");
    assert_eq!(ids(&receive_all(&q, 1).await), ["b"], "the group moves on");
}

pub async fn redrive_one_and_all<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    q.send_batch(vec![message("a", "g1", "t"), message("b", "g2", "t"), message("c", "g3", "t")])
        .await
        .unwrap();
    for m in receive_all(&q, 10).await {
        q.dead_letter(&m, "poison").await.unwrap();
    }
    assert_eq!(q.stats().await.unwrap().dead_letters, 3);
    assert_eq!(q.redrive(&Redrive::Ids { tenant: "t".into(), ids: vec!["b".into()] }).await.unwrap(), 1);
    let got = receive_all(&q, 10).await;
    assert_eq!(ids(&got), ["b"], "only the redriven one is back");
    assert_eq!(got[0].receive_count, 1, "with a fresh receive count");
    assert_eq!(got[0].body, b"body of b");
    assert_eq!(q.redrive(&Redrive::All { tenant: None }).await.unwrap(), 2);
    assert_eq!(ids(&receive_all(&q, 10).await), ["a", "c"]);
    assert_eq!(q.stats().await.unwrap().dead_letters, 0);
}

pub async fn purge_dead_letters<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    q.send_batch(vec![message("a", "g1", "t1"), message("b", "g2", "t2")]).await.unwrap();
    for m in receive_all(&q, 10).await {
        q.dead_letter(&m, "poison").await.unwrap();
    }
    assert_eq!(q.purge_dead_letters(Some("t1")).await.unwrap(), 1, "a tenant's purge");
    assert!(q.get_dead_letter("t1", "a").await.unwrap().is_none());
    assert!(q.get_dead_letter("t2", "b").await.unwrap().is_some(), "another tenant's stays");
    assert_eq!(q.purge_dead_letters(None).await.unwrap(), 1);
    assert_eq!(q.stats().await.unwrap().dead_letters, 0);
}

pub async fn group_order_is_kept<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    q.send_batch(vec![
        message("p1", "person", "t"),
        message("p2", "person", "t"),
        message("p3", "person", "t"),
        message("x1", "other", "t"),
    ])
    .await
    .unwrap();
    // A receive may return several messages of a group (SQS does), but in
    // send order, and no receive returns a group's message while an earlier
    // one of that group is in flight.
    let mut order = Vec::new();
    for _ in 0..4 {
        let got = receive_all(&q, 10).await;
        order.extend(got.iter().filter(|m| m.group_id == "person").map(|m| m.id.clone()));
        let more = receive_all(&q, 10).await;
        assert!(more.iter().all(|m| m.group_id != "person"), "group blocked while in flight");
        let receipts: Vec<_> = got.iter().chain(more.iter()).map(|m| m.receipt.clone()).collect();
        q.delete_batch(&receipts).await.unwrap();
        if order.len() == 3 {
            break;
        }
    }
    assert_eq!(order, ["p1", "p2", "p3"], "delivered in send order");
}

/// Batches beyond one SQS call (10): a send of many goes out whole, a
/// receive asking for more than 10 from a backlog gets them all, and a
/// batch repeating groups keeps each group's order.
pub async fn a_batch_of_more_than_ten_is_sent_and_received_whole<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    let distinct: Vec<OutgoingMessage> =
        (0..35).map(|i| message(&format!("d{i}"), &format!("g{i}"), "t")).collect();
    q.send_batch(distinct).await.unwrap();
    let repeated: Vec<OutgoingMessage> =
        (0..25).map(|i| message(&format!("r{i:02}"), &format!("person{}", i % 5), "t")).collect();
    q.send_batch(repeated).await.unwrap();
    assert_eq!(q.stats().await.unwrap().visible, 60);

    let mut seen: Vec<ReceivedMessage> = Vec::new();
    let mut first = None;
    for _ in 0..20 {
        let got = receive_all(&q, 30).await;
        first.get_or_insert(got.len());
        assert!(got.len() <= 30, "never more than asked for");
        let receipts: Vec<_> = got.iter().map(|m| m.receipt.clone()).collect();
        q.delete_batch(&receipts).await.unwrap();
        seen.extend(got);
        if seen.len() == 60 {
            break;
        }
    }
    assert_eq!(seen.len(), 60, "every message, once");
    assert!(first > Some(10), "a backlog fills more than one call's 10: {first:?}");
    for g in 0..5 {
        let order: Vec<&str> =
            seen.iter().filter(|m| m.group_id == format!("person{g}")).map(|m| m.id.as_str()).collect();
        let expected: Vec<String> = (0..5).map(|k| format!("r{:02}", k * 5 + g)).collect();
        assert_eq!(order, expected, "group person{g} in send order");
    }
    assert_eq!(q.stats().await.unwrap().visible, 0);
}

pub async fn duplicate_ids_are_dropped<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    q.send_batch(vec![message("a", "g", "t")]).await.unwrap();
    q.send_batch(vec![message("a", "g", "t")]).await.unwrap();
    let got = receive_all(&q, 10).await;
    assert_eq!(got.len(), 1, "the resend within the dedup window is dropped");
    q.delete_batch(&[got[0].receipt.clone()]).await.unwrap();
    if h.strict_receipts_and_dedup() {
        q.send_batch(vec![message("a", "g", "t")]).await.unwrap();
        assert!(receive_all(&q, 10).await.is_empty(), "also after the first was deleted");
    }
}

pub async fn invalid_batch_stores_nothing<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    let mut bad = message("b", "g2", "t");
    bad.group_id = "x".repeat(200);
    let res = q.send_batch(vec![message("a", "g1", "t"), bad]).await;
    assert!(matches!(res, Err(QueueError::Invalid(_))), "an invalid entry fails the batch: {res:?}");
    assert!(receive_all(&q, 10).await.is_empty(), "and nothing of it was stored");
}

pub async fn empty_receive_waits<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    let started = std::time::Instant::now();
    let got = q
        .receive(ReceiveRequest {
            max_messages: 10,
            visibility_timeout: VISIBILITY,
            wait: Duration::from_millis(1100),
        })
        .await
        .unwrap();
    assert!(got.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900), "long polling waited ({:?})", started.elapsed());
}

pub async fn long_poll_wakes_on_send<H: Harness>(h: &H)
where
    H::Q: 'static,
{
    let q = std::sync::Arc::new(h.queue(5).await);
    let sender = std::sync::Arc::clone(&q);
    let send = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sender.send_batch(vec![message("late", "g", "t")]).await.unwrap();
    });
    let got = q
        .receive(ReceiveRequest {
            max_messages: 10,
            visibility_timeout: VISIBILITY,
            wait: Duration::from_secs(10),
        })
        .await
        .unwrap();
    send.await.unwrap();
    assert_eq!(ids(&got), ["late"], "the waiting receive got the message sent meanwhile");
}

pub async fn delayed_message_is_hidden<H: Harness>(h: &H) {
    if !h.supports_delay() {
        return;
    }
    let q = h.queue(5).await;
    let mut m = message("later", "g", "t");
    m.delay = Duration::from_secs(5);
    q.send_batch(vec![m]).await.unwrap();
    assert!(receive_all(&q, 10).await.is_empty(), "hidden during its delay");
    assert_eq!(q.stats().await.unwrap().delayed, 1);
    h.advance(Duration::from_secs(6)).await;
    assert_eq!(ids(&receive_all(&q, 10).await), ["later"]);
}

pub async fn stats_follow_the_messages<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    assert_eq!(q.stats().await.unwrap().depth(), 0);
    assert!(q.stats().await.unwrap().oldest_age.is_none());
    q.send_batch(vec![message("a", "g1", "t"), message("b", "g2", "t"), message("c", "g3", "t")])
        .await
        .unwrap();
    let s = q.stats().await.unwrap();
    assert_eq!((s.visible, s.in_flight, s.dead_letters), (3, 0, 0));
    h.advance(Duration::from_secs(1)).await;
    let got = receive_all(&q, 2).await;
    let s = q.stats().await.unwrap();
    assert_eq!((s.visible, s.in_flight), (1, 2));
    if h.reports_oldest_age() {
        assert!(
            s.oldest_age.is_some_and(|a| a >= Duration::from_millis(900)),
            "age of the oldest: {:?}",
            s.oldest_age
        );
    }
    q.dead_letter(&got[0], "x").await.unwrap();
    q.delete_batch(&[got[1].receipt.clone()]).await.unwrap();
    let s = q.stats().await.unwrap();
    assert_eq!((s.visible, s.in_flight, s.dead_letters), (1, 0, 1));
}

pub async fn dead_letters_are_filtered_by_tenant<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    q.send_batch(vec![message("a", "g1", "t1"), message("b", "g2", "t2"), message("c", "g3", "t1")])
        .await
        .unwrap();
    for m in receive_all(&q, 10).await {
        q.dead_letter(&m, "poison").await.unwrap();
    }
    let of = |tenant: &str| DeadLetterFilter { tenant: Some(tenant.into()), after: None, limit: 100 };
    let t1 = q.list_dead_letters(&of("t1")).await.unwrap();
    let mut got: Vec<&str> = t1.iter().map(|d| d.id.as_str()).collect();
    got.sort_unstable();
    assert_eq!(got, ["a", "c"]);
    assert_eq!(q.list_dead_letters(&of("t2")).await.unwrap().len(), 1);
    assert_eq!(
        q.redrive(&Redrive::All { tenant: Some("t2".into()) }).await.unwrap(),
        1,
        "a tenant's redrive"
    );
    assert_eq!(
        q.list_dead_letters(&DeadLetterFilter { limit: 100, ..Default::default() }).await.unwrap().len(),
        2
    );
}

pub async fn a_dead_letter_is_shown_and_redriven_only_to_its_tenant<H: Harness>(h: &H) {
    let q = h.queue(5).await;
    q.send_batch(vec![message("a", "g1", "t1"), message("b", "g2", "t2")]).await.unwrap();
    for m in receive_all(&q, 10).await {
        q.dead_letter(&m, "poison").await.unwrap();
    }
    assert!(q.get_dead_letter("t2", "a").await.unwrap().is_none(), "t2 cannot read t1's dead letter");
    assert_eq!(q.get_dead_letter("t1", "a").await.unwrap().expect("t1's own").tenant, "t1");
    let by_t2 = Redrive::Ids { tenant: "t2".into(), ids: vec!["a".into()] };
    assert_eq!(q.redrive(&by_t2).await.unwrap(), 0, "t2 cannot redrive t1's dead letter");
    assert!(receive_all(&q, 10).await.is_empty(), "nothing went back to the queue");
    assert!(q.get_dead_letter("t1", "a").await.unwrap().is_some(), "t1's dead letter is where it was");
    let by_t1 = Redrive::Ids { tenant: "t1".into(), ids: vec!["a".into(), "b".into()] };
    assert_eq!(q.redrive(&by_t1).await.unwrap(), 1, "t1 redrives its own, not t2's of the same batch");
    assert_eq!(ids(&receive_all(&q, 10).await), ["a"]);
    assert!(q.get_dead_letter("t2", "b").await.unwrap().is_some(), "t2's dead letter stays");
    assert_eq!(q.stats().await.unwrap().dead_letters, 1);
}

pub async fn stale_receipt_is_refused<H: Harness>(h: &H) {
    if !h.strict_receipts_and_dedup() {
        return;
    }
    let q = h.queue(5).await;
    q.send_batch(vec![message("a", "g", "t")]).await.unwrap();
    let first = receive_all(&q, 1).await;
    h.advance(VISIBILITY + Duration::from_millis(500)).await;
    let second = receive_all(&q, 1).await;
    assert_eq!(second.len(), 1);
    let res = q.change_visibility(&first[0].receipt, Duration::ZERO, None).await;
    assert!(
        matches!(res, Err(QueueError::InvalidReceipt)),
        "an old receipt cannot move the message: {res:?}"
    );
    // Deleting with the old receipt leaves the message to its current holder.
    q.delete_batch(&[first[0].receipt.clone()]).await.unwrap();
    q.delete_batch(&[second[0].receipt.clone()]).await.unwrap();
    h.advance(VISIBILITY * 2).await;
    assert!(receive_all(&q, 1).await.is_empty());
}
