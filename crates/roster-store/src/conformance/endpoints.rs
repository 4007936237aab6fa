//! Webhook endpoints, their cursors in the outbox, their dead letters and secrets.

use super::*;

fn new_endpoint(tenant: TenantId, types: Option<Vec<EventType>>) -> NewEndpoint {
    NewEndpoint {
        tenant_id: tenant,
        url: "https://hooks.example.com/roster".into(),
        description: Some("HRIS onboarding".into()),
        event_types: types,
        secret: roster_core::secret::Secret::new("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"),
    }
}

/// Applies a joiner for `id` in tenant `t`: one `person.joined` event. Its
/// feed is still being received (a streamed upload), so the joiner is its
/// only event: the feed's own `feed.completed` would come with its seal,
/// which these cases about delivery do not need.
async fn joiner(d: &impl Directory, t: TenantId, id: &str) {
    let f = FeedId::new();
    d.create_feed(NewFeed {
        id: f,
        tenant_id: t,
        source: SourceName::default(),
        mode: FeedMode::Delta,
        format: "csv".into(),
        sealed: false,
        received: 0,
        accepted: 0,
        rejections: vec![],
        created_at: T0,
    })
    .await
    .expect("create feed");
    let m = msg(t, f, json!({"externalId": id, "department": "Sales"}));
    assert!(matches!(apply(d, &m).await, ApplyOutcome::Applied { .. }));
}

pub async fn an_endpoint_sees_only_events_after_its_creation(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    joiner(d, t, "E1").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    let events = d.list_events(t, 0, 10).await.unwrap();
    assert_eq!(ep.cursor, events[0].seq, "the cursor starts at the newest event");
    joiner(d, t, "E2").await;
    let after = d.list_events(t, ep.cursor, 10).await.unwrap();
    assert_eq!(after.len(), 1, "only the event that happened after the endpoint");
    assert_eq!(after[0].payload["person"]["externalId"], "E2");
    let backlog = d.outbox_backlog().await.unwrap();
    assert_eq!(backlog.len(), 1);
    assert_eq!((backlog[0].pending, backlog[0].oldest_pending_at), (1, Some(T0)));

    // A filtered endpoint counts only the types it wants.
    let leavers = d.create_endpoint(new_endpoint(t, Some(vec![EventType::Left])), T0).await.unwrap();
    joiner(d, t, "E3").await;
    let backlog = d.outbox_backlog().await.unwrap();
    let of = |id: &str| backlog.iter().find(|b| b.endpoint_id == id).unwrap().pending;
    assert_eq!((of(&ep.id), of(&leavers.id)), (2, 0));
    assert!(
        leavers.wants(EventType::Left) && !leavers.wants(EventType::Joined) && ep.wants(EventType::Joined)
    );
}

pub async fn an_endpoint_cursor_advances_and_its_retries_persist(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    joiner(d, t, "E1").await;
    joiner(d, t, "E2").await;
    let events = d.list_events(t, ep.cursor, 10).await.unwrap();
    let target = d.delivery_targets(T1).await.unwrap().pop().expect("the active endpoint");
    assert_eq!(
        (target.endpoint.id.as_str(), target.attempts, target.next_attempt_at),
        (ep.id.as_str(), 0, None)
    );
    assert_eq!(target.secret.expose(), "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0");
    assert!(!format!("{target:?}").contains("c2VjcmV0"), "Debug redacts the secret");

    let retry_at = T0.plus_millis(5_000);
    d.record_delivery(&ep.id, 0, DeliveryUpdate::Retry { attempts: 1, next_attempt_at: retry_at }, T0)
        .await
        .unwrap();
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!(
        (target.attempts, target.next_attempt_at, target.endpoint.cursor),
        (1, Some(retry_at), ep.cursor)
    );

    d.record_delivery(&ep.id, 0, DeliveryUpdate::Done { seq: events[0].seq }, T0).await.unwrap();
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!((target.attempts, target.next_attempt_at, target.endpoint.cursor), (0, None, events[0].seq));
    assert_eq!(d.outbox_backlog().await.unwrap()[0].pending, 1);
    // A late record of an older position does not move the cursor back.
    d.record_delivery(&ep.id, 0, DeliveryUpdate::Done { seq: ep.cursor }, T0).await.unwrap();
    assert_eq!(d.get_endpoint(t, &ep.id).await.unwrap().unwrap().cursor, events[0].seq);
    d.record_delivery(&ep.id, 0, DeliveryUpdate::Done { seq: events[1].seq }, T0).await.unwrap();
    assert_eq!(d.outbox_backlog().await.unwrap()[0].pending, 0);

    let disabled = d.disable_endpoint(t, &ep.id, T1).await.unwrap();
    assert_eq!(disabled.disabled_at, Some(T1));
    assert!(d.delivery_targets(T1).await.unwrap().is_empty(), "a disabled endpoint gets nothing");
    let again = d.disable_endpoint(t, &ep.id, T1.plus_millis(5)).await.unwrap();
    assert_eq!(again.disabled_at, Some(T1), "disabling twice keeps the first time");
    assert_eq!(d.list_endpoints(t).await.unwrap().len(), 1, "still listed");
}

/// Pages of an endpoint's dead letters: `after` is the outbox position of
/// the last one of the previous page.
pub async fn event_dead_letters_are_listed_in_pages(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    for id in ["E1", "E2", "E3"] {
        joiner(d, t, id).await;
    }
    let events = d.list_events(t, ep.cursor, 10).await.unwrap();
    for e in &events {
        let dead = DeliveryUpdate::DeadLetter {
            event: OutboxEventRef::from(e),
            attempts: 5,
            last_status: Some(500),
            last_error: "answered HTTP 500".into(),
        };
        d.record_delivery(&ep.id, 0, dead, T1).await.unwrap();
    }
    let first = d.list_event_dead_letters(t, &ep.id, 0, 2).await.unwrap();
    let seqs: Vec<u64> = first.iter().map(|dl| dl.event.seq).collect();
    assert_eq!(seqs, [events[0].seq, events[1].seq]);
    let rest = d.list_event_dead_letters(t, &ep.id, events[1].seq, 2).await.unwrap();
    assert_eq!(rest.iter().map(|dl| dl.event.seq).collect::<Vec<_>>(), [events[2].seq]);
    assert!(d.list_event_dead_letters(t, &ep.id, events[2].seq, 2).await.unwrap().is_empty());
}

pub async fn an_event_dead_letter_is_listed_and_redriven(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    joiner(d, t, "E1").await;
    joiner(d, t, "E2").await;
    let events = d.list_events(t, ep.cursor, 10).await.unwrap();
    let dead = DeliveryUpdate::DeadLetter {
        event: OutboxEventRef::from(&events[0]),
        attempts: 5,
        last_status: Some(500),
        last_error: "answered HTTP 500".into(),
    };
    d.record_delivery(&ep.id, 0, dead.clone(), T1).await.unwrap();
    d.record_delivery(&ep.id, 0, dead, T1).await.unwrap();
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!(target.endpoint.cursor, events[0].seq, "the cursor moves past a dead letter");
    let listed = d.list_event_dead_letters(t, &ep.id, 0, 10).await.unwrap();
    assert_eq!(listed.len(), 1, "recorded once");
    let dl = &listed[0];
    assert_eq!((dl.event.id.as_str(), dl.attempts, dl.last_status), (events[0].id.as_str(), 5, Some(500)));
    assert_eq!((dl.state, dl.dead_lettered_at), (EventDeadLetterState::Dead, T1));
    assert_eq!(d.outbox_backlog().await.unwrap()[0].dead_letters, 1);
    assert!(d.due_redeliveries(&ep.id, T1, 10).await.unwrap().is_empty(), "nothing due before a redrive");

    assert_eq!(d.redrive_event_dead_letters(t, &ep.id, T1).await.unwrap(), 1);
    assert_eq!(d.redrive_event_dead_letters(t, &ep.id, T1).await.unwrap(), 0, "only waiting ones");
    let due = d.due_redeliveries(&ep.id, T1, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].event.id.as_str(), due[0].dead_letter.attempts), (events[0].id.as_str(), 0));
    assert_eq!(due[0].event.payload, events[0].payload, "with the event to send");
    let backlog = d.outbox_backlog().await.unwrap();
    assert_eq!((backlog[0].pending, backlog[0].dead_letters), (2, 0), "redriven counts as pending");

    let later = T1.plus_millis(1_000);
    let retry = RedeliveryUpdate::Retry { attempts: 1, next_attempt_at: later };
    d.record_redelivery(&due[0].dead_letter.id, retry, T1).await.unwrap();
    assert!(d.due_redeliveries(&ep.id, T1, 10).await.unwrap().is_empty(), "not before its retry time");
    let dead_again =
        RedeliveryUpdate::Dead { attempts: 5, last_status: None, last_error: "timed out".into() };
    d.record_redelivery(&due[0].dead_letter.id, dead_again, later).await.unwrap();
    let listed = d.list_event_dead_letters(t, &ep.id, 0, 10).await.unwrap();
    assert_eq!((listed[0].state, listed[0].last_status), (EventDeadLetterState::Dead, None));

    d.redrive_event_dead_letters(t, &ep.id, later).await.unwrap();
    let due = d.due_redeliveries(&ep.id, later, 10).await.unwrap();
    d.record_redelivery(&due[0].dead_letter.id, RedeliveryUpdate::Delivered, later).await.unwrap();
    assert!(d.list_event_dead_letters(t, &ep.id, 0, 10).await.unwrap().is_empty(), "delivered: gone");
}

pub async fn endpoints_and_their_dead_letters_are_scoped_by_tenant(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    let ep = d.create_endpoint(new_endpoint(a, None), T0).await.unwrap();
    joiner(d, a, "E1").await;
    let events = d.list_events(a, ep.cursor, 10).await.unwrap();
    let dead = DeliveryUpdate::DeadLetter {
        event: OutboxEventRef::from(&events[0]),
        attempts: 1,
        last_status: Some(410),
        last_error: "answered HTTP 410".into(),
    };
    d.record_delivery(&ep.id, 0, dead, T0).await.unwrap();

    assert!(d.list_endpoints(b).await.unwrap().is_empty());
    assert_eq!(d.get_endpoint(b, &ep.id).await.unwrap(), None);
    assert!(matches!(d.disable_endpoint(b, &ep.id, T1).await, Err(StoreError::NotFound)));
    assert!(matches!(d.list_event_dead_letters(b, &ep.id, 0, 10).await, Err(StoreError::NotFound)));
    assert!(matches!(d.redrive_event_dead_letters(b, &ep.id, T1).await, Err(StoreError::NotFound)));
    assert_eq!(d.list_event_dead_letters(a, &ep.id, 0, 10).await.unwrap().len(), 1, "untouched");
    assert_eq!(d.get_endpoint(a, &ep.id).await.unwrap().unwrap().disabled_at, None);

    // B's events never move A's endpoint: its backlog counts A's events only.
    joiner(d, b, "E1").await;
    let backlog = d.outbox_backlog().await.unwrap();
    assert_eq!((backlog[0].tenant_id, backlog[0].pending), (a, 0));
}

pub async fn an_endpoint_secret_rotates_with_a_grace_period(d: &impl Directory) {
    let a = tenant(d, "acme").await;
    let b = tenant(d, "globex").await;
    let ep = d.create_endpoint(new_endpoint(a, None), T0).await.unwrap();
    let old = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0";
    let new = "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0";
    let until = T1.plus_millis(60_000);

    // Another tenant cannot rotate it: nothing changes.
    let refused = d.rotate_endpoint_secret(b, &ep.id, Secret::new("whsec_b3RoZXI="), until, T0).await;
    assert!(matches!(refused, Err(StoreError::NotFound)));
    let target = d.delivery_targets(T0).await.unwrap().pop().unwrap();
    assert_eq!((target.secret.expose(), target.previous_secret.is_none()), (old, true));

    let rotated = d.rotate_endpoint_secret(a, &ep.id, Secret::new(new), until, T0).await.unwrap();
    assert_eq!((rotated.id.as_str(), rotated.cursor), (ep.id.as_str(), ep.cursor), "only the secret changes");
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!(target.secret.expose(), new, "the new secret signs first");
    let previous = target.previous_secret.as_ref().expect("the old one is still valid");
    assert_eq!((previous.secret.expose(), previous.expires_at), (old, until));
    assert!(previous.valid_at(T1).is_some() && previous.valid_at(until).is_none());
    assert!(!format!("{target:?}").contains("c2VjcmV0") && !format!("{target:?}").contains("bmV3"));

    // Once it expires, the target carries the new secret only.
    let target = d.delivery_targets(until).await.unwrap().pop().unwrap();
    assert_eq!((target.secret.expose(), target.previous_secret.is_none()), (new, true));

    // No grace period: the replaced secret is dropped at once.
    let newest = "whsec_bmV3ZXN0";
    d.rotate_endpoint_secret(a, &ep.id, Secret::new(newest), T1, T1).await.unwrap();
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!((target.secret.expose(), target.previous_secret.is_none()), (newest, true));

    // A disabled endpoint is not rotated.
    d.disable_endpoint(a, &ep.id, T1).await.unwrap();
    let disabled = d.rotate_endpoint_secret(a, &ep.id, Secret::new(new), until, T1).await;
    assert!(matches!(disabled, Err(StoreError::NotFound)));
}

pub async fn endpoint_limits_hold_under_concurrent_creation_and_count_disabled_ones(d: &impl Directory) {
    use crate::limits::{MAX_ACTIVE_ENDPOINTS, MAX_ENDPOINTS};
    let a = tenant(d, "acme").await;
    // More creations at once than the limit: exactly the limit succeed.
    let tries = (0..MAX_ACTIVE_ENDPOINTS + 5).map(|_| d.create_endpoint(new_endpoint(a, None), T0));
    let results = futures_util::future::join_all(tries).await;
    let created: Vec<&crate::Endpoint> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(created.len(), MAX_ACTIVE_ENDPOINTS);
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, StoreError::Conflict(_))));
    // Disabling makes room, up to the bound on all endpoints.
    let mut live: Vec<String> = created.iter().map(|e| e.id.clone()).collect();
    let mut total = live.len();
    while total < MAX_ENDPOINTS {
        let old = live.remove(0);
        d.disable_endpoint(a, &old, T1).await.unwrap();
        live.push(d.create_endpoint(new_endpoint(a, None), T1).await.unwrap().id);
        total += 1;
    }
    d.disable_endpoint(a, &live[0], T1).await.unwrap();
    let over = d.create_endpoint(new_endpoint(a, None), T1).await;
    assert!(matches!(over, Err(StoreError::Conflict(m)) if m.contains("disabled ones included")));
    // Another tenant's count is its own.
    let b = tenant(d, "globex").await;
    assert!(d.create_endpoint(new_endpoint(b, None), T1).await.is_ok());
}

pub async fn an_endpoint_is_updated_and_re_enabled_from_the_head(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    let update = EndpointUpdate {
        url: Some("https://hooks.example.com/v2".into()),
        description: Some(None),
        event_types: Some(Some(vec![EventType::Left])),
        enabled: None,
    };
    let changed = d.update_endpoint(t, &ep.id, update, T1).await.unwrap();
    assert_eq!(changed.url, "https://hooks.example.com/v2");
    assert_eq!(
        (changed.description.as_deref(), changed.event_types.clone()),
        (None, Some(vec![EventType::Left]))
    );
    let all = EndpointUpdate { event_types: Some(None), ..Default::default() };
    assert_eq!(d.update_endpoint(t, &ep.id, all, T1).await.unwrap().event_types, None);
    assert_eq!(d.get_endpoint(t, &ep.id).await.unwrap().unwrap().url, "https://hooks.example.com/v2");

    let off = EndpointUpdate { enabled: Some(false), ..Default::default() };
    assert_eq!(d.update_endpoint(t, &ep.id, off, T1).await.unwrap().disabled_at, Some(T1));
    joiner(d, t, "E1").await;
    let on = EndpointUpdate { enabled: Some(true), ..Default::default() };
    let back = d.update_endpoint(t, &ep.id, on, T1).await.unwrap();
    let head = d.list_events(t, 0, 10).await.unwrap().last().unwrap().seq;
    assert_eq!((back.disabled_at, back.cursor), (None, head), "resumes from the newest event");
    assert_eq!(d.delivery_targets(T1).await.unwrap().len(), 1);

    let other = tenant(d, "globex").await;
    let err = d.update_endpoint(other, &ep.id, EndpointUpdate::default(), T1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

pub async fn re_enabling_respects_the_limit_of_active_endpoints(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let first = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    d.disable_endpoint(t, &first.id, T0).await.unwrap();
    for _ in 0..crate::limits::MAX_ACTIVE_ENDPOINTS {
        d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    }
    let on = EndpointUpdate { enabled: Some(true), ..Default::default() };
    let err = d.update_endpoint(t, &first.id, on, T1).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(d.get_endpoint(t, &first.id).await.unwrap().unwrap().disabled_at.is_some());
}

pub async fn a_replay_moves_the_cursor_back_only(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    for id in ["E1", "E2", "E3"] {
        joiner(d, t, id).await;
    }
    let events = d.list_events(t, ep.cursor, 10).await.unwrap();
    d.record_delivery(&ep.id, 0, DeliveryUpdate::Retry { attempts: 2, next_attempt_at: T1 }, T0)
        .await
        .unwrap();
    d.record_delivery(&ep.id, 0, DeliveryUpdate::Done { seq: events[2].seq }, T0).await.unwrap();

    let back = d.replay_endpoint(t, &ep.id, ReplayFrom::Event(events[0].id.clone()), T1).await.unwrap();
    assert_eq!(back.cursor, events[0].seq);
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!((target.attempts, target.next_attempt_at), (0, None), "a fresh start");
    assert_eq!(d.list_events(t, back.cursor, 10).await.unwrap().len(), 2, "two events to send again");

    let ahead = ReplayFrom::Position(events[2].seq);
    assert!(
        matches!(d.replay_endpoint(t, &ep.id, ahead, T1).await, Err(StoreError::Invalid(_))),
        "not forward"
    );
    let unknown = ReplayFrom::Event("0190d9a4-0000-7000-8000-000000000000".into());
    assert!(matches!(d.replay_endpoint(t, &ep.id, unknown, T1).await, Err(StoreError::Invalid(_))));
    let zero = d.replay_endpoint(t, &ep.id, ReplayFrom::Position(0), T1).await.unwrap();
    assert_eq!(zero.cursor, 0);

    // Another tenant's event is no position of this endpoint.
    let other = tenant(d, "globex").await;
    joiner(d, other, "X1").await;
    let theirs = d.list_events(other, 0, 10).await.unwrap().pop().unwrap();
    let g = generation(d, &ep.id).await;
    d.record_delivery(&ep.id, g, DeliveryUpdate::Done { seq: theirs.seq }, T0).await.unwrap();
    let err = d.replay_endpoint(t, &ep.id, ReplayFrom::Event(theirs.id), T1).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let err = d.replay_endpoint(other, &ep.id, ReplayFrom::Position(0), T1).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn generation(d: &impl Directory, endpoint: &str) -> u64 {
    let targets = d.delivery_targets(T1).await.unwrap();
    targets.into_iter().find(|t| t.endpoint.id == endpoint).expect("an active endpoint").generation
}

/// A delivery pass holds its page's progress in memory and stores it
/// later: a replay (or a disable, or a re-enable) that lands meanwhile
/// moves the endpoint's generation on, so the pass's late records change
/// nothing and tell it to stop, instead of writing its cursor over the
/// replay's.
pub async fn a_replay_during_a_delivery_pass_is_not_overwritten(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    for id in ["E1", "E2", "E3"] {
        joiner(d, t, id).await;
    }
    let events = d.list_events(t, ep.cursor, 10).await.unwrap();
    let pass = generation(d, &ep.id).await;
    assert!(d.record_delivery(&ep.id, pass, DeliveryUpdate::Done { seq: events[1].seq }, T0).await.unwrap());

    // The replay lands while the pass is sending events[2].
    d.replay_endpoint(t, &ep.id, ReplayFrom::Position(ep.cursor), T1).await.unwrap();
    let done = DeliveryUpdate::Done { seq: events[2].seq };
    assert!(!d.record_delivery(&ep.id, pass, done.clone(), T1).await.unwrap(), "the pass is told to stop");
    let retry = DeliveryUpdate::Retry { attempts: 1, next_attempt_at: T1 };
    assert!(!d.record_delivery(&ep.id, pass, retry, T1).await.unwrap());
    let dead = DeliveryUpdate::DeadLetter {
        event: OutboxEventRef::from(&events[2]),
        attempts: 3,
        last_status: Some(500),
        last_error: "HTTP 500".into(),
    };
    assert!(!d.record_delivery(&ep.id, pass, dead, T1).await.unwrap());
    let target = d.delivery_targets(T1).await.unwrap().pop().unwrap();
    assert_eq!(
        (target.endpoint.cursor, target.attempts, target.next_attempt_at),
        (ep.cursor, 0, None),
        "the replay's cursor holds: every event is sent again"
    );
    assert!(d.list_event_dead_letters(t, &ep.id, 0, 10).await.unwrap().is_empty(), "no stale dead letter");

    // The next pass starts from the replay and records as usual.
    let next = generation(d, &ep.id).await;
    assert_ne!(next, pass);
    assert!(d.record_delivery(&ep.id, next, done.clone(), T1).await.unwrap());
    assert_eq!(d.get_endpoint(t, &ep.id).await.unwrap().unwrap().cursor, events[2].seq);

    // Disabling and re-enabling move it on too.
    d.disable_endpoint(t, &ep.id, T1).await.unwrap();
    let on = EndpointUpdate { enabled: Some(true), ..Default::default() };
    d.update_endpoint(t, &ep.id, on, T1).await.unwrap();
    let after = generation(d, &ep.id).await;
    assert!(after != next && !d.record_delivery(&ep.id, next, done, T1).await.unwrap());
}

pub async fn delivery_attempts_are_logged_newest_first_and_pruned(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let ep = d.create_endpoint(new_endpoint(t, None), T0).await.unwrap();
    joiner(d, t, "E1").await;
    joiner(d, t, "E2").await;
    let events = d.list_events(t, ep.cursor, 10).await.unwrap();
    let attempt = |e: usize, n: u32, at: Timestamp, status: Option<u16>, outcome| NewDeliveryAttempt {
        endpoint_id: ep.id.clone(),
        event: OutboxEventRef::from(&events[e]),
        attempt: n,
        at,
        duration_ms: 12,
        status,
        outcome,
    };
    d.record_attempts(vec![
        attempt(0, 1, T0, Some(500), AttemptOutcome::Status),
        attempt(0, 2, T1, None, AttemptOutcome::Delivered),
    ])
    .await
    .unwrap();
    d.record_attempts(vec![attempt(1, 1, T1, None, AttemptOutcome::Unreachable)]).await.unwrap();

    let all = d.list_delivery_attempts(t, &ep.id, None, None, 10).await.unwrap();
    let seen: Vec<(u64, u32, AttemptOutcome)> =
        all.iter().map(|a| (a.event.seq, a.attempt, a.outcome)).collect();
    assert_eq!(
        seen,
        [
            (events[1].seq, 1, AttemptOutcome::Unreachable),
            (events[0].seq, 2, AttemptOutcome::Delivered),
            (events[0].seq, 1, AttemptOutcome::Status)
        ]
    );
    assert_eq!((all[2].status, all[2].duration_ms, all[2].at), (Some(500), 12, T0));
    let page = d.list_delivery_attempts(t, &ep.id, None, Some(all[0].seq), 1).await.unwrap();
    assert_eq!(page[0].seq, all[1].seq, "the page after the first");
    let one = d.list_delivery_attempts(t, &ep.id, Some(&events[1].id), None, 10).await.unwrap();
    assert_eq!(one.len(), 1);
    let other = tenant(d, "globex").await;
    assert!(matches!(
        d.list_delivery_attempts(other, &ep.id, None, None, 10).await,
        Err(StoreError::NotFound)
    ));

    let report = d.prune(T1, T1).await.unwrap();
    assert_eq!(report.delivery_attempts, 1, "the attempt before the retention period");
    assert_eq!(d.list_delivery_attempts(t, &ep.id, None, None, 10).await.unwrap().len(), 2);
}
