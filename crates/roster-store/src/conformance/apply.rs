//! Applying changes: history, events, duplicates, stale changes, failures.

use super::*;

pub async fn joiner_is_stored_with_history_and_event(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 1).await;
    let m = msg(t, f, json!({"externalId": "E1", "name": {"givenName": "Ann"}, "department": "Sales"}));
    assert_eq!(apply(d, &m).await, ApplyOutcome::Applied { event: Some(EventType::Joined) });
    let p = d.get_person(t, &eid("E1")).await.unwrap().expect("stored");
    assert_eq!(p.version, 1);
    assert_eq!(p.person.department.as_deref(), Some("Sales"));
    assert_eq!(p.last_feed_id, Some(f));
    let h = d.person_history(t, &eid("E1")).await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].message_id, m.message_id.to_string());
    assert!(h[0].changed_fields.contains(&"department".to_owned()));
    assert_eq!(h[0].changes["department"], "Sales");
    let events = person_events(d, t, 0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventType::Joined);
    assert_eq!(events[0].payload["person"]["externalId"], "E1");
}

pub async fn same_message_twice_changes_nothing(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 2).await;
    let m = msg(t, f, json!({"externalId": "E1", "title": "Clerk"}));
    apply(d, &m).await;
    assert_eq!(apply(d, &m).await, ApplyOutcome::Duplicate);
    assert_eq!(d.person_history(t, &eid("E1")).await.unwrap().len(), 1, "no second history row");
    assert_eq!(person_events(d, t, 0, 10).await.unwrap().len(), 1, "no second event");
    let counts = d.get_feed(t, f).await.unwrap().unwrap().counts;
    assert_eq!((counts.applied, counts.unchanged), (1, 0), "counted once");
    // A new message with the same data is a real, but empty, change.
    let again = msg(t, f, json!({"externalId": "E1", "title": "Clerk"}));
    assert_eq!(apply(d, &again).await, ApplyOutcome::Unchanged);
    assert_eq!(d.get_person(t, &eid("E1")).await.unwrap().unwrap().version, 1);
}

pub async fn lifecycle_events_follow_the_changes(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 4).await;
    for (rec, want) in [
        (json!({"externalId": "E1", "department": "Sales"}), EventType::Joined),
        (json!({"externalId": "E1", "department": "R&D"}), EventType::Moved),
        (json!({"op": "deactivate", "externalId": "E1"}), EventType::Left),
        (json!({"externalId": "E1", "department": "R&D"}), EventType::Rehired),
    ] {
        assert_eq!(apply(d, &msg(t, f, rec)).await, ApplyOutcome::Applied { event: Some(want) });
    }
    let events = person_events(d, t, 0, 10).await.unwrap();
    assert_eq!(events[1].payload["changedFields"], json!(["department"]));
    assert_eq!(person_events(d, t, events[1].seq, 10).await.unwrap().len(), 2, "paging by seq");
    let p = d.get_person(t, &eid("E1")).await.unwrap().unwrap();
    assert_eq!(p.version, 4);
    assert!(p.person.active);
}

pub async fn stale_changes_are_skipped_and_counted(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 2).await;
    let newer =
        json!({"externalId": "E1", "title": "Lead", "meta": {"lastModified": "2026-11-02T00:00:00Z"}});
    let older =
        json!({"externalId": "E1", "title": "Intern", "meta": {"lastModified": "2026-11-01T00:00:00Z"}});
    apply(d, &msg(t, f, newer)).await;
    assert_eq!(apply(d, &msg(t, f, older)).await, ApplyOutcome::Stale);
    let p = d.get_person(t, &eid("E1")).await.unwrap().unwrap();
    assert_eq!(p.person.title.as_deref(), Some("Lead"), "a late, older change never overwrites");
    let feed = d.get_feed(t, f).await.unwrap().unwrap();
    assert_eq!((feed.counts.applied, feed.counts.stale), (1, 1));
    assert_eq!(feed.status, FeedStatus::Completed);
}

pub async fn failure_then_redriven_success_moves_the_counts(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 1).await;
    let m = msg(t, f, json!({"externalId": "E1"}));
    d.record_failure(&m, T0).await.unwrap();
    d.record_failure(&m, T0).await.unwrap();
    let feed_now = d.get_feed(t, f).await.unwrap().unwrap();
    assert_eq!(feed_now.counts.failed, 1, "a failure is counted once");
    assert_eq!(feed_now.status, FeedStatus::CompletedWithErrors);
    assert!(
        matches!(apply(d, &m).await, ApplyOutcome::Applied { .. }),
        "a failed message is not a duplicate"
    );
    let feed_now = d.get_feed(t, f).await.unwrap().unwrap();
    assert_eq!((feed_now.counts.failed, feed_now.counts.applied), (0, 1));
    assert_eq!(feed_now.status, FeedStatus::Completed);
    d.record_failure(&m, T0).await.unwrap();
    assert_eq!(
        d.get_feed(t, f).await.unwrap().unwrap().counts.failed,
        0,
        "an applied message cannot fail later"
    );
}

pub async fn unknown_feed_is_rejected(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let other = tenant(d, "globex").await;
    let f = feed(d, other, 1).await;
    let out = apply(d, &msg(t, FeedId::new(), json!({"externalId": "E1"}))).await;
    assert!(matches!(out, ApplyOutcome::Rejected(_)), "{out:?}");
    let out = apply(d, &msg(t, f, json!({"externalId": "E1"}))).await;
    assert!(matches!(out, ApplyOutcome::Rejected(_)), "another tenant's feed is unknown: {out:?}");
    assert!(d.get_person(t, &eid("E1")).await.unwrap().is_none());
}

pub async fn events_are_filtered_by_type_person_and_feed(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f1 = feed(d, t, 3).await;
    let batch: Vec<ChangeMessage> = ["E1", "E2", "E3"]
        .iter()
        .map(|e| msg(t, f1, json!({"externalId": e, "department": "Sales"})))
        .collect();
    d.apply_batch(&batch, T0).await.unwrap();
    let f2 = feed(d, t, 2).await;
    let batch = vec![
        msg(t, f2, json!({"externalId": "E2", "department": "Legal"})),
        msg(t, f2, json!({"externalId": "E3", "department": "Sales", "active": false})),
    ];
    d.apply_batch(&batch, T1).await.unwrap();

    let kinds = |events: Vec<crate::OutboxEvent>| {
        events
            .into_iter()
            .map(|e| (e.kind, e.payload["person"]["externalId"].as_str().unwrap_or_default().to_owned()))
            .collect::<Vec<_>>()
    };
    let of = |kind, person: &str| (kind, person.to_owned());
    let joined = EventFilter { kind: Some(EventType::Joined), ..Default::default() };
    assert_eq!(
        kinds(d.find_events(t, &joined, 0, 10).await.unwrap()),
        [of(EventType::Joined, "E1"), of(EventType::Joined, "E2"), of(EventType::Joined, "E3")]
    );
    let e2 = EventFilter { person: Some(eid("E2")), ..Default::default() };
    assert_eq!(
        kinds(d.find_events(t, &e2, 0, 10).await.unwrap()),
        [of(EventType::Joined, "E2"), of(EventType::Moved, "E2")]
    );
    let second = EventFilter { feed: Some(f2), ..Default::default() };
    assert_eq!(
        kinds(d.find_events(t, &second, 0, 10).await.unwrap()),
        [of(EventType::Moved, "E2"), of(EventType::Left, "E3"), of(EventType::FeedCompleted, "")],
        "the feed's own event ends its events"
    );
    // Paging a filter by the last seq seen returns the rest.
    let first = d.find_events(t, &joined, 0, 2).await.unwrap();
    let rest = d.find_events(t, &joined, first.last().unwrap().seq, 2).await.unwrap();
    assert_eq!(kinds(rest), [of(EventType::Joined, "E3")]);
    let nobody = EventFilter { kind: Some(EventType::Left), person: Some(eid("E1")), ..Default::default() };
    assert!(d.find_events(t, &nobody, 0, 10).await.unwrap().is_empty());
    let other = tenant(d, "globex").await;
    assert!(d.find_events(other, &e2, 0, 10).await.unwrap().is_empty(), "scoped by tenant");
}

/// The payload every adapter writes: `status` on every person event, and
/// on a mover or an update the previous values of what changed, only.
pub async fn events_carry_the_status_and_the_previous_values_of_what_changed(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 4).await;
    for rec in [
        json!({"externalId": "E1", "department": "Sales", "title": "Rep", "displayName": "Ann"}),
        json!({"externalId": "E1", "department": "R&D", "title": "Rep", "displayName": "Ann", "location": "Oslo"}),
        json!({"externalId": "E1", "department": "R&D", "title": "Rep", "displayName": "Ann B", "location": "Oslo"}),
        json!({"op": "deactivate", "externalId": "E1"}),
    ] {
        assert!(matches!(apply(d, &msg(t, f, rec)).await, ApplyOutcome::Applied { event: Some(_) }));
    }
    let events = person_events(d, t, 0, 10).await.unwrap();
    let p: Vec<&Value> = events.iter().map(|e| &e.payload).collect();
    let statuses: Vec<&Value> = p.iter().map(|p| &p["status"]).collect();
    assert_eq!(statuses, [&json!("active"), &json!("active"), &json!("active"), &json!("inactive")]);
    assert!(p[0].get("previousAttributes").is_none(), "a joiner has nothing before: {}", p[0]);
    assert_eq!(p[1]["type"], "person.moved");
    assert_eq!(p[1]["previousAttributes"], json!({"department": "Sales", "location": null}));
    assert_eq!(p[2]["type"], "person.updated");
    assert_eq!(p[2]["previousAttributes"], json!({"displayName": "Ann"}));
    assert!(p[3].get("previousAttributes").is_none(), "{}", p[3]);
    let event: roster_core::LifecycleEvent = serde_json::from_value(p[1].clone()).unwrap();
    assert_eq!(event.status.as_deref(), Some("active"));
}
