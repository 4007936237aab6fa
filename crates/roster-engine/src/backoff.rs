//! Exponential backoff with jitter for retrying a message (by changing its
//! visibility), so a struggling store is not hammered in lockstep.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_secs(1), cap: Duration::from_secs(300) }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1 = first retry): `base ·
    /// 2^(attempt-1)`, capped, then "equal jitter": a random point in its
    /// upper half, so retries spread out but never come sooner than half the
    /// nominal delay.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let nominal = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let half = nominal / 2;
        half + half.mul_f64(unit_random())
    }
}

fn unit_random() -> f64 {
    let mut b = [0u8; 4];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_with_jitter_and_stays_under_the_cap() {
        let b = Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(60) };
        for attempt in 1..=12 {
            let nominal = Duration::from_secs(1 << (attempt - 1)).min(b.cap);
            let d = b.delay(attempt);
            assert!(d >= nominal / 2 && d <= nominal, "attempt {attempt}: {d:?}");
        }
        assert!(b.delay(u32::MAX) <= b.cap);
    }
}
