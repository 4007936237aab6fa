//! A tenant's dead letters: the list (what failed, why, how often) for
//! viewers; for admins one dead letter with its attempts and payload (the
//! record as the HR system sent it: audited), redrive one or all, and purge.
//! The queue scopes every lookup, redrive and purge by the tenant, as the
//! API's `/v1/dlq` does: another tenant's dead letter is a missing one.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use roster_core::ChangeMessage;
use roster_core::public_id::{Kind, render, strip};
use roster_queue::{DeadLetter, DeadLetterFilter, Redrive};
use serde::Deserialize;

use super::{audit, page};
use crate::errors::ConsoleError;
use crate::identity::{ConsoleUser, Grant, Role};
use crate::state::ConsoleState;

const PAGE: usize = 50;

/// A dead letter as a row: where it came from and why it failed, never
/// the record itself.
pub struct DeadLetterRow {
    pub id: String,
    pub feed: Option<String>,
    pub record: Option<u64>,
    pub reason: String,
    pub receive_count: u32,
    pub dead_lettered_at: String,
}

impl From<&DeadLetter> for DeadLetterRow {
    fn from(d: &DeadLetter) -> Self {
        let decoded = ChangeMessage::from_bytes(&d.body).ok();
        Self {
            id: render(Kind::DeadLetter, &d.id),
            feed: decoded.as_ref().map(|m| render(Kind::Feed, m.feed_id)),
            record: decoded.as_ref().map(|m| u64::from(m.index) + 1),
            reason: d.reason.clone(),
            receive_count: d.receive_count,
            dead_lettered_at: d.dead_lettered_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "dlq/list.html")]
struct List {
    user: ConsoleUser,
    tenant: String,
    letters: Vec<DeadLetterRow>,
    next: Option<String>,
    can_redrive: bool,
}

/// `GET /console/t/{tenant}/dlq?after`
pub async fn list(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Viewer)?.clone();
    let after = q.after.as_deref().filter(|a| !a.is_empty()).map(|a| strip(Kind::DeadLetter, a).to_owned());
    // One more than a page, to know whether there is a next one.
    let filter = DeadLetterFilter { tenant: Some(grant.tenant_id.to_string()), after, limit: PAGE + 1 };
    let mut found = state.queue().list_dead_letters(&filter).await?;
    let next = (found.len() > PAGE).then(|| {
        found.truncate(PAGE);
        render(Kind::DeadLetter, &found[PAGE - 1].id)
    });
    page(List {
        tenant: grant.tenant_name.clone(),
        letters: found.iter().map(DeadLetterRow::from).collect(),
        next,
        can_redrive: grant.role >= Role::Admin,
        user,
    })
}

#[derive(Deserialize)]
pub struct RedriveForm {
    #[serde(default)]
    csrf: Option<String>,
    /// Redrive-all's "I fixed the cause" box.
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /console/t/{tenant}/dlq/{id}/redrive`: back to the queue, with a
/// fresh receive count.
pub async fn redrive_one(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, id)): Path<(String, String)>,
    Form(form): Form<RedriveForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    let id = strip(Kind::DeadLetter, &id).to_owned();
    let redrive = Redrive::Ids { tenant: grant.tenant_id.to_string(), ids: vec![id.clone()] };
    if state.queue().redrive(&redrive).await? == 0 {
        // Absent, already redriven, or another tenant's.
        return Err(ConsoleError::NotFound("dead letter"));
    }
    audit(&state, &user, &grant, "dlq.redriven", Some(render(Kind::DeadLetter, &id))).await;
    Ok(back_to_list(&grant))
}

/// `POST /console/t/{tenant}/dlq/redrive`: every dead letter of the tenant.
pub async fn redrive_all(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
    Form(form): Form<RedriveForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    if form.confirm.as_deref() != Some("yes") {
        return Err(ConsoleError::BadRequest(
            "tick the box to confirm the cause is fixed, then send again".into(),
        ));
    }
    state.queue().redrive(&Redrive::All { tenant: Some(grant.tenant_id.to_string()) }).await?;
    audit(&state, &user, &grant, "dlq.redriven_all", None).await;
    Ok(back_to_list(&grant))
}

#[derive(Template)]
#[template(path = "dlq/show.html")]
struct Show {
    user: ConsoleUser,
    tenant: String,
    letter: DeadLetterRow,
    sent_at: String,
    first_received_at: String,
    last_received_at: String,
    payload: String,
}

/// `GET /console/t/{tenant}/dlq/{id}`: admins only, as the payload is the
/// person's record.
pub async fn show(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Admin)?.clone();
    let id = strip(Kind::DeadLetter, &id).to_owned();
    let dead = state
        .queue()
        .get_dead_letter(&grant.tenant_id.to_string(), &id)
        .await?
        .ok_or(ConsoleError::NotFound("dead letter"))?;
    audit(&state, &user, &grant, "dlq.read", Some(render(Kind::DeadLetter, &dead.id))).await;
    let payload = serde_json::to_string_pretty(&roster_engine::dead_letters::payload(&dead))
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let time = |t: Option<roster_core::Timestamp>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    page(Show {
        tenant: grant.tenant_name,
        sent_at: dead.sent_at.to_rfc3339(),
        first_received_at: time(dead.first_received_at),
        last_received_at: time(dead.last_received_at),
        letter: DeadLetterRow::from(&dead),
        payload,
        user,
    })
}

#[derive(Deserialize)]
pub struct PurgeForm {
    #[serde(default)]
    csrf: Option<String>,
    /// The "delete them for good" box.
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /console/t/{tenant}/dlq/purge`: every dead letter of the tenant,
/// gone for good (each counted as failed in its feed first).
pub async fn purge(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
    Form(form): Form<PurgeForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    if form.confirm.as_deref() != Some("yes") {
        return Err(ConsoleError::BadRequest(
            "tick the box to confirm the dead letters may be deleted for good, then send again".into(),
        ));
    }
    let purged =
        roster_engine::dead_letters::purge(state.queue(), state.directory(), grant.tenant_id, state.now())
            .await?;
    audit(&state, &user, &grant, "dlq.purged", Some(format!("all ({purged})"))).await;
    Ok(back_to_list(&grant))
}

fn back_to_list(grant: &Grant) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, grant.path("dlq"))]).into_response()
}
