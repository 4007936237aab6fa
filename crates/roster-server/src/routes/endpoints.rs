//! `/v1/endpoints`: a tenant's webhook endpoints, where the outbox
//! dispatcher pushes its lifecycle events (signed, Standard Webhooks). A new
//! endpoint's signing secret is shown once, in the answer that creates it
//! (or rotates it: the secret it replaces keeps signing, beside the new
//! one, for a grace period).
//! Another tenant's endpoint is a `404`, like a missing one: the store
//! filters every lookup by the caller's tenant.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use reqwest::Url;
use roster_core::address::internal_host;
use roster_core::lifecycle::EventType;
use roster_core::public_id::{Kind, render, strip};
use roster_engine::credentials::generate_endpoint_secret;
use roster_store::{Endpoint, EndpointUpdate, NewEndpoint, ReplayFrom, Scope, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ListQuery, cursor, list_body, page_in_memory};
use crate::audit::{self, RequestId};
use crate::auth::Principal;
use crate::extract::{Path, Query};
use crate::problem::{ApiError, json_error};
use crate::state::AppState;

/// Longest description kept.
const MAX_DESCRIPTION: usize = 500;
/// Longest URL accepted.
const MAX_URL: usize = 2048;
/// How long a rotated-out secret keeps signing unless the request says.
const DEFAULT_PREVIOUS_VALID_SECS: u64 = 24 * 3600;
/// Longest a rotated-out secret may keep signing.
const MAX_PREVIOUS_VALID_SECS: u64 = 7 * 24 * 3600;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewEndpointRequest {
    url: String,
    #[serde(default)]
    description: Option<String>,
    /// Only these event types; absent: all.
    #[serde(default)]
    event_types: Option<Vec<String>>,
}

/// `GET /v1/endpoints?limit&cursor`: the tenant's endpoints (never their
/// secrets), oldest first.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    let items = state.directory.list_endpoints(principal.tenant_id).await?;
    let (items, next) = page_in_memory(items, "endpoints", &q, |e| e.id.clone())?;
    Ok(Json(list_body(&items, next)))
}

/// `POST /v1/endpoints`: registers an endpoint; `secret` is in this answer only.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    body: Result<Json<NewEndpointRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    principal.require(Scope::Admin)?;
    let Json(new) = body.map_err(|e| json_error(&e, "endpoint"))?;
    let url =
        check_url(&new.url, state.config.allow_insecure_endpoints, state.config.allow_private_endpoints)?;
    let description = new.description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ApiError::invalid(
            "description",
            format!("`description`: at most {MAX_DESCRIPTION} characters"),
        ));
    }
    let event_types = new.event_types.map(|types| parse_types(&types)).transpose()?;
    let secret = generate_endpoint_secret();
    let endpoint = state
        .directory
        .create_endpoint(
            NewEndpoint {
                tenant_id: principal.tenant_id,
                url,
                description,
                event_types,
                secret: secret.clone(),
            },
            state.clock.now(),
        )
        .await?;
    audit::record(
        &state,
        &principal,
        &request_id,
        "endpoint.created",
        Some(render(Kind::Endpoint, &endpoint.id)),
    )
    .await;
    let mut body = json!(endpoint);
    body["secret"] = json!(secret.expose());
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /v1/endpoints/{id}`: one endpoint (never its secret).
pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Endpoint>, ApiError> {
    principal.require(Scope::Admin)?;
    let endpoint = state.directory.get_endpoint(principal.tenant_id, strip(Kind::Endpoint, &id)).await?;
    endpoint.map(Json).ok_or(ApiError::NotFound("endpoint"))
}

/// A field that may be set to `null` (`Some(None)`), as opposed to left out (`None`).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateEndpointRequest {
    #[serde(default)]
    url: Option<String>,
    /// `null` or `""`: no description.
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    /// `null`: every type.
    #[serde(default, deserialize_with = "nullable")]
    event_types: Option<Option<Vec<String>>>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// `PATCH /v1/endpoints/{id}`: changes `url` (checked as at creation),
/// `description`, `eventTypes`, and `enabled` (`true` re-enables a disabled
/// endpoint from the head of the outbox, within the limit of active ones;
/// `false` disables it). Fields left out stay as they are.
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
    body: Result<Json<UpdateEndpointRequest>, JsonRejection>,
) -> Result<Json<Endpoint>, ApiError> {
    principal.require(Scope::Admin)?;
    let Json(req) = body.map_err(|e| json_error(&e, "endpoint"))?;
    let url = req
        .url
        .map(|u| check_url(&u, state.config.allow_insecure_endpoints, state.config.allow_private_endpoints))
        .transpose()?;
    let description = req.description.map(|d| d.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()));
    if description.as_ref().and_then(Option::as_ref).is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ApiError::invalid(
            "description",
            format!("`description`: at most {MAX_DESCRIPTION} characters"),
        ));
    }
    let event_types = req.event_types.map(|t| t.map(|t| parse_types(&t)).transpose()).transpose()?;
    let update = EndpointUpdate { url, description, event_types, enabled: req.enabled };
    // The names of what changed, for the audit log (never the values: a URL may hold a token).
    let fields: Vec<&str> = [
        ("url", update.url.is_some()),
        ("description", update.description.is_some()),
        ("eventTypes", update.event_types.is_some()),
        ("enabled", update.enabled.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    let endpoint = state
        .directory
        .update_endpoint(principal.tenant_id, strip(Kind::Endpoint, &id), update, state.clock.now())
        .await
        .map_err(not_found)?;
    let target = format!("{} ({})", render(Kind::Endpoint, &endpoint.id), fields.join(", "));
    audit::record(&state, &principal, &request_id, "endpoint.updated", Some(target)).await;
    Ok(Json(endpoint))
}

/// `POST /v1/endpoints/{id}/test`: sends the endpoint a signed
/// `endpoint.test` event now — not through the outbox: no cursor moves,
/// no retry — and answers how the receiver took it.
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    let id = strip(Kind::Endpoint, &id);
    let now = state.clock.now();
    let Some(target) = state.directory.delivery_target(principal.tenant_id, id, now).await? else {
        return Err(match state.directory.get_endpoint(principal.tenant_id, id).await? {
            Some(_) => ApiError::Conflict(
                "the endpoint is disabled: enable it (`PATCH` with `{\"enabled\": true}`) first".into(),
            ),
            None => ApiError::NotFound("endpoint"),
        });
    };
    let t = &state.test_events;
    let sent =
        roster_engine::outbox::send_test(t.sink.as_ref(), state.clock.as_ref(), t.timeout, &target).await;
    let target_id = render(Kind::Endpoint, id);
    audit::record(&state, &principal, &request_id, "endpoint.tested", Some(target_id)).await;
    Ok(Json(json!(sent)))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttemptsQuery {
    limit: Option<usize>,
    cursor: Option<String>,
    /// Only the attempts at this event (`evt_...`).
    event_id: Option<String>,
}

/// `GET /v1/endpoints/{id}/attempts?limit&cursor&eventId`: the endpoint's
/// delivery attempts, newest first: when, which event, the attempt number,
/// the HTTP status or the class of failure, how long it took. No payload,
/// no answer body.
pub async fn attempts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<AttemptsQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let limit = super::page_size(q.limit)?;
    let before = q.cursor.as_deref().map(|c| cursor::decode_seq("delivery-attempts", Some(c))).transpose()?;
    let event = q.event_id.as_deref().map(|e| strip(Kind::Event, e));
    let items = state
        .directory
        .list_delivery_attempts(principal.tenant_id, strip(Kind::Endpoint, &id), event, before, limit)
        .await
        .map_err(not_found)?;
    let next = (items.len() == limit)
        .then(|| items.last().map(|a| cursor::encode("delivery-attempts", &a.seq.to_string())))
        .flatten();
    Ok(Json(list_body(&items, next)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// An outbox position (an event's `seq`, or an endpoint's `cursor`) or an
    /// event id (`evt_...`); checked by hand so a bad value names the field.
    after: Value,
}

/// `POST /v1/endpoints/{id}/replay {"after": <seq> | "evt_..."}`: moves the
/// endpoint's cursor back so that every event after that one is delivered
/// again, with its own id (receivers dedupe on `webhook-id`). Never forward:
/// a replay skips nothing.
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
    body: Result<Json<ReplayRequest>, JsonRejection>,
) -> Result<Json<Endpoint>, ApiError> {
    principal.require(Scope::Admin)?;
    let Json(req) = body.map_err(|e| json_error(&e, "replay"))?;
    let bad = || {
        ApiError::invalid(
            "after",
            "`after`: an outbox position (a whole number, as an event's `seq`) or an event id (`evt_...`)",
        )
    };
    let from = match &req.after {
        Value::Number(n) => ReplayFrom::Position(n.as_u64().ok_or_else(bad)?),
        Value::String(s) if !s.trim().is_empty() => {
            ReplayFrom::Event(strip(Kind::Event, s.trim()).to_owned())
        }
        _ => return Err(bad()),
    };
    let endpoint = state
        .directory
        .replay_endpoint(principal.tenant_id, strip(Kind::Endpoint, &id), from, state.clock.now())
        .await
        .map_err(|e| match e {
            StoreError::Invalid(m) => ApiError::invalid("after", format!("`after`: {m}")),
            other => not_found(other),
        })?;
    let target = format!("{} (after {})", render(Kind::Endpoint, &endpoint.id), endpoint.cursor);
    audit::record(&state, &principal, &request_id, "endpoint.replayed", Some(target)).await;
    Ok(Json(endpoint))
}

/// `DELETE /v1/endpoints/{id}`: disables the endpoint at once (it stays
/// listed, with its dead letters).
pub async fn disable(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
) -> Result<Json<Endpoint>, ApiError> {
    principal.require(Scope::Admin)?;
    let endpoint = state
        .directory
        .disable_endpoint(principal.tenant_id, strip(Kind::Endpoint, &id), state.clock.now())
        .await
        .map_err(not_found)?;
    audit::record(
        &state,
        &principal,
        &request_id,
        "endpoint.disabled",
        Some(render(Kind::Endpoint, &endpoint.id)),
    )
    .await;
    Ok(Json(endpoint))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateSecretRequest {
    /// Seconds the replaced secret keeps signing; checked by hand so a bad
    /// value is a problem naming the field.
    #[serde(default, rename = "previousValidForSecs")]
    previous_valid_for_secs: Option<Value>,
}

/// `POST /v1/endpoints/{id}/rotate-secret`: a new signing secret, in this
/// answer only; the one it replaces signs too (a second signature) for
/// `previousValidForSecs` (optional JSON body; default a day, at most
/// seven; 0: at once no more).
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    // No body is the default; a body is JSON.
    if !body.iter().all(u8::is_ascii_whitespace) && !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType { expected: "application/json" });
    }
    let grace_secs = previous_valid_for(&body)?;
    let now = state.clock.now();
    let previous_expires_at = now.plus_millis(grace_secs as i64 * 1000);
    let secret = generate_endpoint_secret();
    let endpoint = state
        .directory
        .rotate_endpoint_secret(
            principal.tenant_id,
            strip(Kind::Endpoint, &id),
            secret.clone(),
            previous_expires_at,
            now,
        )
        .await
        .map_err(not_found)?;
    let target = render(Kind::Endpoint, &endpoint.id);
    audit::record(&state, &principal, &request_id, "endpoint.secret_rotated", Some(target)).await;
    let mut body = json!(endpoint);
    body["secret"] = json!(secret.expose());
    body["previousSecretExpiresAt"] = if grace_secs > 0 { json!(previous_expires_at) } else { Value::Null };
    Ok(Json(body))
}

/// The grace period a rotation asks for: an empty body is the default.
fn previous_valid_for(body: &[u8]) -> Result<u64, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DEFAULT_PREVIOUS_VALID_SECS);
    }
    let request: RotateSecretRequest = serde_json::from_slice(body).map_err(|e| ApiError::Invalid {
        param: "body".into(),
        code: "invalid_field",
        detail: format!("invalid rotation: {}", crate::problem::redact_quoted(&e.to_string())),
    })?;
    match request.previous_valid_for_secs {
        None => Ok(DEFAULT_PREVIOUS_VALID_SECS),
        Some(v) => v.as_u64().filter(|n| *n <= MAX_PREVIOUS_VALID_SECS).ok_or_else(|| {
            ApiError::invalid("previousValidForSecs", format!(
                "`previousValidForSecs`: a whole number of seconds from 0 to {MAX_PREVIOUS_VALID_SECS} (7 days)"
            ))
        }),
    }
}

/// `GET /v1/endpoints/{id}/dead-letters?limit&cursor`: events the endpoint
/// could not take, oldest first, without payloads: ids, type, attempts,
/// last status and error.
pub async fn dead_letters(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Read)?;
    let limit = super::page_size(q.limit)?;
    let after = cursor::decode_seq("event-dead-letters", q.cursor.as_deref())?;
    let id = strip(Kind::Endpoint, &id);
    let items = state
        .directory
        .list_event_dead_letters(principal.tenant_id, id, after, limit)
        .await
        .map_err(not_found)?;
    let next = (items.len() == limit)
        .then(|| items.last().map(|d| cursor::encode("event-dead-letters", &d.event.seq.to_string())))
        .flatten();
    Ok(Json(list_body(&items, next)))
}

/// `POST /v1/endpoints/{id}/dead-letters/redrive`: the endpoint's dead
/// letters are delivered again, with a fresh attempt count.
pub async fn redrive(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::Admin)?;
    let moved = state
        .directory
        .redrive_event_dead_letters(principal.tenant_id, strip(Kind::Endpoint, &id), state.clock.now())
        .await
        .map_err(not_found)?;
    let target = format!("{} ({moved})", render(Kind::Endpoint, strip(Kind::Endpoint, &id)));
    audit::record(&state, &principal, &request_id, "endpoint.redriven", Some(target)).await;
    Ok(Json(json!({ "redriven": moved })))
}

/// Whether the request says its body is JSON (`application/json` or a
/// `+json` type).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")))
}

fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("endpoint"),
        other => other.into(),
    }
}

/// An absolute `https` URL with a host (`http` only when the server allows
/// insecure endpoints: the events carry personal data) that is not an
/// internal address — a loopback, private, link-local, ... IP literal or
/// `localhost` — unless the server allows private endpoints. Names that
/// resolve to such addresses are refused at delivery, by the webhook client.
fn check_url(raw: &str, allow_http: bool, allow_private: bool) -> Result<String, ApiError> {
    endpoint_url(raw, allow_http, allow_private)
        .map_err(|why| ApiError::invalid("url", format!("`url`: {why}")))
}

/// [`check_url`]'s rules, for any front (the console too): the URL as
/// stored, or why it is refused.
pub fn endpoint_url(raw: &str, allow_http: bool, allow_private: bool) -> Result<String, String> {
    let bad = |why: &str| why.to_owned();
    let raw = raw.trim();
    if raw.len() > MAX_URL {
        return Err(bad(&format!("at most {MAX_URL} characters")));
    }
    let url =
        Url::parse(raw).map_err(|_| bad("must be an absolute URL, e.g. https://hooks.example.com/roster"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(bad(
                "must be https: events carry personal data (plain http needs `[outbox] allow_insecure_endpoints`)",
            ));
        }
        _ => return Err(bad("must be https")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("must name a host"));
    }
    if !allow_private && let Some(why) = url.host_str().and_then(internal_host) {
        return Err(bad(&format!(
            "{why}, not a public address: events are not sent into Roster's own network (internal targets need \
             `[outbox] allow_private_endpoints`)"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not hold credentials; the signature authenticates Roster"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    Ok(url.to_string())
}

fn parse_types(types: &[String]) -> Result<Vec<EventType>, ApiError> {
    let mut out = Vec::new();
    for t in types {
        let kind: EventType = serde_json::from_value(Value::String(t.clone())).map_err(|_| {
            ApiError::invalid(
                "eventTypes",
                "`eventTypes`: each must be one of person.joined, person.moved, person.updated, person.left, \
                 person.rehired",
            )
        })?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    if out.is_empty() {
        return Err(ApiError::invalid(
            "eventTypes",
            "`eventTypes`: name at least one type, or leave it out for all",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_absolute_https_unless_insecure_is_allowed() {
        assert_eq!(
            check_url("https://hooks.example.com/x?a=1", false, false).unwrap(),
            "https://hooks.example.com/x?a=1"
        );
        assert!(check_url("http://127.0.0.1:9/x", true, true).is_ok());
        for bad in
            ["http://hooks.example.com/x", "/relative", "ftp://x/y", "https://u:p@x.example/", "nonsense"]
        {
            let err = check_url(bad, false, false).unwrap_err().to_string();
            assert!(err.starts_with("`url`: "), "{bad}: {err}");
        }
    }

    #[test]
    fn internal_addresses_are_refused_unless_private_is_allowed() {
        for internal in [
            "https://127.0.0.1/x",
            "https://127.1/x",
            "https://2130706433/x",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.8/x",
            "https://172.16.3.4/x",
            "https://192.168.0.1/x",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://localhost/x",
            "https://LOCALHOST./x",
            "https://hooks.localhost:8443/x",
        ] {
            let err = check_url(internal, false, false).unwrap_err().to_string();
            assert!(err.starts_with("`url`: ") && err.contains("not a public address"), "{internal}: {err}");
            assert!(check_url(internal, false, true).is_ok(), "{internal} with private endpoints allowed");
        }
        let err =
            check_url("https://169.254.169.254/latest/meta-data/", false, false).unwrap_err().to_string();
        assert!(err.contains("169.254.169.254 is a link-local address"), "{err}");
        for public in ["https://8.8.8.8/x", "https://[2606:4700::1111]/x", "https://localhost.example.com/x"]
        {
            assert!(check_url(public, false, false).is_ok(), "{public}");
        }
    }

    #[test]
    fn the_grace_period_defaults_to_a_day_and_is_at_most_seven() {
        assert_eq!(previous_valid_for(b"").unwrap(), DEFAULT_PREVIOUS_VALID_SECS);
        assert_eq!(previous_valid_for(b"{}").unwrap(), DEFAULT_PREVIOUS_VALID_SECS);
        assert_eq!(previous_valid_for(br#"{"previousValidForSecs": 0}"#).unwrap(), 0);
        assert_eq!(previous_valid_for(br#"{"previousValidForSecs": 604800}"#).unwrap(), 604_800);
        for bad in ["604801", "-1", "1.5", "\"1h\""] {
            let body = format!(r#"{{"previousValidForSecs": {bad}}}"#);
            let err = previous_valid_for(body.as_bytes()).unwrap_err().to_string();
            assert!(err.starts_with("`previousValidForSecs`"), "{bad}: {err}");
        }
        assert!(previous_valid_for(br#"{"grace": 1}"#).is_err(), "unknown fields are refused");
    }

    #[test]
    fn event_types_are_known_names() {
        assert_eq!(parse_types(&["person.left".into(), "person.left".into()]).unwrap(), [EventType::Left]);
        assert!(parse_types(&["person.fired".into()]).unwrap_err().to_string().starts_with("`eventTypes`"));
        assert!(parse_types(&[]).is_err());
    }
}
