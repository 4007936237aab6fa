//! Time as a port: adapters ask a [`Clock`] instead of the system, so tests can
//! move time forward instead of sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, UTC.
///
/// Serialised as an RFC 3339 UTC string with milliseconds
/// (`2026-11-24T03:40:00.123Z`): what every JSON output shows. It is also
/// inside data that outlives a release (queue messages, JSON columns), so
/// it deserialises from that string *or* from integer milliseconds, the form
/// older builds wrote: a backlog queued by an older build still decodes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// RFC 3339 in UTC with exactly three fractional digits, so that outputs
/// have one width and sort as text.
const RFC3339_MILLIS: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// RFC 3339 in UTC with millisecond precision, e.g.
    /// `2026-11-24T03:40:00.123Z` (always three digits). An instant outside
    /// the years 0–9999, which RFC 3339 cannot write, is written as its
    /// integer milliseconds.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()
            .and_then(|t| t.format(RFC3339_MILLIS).ok())
            .unwrap_or_else(|| self.0.to_string())
    }

    /// Parses an RFC 3339 timestamp (as SCIM `meta.lastModified` uses).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        Some(Self((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }

    /// The calendar date (UTC) of this instant.
    pub fn date(self) -> time::Date {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .map(|t| t.date())
            .unwrap_or(time::Date::MIN)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp or integer milliseconds since the Unix epoch")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v).map(Timestamp).map_err(|_| E::custom("timestamp out of range"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(v)
                    // What `to_rfc3339` writes for an instant RFC 3339 cannot hold.
                    .or_else(|| v.parse().ok().map(Timestamp))
                    .ok_or_else(|| E::custom("expected an RFC 3339 timestamp, e.g. 2026-11-24T03:40:00Z"))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp((nanos / 1_000_000) as i64)
    }
}

/// A clock that only moves when told to; shared between clones.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start.0)))
    }

    pub fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_milliseconds() {
        let t = Timestamp::parse_rfc3339("2026-11-24T03:40:00.123Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-24T03:40:00.123Z");
    }

    #[test]
    fn serialises_as_rfc3339_utc_with_milliseconds() {
        assert_eq!(serde_json::to_string(&Timestamp(0)).unwrap(), r#""1970-01-01T00:00:00.000Z""#);
        let t = Timestamp::parse_rfc3339("2026-11-24T04:40:00.5+01:00").unwrap();
        assert_eq!(serde_json::to_value(t).unwrap(), "2026-11-24T03:40:00.500Z");
    }

    #[test]
    fn deserialises_rfc3339_and_the_integer_millis_older_builds_wrote() {
        let t = Timestamp::parse_rfc3339("2026-11-24T03:40:00.123Z").unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&t.millis().to_string()).unwrap(), t);
        assert_eq!(serde_json::from_str::<Timestamp>(r#""2026-11-24T03:40:00.123Z""#).unwrap(), t);
        let round = serde_json::from_value::<Timestamp>(serde_json::to_value(t).unwrap()).unwrap();
        assert_eq!(round, t);
        for bad in [r#""yesterday""#, "1.5", "true", r#""2026-11-24""#] {
            assert!(serde_json::from_str::<Timestamp>(bad).is_err(), "{bad}");
        }
        // An instant RFC 3339 cannot write round-trips through its fallback.
        let far = Timestamp(i64::MAX / 2);
        assert_eq!(serde_json::from_value::<Timestamp>(serde_json::to_value(far).unwrap()).unwrap(), far);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp(1_000));
        assert_eq!(c.now(), Timestamp(1_000));
        c.clone().advance_millis(500);
        assert_eq!(c.now(), Timestamp(1_500));
    }
}
