//! A tenant's audit log, for its admins: newest first, filtered by who
//! (`console:<sub>`, `key_…`, `jwt:<client>`, `operator:<name>`, `cli`) and
//! what (`feed.approved`, `key.created`, …). Entries hold ids, never
//! personal data; reading the log is itself audited, as the API's is.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use roster_core::TenantId;
use roster_store::{AuditEntry, AuditFilter};
use serde::Deserialize;

use super::{audit, page};
use crate::errors::ConsoleError;
use crate::identity::{ConsoleUser, Role};
use crate::state::ConsoleState;

const PAGE: usize = 100;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    action: Option<String>,
    /// The `seq` the previous page ended at.
    #[serde(default)]
    before: Option<String>,
}

pub struct EntryRow {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub request_id: String,
}

impl From<&AuditEntry> for EntryRow {
    fn from(e: &AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at: e.at.to_rfc3339(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            target: e.target.clone().unwrap_or_default(),
            request_id: e.request_id.clone().unwrap_or_default(),
        }
    }
}

/// One page of a log as `audit/entries.html` shows it.
pub struct LogPage {
    pub entries: Vec<EntryRow>,
    pub actor: String,
    pub action: String,
    /// The `seq` the next (older) page starts below.
    pub next: Option<u64>,
}

/// A page of the log `log` (a tenant's, or the platform's), newest first,
/// by the query's filters.
pub async fn read(state: &ConsoleState, log: TenantId, q: &AuditQuery) -> Result<LogPage, ConsoleError> {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let filter = AuditFilter { actor: text(&q.actor), action: text(&q.action) };
    let before = text(&q.before)
        .map(|b| {
            b.parse::<u64>()
                .map_err(|_| ConsoleError::BadRequest("before: the position of an entry, a number".into()))
        })
        .transpose()?;
    let entries = state.directory().recent_audit(log, &filter, before, PAGE).await?;
    Ok(LogPage {
        next: (entries.len() == PAGE).then(|| entries.last().map(|e| e.seq)).flatten(),
        entries: entries.iter().map(EntryRow::from).collect(),
        actor: filter.actor.unwrap_or_default(),
        action: filter.action.unwrap_or_default(),
    })
}

#[derive(Template)]
#[template(path = "audit/list.html")]
struct List {
    user: ConsoleUser,
    tenant: String,
    log: LogPage,
    log_url: String,
}

/// `GET /console/t/{tenant}/audit?actor&action&before`
pub async fn list(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Admin)?.clone();
    let log = read(&state, grant.tenant_id, &q).await?;
    audit(&state, &user, &grant, "audit.read", None).await;
    page(List { log_url: grant.path("audit"), tenant: grant.tenant_name, log, user })
}
