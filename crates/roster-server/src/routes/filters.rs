//! Parsing the filters of list queries: a bad value is a `400` naming the
//! parameter and saying what it takes (never echoing the value: it may be
//! an e-mail address).

use roster_core::lifecycle::{EventType, Status};
use roster_core::{ExternalId, FeedId, SourceName, Timestamp};
use roster_store::FeedStatus;

use crate::problem::ApiError;

/// Longest free-text filter value (an e-mail address is at most 320).
const MAX_TEXT: usize = 320;

pub fn person_status(s: &str) -> Result<Status, ApiError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| ApiError::invalid("status", "`status` must be one of pending, active, inactive"))
}

pub fn feed_status(s: &str) -> Result<FeedStatus, ApiError> {
    FeedStatus::parse(s).ok_or_else(|| {
        ApiError::invalid(
            "status",
            "`status` must be one of receiving, accepted, processing, completed, completed_with_errors, \
             failed, halted, rejected, superseded",
        )
    })
}

pub fn source(s: &str) -> Result<SourceName, ApiError> {
    SourceName::parse(s).map_err(|e| ApiError::invalid("source", format!("`source`: {e}")))
}

pub fn text(param: &'static str, s: &str) -> Result<String, ApiError> {
    if s.is_empty() || s.len() > MAX_TEXT {
        return Err(ApiError::invalid(param, format!("`{param}` must have 1 to {MAX_TEXT} bytes")));
    }
    Ok(s.to_owned())
}

pub fn time(param: &'static str, s: &str) -> Result<Timestamp, ApiError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        ApiError::invalid(param, format!("`{param}` must be an RFC 3339 time, e.g. 2026-03-01T00:00:00Z"))
    })
}

pub fn event_type(s: &str) -> Result<EventType, ApiError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| ApiError::invalid("type", "`type` must be an event type, e.g. person.joined"))
}

pub fn external_id(s: &str) -> Result<ExternalId, ApiError> {
    ExternalId::parse(s).map_err(|_| ApiError::invalid("person", "`person` must be an external id"))
}

pub fn feed(s: &str) -> Result<FeedId, ApiError> {
    s.parse().map_err(|_| ApiError::invalid("feed", "`feed` must be a feed id (`feed_...`)"))
}
