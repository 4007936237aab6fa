//! The audit trail of administrative actions: who (the credential), which
//! tenant, what, on what, when, and the request id that ties it to the logs.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use roster_core::Timestamp;
use roster_store::{NewAuditEntry, platform_log};

use crate::auth::Principal;
use crate::state::AppState;

/// The request's `x-request-id` (the server's, set by the router's
/// request-id layer) and the id the client sent, if any.
#[derive(Debug, Clone, Default)]
pub struct RequestId(pub Option<String>, pub Option<String>);

impl RequestId {
    pub fn of(parts: &Parts) -> Self {
        let id = parts.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let client = parts.extensions.get::<crate::request_id::ClientRequestId>().map(|c| c.0.clone());
        RequestId(id, client)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}

/// How a credential is named in the log: an API key by its public id
/// (`key_…`), other kinds by the principal's own name (`jwt:<client id>`).
pub fn actor(principal: &Principal) -> String {
    if principal.key_id.contains(':') {
        principal.key_id.clone()
    } else {
        roster_store::key_actor(&principal.key_id)
    }
}

/// Appends an entry for an action that succeeded. The action is done
/// already, so a failure to record it is logged loudly rather than turned
/// into an error the caller would retry.
pub async fn record(
    state: &AppState,
    principal: &Principal,
    request_id: &RequestId,
    action: &'static str,
    target: Option<String>,
) {
    let entry = NewAuditEntry {
        at: state.clock.now(),
        tenant_id: principal.tenant_id,
        actor: actor(principal),
        action,
        target,
        request_id: request_id.0.clone(),
        client_request_id: request_id.1.clone(),
    };
    tracing::info!(tenant = %entry.tenant_id, actor = %entry.actor, action, target = entry.target.as_deref().unwrap_or("-"), "audit");
    if let Err(e) = state.directory.append_audit(entry).await {
        tracing::error!(action, error = %e, "could not append to the audit log");
    }
}

/// How personal data was read, for [`record_read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// One record (a person, a dead letter's payload): audited each time.
    One,
    /// A page of a listing: audited once per credential per hour, so that
    /// who read the roster shows without a row per page of a sync client.
    Listing,
}

/// The hour a listing's read was last audited, per credential and action.
#[derive(Debug, Default)]
pub struct ReadAudits {
    last: Mutex<HashMap<(String, &'static str), Timestamp>>,
}

const LISTING_AUDIT_EVERY_MS: i64 = 3_600_000;
/// Past this many credentials, entries older than the hour are dropped.
const READ_AUDITS_KEPT: usize = 10_000;

impl ReadAudits {
    /// Whether `actor`'s `action` at `now` is the first of its hour.
    fn due(&self, actor: &str, action: &'static str, now: Timestamp) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = |t: &Timestamp| now.millis() - t.millis() < LISTING_AUDIT_EVERY_MS;
        if last.get(&(actor.to_owned(), action)).is_some_and(fresh) {
            return false;
        }
        if last.len() >= READ_AUDITS_KEPT {
            last.retain(|_, t| fresh(t));
        }
        last.insert((actor.to_owned(), action), now);
        true
    }
}

/// Audits a read of personal data (`people.listed`, `person.read`,
/// `events.listed`, `dlq.read`, ...): who read what, never the data.
pub async fn record_read(
    state: &AppState,
    principal: &Principal,
    request_id: &RequestId,
    action: &'static str,
    target: Option<String>,
    read: Read,
) {
    if read == Read::Listing && !state.read_audits.due(&actor(principal), action, state.clock.now()) {
        return;
    }
    record(state, principal, request_id, action, target).await;
}

/// Audits a refused authentication in the platform log (`auth.failed`):
/// the client's address and the rule that refused it, never the
/// credential. Called only while the address is within its failure budget,
/// so a flood of bad keys writes a bounded number of entries.
pub async fn record_auth_failure(
    state: &AppState,
    address: std::net::IpAddr,
    reason: &'static str,
    request_id: RequestId,
) {
    let entry = NewAuditEntry {
        at: state.clock.now(),
        tenant_id: platform_log(),
        actor: format!("address:{address}"),
        action: "auth.failed",
        target: Some(reason.to_owned()),
        request_id: request_id.0,
        client_request_id: request_id.1,
    };
    if let Err(e) = state.directory.append_audit(entry).await {
        tracing::error!(action = "auth.failed", error = %e, "could not append to the audit log");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_audited_once_an_hour_per_credential() {
        let audits = ReadAudits::default();
        let t = Timestamp(1_700_000_000_000);
        assert!(audits.due("key:a", "people.listed", t));
        assert!(!audits.due("key:a", "people.listed", t.plus_millis(59 * 60_000)));
        assert!(audits.due("key:b", "people.listed", t), "another credential");
        assert!(audits.due("key:a", "events.listed", t), "another listing");
        assert!(audits.due("key:a", "people.listed", t.plus_millis(LISTING_AUDIT_EVERY_MS)));
    }
}
