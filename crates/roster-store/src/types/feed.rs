//! Feeds: one submission each, with its counts, status and (full snapshots) reconciliation.

use roster_core::{FeedId, FeedMode, RecordError, SourceName, TenantId, Timestamp};
use serde::Serialize;

/// Where a full snapshot's reconciliation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconcileState {
    /// Every record is processed, but a feed of the tenant accepted earlier
    /// is not finished yet: the snapshot is judged only after it, so that it
    /// decides against the directory as feed order left it.
    Waiting,
    /// Too many leavers: nothing deactivated until an operator decides.
    Halted,
    /// The absent people were deactivated (automatically or approved).
    Applied,
    /// An operator rejected the snapshot: nobody was deactivated.
    Rejected,
    /// Halted, then a newer snapshot of the same source was judged: this one
    /// can no longer be approved (nobody was deactivated by it).
    Superseded,
}

/// The outcome of comparing a full snapshot with the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reconciliation {
    pub state: ReconcileState,
    /// Active people of the source when the snapshot was compared.
    pub active: u64,
    /// People of the source with a hire date still ahead: a snapshot does not
    /// judge them (exports of the current staff often leave future starters
    /// out); they join on their day unless the source deactivates them.
    #[serde(default)]
    pub pending: u64,
    /// Of those, the ones absent from the snapshot: the leavers it asks for.
    pub absent: u64,
    /// Most leavers allowed without approval.
    pub allowed: u64,
    /// Why it halted, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
}

/// Where a feed is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedStatus {
    /// Still being received (a streamed upload); not yet acknowledged.
    Receiving,
    /// Durably queued; nothing applied yet.
    Accepted,
    /// Some changes applied, some not yet.
    Processing,
    /// Every change applied (or found unchanged / stale).
    Completed,
    /// Done, but some records were rejected at ingest or failed to apply.
    CompletedWithErrors,
    /// Ingest could not queue it; nothing of it was queued.
    Failed,
    /// A full snapshot whose leavers exceed the source's threshold: its
    /// records are applied, nobody is deactivated until an operator approves.
    Halted,
    /// A halted snapshot an operator rejected: nobody was deactivated.
    Rejected,
    /// A halted snapshot overtaken by a newer snapshot of its source before
    /// anyone decided: nobody was deactivated by it.
    Superseded,
}

impl FeedStatus {
    /// Whether the feed will change no more on its own: nothing of it is
    /// still arriving or waiting to be applied. A halted snapshot is settled
    /// too (its records are applied; only a decision remains).
    pub fn is_settled(self) -> bool {
        !matches!(self, FeedStatus::Receiving | FeedStatus::Accepted | FeedStatus::Processing)
    }

    /// Whether the feed is done for good, so it has a `completed_at`: a
    /// halted snapshot is settled but not done (a decision is to come), a
    /// failed feed never completed.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            FeedStatus::Completed
                | FeedStatus::CompletedWithErrors
                | FeedStatus::Rejected
                | FeedStatus::Superseded
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeedStatus::Receiving => "receiving",
            FeedStatus::Accepted => "accepted",
            FeedStatus::Processing => "processing",
            FeedStatus::Completed => "completed",
            FeedStatus::CompletedWithErrors => "completed_with_errors",
            FeedStatus::Failed => "failed",
            FeedStatus::Halted => "halted",
            FeedStatus::Rejected => "rejected",
            FeedStatus::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            FeedStatus::Receiving,
            FeedStatus::Accepted,
            FeedStatus::Processing,
            FeedStatus::Completed,
            FeedStatus::CompletedWithErrors,
            FeedStatus::Failed,
            FeedStatus::Halted,
            FeedStatus::Rejected,
            FeedStatus::Superseded,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A feed to record at ingest, before its messages are queued.
#[derive(Debug, Clone)]
pub struct NewFeed {
    pub id: FeedId,
    pub tenant_id: TenantId,
    pub source: SourceName,
    pub mode: FeedMode,
    /// `json`, `csv` or `scim`.
    pub format: String,
    /// False while a streamed upload is still arriving: its counts are not
    /// final and a full snapshot is not reconciled until [`FeedStore::seal_feed`](crate::FeedStore::seal_feed).
    pub sealed: bool,
    /// Records in the submission.
    pub received: u64,
    /// Records queued as messages.
    pub accepted: u64,
    /// Field-level errors of the rejected records (stored capped).
    pub rejections: Vec<RecordError>,
    pub created_at: Timestamp,
}

/// Counts of what became of a feed's accepted records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedCounts {
    pub received: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Changes that wrote to the directory.
    pub applied: u64,
    /// Changes that matched what the directory held already.
    pub unchanged: u64,
    /// Changes older than what the directory held (skipped).
    pub stale: u64,
    /// Changes dead-lettered.
    pub failed: u64,
    /// People a full snapshot deactivated because it did not list them.
    pub leavers: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    #[serde(serialize_with = "roster_core::public_id::ser::feed")]
    pub id: FeedId,
    /// The feed's place in the order feeds were accepted (increasing; gaps
    /// allowed). The directory decides by it, not by when a change happens
    /// to be applied: see `docs/ARCHITECTURE.md`, "The ordering model".
    pub position: u64,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    pub source: SourceName,
    pub mode: FeedMode,
    pub format: String,
    pub status: FeedStatus,
    pub counts: FeedCounts,
    /// Full snapshots only, once all their records are processed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconciliation: Option<Reconciliation>,
    pub rejections: Vec<RecordError>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// The final figures of a streamed feed, given when its last record is queued.
#[derive(Debug, Clone)]
pub struct FeedSeal {
    pub received: u64,
    pub accepted: u64,
    pub rejections: Vec<RecordError>,
    /// Rejected records beyond those kept in `rejections`.
    pub rejected: u64,
}

/// One of a full snapshot's leavers (`FeedStore::feed_leavers`): who, as
/// the directory holds them now. `Debug` shows no personal data.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Leaver {
    pub external_id: roster_core::ExternalId,
    pub display_name: Option<String>,
    /// The person's primary e-mail address, else their first.
    pub email: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    /// When the snapshot deactivated them; `null` while it is halted.
    pub deactivated_at: Option<Timestamp>,
}

impl Leaver {
    /// The leaver as `person` shows them.
    pub fn of(person: &roster_core::Person, deactivated_at: Option<Timestamp>) -> Self {
        Self {
            external_id: person.external_id.clone(),
            display_name: person.display_name.clone(),
            email: person
                .emails
                .iter()
                .find(|e| e.primary)
                .or(person.emails.first())
                .map(|e| e.value.clone()),
            department: person.department.clone(),
            title: person.title.clone(),
            deactivated_at,
        }
    }
}

impl std::fmt::Debug for Leaver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaver").field("deactivated_at", &self.deactivated_at).finish_non_exhaustive()
    }
}

/// The payload of a feed lifecycle event (`feed.completed`,
/// `feed.completed_with_errors`, `feed.halted`, `feed.failed`): the feed's
/// figures when it became final, and where to look further. Every adapter
/// writes this shape, built by [`FeedEvent::new`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedEvent {
    #[serde(rename = "type")]
    pub kind: roster_core::lifecycle::EventType,
    #[serde(serialize_with = "roster_core::public_id::ser::feed")]
    pub feed_id: FeedId,
    pub source: SourceName,
    pub mode: FeedMode,
    pub status: FeedStatus,
    pub counts: FeedCounts,
    /// Full snapshots that were judged: what the comparison found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotEvent>,
    pub links: FeedLinks,
}

/// A judged snapshot's figures in a feed event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotEvent {
    /// Active people of the source when it was compared.
    pub active: u64,
    /// People of the source with a hire date ahead (not judged).
    pub pending: u64,
    /// Halted: the people it would deactivate if approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_deactivate: Option<u64>,
    /// The people it deactivated (0 while halted).
    pub deactivated: u64,
    /// The source's threshold: at most `allowed` leavers without approval,
    /// `thresholdPercent` of the active people or `thresholdFloor`,
    /// whichever is more.
    pub allowed: u64,
    pub threshold_percent: u8,
    pub threshold_floor: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// API paths (relative to the server) of the feed and, for a full
/// snapshot, of its leavers list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedLinks {
    pub feed: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leavers: Option<String>,
}

impl FeedEvent {
    /// The event of a feed that has just become `status`, from its stored
    /// figures; `settings` are its source's (for the threshold).
    #[allow(clippy::too_many_arguments)] // the stored row's columns, one each
    pub fn new(
        kind: roster_core::lifecycle::EventType,
        feed_id: FeedId,
        source: SourceName,
        mode: FeedMode,
        status: FeedStatus,
        counts: FeedCounts,
        reconciliation: Option<&Reconciliation>,
        settings: &crate::SourceSettings,
    ) -> Self {
        let feed = roster_core::public_id::render(roster_core::public_id::Kind::Feed, feed_id);
        let snapshot = reconciliation.filter(|r| r.state != ReconcileState::Waiting).map(|r| SnapshotEvent {
            active: r.active,
            pending: r.pending,
            would_deactivate: (r.state == ReconcileState::Halted).then_some(r.absent),
            deactivated: counts.leavers,
            allowed: r.allowed,
            threshold_percent: settings.deletion_threshold_percent,
            threshold_floor: settings.deletion_threshold_floor,
            reason: r.reason.clone(),
        });
        Self {
            kind,
            feed_id,
            source,
            mode,
            status,
            counts,
            snapshot,
            links: FeedLinks {
                leavers: (mode == FeedMode::Full).then(|| format!("/v1/feeds/{feed}/leavers")),
                feed: format!("/v1/feeds/{feed}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A feed's reconciliation is a JSON column: one an older build wrote,
    /// with integer milliseconds, still reads; this build writes RFC 3339.
    #[test]
    fn a_stored_reconciliation_of_an_older_build_decodes() {
        let old = r#"{"state":"applied","active":10,"absent":1,"allowed":2,"decidedAt":1700000000000}"#;
        let r: Reconciliation = serde_json::from_str(old).unwrap();
        assert_eq!(r.decided_at, Some(Timestamp(1_700_000_000_000)));
        let now = serde_json::to_value(&r).unwrap();
        assert_eq!(now["decidedAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(serde_json::from_value::<Reconciliation>(now).unwrap(), r);
    }
}
