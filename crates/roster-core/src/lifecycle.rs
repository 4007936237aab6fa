//! What a change means: the new state of a person and the lifecycle event it
//! causes (joiner, mover, leaver, rehire).

use serde::{Deserialize, Serialize};

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
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Joined => "person.joined",
            EventType::Moved => "person.moved",
            EventType::Updated => "person.updated",
            EventType::Left => "person.left",
            EventType::Rehired => "person.rehired",
        }
    }
}

/// A lifecycle event as the outbox stores it and sinks receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub changed_fields: Vec<String>,
    pub person: Person,
}

/// The outcome of applying a change to what the directory holds.
#[allow(clippy::large_enum_variant)] // short-lived; boxing buys nothing
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing to write: the stored person already says this, or a
    /// deactivation names nobody.
    Unchanged,
    /// Store `person`; `changed` lists the attributes that differ (all of
    /// them for a new person); `event` is what the product is told, if any.
    Write { person: Person, changed: Vec<&'static str>, event: Option<EventType> },
}

/// Decides what `change` does to `current` (the stored person, if any).
pub fn decide(current: Option<&Person>, change: &Change) -> Decision {
    let next = match (change, current) {
        (Change::Upsert { person }, _) => person.clone(),
        (Change::Deactivate { .. }, None) => return Decision::Unchanged,
        (Change::Deactivate { .. }, Some(cur)) => {
            let mut p = cur.clone();
            p.active = false;
            p
        }
    };
    let Some(cur) = current else {
        let event = next.active.then_some(EventType::Joined);
        let changed = Person::new(next.external_id.clone()).changed_fields(&next);
        return Decision::Write { person: next, changed, event };
    };
    let changed = cur.changed_fields(&next);
    if changed.is_empty() {
        return Decision::Unchanged;
    }
    let event = match (cur.active, next.active) {
        (true, false) => Some(EventType::Left),
        (false, true) => Some(EventType::Rehired),
        (true, true) if changed.iter().any(|f| MOVE_FIELDS.contains(f)) => Some(EventType::Moved),
        (true, true) => Some(EventType::Updated),
        (false, false) => None,
    };
    Decision::Write { person: next, changed, event }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ExternalId;

    fn person(dept: &str, active: bool) -> Person {
        let mut p = Person::new(ExternalId::parse("E1").unwrap());
        p.department = Some(dept.into());
        p.active = active;
        p
    }

    fn event_of(d: Decision) -> Option<EventType> {
        match d {
            Decision::Write { event, .. } => event,
            Decision::Unchanged => panic!("expected a write"),
        }
    }

    fn upsert(p: Person) -> Change {
        Change::Upsert { person: p }
    }

    #[test]
    fn joiner_mover_updater_leaver_rehire() {
        let cur = person("Sales", true);
        assert_eq!(event_of(decide(None, &upsert(cur.clone()))), Some(EventType::Joined));
        assert_eq!(event_of(decide(Some(&cur), &upsert(person("R&D", true)))), Some(EventType::Moved));
        let mut renamed = cur.clone();
        renamed.display_name = Some("New".into());
        assert_eq!(event_of(decide(Some(&cur), &upsert(renamed))), Some(EventType::Updated));
        let leave = Change::Deactivate { external_id: cur.external_id.clone() };
        assert_eq!(event_of(decide(Some(&cur), &leave)), Some(EventType::Left));
        let gone = person("Sales", false);
        assert_eq!(event_of(decide(Some(&gone), &upsert(cur.clone()))), Some(EventType::Rehired));
    }

    #[test]
    fn nothing_new_means_no_write() {
        let cur = person("Sales", true);
        assert_eq!(decide(Some(&cur), &upsert(cur.clone())), Decision::Unchanged);
        let gone = person("Sales", false);
        let leave = Change::Deactivate { external_id: gone.external_id.clone() };
        assert_eq!(decide(Some(&gone), &leave), Decision::Unchanged);
        assert_eq!(decide(None, &leave), Decision::Unchanged);
    }

    #[test]
    fn a_new_inactive_record_is_stored_without_an_event() {
        assert_eq!(event_of(decide(None, &upsert(person("Sales", false)))), None);
    }
}
