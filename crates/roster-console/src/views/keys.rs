//! A tenant's API keys, for its admins: the list (never a secret), create
//! (the secret is shown once, on the page that answers the form), revoke.
//! As with keys a JWT mints, a key made here expires within
//! [`MAX_DAYS`]: the person's authority comes from an identity provider's
//! group, which may be gone tomorrow.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use roster_core::KeyName;
use roster_core::public_id::{Kind, render, strip};
use roster_store::{ApiKeyInfo, LastAdmin, Scope, StoreError};
use serde::Deserialize;

use super::{audit, page};
use crate::errors::ConsoleError;
use crate::identity::{ConsoleUser, Role};
use crate::state::ConsoleState;

/// Longest life of a key made in the console, in days (the default).
pub const MAX_DAYS: i64 = 90;

pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: String,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
}

impl KeyRow {
    fn new(k: &ApiKeyInfo, now: roster_core::Timestamp) -> Self {
        let time = |t: Option<roster_core::Timestamp>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
        Self {
            id: render(Kind::ApiKey, &k.id),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            created_at: k.created_at.to_rfc3339(),
            expires_at: time(k.expires_at),
            last_used_at: time(k.last_used_at),
            state: if k.revoked_at.is_some() {
                "revoked"
            } else if k.expires_at.is_some_and(|t| t <= now) {
                "expired"
            } else {
                "active"
            },
        }
    }
}

#[derive(Template)]
#[template(path = "keys/list.html")]
struct List {
    user: ConsoleUser,
    tenant: String,
    keys: Vec<KeyRow>,
    max_days: i64,
    /// Set on the answer to a create: the new key and its secret, once.
    created: Option<(KeyRow, String)>,
}

async fn list_page(
    state: &ConsoleState,
    user: ConsoleUser,
    tenant: String,
    created: Option<(KeyRow, String)>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Admin)?.clone();
    let now = state.now();
    let keys = state.directory().list_api_keys(grant.tenant_id).await?;
    page(List {
        tenant: grant.tenant_name,
        keys: keys.iter().map(|k| KeyRow::new(k, now)).collect(),
        max_days: MAX_DAYS,
        created,
        user,
    })
}

/// `GET /console/t/{tenant}/keys`
pub async fn list(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
) -> Result<Response, ConsoleError> {
    list_page(&state, user, tenant, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    /// The scope boxes: present when ticked (a plain form sends one field
    /// per box).
    #[serde(default)]
    ingest: Option<String>,
    #[serde(default)]
    read: Option<String>,
    #[serde(default)]
    admin: Option<String>,
    /// Days until it expires; empty: [`MAX_DAYS`].
    #[serde(default)]
    days: String,
}

/// `POST /console/t/{tenant}/keys`: answers with the list and the new
/// key's secret, shown this once (the page is never cached).
pub async fn create(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
    Form(form): Form<CreateForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    let name = KeyName::parse(form.name.trim())
        .map_err(|e| ConsoleError::BadRequest(format!("name: {e}, saying what the key is for")))?;
    let scopes: Vec<Scope> =
        [(&form.ingest, Scope::Ingest), (&form.read, Scope::Read), (&form.admin, Scope::Admin)]
            .into_iter()
            .filter(|(ticked, _)| ticked.is_some())
            .map(|(_, scope)| scope)
            .collect();
    if scopes.is_empty() {
        return Err(ConsoleError::BadRequest("scope: tick at least one of ingest, read, admin".into()));
    }
    let days =
        match form.days.trim() {
            "" => MAX_DAYS,
            d => d.parse::<i64>().ok().filter(|d| (1..=MAX_DAYS).contains(d)).ok_or_else(|| {
                ConsoleError::BadRequest(format!("days: a whole number from 1 to {MAX_DAYS}"))
            })?,
        };
    let now = state.now();
    let expires_at = Some(now.plus_millis(days * 86_400_000));
    let (key, secret) = roster_engine::admin::issue_api_key(
        state.directory(),
        grant.tenant_id,
        name.as_str(),
        scopes,
        expires_at,
        now,
    )
    .await?;
    audit(&state, &user, &grant, "key.created", Some(render(Kind::ApiKey, &key.id))).await;
    let created = (KeyRow::new(&key, now), secret.expose().to_owned());
    let mut res = list_page(&state, user, tenant, Some(created)).await?;
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /console/t/{tenant}/keys/{id}/revoke`: at once. The tenant's last
/// active admin key is kept, as the API keeps it.
pub async fn revoke(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, id)): Path<(String, String)>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    let id = strip(Kind::ApiKey, &id);
    let key =
        state.directory().revoke_api_key(grant.tenant_id, id, state.now(), LastAdmin::Keep).await.map_err(
            |e| match e {
                StoreError::NotFound => ConsoleError::NotFound("API key"),
                StoreError::Conflict(_) => ConsoleError::Conflict(
                    "this is the tenant's last active admin key: create another admin key first".into(),
                ),
                other => other.into(),
            },
        )?;
    audit(&state, &user, &grant, "key.revoked", Some(render(Kind::ApiKey, &key.id))).await;
    let to = grant.path("keys");
    Ok((StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response())
}
