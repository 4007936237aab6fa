//! A tenant's webhook endpoints, for its admins: the list, add one (its
//! signing secret shown once), and an endpoint's page — its dead letters
//! and latest delivery attempts, rotate the secret (the old one keeps
//! signing for a day), redrive its dead letters, disable it. URLs are
//! checked by the API's own rules (`roster_server::endpoint_url`); the store
//! scopes every lookup by the tenant.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use roster_core::lifecycle::EventType;
use roster_core::public_id::{Kind, render, strip};
use roster_engine::credentials::generate_endpoint_secret;
use roster_store::{DeliveryAttempt, Endpoint, EventDeadLetter, NewEndpoint, StoreError};
use serde::Deserialize;

use super::{audit, page};
use crate::errors::ConsoleError;
use crate::identity::{ConsoleUser, Grant, Role};
use crate::state::ConsoleState;

/// The event types a person can pick (what `eventTypes` takes).
const TYPES: &[EventType] =
    &[EventType::Joined, EventType::Moved, EventType::Updated, EventType::Left, EventType::Rehired];
/// How long a rotated-out secret keeps signing beside the new one.
const GRACE_MS: i64 = 24 * 3_600_000;
const MAX_DESCRIPTION: usize = 500;
const SHOWN: usize = 50;

pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub description: String,
    pub types: String,
    pub active: bool,
    pub created_at: String,
    pub cursor: u64,
}

impl From<&Endpoint> for EndpointRow {
    fn from(e: &Endpoint) -> Self {
        Self {
            id: render(Kind::Endpoint, &e.id),
            url: e.url.clone(),
            description: e.description.clone().unwrap_or_default(),
            types: match &e.event_types {
                None => "every event".into(),
                Some(t) => t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
            },
            active: e.disabled_at.is_none(),
            created_at: e.created_at.to_rfc3339(),
            cursor: e.cursor,
        }
    }
}

#[derive(Template)]
#[template(path = "endpoints/list.html")]
struct List {
    user: ConsoleUser,
    tenant: String,
    endpoints: Vec<EndpointRow>,
    types: Vec<&'static str>,
    /// On the answer to an add: the endpoint and its secret, once.
    created: Option<(EndpointRow, String)>,
}

async fn list_page(
    state: &ConsoleState,
    user: ConsoleUser,
    grant: Grant,
    created: Option<(EndpointRow, String)>,
) -> Result<Response, ConsoleError> {
    let endpoints = state.directory().list_endpoints(grant.tenant_id).await?;
    page(List {
        tenant: grant.tenant_name,
        endpoints: endpoints.iter().map(EndpointRow::from).collect(),
        types: TYPES.iter().map(|t| t.as_str()).collect(),
        created,
        user,
    })
}

/// `GET /console/t/{tenant}/endpoints`
pub async fn list(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Admin)?.clone();
    list_page(&state, user, grant, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    /// "only these types"; unset: every event.
    #[serde(default)]
    only: Option<String>,
    #[serde(rename = "person.joined", default)]
    joined: Option<String>,
    #[serde(rename = "person.moved", default)]
    moved: Option<String>,
    #[serde(rename = "person.updated", default)]
    updated: Option<String>,
    #[serde(rename = "person.left", default)]
    left: Option<String>,
    #[serde(rename = "person.rehired", default)]
    rehired: Option<String>,
}

/// `POST /console/t/{tenant}/endpoints`: answers with the list and the
/// new endpoint's secret, shown this once.
pub async fn create(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
    Form(form): Form<CreateForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    let policy = state.endpoint_policy();
    let url = roster_server::endpoint_url(&form.url, policy.allow_http, policy.allow_private)
        .map_err(|why| ConsoleError::BadRequest(format!("URL: {why}")))?;
    let description = Some(form.description.trim().to_owned()).filter(|d| !d.is_empty());
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ConsoleError::BadRequest(format!("description: at most {MAX_DESCRIPTION} characters")));
    }
    let event_types = match form.only {
        None => None,
        Some(_) => {
            let picked: Vec<EventType> = [
                (&form.joined, EventType::Joined),
                (&form.moved, EventType::Moved),
                (&form.updated, EventType::Updated),
                (&form.left, EventType::Left),
                (&form.rehired, EventType::Rehired),
            ]
            .into_iter()
            .filter(|(ticked, _)| ticked.is_some())
            .map(|(_, t)| t)
            .collect();
            if picked.is_empty() {
                return Err(ConsoleError::BadRequest(
                    "event types: tick at least one, or every event".into(),
                ));
            }
            Some(picked)
        }
    };
    let secret = generate_endpoint_secret();
    let endpoint = state
        .directory()
        .create_endpoint(
            NewEndpoint { tenant_id: grant.tenant_id, url, description, event_types, secret: secret.clone() },
            state.now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ConsoleError::Conflict("the tenant has as many endpoints as it may: disable one first".into())
            }
            other => other.into(),
        })?;
    audit(&state, &user, &grant, "endpoint.created", Some(render(Kind::Endpoint, &endpoint.id))).await;
    let created = (EndpointRow::from(&endpoint), secret.expose().to_owned());
    let mut res = list_page(&state, user, grant, Some(created)).await?;
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

pub struct DeadLetterRow {
    pub event: String,
    pub kind: &'static str,
    pub state: &'static str,
    pub attempts: u32,
    pub last_status: String,
    pub last_error: String,
    pub dead_lettered_at: String,
}

impl From<&EventDeadLetter> for DeadLetterRow {
    fn from(d: &EventDeadLetter) -> Self {
        Self {
            event: render(Kind::Event, &d.event.id),
            kind: d.event.kind.as_str(),
            state: match d.state {
                roster_store::EventDeadLetterState::Dead => "dead",
                roster_store::EventDeadLetterState::Redriven => "redriven",
            },
            attempts: d.attempts,
            last_status: d.last_status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into()),
            last_error: d.last_error.clone(),
            dead_lettered_at: d.dead_lettered_at.to_rfc3339(),
        }
    }
}

pub struct AttemptRow {
    pub event: String,
    pub attempt: u32,
    pub at: String,
    pub duration_ms: u64,
    pub status: String,
    pub outcome: String,
}

impl From<&DeliveryAttempt> for AttemptRow {
    fn from(a: &DeliveryAttempt) -> Self {
        Self {
            event: render(Kind::Event, &a.event.id),
            attempt: a.attempt,
            at: a.at.to_rfc3339(),
            duration_ms: a.duration_ms,
            status: a.status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into()),
            outcome: serde_json::to_value(a.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "endpoints/show.html")]
struct Show {
    user: ConsoleUser,
    tenant: String,
    endpoint: EndpointRow,
    dead_letters: Vec<DeadLetterRow>,
    waiting: usize,
    attempts: Vec<AttemptRow>,
    /// On the answer to a rotation: the new secret, once.
    rotated: Option<String>,
}

async fn show_page(
    state: &ConsoleState,
    user: ConsoleUser,
    grant: Grant,
    id: &str,
    rotated: Option<String>,
) -> Result<Response, ConsoleError> {
    let d = state.directory();
    let endpoint = d.get_endpoint(grant.tenant_id, id).await?.ok_or(ConsoleError::NotFound("endpoint"))?;
    let dead = d.list_event_dead_letters(grant.tenant_id, id, 0, SHOWN).await.map_err(not_found)?;
    let attempts =
        d.list_delivery_attempts(grant.tenant_id, id, None, None, SHOWN).await.map_err(not_found)?;
    page(Show {
        tenant: grant.tenant_name,
        endpoint: EndpointRow::from(&endpoint),
        waiting: dead.iter().filter(|d| d.state == roster_store::EventDeadLetterState::Dead).count(),
        dead_letters: dead.iter().map(DeadLetterRow::from).collect(),
        attempts: attempts.iter().map(AttemptRow::from).collect(),
        rotated,
        user,
    })
}

fn not_found(e: StoreError) -> ConsoleError {
    match e {
        StoreError::NotFound => ConsoleError::NotFound("endpoint"),
        other => other.into(),
    }
}

/// `GET /console/t/{tenant}/endpoints/{id}`
pub async fn show(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Admin)?.clone();
    show_page(&state, user, grant, strip(Kind::Endpoint, &id), None).await
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /console/t/{tenant}/endpoints/{id}/rotate`: a new secret, shown
/// once; the old one signs too for a day, so the receiver can switch.
pub async fn rotate(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, id)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    let id = strip(Kind::Endpoint, &id);
    let now = state.now();
    let secret = generate_endpoint_secret();
    state
        .directory()
        .rotate_endpoint_secret(grant.tenant_id, id, secret.clone(), now.plus_millis(GRACE_MS), now)
        .await
        .map_err(not_found)?;
    audit(&state, &user, &grant, "endpoint.secret_rotated", Some(render(Kind::Endpoint, id))).await;
    show_page(&state, user, grant, id, Some(secret.expose().to_owned())).await
}

/// `POST /console/t/{tenant}/endpoints/{id}/redrive`: its dead letters are
/// delivered again, with a fresh attempt count.
pub async fn redrive(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, id)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    let id = strip(Kind::Endpoint, &id);
    let moved = state
        .directory()
        .redrive_event_dead_letters(grant.tenant_id, id, state.now())
        .await
        .map_err(not_found)?;
    audit(
        &state,
        &user,
        &grant,
        "endpoint.redriven",
        Some(format!("{} ({moved})", render(Kind::Endpoint, id))),
    )
    .await;
    Ok(back_to(&grant, id))
}

/// `POST /console/t/{tenant}/endpoints/{id}/disable`: nothing more is
/// delivered to it (kept, with its dead letters).
pub async fn disable(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, id)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    if form.confirm.as_deref() != Some("yes") {
        return Err(ConsoleError::BadRequest("tick the box to confirm, then send again".into()));
    }
    let id = strip(Kind::Endpoint, &id);
    state.directory().disable_endpoint(grant.tenant_id, id, state.now()).await.map_err(not_found)?;
    audit(&state, &user, &grant, "endpoint.disabled", Some(render(Kind::Endpoint, id))).await;
    Ok(back_to(&grant, id))
}

fn back_to(grant: &Grant, id: &str) -> Response {
    let to = grant.path(&format!("endpoints/{}", render(Kind::Endpoint, id)));
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}
