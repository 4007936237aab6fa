//! A tenant's people: search (name, e-mail, external id, department), and
//! a person's page — current attributes, status, manager chain, the
//! attribute-diff timeline of every version, lifecycle events. Reading
//! people is reading personal data: both pages are audited, as the API's
//! reads are.

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use roster_core::public_id::{Kind, render};
use roster_core::{ExternalId, Person};
use roster_store::{EventFilter, HistoryEntry, PeopleFilter, PersonRecord, StoreError};
use serde::Deserialize;
use serde_json::Value;

use super::{audit, page};
use crate::errors::ConsoleError;
use crate::identity::{ConsoleUser, Role};
use crate::state::ConsoleState;

const PAGE: usize = 50;
/// How far up a manager chain is followed (a cycle stops it earlier).
const CHAIN: usize = 12;
/// Lifecycle events shown on a person's page, newest first.
const EVENTS: usize = 200;

/// What the search box looks in.
const FIELDS: &[(&str, &str)] =
    &[("name", "name"), ("email", "e-mail"), ("id", "external id"), ("department", "department")];

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

/// A person as a row of the search results.
pub struct PersonRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub department: String,
    pub status: &'static str,
    pub source: String,
    pub updated_at: String,
}

impl From<&PersonRecord> for PersonRow {
    fn from(r: &PersonRecord) -> Self {
        Self {
            id: r.person.external_id.to_string(),
            name: name_of(&r.person),
            // The primary address, else the first, as a snapshot's leavers show it.
            email: r
                .person
                .emails
                .iter()
                .find(|e| e.primary)
                .or(r.person.emails.first())
                .map(|e| e.value.clone())
                .unwrap_or_default(),
            department: r.person.department.clone().unwrap_or_default(),
            status: r.status.as_str(),
            source: r.source.to_string(),
            updated_at: r.updated_at.to_rfc3339(),
        }
    }
}

/// How a person is called on the pages: the display name, else given and
/// family, else the formatted name, else nothing.
fn name_of(p: &Person) -> String {
    if let Some(d) = p.display_name.as_deref().filter(|d| !d.trim().is_empty()) {
        return d.to_owned();
    }
    let parts: Vec<&str> = [p.name.given_name.as_deref(), p.name.family_name.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .collect();
    if !parts.is_empty() {
        return parts.join(" ");
    }
    p.name.formatted.clone().unwrap_or_default()
}

#[derive(Template)]
#[template(path = "people/list.html")]
struct List {
    user: ConsoleUser,
    tenant: String,
    people: Vec<PersonRow>,
    q: String,
    by: String,
    status: String,
    fields: &'static [(&'static str, &'static str)],
    statuses: &'static [&'static str],
    next: Option<String>,
}

/// `GET /console/t/{tenant}/people?q&by&status&after`
pub async fn list(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
    Query(sq): Query<SearchQuery>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Viewer)?.clone();
    let q = sq.q.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let by = sq.by.as_deref().filter(|b| !b.is_empty()).unwrap_or("name").to_owned();
    if !FIELDS.iter().any(|(f, _)| *f == by) {
        return Err(ConsoleError::BadRequest(format!(
            "by: `{by}` is not one of name, email, id, department"
        )));
    }
    let status = sq.status.as_deref().filter(|s| !s.is_empty());
    let mut filter = PeopleFilter {
        status: status
            .map(|s| {
                roster_core::lifecycle::Status::parse(s).ok_or_else(|| {
                    ConsoleError::BadRequest(format!("status: `{s}` is not a person's status"))
                })
            })
            .transpose()?,
        ..Default::default()
    };
    let (people, next) = if by == "id" && !q.is_empty() {
        // An external id names one person: a lookup, not a scan.
        let found = match ExternalId::parse(&q) {
            Ok(id) => state.directory().get_person(grant.tenant_id, &id).await?,
            Err(_) => None,
        };
        let found = found.filter(|r| filter.status.is_none_or(|s| s == r.status));
        (found.iter().map(PersonRow::from).collect(), None)
    } else {
        if !q.is_empty() {
            let q = Some(q.clone());
            match by.as_str() {
                "email" => filter.email = q,
                "department" => filter.department = q,
                _ => filter.name = q,
            }
        }
        let after = sq.after.as_deref().filter(|a| !a.is_empty());
        let found = state.directory().find_people(grant.tenant_id, &filter, PAGE, after).await.map_err(
            |e| match e {
                StoreError::Invalid(_) => {
                    ConsoleError::BadRequest("that page of the list no longer exists".into())
                }
                other => other.into(),
            },
        )?;
        (found.items.iter().map(PersonRow::from).collect(), found.next)
    };
    audit(&state, &user, &grant, "people.listed", None).await;
    page(List {
        tenant: grant.tenant_name,
        people,
        q,
        by,
        status: status.unwrap_or_default().to_owned(),
        fields: FIELDS,
        statuses: &["pending", "active", "inactive"],
        next,
        user,
    })
}

/// One attribute of the person now.
pub struct Attribute {
    pub field: String,
    pub value: String,
}

/// A manager in the chain above the person.
pub struct ChainLink {
    pub id: String,
    pub name: String,
    /// Named by the person below but not (yet) in the directory.
    pub missing: bool,
}

/// One field's change in a version.
#[derive(Debug, PartialEq)]
pub struct FieldChange {
    pub field: String,
    /// `None`: the field had no value before.
    pub old: Option<String>,
    /// `None`: the change removed the field.
    pub new: Option<String>,
}

/// One version of the person, as the timeline shows it.
#[derive(Debug, PartialEq)]
pub struct VersionRow {
    pub version: u64,
    pub at: String,
    pub feed: String,
    pub event: Option<&'static str>,
    pub changes: Vec<FieldChange>,
}

pub struct EventRow {
    pub id: String,
    pub kind: &'static str,
    pub feed: String,
    pub occurred_at: String,
}

#[derive(Template)]
#[template(path = "people/show.html")]
struct Show {
    user: ConsoleUser,
    tenant: String,
    id: String,
    name: String,
    status: &'static str,
    source: String,
    version: u64,
    updated_at: String,
    manager_pending: bool,
    attributes: Vec<Attribute>,
    chain: Vec<ChainLink>,
    /// The chain loops back to someone already in it.
    chain_loops: bool,
    timeline: Vec<VersionRow>,
    events: Vec<EventRow>,
    events_capped: bool,
}

/// `GET /console/t/{tenant}/people/{external_id}`
pub async fn show(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, external_id)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Viewer)?.clone();
    let id = ExternalId::parse(&external_id).map_err(|_| ConsoleError::NotFound("person"))?;
    let dir = state.directory();
    let record = dir.get_person(grant.tenant_id, &id).await?.ok_or(ConsoleError::NotFound("person"))?;
    let history = dir.person_history(grant.tenant_id, &id).await?;
    let events = dir
        .find_events(
            grant.tenant_id,
            &EventFilter { person: Some(id.clone()), ..Default::default() },
            0,
            EVENTS,
        )
        .await?;
    let (chain, chain_loops) = manager_chain(&state, grant.tenant_id, &record.person).await?;
    audit(&state, &user, &grant, "person.read", Some(id.to_string())).await;
    page(Show {
        tenant: grant.tenant_name,
        id: id.to_string(),
        name: name_of(&record.person),
        status: record.status.as_str(),
        source: record.source.to_string(),
        version: record.version,
        updated_at: record.updated_at.to_rfc3339(),
        manager_pending: record.manager_pending,
        attributes: attributes(&record.person),
        chain,
        chain_loops,
        timeline: timeline(&history),
        events_capped: events.len() == EVENTS,
        events: events
            .iter()
            .rev()
            .map(|e| EventRow {
                id: render(Kind::Event, &e.id),
                kind: e.kind.as_str(),
                feed: render(Kind::Feed, e.feed_id),
                occurred_at: e.occurred_at.to_rfc3339(),
            })
            .collect(),
        user,
    })
}

/// The managers above `person`, nearest first, until the top, someone not
/// stored, a loop, or [`CHAIN`] levels.
async fn manager_chain(
    state: &ConsoleState,
    tenant: roster_core::TenantId,
    person: &Person,
) -> Result<(Vec<ChainLink>, bool), ConsoleError> {
    let mut chain = Vec::new();
    let mut seen = vec![person.external_id.clone()];
    let mut next = person.manager.clone();
    while let Some(id) = next.take() {
        if seen.contains(&id) {
            return Ok((chain, true));
        }
        if chain.len() == CHAIN {
            break;
        }
        let found = state.directory().get_person(tenant, &id).await?;
        chain.push(ChainLink {
            id: id.to_string(),
            name: found.as_ref().map(|r| name_of(&r.person)).unwrap_or_default(),
            missing: found.is_none(),
        });
        next = found.and_then(|r| r.person.manager);
        seen.push(id);
    }
    Ok((chain, false))
}

/// The person's attributes as field → value rows, in the order of the
/// record (the external id is the page's title).
fn attributes(p: &Person) -> Vec<Attribute> {
    let Ok(Value::Object(fields)) = serde_json::to_value(p) else { return Vec::new() };
    fields
        .into_iter()
        .filter(|(k, _)| k != "externalId")
        .flat_map(|(k, v)| match v {
            // A nested object (the name, custom attributes) reads better flat.
            Value::Object(inner) => inner
                .into_iter()
                .map(|(ik, iv)| Attribute { field: format!("{k}.{ik}"), value: shown(&iv) })
                .collect(),
            other => vec![Attribute { field: k, value: shown(&other) }],
        })
        .collect()
}

/// A value as text: strings as they are, anything else as compact JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every version, newest first, with each changed field's old and new
/// value. A version's `changes` hold the new values only: the old ones are
/// what the earlier versions last set.
pub fn timeline(history: &[HistoryEntry]) -> Vec<VersionRow> {
    let mut current: BTreeMap<String, Value> = BTreeMap::new();
    let mut rows = Vec::with_capacity(history.len());
    for h in history {
        let changes = h
            .changed_fields
            .iter()
            .map(|field| {
                let new = h.changes.get(field).filter(|v| !v.is_null()).cloned();
                let old = match &new {
                    Some(v) => current.insert(field.clone(), v.clone()),
                    None => current.remove(field),
                };
                FieldChange {
                    field: field.clone(),
                    old: old.as_ref().map(shown),
                    new: new.as_ref().map(shown),
                }
            })
            .collect();
        rows.push(VersionRow {
            version: h.version,
            at: h.at.to_rfc3339(),
            feed: render(Kind::Feed, h.feed_id),
            event: h.event.map(|e| e.as_str()),
            changes,
        });
    }
    rows.reverse();
    rows
}

#[cfg(test)]
mod tests {
    use roster_core::lifecycle::EventType;
    use roster_core::{FeedId, Timestamp};
    use serde_json::json;

    use super::*;

    fn entry(version: u64, fields: &[&str], changes: Value, event: Option<EventType>) -> HistoryEntry {
        HistoryEntry {
            version,
            feed_id: FeedId::new(),
            message_id: format!("m{version}"),
            event,
            changed_fields: fields.iter().map(|f| f.to_string()).collect(),
            changes,
            at: Timestamp::from_millis(1_700_000_000_000 + version as i64),
        }
    }

    #[test]
    fn the_timeline_shows_each_change_old_to_new_newest_first() {
        let history = [
            entry(
                1,
                &["department", "title"],
                json!({"department": "Sales", "title": "Rep"}),
                Some(EventType::Joined),
            ),
            entry(2, &["department"], json!({"department": "Legal"}), Some(EventType::Moved)),
            entry(3, &["title", "location"], json!({"title": null, "location": "Oslo"}), None),
        ];
        let rows = timeline(&history);
        assert_eq!(rows.iter().map(|r| r.version).collect::<Vec<_>>(), [3, 2, 1]);
        let change = |field: &str, old: Option<&str>, new: Option<&str>| FieldChange {
            field: field.into(),
            old: old.map(Into::into),
            new: new.map(Into::into),
        };
        assert_eq!(
            rows[2].changes,
            [change("department", None, Some("Sales")), change("title", None, Some("Rep"))]
        );
        assert_eq!(rows[1].changes, [change("department", Some("Sales"), Some("Legal"))]);
        assert_eq!(
            rows[0].changes,
            [change("title", Some("Rep"), None), change("location", None, Some("Oslo"))]
        );
        assert_eq!(rows[2].event, Some("person.joined"));
    }
}
