//! `Idempotency-Key`s: claimed once, replayed, refused for another body.

use super::*;

pub async fn idempotency_keys_replay_and_refuse_other_bodies(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let fp = [7u8; 32];
    assert_eq!(d.claim_idempotency_key(t, "k1", T0, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
    assert_eq!(d.claim_idempotency_key(t, "k1", T0, HOLD).await.unwrap(), IdempotencyClaim::InProgress);
    // The first answer stays: a late completion does not overwrite it.
    d.complete_idempotency_key(t, "k1", fp, 202, "{}".into(), Some("/v1/feeds/x".into())).await.unwrap();
    d.complete_idempotency_key(t, "k1", [9u8; 32], 500, "late".into(), None).await.unwrap();
    assert_eq!(
        d.claim_idempotency_key(t, "k1", T0, HOLD).await.unwrap(),
        IdempotencyClaim::Completed {
            fingerprint: fp,
            status: 202,
            body: "{}".into(),
            location: Some("/v1/feeds/x".into())
        }
    );
    // Keys are per tenant.
    let other = tenant(d, "globex").await;
    assert_eq!(d.claim_idempotency_key(other, "k1", T0, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
    // A failed request releases its claim, so the retry runs.
    assert_eq!(d.claim_idempotency_key(t, "k2", T0, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
    d.release_idempotency_key(t, "k2").await.unwrap();
    assert_eq!(d.claim_idempotency_key(t, "k2", T0, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
    // A claim is held as long as its request may run (a 4 h upload):
    // minutes later a retry is refused, not run a second time...
    let minutes = Timestamp(T0.0 + 10 * 60 * 1000);
    assert_eq!(d.claim_idempotency_key(t, "k2", minutes, HOLD).await.unwrap(), IdempotencyClaim::InProgress);
    // ...and one whose request never finished is given up after that.
    let soon = Timestamp(T0.0 + HOLD.as_millis() as i64 + 1);
    assert_eq!(d.claim_idempotency_key(t, "k2", soon, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
    // ...and a finished key is forgotten after a day.
    let later = Timestamp(T0.0 + 25 * 3600 * 1000);
    assert_eq!(d.claim_idempotency_key(t, "k1", later, HOLD).await.unwrap(), IdempotencyClaim::Claimed);
}
