use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use roster_store::Scope;
use serde_json::json;

use crate::auth::Principal;
use crate::problem::ApiError;
use crate::state::AppState;

/// `POST /integrations/hr-feed`: answers 202 once the accepted records are
/// durably queued.
pub async fn hr_feed(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::Ingest)?;
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType { expected: "application/json" });
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit: state.config.body_limit }
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })?;
    let receipt = state.ingest.submit_json(principal.tenant_id, body).await?;
    let location = format!("/v1/feeds/{}", receipt.feed_id);
    let body = json!({
        "feedId": receipt.feed_id,
        "received": receipt.received,
        "accepted": receipt.accepted,
        "rejected": receipt.rejected,
    });
    let mut res = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}
