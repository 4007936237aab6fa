//! The platform's pages, for operators: the tenants (and making one, with
//! its first admin key shown once, through `roster_engine::admin` as the
//! CLI does), and the platform log (tenants made, scheduled for deletion,
//! operator keys). Like an operator key, these open no tenant's data.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use roster_core::public_id::{Kind, render};
use roster_engine::admin::{AdminError, create_tenant};
use roster_store::platform_log;
use serde::Deserialize;

use super::audit_log::{AuditQuery, LogPage, read};
use super::page;
use crate::errors::ConsoleError;
use crate::identity::ConsoleUser;
use crate::state::ConsoleState;

fn operator(user: &ConsoleUser) -> Result<(), ConsoleError> {
    if user.operator {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden("this page is for the platform's operators".into()))
    }
}

pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub created_at: String,
    /// When its data is purged, if its deletion is scheduled.
    pub delete_after: String,
}

#[derive(Template)]
#[template(path = "platform/tenants.html")]
struct Tenants {
    user: ConsoleUser,
    tenants: Vec<TenantRow>,
    /// Set on the answer to a create: the tenant and its admin key, once.
    created: Option<(String, String)>,
}

async fn tenants_page(
    state: &ConsoleState,
    user: ConsoleUser,
    created: Option<(String, String)>,
) -> Result<Response, ConsoleError> {
    let tenants = state.directory().list_tenants().await?;
    page(Tenants {
        tenants: tenants
            .iter()
            .map(|t| TenantRow {
                id: render(Kind::Tenant, t.id),
                name: t.name.clone(),
                created_at: t.created_at.to_rfc3339(),
                delete_after: t.delete_after.map(|d| d.to_rfc3339()).unwrap_or_default(),
            })
            .collect(),
        created,
        user,
    })
}

/// `GET /console/platform/tenants`
pub async fn tenants(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
) -> Result<Response, ConsoleError> {
    operator(&user)?;
    tenants_page(&state, user, None).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    name: String,
}

/// `POST /console/platform/tenants`: a new tenant and its first admin key,
/// audited in its log and the platform's as `console:<sub>`.
pub async fn create(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Form(form): Form<CreateForm>,
) -> Result<Response, ConsoleError> {
    crate::csrf::check_token(&user, form.csrf.as_deref())?;
    operator(&user)?;
    let (tenant, _, secret) = create_tenant(state.directory(), form.name.trim(), state.now(), &user.actor())
        .await
        .map_err(|e| match e {
            AdminError::InvalidName(m) => ConsoleError::BadRequest(format!("name: {m}")),
            AdminError::NameTaken(_) => ConsoleError::Conflict("a tenant of that name exists already".into()),
            AdminError::Store(e) => e.into(),
        })?;
    let mut res = tenants_page(&state, user, Some((tenant.name, secret.expose().to_owned()))).await?;
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

#[derive(Template)]
#[template(path = "platform/log.html")]
struct Log {
    user: ConsoleUser,
    log: LogPage,
    log_url: &'static str,
}

/// `GET /console/platform/log?actor&action&before`: newest first.
pub async fn log(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ConsoleError> {
    operator(&user)?;
    let log = read(&state, platform_log(), &q).await?;
    page(Log { log, log_url: "/console/platform/log", user })
}
