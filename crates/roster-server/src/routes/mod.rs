mod alarms;
mod audit;
mod dlq;
mod endpoints;
mod events;
mod feeds;
pub(crate) mod health;
mod ingest;
mod keys;
mod metrics;
mod operator;
mod people;
mod sources;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};

pub use health::Readiness;

use crate::auth::MetricsReader;
use crate::problem::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(scrape))
        .route("/v1/alarms", get(alarms::list))
        .route("/integrations/hr-feed", post(ingest::hr_feed))
        .route("/v1/feeds", get(feeds::list))
        .route("/v1/feeds/{id}", get(feeds::show))
        .route("/v1/feeds/{id}/approve", post(feeds::approve))
        .route("/v1/feeds/{id}/reject", post(feeds::reject))
        .route("/v1/sources", get(sources::list))
        .route(
            "/v1/sources/{name}",
            get(sources::show).put(sources::put).layer(DefaultBodyLimit::max(sources::BODY_LIMIT)),
        )
        .route(
            "/v1/sources/{name}/mapping",
            get(sources::show_mapping)
                .put(sources::put_mapping)
                .layer(DefaultBodyLimit::max(sources::BODY_LIMIT)),
        )
        .route("/v1/events", get(events::list))
        .route("/v1/dlq", get(dlq::list).delete(dlq::purge))
        .route("/v1/dlq/redrive", post(dlq::redrive_all))
        .route("/v1/dlq/{id}", get(dlq::show))
        .route("/v1/dlq/{id}/redrive", post(dlq::redrive_one))
        .route("/v1/endpoints", get(endpoints::list).post(endpoints::create))
        .route("/v1/endpoints/{id}", axum::routing::delete(endpoints::disable))
        .route("/v1/endpoints/{id}/rotate-secret", post(endpoints::rotate_secret))
        .route("/v1/endpoints/{id}/dead-letters", get(endpoints::dead_letters))
        .route("/v1/endpoints/{id}/dead-letters/redrive", post(endpoints::redrive))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/v1/audit", get(audit::list))
        .route("/v1/operator/tenants", get(operator::tenants))
        .route("/v1/operator/audit", get(operator::audit_log))
        .route("/v1/operator/tenants/{name}/dlq", axum::routing::delete(operator::purge))
        .route("/v1/operator/tenants/{name}/dlq/redrive", post(operator::redrive))
        .route("/v1/people", get(people::list))
        .route("/v1/people/{external_id}", get(people::show))
}

/// `GET /metrics`, for the metrics token or an operator key only.
async fn scrape(_reader: MetricsReader, state: State<AppState>) -> impl IntoResponse {
    metrics::metrics(state).await
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this method is not allowed on this resource")
}

/// Largest page a listing returns.
pub const MAX_PAGE: usize = 1000;
/// Page size when the client names none.
pub const DEFAULT_PAGE: usize = 100;

pub fn page_size(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadRequest(format!("`limit` must be between 1 and {MAX_PAGE}"))),
    }
}
