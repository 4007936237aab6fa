//! What a listing may be narrowed to. Every field left `None` matches
//! everything; the fields given must all match. Adapters filter in their
//! query, before the page is cut, so a page is full whenever more match.
//!
//! A cursor is only meaningful with the filter it was issued under: the
//! caller passes the same filter with it.

use roster_core::lifecycle::{EventType, Status};
use roster_core::{ExternalId, FeedId, SourceName, Timestamp};

use super::feed::FeedStatus;

/// People by status, source, department, e-mail and last change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeopleFilter {
    pub status: Option<Status>,
    /// The source the person belongs to (`PersonRecord::source`).
    pub source: Option<SourceName>,
    /// Exact match on `department`.
    pub department: Option<String>,
    /// Any of the person's e-mail addresses, compared case-insensitively
    /// (ASCII: addresses' domains are, and HR exports vary in case).
    pub email: Option<String>,
    /// Changed (stored) at or after this time.
    pub updated_since: Option<Timestamp>,
    /// Part of the person's name: given, family, formatted or display
    /// name ("given family" too), compared case-insensitively in ASCII.
    /// Not indexed: a scan of the tenant's people, for people looking
    /// someone up, not for integrations.
    pub name: Option<String>,
}

/// Feeds by source and status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedFilter {
    pub source: Option<SourceName>,
    pub status: Option<FeedStatus>,
}

/// Audit entries by who and what (exact matches).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// `key_…`, `jwt:<client>`, `operator:<name>`, `console:<sub>`, `cli`.
    pub actor: Option<String>,
    /// E.g. `key.created`, `feed.approved`.
    pub action: Option<String>,
}

/// Lifecycle events by type, person and feed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub kind: Option<EventType>,
    /// The external id of the person the event is about.
    pub person: Option<ExternalId>,
    pub feed: Option<FeedId>,
}

/// An attribute people are looked up by ([`PeopleReader::people_by_key`](crate::PeopleReader::people_by_key)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonKey {
    /// Any of the person's e-mail addresses, compared in lower case.
    Email,
    EmployeeNumber,
}
