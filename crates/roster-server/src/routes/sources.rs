//! `/v1/sources`: a tenant's integration channels — validation mode, CSV
//! mapping profile and the deletion threshold of full snapshots.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use roster_core::mapping::MappingProfile;
use roster_core::{RecordError, SourceName};
use roster_store::{Scope, Source, SourceSettings};
use serde_json::{Value, json};

use super::{ListQuery, list_body, page_in_memory};
use crate::audit::{self, RequestId};
use crate::auth::Principal;
use crate::extract::{Path, Query};
use crate::problem::{ApiError, json_error};
use crate::state::AppState;

pub use roster_store::limits::MAX_MAPPING_BYTES;
/// The largest body of a request that sets a source or its mapping (room
/// for the settings and a whitespace-rich profile at its limit): past it
/// the body is not read on.
pub const BODY_LIMIT: usize = 4 * MAX_MAPPING_BYTES;

/// A refused body: too large is `413` naming `mapping`, anything else `400`.
fn body_error(e: &JsonRejection, what: &str) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        too_large_mapping()
    } else {
        json_error(e, what)
    }
}

fn too_large_mapping() -> ApiError {
    ApiError::TooLarge(format!(
        "`mapping` is too large: a mapping profile may have at most {MAX_MAPPING_BYTES} bytes (as compact JSON)"
    ))
}

fn source_name(s: &str) -> Result<SourceName, ApiError> {
    SourceName::parse(s).map_err(|e| ApiError::invalid("name", format!("source name: {e}")))
}

/// A source as the API shows it: never configured means the defaults.
fn view(name: &SourceName, source: Option<Source>) -> Value {
    match source {
        Some(s) => json!(s),
        None => {
            let mut v = json!(SourceSettings::default());
            v["name"] = json!(name);
            v["configured"] = false.into();
            v
        }
    }
}

/// `GET /v1/sources?limit&cursor`, by name.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let items = state.directory.list_sources(principal.tenant_id).await?;
    let (items, next) = page_in_memory(items, "sources", &q, |s| s.name.to_string())?;
    Ok(Json(list_body(&items, next)))
}

/// The caller's source of that name, if it was ever configured.
async fn find(
    state: &AppState,
    principal: &Principal,
    name: &str,
) -> Result<(SourceName, Option<Source>), ApiError> {
    principal.require(Scope::Read)?;
    let name = source_name(name)?;
    let source = state.directory.get_source(principal.tenant_id, &name).await?;
    Ok((name, source))
}

/// `GET /v1/sources/{name}`
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (name, source) = find(&state, &principal, &name).await?;
    Ok(Json(view(&name, source)))
}

/// `PUT /v1/sources/{name}`: the whole settings object.
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(name): Path<String>,
    body: Result<Json<SourceSettings>, JsonRejection>,
) -> Result<Json<Source>, ApiError> {
    principal.require(Scope::Admin)?;
    let name = source_name(&name)?;
    let Json(settings) = body.map_err(|e| body_error(&e, "source settings"))?;
    if settings.deletion_threshold_percent > 100 {
        return Err(ApiError::invalid(
            "deletionThresholdPercent",
            "`deletionThresholdPercent` must be between 0 and 100",
        ));
    }
    if let Some(mapping) = &settings.mapping {
        check_profile(mapping)?;
    }
    if let Some(statuses) = &settings.inactive_statuses {
        check_statuses(statuses)?;
    }
    let source = state.directory.put_source(principal.tenant_id, &name, settings, state.clock.now()).await?;
    audit::record(&state, &principal, &request_id, "source.updated", Some(name.to_string())).await;
    Ok(Json(source))
}

/// `DELETE /v1/sources/{name}`: forgets the source's settings and mapping
/// profile; its next feed gets the defaults. Its people and feeds stay.
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(name): Path<String>,
) -> Result<Json<Source>, ApiError> {
    principal.require(Scope::Admin)?;
    let name = source_name(&name)?;
    let source = state.directory.delete_source(principal.tenant_id, &name).await.map_err(|e| match e {
        roster_store::StoreError::NotFound => ApiError::NotFound("source"),
        e => e.into(),
    })?;
    audit::record(&state, &principal, &request_id, "source.deleted", Some(name.to_string())).await;
    Ok(Json(source))
}

/// `DELETE /v1/sources/{name}/mapping`: only the mapping profile; CSV feeds
/// of the source are refused until a new one is set.
pub async fn delete_mapping(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(name): Path<String>,
) -> Result<Json<Source>, ApiError> {
    principal.require(Scope::Admin)?;
    let name = source_name(&name)?;
    let tenant = principal.tenant_id;
    let mut settings = state
        .directory
        .get_source(tenant, &name)
        .await?
        .map(|s| s.settings)
        .filter(|s| s.mapping.is_some())
        .ok_or(ApiError::NotFound("mapping profile"))?;
    settings.mapping = None;
    let source = state.directory.put_source(tenant, &name, settings, state.clock.now()).await?;
    audit::record(&state, &principal, &request_id, "mapping.deleted", Some(name.to_string())).await;
    Ok(Json(source))
}

/// `GET /v1/sources/{name}/mapping`
pub async fn show_mapping(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, source) = find(&state, &principal, &name).await?;
    source.and_then(|s| s.settings.mapping).map(Json).ok_or(ApiError::NotFound("mapping profile"))
}

/// `PUT /v1/sources/{name}/mapping`: only the mapping profile; the other
/// settings stay as they are.
pub async fn put_mapping(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(name): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Source>, ApiError> {
    principal.require(Scope::Admin)?;
    let name = source_name(&name)?;
    let Json(mapping) = body.map_err(|e| body_error(&e, "mapping profile"))?;
    check_profile(&mapping)?;
    let tenant = principal.tenant_id;
    let mut settings =
        state.directory.get_source(tenant, &name).await?.map(|s| s.settings).unwrap_or_default();
    settings.mapping = Some(mapping);
    let source = state.directory.put_source(tenant, &name, settings, state.clock.now()).await?;
    audit::record(&state, &principal, &request_id, "mapping.updated", Some(name.to_string())).await;
    Ok(Json(source))
}

/// Most inactive statuses a source may list, and the longest one.
const MAX_STATUSES: usize = 50;
const MAX_STATUS_LEN: usize = 64;

fn check_statuses(statuses: &[String]) -> Result<(), ApiError> {
    if statuses.len() > MAX_STATUSES {
        return Err(ApiError::invalid(
            "inactiveStatuses",
            format!("`inactiveStatuses` may list at most {MAX_STATUSES} values"),
        ));
    }
    if let Some(i) = statuses.iter().position(|s| s.trim().is_empty() || s.len() > MAX_STATUS_LEN) {
        return Err(ApiError::invalid(
            format!("inactiveStatuses[{i}]"),
            format!("`inactiveStatuses[{i}]` must have 1 to {MAX_STATUS_LEN} characters"),
        ));
    }
    Ok(())
}

/// A profile is checked when it is stored, so a feed never meets a broken one.
fn check_profile(mapping: &Value) -> Result<(), ApiError> {
    if serde_json::to_vec(mapping).map_or(usize::MAX, |v| v.len()) > MAX_MAPPING_BYTES {
        return Err(too_large_mapping());
    }
    let profile: MappingProfile = serde_json::from_value(mapping.clone()).map_err(|e| ApiError::Invalid {
        param: "mapping".into(),
        code: "invalid_field",
        detail: format!("invalid mapping profile: {}", crate::problem::redact_quoted(&e.to_string())),
    })?;
    profile.validate().map_err(|errors| ApiError::Unprocessable {
        detail: format!("the mapping profile has {} error(s)", errors.len()),
        errors: vec![RecordError::new(0, errors)],
    })
}
