//! One module per page area, each with its templates in the folder of the
//! same name under `templates/`.

pub mod audit_log;
pub mod dlq;
pub mod endpoints;
pub mod feeds;
pub mod keys;
pub mod multipart;
pub mod overview;
pub mod people;
pub mod platform;
pub mod session;
pub mod sources;
pub mod upload;

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use roster_core::public_id::{Kind, render};
use roster_store::{Feed, NewAuditEntry};

use crate::errors::ConsoleError;
use crate::identity::{ConsoleUser, Grant, Role};
use crate::state::ConsoleState;

/// A rendered page.
pub fn page(t: impl Template) -> Result<Response, ConsoleError> {
    Ok(Html(t.render()?).into_response())
}

/// A state-changing form's checks, in this order: the session's CSRF token
/// (before anything else is looked at), then the person's role in the
/// tenant. The grant, for the action.
pub fn form_grant(
    user: &ConsoleUser,
    tenant: &str,
    csrf: Option<&str>,
    needed: Role,
) -> Result<Grant, ConsoleError> {
    crate::csrf::check_token(user, csrf)?;
    Ok(user.grant(tenant, needed)?.clone())
}

/// A feed as a row of a table.
pub struct FeedRow {
    pub id: String,
    pub source: String,
    pub mode: &'static str,
    pub status: &'static str,
    pub received: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub applied: u64,
    pub failed: u64,
    pub leavers: u64,
    pub created_at: String,
}

impl From<&Feed> for FeedRow {
    fn from(f: &Feed) -> Self {
        Self {
            id: render(Kind::Feed, f.id),
            source: f.source.to_string(),
            mode: f.mode.as_str(),
            status: f.status.as_str(),
            received: f.counts.received,
            accepted: f.counts.accepted,
            rejected: f.counts.rejected,
            applied: f.counts.applied,
            failed: f.counts.failed,
            leavers: f.counts.leavers,
            created_at: f.created_at.to_rfc3339(),
        }
    }
}

/// Appends a console action to the tenant's audit log as `console:<sub>`.
/// A failure is logged, not shown: the action itself happened.
pub async fn audit(
    state: &ConsoleState,
    user: &ConsoleUser,
    grant: &Grant,
    action: &'static str,
    target: Option<String>,
) {
    let entry = NewAuditEntry {
        at: state.now(),
        tenant_id: grant.tenant_id,
        actor: user.actor(),
        action,
        target,
        request_id: None,
        client_request_id: None,
    };
    if let Err(e) = state.directory().append_audit(entry).await {
        tracing::error!(error = %e, action, "could not append a console action to the audit log");
    }
}
