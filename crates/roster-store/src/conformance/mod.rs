//! The conformance suite of the `Directory` port, written once against the
//! traits and split by concern (one module per port trait, plus `ordering`,
//! the cases of the ordering model). Every adapter instantiates it with
//! [`directory_conformance_tests!`](crate::directory_conformance_tests) and
//! a [`Harness`] that makes fresh, empty directories.

use async_trait::async_trait;
use roster_core::lifecycle::EventType;
use roster_core::secret::Secret;
use roster_core::validate::parse_record;
use roster_core::{ChangeMessage, ExternalId, FeedId, FeedMode, MessageId, SourceName, TenantId, Timestamp};
use serde_json::{Value, json};

use crate::{
    ApplyOutcome, AttemptOutcome, DeliveryUpdate, Directory, EndpointUpdate, EventDeadLetterState,
    EventFilter, FeedFilter, FeedSeal, FeedStatus, IdempotencyClaim, LastAdmin, Lease, NewApiKey,
    NewDeliveryAttempt, NewEndpoint, NewFeed, OutboxEventRef, PeopleFilter, ReconcileState, RedeliveryUpdate,
    ReplayFrom, Scope, SourceSettings, StoreError,
};
use roster_core::lifecycle::Status;

mod alarms;
mod apply;
mod audit;
mod console_sessions;
mod credentials;
mod due;
mod endpoints;
mod feeds;
mod idempotency;
mod leases;
mod ordering;
mod people;
mod snapshots;
mod sources;
mod stats;
mod tenants;

pub use alarms::*;
pub use apply::*;
pub use audit::*;
pub use console_sessions::*;
pub use credentials::*;
pub use due::*;
pub use endpoints::*;
pub use feeds::*;
pub use idempotency::*;
pub use leases::*;
pub use ordering::*;
pub use people::*;
pub use snapshots::*;
pub use sources::*;
pub use stats::*;
pub use tenants::*;

/// What an adapter's test gives the suite.
#[async_trait]
pub trait Harness: Send + Sync {
    type D: Directory;
    /// A fresh, empty directory: the cross-tenant system reads
    /// (`count_feeds_by_status`, `delivery_targets`, `outbox_backlog`,
    /// `apply_due`) assume no other test's data (PostgreSQL: a database per
    /// test, not only a tenant).
    async fn fresh(&self) -> Self::D;
    /// Whether the store takes writes from several connections at once
    /// (PostgreSQL); the cases that race writers run only then.
    fn concurrent_writers(&self) -> bool {
        false
    }
    /// Whether there is nothing to test against and nothing requires it
    /// (a server-backed adapter on a machine without the server): each test
    /// then returns at once. A harness whose server is required must fail
    /// loudly instead (panic when it is made), never answer `true`.
    fn skip(&self) -> bool {
        false
    }
}

/// One `#[tokio::test]` per conformance function, each on a fresh directory
/// of the harness `$h` (an expression, evaluated once per test):
///
/// - `directory_conformance_tests!(harness)`: the whole suite;
/// - `directory_conformance_tests!(harness; tenants, feeds)`: only those
///   modules (`tenants`, `credentials`, `audit`, `sources`, `feeds`,
///   `snapshots`, `idempotency`, `apply`, `due`, `people`, `endpoints`,
///   `stats`, `leases`, `alarms`, `console_sessions`, `ordering`), for an adapter that is not finished yet.
#[macro_export]
macro_rules! directory_conformance_tests {
    ($h:expr) => {
        $crate::directory_conformance_tests!($h; tenants, credentials, audit, sources, feeds, snapshots, idempotency, apply, due, people, endpoints, stats, leases, alarms, console_sessions, ordering);
    };
    ($h:expr; $($module:ident),+ $(,)?) => {
        $( $crate::directory_conformance_tests!(@module $h; $module); )+
    };
    (@module $h:expr; tenants) => {
        $crate::directory_conformance_tests!(@each $h;
            tenants_are_isolated_in_the_store,
            duplicate_tenant_names_conflict,
            tenants_are_renamed_and_their_names_stay_unique,
            a_tenant_is_purged_only_after_its_grace_period_unless_cancelled,
            purging_a_tenant_removes_its_people_feeds_events_and_endpoints
        );
    };
    (@module $h:expr; credentials) => {
        $crate::directory_conformance_tests!(@each $h;
            api_keys_expire_and_authenticate_by_hash,
            api_keys_are_listed_and_revoked_per_tenant,
            the_last_active_admin_key_is_not_revoked,
            of_concurrent_revocations_of_the_last_two_admin_keys_one_fails,
            operator_keys_are_apart_from_tenant_keys,
            operator_keys_are_revoked_at_once,
            operator_keys_expire_and_record_their_last_use
        );
    };
    (@module $h:expr; audit) => {
        $crate::directory_conformance_tests!(@each $h;
            audit_log_is_per_tenant_and_in_order,
            recent_audit_is_newest_first_and_filtered_by_actor_and_action
        );
    };
    (@module $h:expr; sources) => {
        $crate::directory_conformance_tests!(@each $h;
            sources_keep_their_settings,
            a_deleted_source_falls_back_to_the_defaults
        );
    };
    (@module $h:expr; feeds) => {
        $crate::directory_conformance_tests!(@each $h;
            feed_status_follows_its_counts,
            streamed_feed_completes_only_once_sealed,
            feeds_are_filtered_by_source_and_status,
            a_feed_announces_its_end_once,
            a_failed_feed_is_announced_once
        );
    };
    (@module $h:expr; snapshots) => {
        $crate::directory_conformance_tests!(@each $h;
            full_snapshot_deactivates_the_absent,
            snapshot_over_threshold_halts_until_approved,
            rejected_snapshot_deactivates_nobody,
            empty_snapshot_halts,
            snapshot_judges_only_its_own_source,
            a_halted_snapshot_announces_its_figures_then_completes_when_approved,
            a_snapshots_leavers_are_listed_halted_then_deactivated,
            a_rejected_snapshot_lists_no_leavers
        );
    };
    (@module $h:expr; idempotency) => {
        $crate::directory_conformance_tests!(@each $h;
            idempotency_keys_replay_and_refuse_other_bodies
        );
    };
    (@module $h:expr; apply) => {
        $crate::directory_conformance_tests!(@each $h;
            joiner_is_stored_with_history_and_event,
            same_message_twice_changes_nothing,
            lifecycle_events_follow_the_changes,
            events_carry_the_status_and_the_previous_values_of_what_changed,
            stale_changes_are_skipped_and_counted,
            failure_then_redriven_success_moves_the_counts,
            unknown_feed_is_rejected,
            events_are_filtered_by_type_person_and_feed
        );
    };
    (@module $h:expr; due) => {
        $crate::directory_conformance_tests!(@each $h;
            future_hire_is_pending_until_its_day,
            future_termination_leaves_on_its_day,
            stalled_uploads_are_failed
        );
    };
    (@module $h:expr; people) => {
        $crate::directory_conformance_tests!(@each $h;
            people_pages_return_everyone_once,
            people_are_filtered_by_status_source_department_email_and_change,
            people_are_found_by_part_of_their_name,
            people_are_found_by_email_or_employee_number_and_their_managers_read
        );
    };
    (@module $h:expr; endpoints) => {
        $crate::directory_conformance_tests!(@each $h;
            an_endpoint_sees_only_events_after_its_creation,
            an_endpoint_cursor_advances_and_its_retries_persist,
            an_event_dead_letter_is_listed_and_redriven,
            event_dead_letters_are_listed_in_pages,
            endpoints_and_their_dead_letters_are_scoped_by_tenant,
            an_endpoint_secret_rotates_with_a_grace_period,
            endpoint_limits_hold_under_concurrent_creation_and_count_disabled_ones,
            an_endpoint_is_updated_and_re_enabled_from_the_head,
            re_enabling_respects_the_limit_of_active_endpoints,
            a_replay_moves_the_cursor_back_only,
            a_replay_during_a_delivery_pass_is_not_overwritten,
            delivery_attempts_are_logged_newest_first_and_pruned
        );
    };
    (@module $h:expr; stats) => {
        $crate::directory_conformance_tests!(@each $h;
            feeds_are_counted_by_status_across_tenants
        );
    };
    (@module $h:expr; console_sessions) => {
        $crate::directory_conformance_tests!(@each $h;
            a_console_session_is_found_by_its_hash_while_live,
            a_console_session_ends_when_idle_or_past_its_absolute_timeout,
            console_sessions_are_deleted_and_purged
        );
    };
    (@module $h:expr; leases) => {
        $crate::directory_conformance_tests!(@each $h;
            a_lease_has_one_holder_until_released,
            an_expired_lease_is_taken_over_and_lost_to_its_old_holder,
            renewing_keeps_a_lease_past_its_first_expiry,
            of_racing_acquires_one_wins
        );
    };
    (@module $h:expr; alarms) => {
        $crate::directory_conformance_tests!(@each $h;
            alarm_states_round_trip,
            a_stale_alarm_write_loses,
            of_racing_alarm_writes_one_wins
        );
    };
    (@module $h:expr; ordering) => {
        $crate::directory_conformance_tests!(@each $h;
            a_newer_unchanged_listing_protects_from_an_older_snapshot,
            an_identical_record_from_another_source_takes_ownership,
            an_older_change_applied_late_does_not_exempt_from_a_newer_snapshot,
            a_snapshot_waits_for_a_failed_earlier_change_and_its_redrive_is_stale,
            a_change_older_than_the_persons_newest_is_stale_whatever_the_delivery_order,
            a_halted_snapshot_is_superseded_by_a_newer_one,
            approving_a_halted_snapshot_spares_people_listed_since,
            a_snapshot_with_only_rejected_records_halts,
            a_deactivation_is_as_new_as_its_snapshot,
            a_pending_hire_is_not_judged_by_a_snapshot,
            someone_first_stored_inactive_joins_on_activation,
            a_failed_upload_can_be_neither_touched_nor_sealed,
            feeds_get_increasing_positions,
            old_bookkeeping_is_pruned_and_recent_is_kept,
            manager_references_wait_for_their_manager_and_cycles_are_refused
        );
    };
    (@each $h:expr; $($name:ident),*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let harness = $h;
                if $crate::conformance::Harness::skip(&harness) {
                    return;
                }
                let directory = $crate::conformance::Harness::fresh(&harness).await;
                $crate::conformance::$name(&directory).await;
            }
        )*
    };
}

const T0: Timestamp = Timestamp(1_800_000_000_000);

async fn tenant(d: &impl Directory, name: &str) -> TenantId {
    d.create_tenant(name, T0).await.expect("create tenant").id
}

async fn feed(d: &impl Directory, tenant: TenantId, accepted: u64) -> FeedId {
    let id = FeedId::new();
    d.create_feed(NewFeed {
        id,
        tenant_id: tenant,
        source: SourceName::default(),
        mode: FeedMode::Delta,
        format: "json".into(),
        sealed: true,
        received: accepted,
        accepted,
        rejections: vec![],
        created_at: T0,
    })
    .await
    .expect("create feed");
    id
}

fn msg(tenant: TenantId, feed: FeedId, record: Value) -> ChangeMessage {
    let rec = parse_record(&record).expect("a valid test record");
    ChangeMessage {
        message_id: MessageId::new(),
        tenant_id: tenant,
        feed_id: feed,
        source: SourceName::default(),
        index: 0,
        accepted_at: T0,
        last_modified: rec.last_modified,
        change: rec.change,
        request_id: None,
        probe: false,
    }
}

fn eid(s: &str) -> ExternalId {
    ExternalId::parse(s).unwrap()
}

async fn apply(d: &impl Directory, m: &ChangeMessage) -> ApplyOutcome {
    let mut out = d.apply_batch(std::slice::from_ref(m), T0).await.expect("apply");
    out.pop().expect("one outcome per message")
}

/// Later than everything applied at `T0`: a snapshot judges only people
/// written before it was accepted.
const T1: Timestamp = Timestamp(T0.0 + 60_000);

/// Puts `n` active people `E0..En` into `source` through a delta feed.
/// Public as a fixture: other crates' tests set up snapshots with it.
pub async fn population(d: &impl Directory, t: TenantId, source: &str, n: usize) {
    let f = feed(d, t, n as u64).await;
    let msgs: Vec<ChangeMessage> = (0..n)
        .map(|i| {
            let mut m = msg(t, f, json!({"externalId": format!("E{i}"), "department": "Sales"}));
            m.source = SourceName::parse(source).unwrap();
            m
        })
        .collect();
    d.apply_batch(&msgs, T0).await.expect("apply population");
}

/// A delta feed of `records` (JSON as the API takes them), applied in
/// order, one message each. Public as a fixture, like [`population`].
pub async fn apply_records(d: &impl Directory, t: TenantId, records: Vec<Value>) -> FeedId {
    let f = feed(d, t, records.len() as u64).await;
    for (i, record) in records.into_iter().enumerate() {
        let mut m = msg(t, f, record);
        m.index = i as u32;
        apply(d, &m).await;
    }
    f
}

/// A sealed full snapshot of `source` listing `E0..Ekeep` (all applied,
/// unchanged). Public as a fixture, like [`population`]: 10 of 20 listed
/// halts (over the default threshold).
pub async fn snapshot(d: &impl Directory, t: TenantId, source: &str, keep: usize) -> FeedId {
    let id = FeedId::new();
    let source = SourceName::parse(source).unwrap();
    d.create_feed(NewFeed {
        id,
        tenant_id: t,
        source: source.clone(),
        mode: FeedMode::Full,
        format: "json".into(),
        sealed: false,
        received: 0,
        accepted: 0,
        rejections: vec![],
        created_at: T1,
    })
    .await
    .expect("create snapshot");
    let ids: Vec<ExternalId> = (0..keep).map(|i| eid(&format!("E{i}"))).collect();
    d.add_snapshot_members(t, id, ids, T1).await.expect("members");
    let msgs: Vec<ChangeMessage> = (0..keep)
        .map(|i| {
            let mut m = msg(t, id, json!({"externalId": format!("E{i}"), "department": "Sales"}));
            m.source = source.clone();
            m
        })
        .collect();
    let seal = FeedSeal { received: keep as u64, accepted: keep as u64, rejections: vec![], rejected: 0 };
    d.seal_feed(t, id, seal, T1).await.expect("seal");
    if !msgs.is_empty() {
        d.apply_batch(&msgs, T1).await.expect("apply snapshot");
    }
    id
}

async fn active(d: &impl Directory, t: TenantId, n: usize) -> usize {
    let mut count = 0;
    for i in 0..n {
        let p = d.get_person(t, &eid(&format!("E{i}"))).await.unwrap().expect("person");
        count += usize::from(p.person.active);
    }
    count
}

/// How long a claim is held: a streamed upload may run 4 hours.
const HOLD: std::time::Duration = std::time::Duration::from_secs(4 * 3600 + 60);

/// T0 is 2027-01-15 (UTC); this is the morning of 2027-01-25.
const TEN_DAYS_LATER: Timestamp = Timestamp(T0.0 + 10 * 86_400_000);

/// The tenant's person events after `after` (at most `limit`), without the
/// feed events of the feeds that carried them: for the cases about people.
async fn person_events(
    d: &impl Directory,
    t: TenantId,
    after: u64,
    limit: usize,
) -> Result<Vec<crate::OutboxEvent>, StoreError> {
    Ok(d.list_events(t, after, 1000).await?.into_iter().filter(|e| !e.kind.is_feed()).take(limit).collect())
}
