//! Changes and the messages that carry them through the queue.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{ExternalId, FeedId, MessageId, SourceName, TenantId};
use crate::person::Person;

/// A delta feed carries changes; a full feed is a snapshot of a source's
/// active population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedMode {
    #[default]
    Delta,
    Full,
}

impl FeedMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedMode::Delta => "delta",
            FeedMode::Full => "full",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "delta" => Some(FeedMode::Delta),
            "full" => Some(FeedMode::Full),
            _ => None,
        }
    }
}

/// An upsert or deactivation of one record.
// Nearly every change is an upsert, so boxing the person would only add an
// allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Change {
    Upsert {
        person: Person,
    },
    Deactivate {
        #[serde(rename = "externalId")]
        external_id: ExternalId,
    },
}

impl Change {
    pub fn external_id(&self) -> &ExternalId {
        match self {
            Change::Upsert { person } => &person.external_id,
            Change::Deactivate { external_id } => external_id,
        }
    }
}

/// Read as a plain struct rather than with serde's internally tagged enum,
/// which buffers every record field by field (serde's `Content`) before it
/// looks at `op`: the consumer decodes every message, and that buffering was
/// most of its decoding time (BENCHMARKS.md, 2026-12-03).
impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Op {
            Upsert,
            Deactivate,
        }
        #[derive(Deserialize)]
        struct Wire {
            op: Op,
            person: Option<Person>,
            #[serde(rename = "externalId")]
            external_id: Option<ExternalId>,
        }
        let wire = Wire::deserialize(deserializer)?;
        match wire.op {
            Op::Upsert => wire
                .person
                .map(|person| Change::Upsert { person })
                .ok_or_else(|| serde::de::Error::missing_field("person")),
            Op::Deactivate => wire
                .external_id
                .map(|external_id| Change::Deactivate { external_id })
                .ok_or_else(|| serde::de::Error::missing_field("externalId")),
        }
    }
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Upsert { person } => f.debug_tuple("Upsert").field(person).finish(),
            Change::Deactivate { .. } => f.write_str("Deactivate(<redacted>)"),
        }
    }
}

/// The body of one queue message: one change, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeMessage {
    pub message_id: MessageId,
    pub tenant_id: TenantId,
    pub feed_id: FeedId,
    /// The integration channel the feed came through; a person belongs to
    /// the source that last wrote it (full snapshots reconcile per source).
    #[serde(default)]
    pub source: SourceName,
    /// The record's position in its feed (0-based).
    pub index: u32,
    /// When ingest accepted the record; ingest-to-apply latency starts here.
    pub accepted_at: Timestamp,
    /// The source's own modification time of the record, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<Timestamp>,
    pub change: Change,
    /// The `x-request-id` of the request that submitted it, so the consumer's
    /// log lines of this change can be found from the request's. Absent in
    /// messages queued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A test message (`POST /v1/dlq/test`): the consumer dead-letters it on
    /// arrival and never applies it, so an integrator can see the
    /// dead-letter path, its alarm and a redrive without touching the
    /// directory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probe: bool,
}

impl ChangeMessage {
    /// The ordering group: all changes of one person of one tenant, never
    /// applied concurrently or out of order. Like an SQS FIFO
    /// `MessageGroupId` it must be short and printable, and it must not carry
    /// personal data, so the external id is hashed (a collision only merges
    /// two groups, which costs parallelism, never correctness).
    pub fn group_id(&self) -> String {
        group_id(self.tenant_id, self.change.external_id())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a ChangeMessage always serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// See [`ChangeMessage::group_id`].
pub fn group_id(tenant: TenantId, external_id: &ExternalId) -> String {
    // FNV-1a, 64 bit: stable across releases and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in external_id.as_str().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{}-{h:016x}", tenant.as_uuid().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trips_and_group_hides_the_person() {
        let tenant = TenantId::new();
        let msg = ChangeMessage {
            message_id: MessageId::new(),
            tenant_id: tenant,
            feed_id: FeedId::new(),
            source: SourceName::default(),
            index: 3,
            accepted_at: Timestamp(42),
            last_modified: None,
            change: Change::Deactivate { external_id: ExternalId::parse("EMP-77").unwrap() },
            request_id: None,
            probe: false,
        };
        let back = ChangeMessage::from_bytes(&msg.to_bytes()).unwrap();
        assert_eq!(back, msg);
        assert!(!String::from_utf8(msg.to_bytes()).unwrap().contains("requestId"), "absent, not null");
        let traced = ChangeMessage { request_id: Some("req-1".into()), ..msg.clone() };
        assert_eq!(
            ChangeMessage::from_bytes(&traced.to_bytes()).unwrap().request_id.as_deref(),
            Some("req-1")
        );
        let g = msg.group_id();
        assert!(!g.contains("EMP-77"));
        assert!(g.len() <= 128, "SQS limits MessageGroupId to 128 characters");
        let other = group_id(tenant, &ExternalId::parse("EMP-78").unwrap());
        assert_ne!(g, other);
    }

    #[test]
    fn a_change_reads_back_as_written_and_a_missing_part_is_named() {
        let mut person = Person::new(ExternalId::parse("EMP-1").unwrap());
        person.name.given_name = Some("Ada".into());
        let upsert = Change::Upsert { person };
        let json = serde_json::to_value(&upsert).unwrap();
        assert_eq!(json["op"], "upsert", "the stored shape keeps its tag");
        assert_eq!(json["person"]["name"]["givenName"], "Ada");
        assert_eq!(serde_json::from_value::<Change>(json).unwrap(), upsert);
        let deactivate: Change = serde_json::from_str(r#"{"op":"deactivate","externalId":"EMP-2"}"#).unwrap();
        assert_eq!(deactivate, Change::Deactivate { external_id: ExternalId::parse("EMP-2").unwrap() });
        for (bad, names) in [
            (r#"{"op":"upsert"}"#, "person"),
            (r#"{"op":"deactivate"}"#, "externalId"),
            (r#"{"op":"merge","externalId":"EMP-2"}"#, "merge"),
            (r#"{"externalId":"EMP-2"}"#, "op"),
        ] {
            let e = serde_json::from_str::<Change>(bad).unwrap_err().to_string();
            assert!(e.contains(names), "{bad}: {e}");
        }
    }
}
