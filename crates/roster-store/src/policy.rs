//! Decisions every directory adapter makes the same way: a feed's status
//! from its counts, and the judgement of a full snapshot from its figures.
//! Adapters count and write; what the figures mean is decided here.

use roster_core::lifecycle::EventType;

use crate::{FeedCounts, FeedStatus, ReconcileState, Reconciliation, SourceSettings};

/// Where a feed is, from its counts and, for a full snapshot, its
/// reconciliation.
pub fn status_of(c: &FeedCounts, sealed: bool, reconciliation: Option<&Reconciliation>) -> FeedStatus {
    if !sealed {
        return FeedStatus::Receiving;
    }
    let processed = c.applied + c.unchanged + c.stale + c.failed;
    if processed < c.accepted {
        return if processed == 0 { FeedStatus::Accepted } else { FeedStatus::Processing };
    }
    match reconciliation.map(|r| r.state) {
        Some(ReconcileState::Waiting) => FeedStatus::Processing,
        Some(ReconcileState::Halted) => FeedStatus::Halted,
        Some(ReconcileState::Rejected) => FeedStatus::Rejected,
        Some(ReconcileState::Superseded) => FeedStatus::Superseded,
        _ if c.rejected > 0 || c.failed > 0 => FeedStatus::CompletedWithErrors,
        _ => FeedStatus::Completed,
    }
}

/// The feed event a change of a feed's status announces, if any: a feed
/// announces its end once — `feed.completed`, `feed.completed_with_errors`
/// or `feed.failed` — and a snapshot its halt before that (an approved one
/// then completes). A redriven failure that turns `completed_with_errors`
/// into `completed` announces nothing more; a rejected or superseded
/// snapshot neither (the operator's decision is in the audit log).
pub fn feed_event(before: FeedStatus, after: FeedStatus) -> Option<EventType> {
    // Only a feed still open (or halted) has an end left to announce.
    let open = matches!(
        before,
        FeedStatus::Receiving | FeedStatus::Accepted | FeedStatus::Processing | FeedStatus::Halted
    );
    if before == after || !open {
        return None;
    }
    match after {
        FeedStatus::Completed => Some(EventType::FeedCompleted),
        FeedStatus::CompletedWithErrors => Some(EventType::FeedCompletedWithErrors),
        FeedStatus::Halted => Some(EventType::FeedHalted),
        FeedStatus::Failed => Some(EventType::FeedFailed),
        FeedStatus::Receiving
        | FeedStatus::Accepted
        | FeedStatus::Processing
        | FeedStatus::Rejected
        | FeedStatus::Superseded => None,
    }
}

/// What a snapshot found, counted by the adapter.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotFigures {
    /// Active people of the source.
    pub active: u64,
    /// People of the source with a hire date ahead (not judged).
    pub pending: u64,
    /// Active people it would deactivate.
    pub absent: u64,
    /// Records of the snapshot that were valid and queued.
    pub accepted: u64,
}

/// A snapshot's judgement while `open` feeds of its tenant accepted
/// before it are not settled: it waits for them, since it is judged
/// against the directory as those feeds left it.
pub fn waiting_snapshot(open: i64) -> Reconciliation {
    Reconciliation {
        state: ReconcileState::Waiting,
        active: 0,
        pending: 0,
        absent: 0,
        allowed: 0,
        reason: Some(format!(
            "waiting for {open} feed(s) of this tenant accepted before it to finish: a snapshot is judged \
             against the directory as the feeds before it left it"
        )),
        decided_at: None,
    }
}

/// Applied, or halted with the reason. A snapshot with no valid record —
/// empty, or every record rejected — that would deactivate anyone halts
/// whatever the threshold: it is a broken export, not a mass departure.
pub fn judge_snapshot(f: SnapshotFigures, settings: &SourceSettings) -> Reconciliation {
    let allowed = settings.allowed_leavers(f.active);
    let reason = if f.accepted == 0 && f.absent > 0 {
        Some("the snapshot has no valid record (it is empty, or every record was rejected): it would deactivate everyone".to_owned())
    } else if f.absent > allowed {
        Some(format!(
            "the snapshot would deactivate {} of {} active people; the source allows {allowed} \
             ({}% or {}, whichever is more)",
            f.absent, f.active, settings.deletion_threshold_percent, settings.deletion_threshold_floor
        ))
    } else {
        None
    };
    Reconciliation {
        state: if reason.is_some() { ReconcileState::Halted } else { ReconcileState::Applied },
        active: f.active,
        pending: f.pending,
        absent: f.absent,
        allowed,
        reason,
        decided_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(active: u64, absent: u64, accepted: u64) -> SnapshotFigures {
        SnapshotFigures { active, pending: 0, absent, accepted }
    }

    #[test]
    fn a_snapshot_of_only_rejected_records_halts_even_under_the_floor() {
        let r = judge_snapshot(figures(3, 3, 0), &SourceSettings::default());
        assert_eq!(r.state, ReconcileState::Halted);
        assert!(r.reason.unwrap().contains("no valid record"));
    }

    #[test]
    fn leavers_within_the_threshold_apply_and_beyond_it_halt() {
        let s = SourceSettings::default();
        assert_eq!(judge_snapshot(figures(100, 20, 80), &s).state, ReconcileState::Applied);
        assert_eq!(judge_snapshot(figures(100, 21, 79), &s).state, ReconcileState::Halted);
        assert_eq!(judge_snapshot(figures(10, 5, 5), &s).state, ReconcileState::Applied, "the floor");
    }

    #[test]
    fn a_feed_announces_its_end_once_and_a_halt_before_it() {
        use FeedStatus::*;
        assert_eq!(feed_event(Processing, Completed), Some(EventType::FeedCompleted));
        assert_eq!(feed_event(Accepted, CompletedWithErrors), Some(EventType::FeedCompletedWithErrors));
        assert_eq!(feed_event(Receiving, Failed), Some(EventType::FeedFailed));
        assert_eq!(feed_event(Processing, Halted), Some(EventType::FeedHalted));
        assert_eq!(feed_event(Halted, Completed), Some(EventType::FeedCompleted), "approved");
        assert_eq!(feed_event(Halted, Halted), None);
        assert_eq!(feed_event(Completed, Completed), None);
        assert_eq!(feed_event(CompletedWithErrors, Completed), None, "a redrive after the end");
        assert_eq!(feed_event(Halted, Rejected), None);
        assert_eq!(feed_event(Halted, Superseded), None);
        assert_eq!(feed_event(Failed, Failed), None);
        assert_eq!(feed_event(Processing, Processing), None);
    }

    #[test]
    fn a_waiting_snapshot_is_still_processing() {
        let c = FeedCounts { accepted: 1, applied: 1, ..FeedCounts::default() };
        let r = Reconciliation {
            state: ReconcileState::Waiting,
            active: 0,
            pending: 0,
            absent: 0,
            allowed: 0,
            reason: None,
            decided_at: None,
        };
        assert_eq!(status_of(&c, true, Some(&r)), FeedStatus::Processing);
        assert!(!FeedStatus::Processing.is_settled());
        assert!(FeedStatus::Halted.is_settled());
    }
}
