//! What a change means: the new state of a person and the lifecycle event it
//! causes (joiner, mover, leaver, rehire), including changes dated in the
//! future: a hire date ahead keeps a person `pending` until that day, a
//! termination date ahead keeps them active until that day.

use serde::{Deserialize, Serialize};
use time::Date;

use crate::change::Change;
use crate::person::Person;

/// Attributes whose change makes a person a *mover* rather than merely updated.
pub const MOVE_FIELDS: [&str; 4] = ["department", "manager", "title", "location"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "person.joined")]
    Joined,
    #[serde(rename = "person.moved")]
    Moved,
    #[serde(rename = "person.updated")]
    Updated,
    #[serde(rename = "person.left")]
    Left,
    #[serde(rename = "person.rehired")]
    Rehired,
    /// A feed whose every record was applied (or found unchanged or stale);
    /// a full snapshot's leavers deactivated. Once per feed.
    #[serde(rename = "feed.completed")]
    FeedCompleted,
    /// Done, but some records were rejected at ingest or failed to apply.
    #[serde(rename = "feed.completed_with_errors")]
    FeedCompletedWithErrors,
    /// A full snapshot over its source's deletion threshold: nobody was
    /// deactivated; an operator approves or rejects it.
    #[serde(rename = "feed.halted")]
    FeedHalted,
    /// Ingest could not queue it, or its upload was cut off.
    #[serde(rename = "feed.failed")]
    FeedFailed,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Joined => "person.joined",
            EventType::Moved => "person.moved",
            EventType::Updated => "person.updated",
            EventType::Left => "person.left",
            EventType::Rehired => "person.rehired",
            EventType::FeedCompleted => "feed.completed",
            EventType::FeedCompletedWithErrors => "feed.completed_with_errors",
            EventType::FeedHalted => "feed.halted",
            EventType::FeedFailed => "feed.failed",
        }
    }

    /// Whether the event is about a feed rather than a person (its payload
    /// is then `roster_store`'s feed event, not a [`LifecycleEvent`]).
    pub fn is_feed(self) -> bool {
        matches!(
            self,
            EventType::FeedCompleted
                | EventType::FeedCompletedWithErrors
                | EventType::FeedHalted
                | EventType::FeedFailed
        )
    }
}

/// Where a person stands, as the product has been told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Hired with a start date still ahead: stored, but not yet joined.
    Pending,
    Active,
    /// Left (or never started): `active` is false.
    Inactive,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Status::Pending, Status::Active, Status::Inactive].into_iter().find(|v| v.as_str() == s)
    }
}

/// The termination date that applies: one on or after the hire date (a
/// rehire's new hire date supersedes an old termination the HR system kept).
fn termination(person: &Person) -> Option<Date> {
    person.termination_date.filter(|t| person.hire_date.is_none_or(|h| h <= *t))
}

/// The status a person's attributes give on `today` (dates are calendar
/// days in UTC). Access ends on the termination date itself.
pub fn status_on(person: &Person, today: Date) -> Status {
    if !person.active || termination(person).is_some_and(|t| t <= today) {
        Status::Inactive
    } else if person.hire_date.is_some_and(|h| h > today) {
        Status::Pending
    } else {
        Status::Active
    }
}

/// The day a stored person's status changes by itself, if any: a pending
/// person's hire date, an active person's termination date.
pub fn due_on(person: &Person, status: Status) -> Option<Date> {
    match status {
        Status::Pending => person.hire_date,
        Status::Active => termination(person),
        Status::Inactive => None,
    }
}

/// A person as the directory holds them.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    pub person: &'a Person,
    pub status: Status,
    /// Whether they were ever joined before (asked of a person not active
    /// now: their start is then a rehire, not a join).
    pub was_active: bool,
}

/// A lifecycle event as the outbox stores it and sinks receive it (the
/// `payload` of an outbox event). Every directory adapter writes this shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The person's status after the event, as [`public_status`] names it
    /// (`active` or `inactive`). Absent from events stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    pub changed_fields: Vec<String>,
    /// `person.moved` and `person.updated` only: the value each changed
    /// attribute had before (`null` where it was unset), in the person's
    /// JSON spelling; nothing else of the old record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_attributes: Option<serde_json::Map<String, serde_json::Value>>,
    pub person: Person,
}

/// The status an event tells: `active`, or `inactive` (a leaver). A person
/// with an event is never pending (a pending person has none yet).
pub fn public_status(status: Status) -> &'static str {
    match status {
        Status::Active | Status::Pending => "active",
        Status::Inactive => "inactive",
    }
}

/// The outcome of applying a change to what the directory holds.
#[allow(clippy::large_enum_variant)] // short-lived; boxing buys nothing
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing to write: the stored person already says this, or a
    /// deactivation names nobody.
    Unchanged,
    /// Store `person` with `status`; `changed` lists the attributes that
    /// differ (all of them for a new person); `event` is what the product is
    /// told, if any.
    Write { person: Person, status: Status, changed: Vec<&'static str>, event: Option<EventType> },
}

/// Decides what `change` does, on `today`, to `current` (the stored person,
/// if any).
pub fn decide(current: Option<Stored<'_>>, change: &Change, today: Date) -> Decision {
    let mut next = match (change, current) {
        (Change::Upsert { person }, _) => person.clone(),
        (Change::Deactivate { .. }, None) => return Decision::Unchanged,
        (Change::Deactivate { .. }, Some(cur)) => {
            let mut p = cur.person.clone();
            p.active = false;
            // `employmentStatus` must not go on saying someone deactivated
            // is active: it becomes `inactive` unless it names a way of
            // being inactive already (`terminated`, `retired`, ...).
            if p.employment_status.as_deref().is_some_and(|s| !crate::validate::is_inactive_status(s)) {
                p.employment_status = Some("inactive".into());
            }
            p
        }
    };
    let status = match (current.map(|c| c.status), status_on(&next, today)) {
        // Once joined, a hire date moved ahead is a correction, not a leave.
        (Some(Status::Active), Status::Pending) => Status::Active,
        (_, s) => s,
    };
    // The stored `active` says what the person is now: false from the
    // termination date on, even if the HR system still sends true.
    if status == Status::Inactive {
        next.active = false;
    }
    let Some(cur) = current else {
        let event = (status == Status::Active).then_some(EventType::Joined);
        let changed = Person::new(next.external_id.clone()).changed_fields(&next);
        return Decision::Write { person: next, status, changed, event };
    };
    let changed = cur.person.changed_fields(&next);
    if changed.is_empty() && status == cur.status {
        return Decision::Unchanged;
    }
    let event = match (cur.status, status) {
        (Status::Pending, Status::Active) if cur.was_active => Some(EventType::Rehired),
        (Status::Pending, Status::Active) => Some(EventType::Joined),
        // Stored inactive without ever having joined (a pre-hire record, a
        // withdrawn offer): their start is their first join.
        (Status::Inactive, Status::Active) if cur.was_active => Some(EventType::Rehired),
        (Status::Inactive, Status::Active) => Some(EventType::Joined),
        (Status::Active, Status::Inactive) => Some(EventType::Left),
        (Status::Active, Status::Active) if changed.iter().any(|f| MOVE_FIELDS.contains(f)) => {
            Some(EventType::Moved)
        }
        (Status::Active, Status::Active) => Some(EventType::Updated),
        // Not (or no longer) joined: the product has nothing to hear yet.
        _ => None,
    };
    Decision::Write { person: next, status, changed, event }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::ids::ExternalId;

    const TODAY: Date = date!(2026 - 11 - 25);

    fn person(dept: &str, active: bool) -> Person {
        let mut p = Person::new(ExternalId::parse("E1").unwrap());
        p.department = Some(dept.into());
        p.active = active;
        p
    }

    fn stored(p: &Person, status: Status) -> Option<Stored<'_>> {
        Some(Stored { person: p, status, was_active: false })
    }

    fn status_of(p: &Person) -> Status {
        if p.active { Status::Active } else { Status::Inactive }
    }

    fn write_of(d: Decision) -> (Person, Status, Option<EventType>) {
        match d {
            Decision::Write { person, status, event, .. } => (person, status, event),
            Decision::Unchanged => panic!("expected a write"),
        }
    }

    fn event_of(d: Decision) -> Option<EventType> {
        write_of(d).2
    }

    fn upsert(p: Person) -> Change {
        Change::Upsert { person: p }
    }

    fn on(cur: &Person, change: &Change) -> Decision {
        decide(stored(cur, status_of(cur)), change, TODAY)
    }

    #[test]
    fn a_deactivation_leaves_status_and_active_in_agreement() {
        let mut cur = person("Sales", true);
        cur.employment_status = Some("Active".into());
        let leave = Change::Deactivate { external_id: cur.external_id.clone() };
        let (left, status, event) = write_of(on(&cur, &leave));
        assert_eq!((left.active, status, event), (false, Status::Inactive, Some(EventType::Left)));
        assert_eq!(left.employment_status.as_deref(), Some("inactive"));
        // One that already names a way of being inactive keeps it.
        cur.employment_status = Some("retired".into());
        assert_eq!(write_of(on(&cur, &leave)).0.employment_status.as_deref(), Some("retired"));
        // None stays none.
        cur.employment_status = None;
        assert_eq!(write_of(on(&cur, &leave)).0.employment_status, None);
    }

    #[test]
    fn joiner_mover_updater_leaver_rehire() {
        let cur = person("Sales", true);
        assert_eq!(event_of(decide(None, &upsert(cur.clone()), TODAY)), Some(EventType::Joined));
        assert_eq!(event_of(on(&cur, &upsert(person("R&D", true)))), Some(EventType::Moved));
        let mut renamed = cur.clone();
        renamed.display_name = Some("New".into());
        assert_eq!(event_of(on(&cur, &upsert(renamed))), Some(EventType::Updated));
        let leave = Change::Deactivate { external_id: cur.external_id.clone() };
        assert_eq!(event_of(on(&cur, &leave)), Some(EventType::Left));
        let gone = person("Sales", false);
        let left = Some(Stored { person: &gone, status: Status::Inactive, was_active: true });
        assert_eq!(event_of(decide(left, &upsert(cur.clone()), TODAY)), Some(EventType::Rehired));
    }

    #[test]
    fn someone_stored_inactive_who_never_joined_joins_on_activation() {
        // A pre-hire record sent inactive, or a withdrawn offer hired after all.
        let never = person("Sales", false);
        assert_eq!(event_of(on(&never, &upsert(person("Sales", true)))), Some(EventType::Joined));
    }

    #[test]
    fn a_manager_change_is_a_move() {
        let mut cur = person("Sales", true);
        cur.manager = Some(ExternalId::parse("M1").unwrap());
        let mut next = cur.clone();
        next.manager = Some(ExternalId::parse("M2").unwrap());
        let Decision::Write { changed, event, .. } = on(&cur, &upsert(next)) else {
            panic!("expected a write")
        };
        assert_eq!(changed, ["manager"]);
        assert_eq!(event, Some(EventType::Moved));
        // Getting a first manager, or losing one, is a move too.
        let mut first = person("Sales", true);
        first.manager = Some(ExternalId::parse("M1").unwrap());
        assert_eq!(event_of(on(&person("Sales", true), &upsert(first))), Some(EventType::Moved));
        assert_eq!(event_of(on(&cur, &upsert(person("Sales", true)))), Some(EventType::Moved));
        // A pending hire's new manager is not announced.
        let mut pending = cur.clone();
        pending.hire_date = Some(date!(2027 - 01 - 04));
        let mut later = pending.clone();
        later.manager = Some(ExternalId::parse("M2").unwrap());
        let d = decide(stored(&pending, Status::Pending), &upsert(later), TODAY);
        assert_eq!(event_of(d), None);
    }

    #[test]
    fn nothing_new_means_no_write() {
        let cur = person("Sales", true);
        assert_eq!(on(&cur, &upsert(cur.clone())), Decision::Unchanged);
        let gone = person("Sales", false);
        let leave = Change::Deactivate { external_id: gone.external_id.clone() };
        assert_eq!(on(&gone, &leave), Decision::Unchanged);
        assert_eq!(decide(None, &leave, TODAY), Decision::Unchanged);
    }

    #[test]
    fn a_new_inactive_record_is_stored_without_an_event() {
        let (_, status, event) = write_of(decide(None, &upsert(person("Sales", false)), TODAY));
        assert_eq!((status, event), (Status::Inactive, None));
    }

    #[test]
    fn a_future_hire_is_pending_until_its_day_then_joins() {
        let mut hire = person("Sales", true);
        hire.hire_date = Some(date!(2026 - 12 - 01));
        let (stored_p, status, event) = write_of(decide(None, &upsert(hire.clone()), TODAY));
        assert_eq!((status, event), (Status::Pending, None));
        assert_eq!(due_on(&stored_p, status), Some(date!(2026 - 12 - 01)));

        // An update before the start: recorded, nothing told.
        let mut moved = hire.clone();
        moved.title = Some("Lead".into());
        let pending = stored(&hire, Status::Pending);
        let (_, status, event) = write_of(decide(pending, &upsert(moved.clone()), TODAY));
        assert_eq!((status, event), (Status::Pending, None));

        // The day comes: the same record now joins.
        let start = date!(2026 - 12 - 01);
        let (_, status, event) = write_of(decide(pending, &upsert(hire.clone()), start));
        assert_eq!((status, event), (Status::Active, Some(EventType::Joined)));

        // A pending rehire starts as a rehire.
        let back = Some(Stored { person: &hire, status: Status::Pending, was_active: true });
        assert_eq!(event_of(decide(back, &upsert(hire.clone()), start)), Some(EventType::Rehired));

        // An offer withdrawn before the start: no event at all.
        let leave = Change::Deactivate { external_id: hire.external_id.clone() };
        let (_, status, event) = write_of(decide(pending, &leave, TODAY));
        assert_eq!((status, event), (Status::Inactive, None));
    }

    #[test]
    fn a_future_termination_leaves_on_its_day() {
        let cur = person("Sales", true);
        let mut notice = cur.clone();
        notice.termination_date = Some(date!(2026 - 12 - 31));
        let (p, status, event) = write_of(on(&cur, &upsert(notice.clone())));
        assert_eq!((status, event), (Status::Active, Some(EventType::Updated)));
        assert_eq!(due_on(&p, status), Some(date!(2026 - 12 - 31)));

        let serving = stored(&notice, Status::Active);
        let (p, status, event) = write_of(decide(serving, &upsert(notice.clone()), date!(2026 - 12 - 31)));
        assert_eq!((status, event), (Status::Inactive, Some(EventType::Left)));
        assert!(!p.active, "the stored person is inactive from the termination date");

        // The HR system keeps sending active=true with the past date: nothing new.
        assert_eq!(
            decide(
                Some(Stored { person: &p, status, was_active: true }),
                &upsert(notice),
                date!(2027 - 01 - 05)
            ),
            Decision::Unchanged
        );
    }

    #[test]
    fn a_rehire_after_an_old_termination_is_active() {
        let mut p = person("Sales", true);
        p.termination_date = Some(date!(2025 - 03 - 31));
        p.hire_date = Some(date!(2026 - 01 - 05));
        assert_eq!(status_on(&p, TODAY), Status::Active);
        p.hire_date = Some(date!(2020 - 01 - 05));
        assert_eq!(status_on(&p, TODAY), Status::Inactive);
    }

    #[test]
    fn a_joined_person_whose_hire_date_moves_ahead_stays_active() {
        let cur = person("Sales", true);
        let mut corrected = cur.clone();
        corrected.hire_date = Some(date!(2027 - 01 - 01));
        let (_, status, event) = write_of(on(&cur, &upsert(corrected)));
        assert_eq!((status, event), (Status::Active, Some(EventType::Updated)));
    }
}
