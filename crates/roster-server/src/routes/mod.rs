mod alarms;
mod audit;
mod dlq;
pub(crate) mod endpoints;
mod events;
mod feeds;
mod filters;
pub(crate) mod health;
mod ingest;
mod keys;
pub(crate) mod metrics;
mod operator;
mod people;
mod sources;
mod whoami;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{get, post};

pub use health::Readiness;

use crate::auth::MetricsReader;
use crate::problem::ApiError;
use crate::state::AppState;

/// A worker's routes: liveness, readiness and metrics, nothing a tenant calls.
pub fn ops_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(scrape))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(scrape))
        .route("/v1/alarms", get(alarms::list))
        .route("/integrations/hr-feed", post(ingest::hr_feed))
        .route("/v1/feeds", get(feeds::list))
        .route("/v1/feeds/{id}", get(feeds::show))
        .route("/v1/feeds/{id}/leavers", get(feeds::leavers))
        .route("/v1/feeds/{id}/approve", post(feeds::approve))
        .route("/v1/feeds/{id}/reject", post(feeds::reject))
        .route("/v1/sources", get(sources::list))
        .route(
            "/v1/sources/{name}",
            get(sources::show)
                .put(sources::put)
                .delete(sources::delete)
                .layer(DefaultBodyLimit::max(sources::BODY_LIMIT)),
        )
        .route(
            "/v1/sources/{name}/mapping",
            get(sources::show_mapping)
                .put(sources::put_mapping)
                .delete(sources::delete_mapping)
                .layer(DefaultBodyLimit::max(sources::BODY_LIMIT)),
        )
        .route("/v1/events", get(events::list))
        .route("/v1/dlq", get(dlq::list).delete(dlq::purge))
        .route("/v1/dlq/redrive", post(dlq::redrive_all))
        .route("/v1/dlq/test", post(dlq::test))
        .route("/v1/dlq/{id}", get(dlq::show))
        .route("/v1/dlq/{id}/redrive", post(dlq::redrive_one))
        .route("/v1/endpoints", get(endpoints::list).post(endpoints::create))
        .route("/v1/endpoints/{id}", get(endpoints::show).patch(endpoints::update).delete(endpoints::disable))
        .route("/v1/endpoints/{id}/test", post(endpoints::test))
        .route("/v1/endpoints/{id}/attempts", get(endpoints::attempts))
        .route("/v1/endpoints/{id}/replay", post(endpoints::replay))
        .route("/v1/endpoints/{id}/rotate-secret", post(endpoints::rotate_secret))
        .route("/v1/endpoints/{id}/dead-letters", get(endpoints::dead_letters))
        .route("/v1/endpoints/{id}/dead-letters/redrive", post(endpoints::redrive))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/v1/audit", get(audit::list))
        .route("/v1/operator/tenants", get(operator::tenants).post(operator::create_tenant))
        .route(
            "/v1/operator/tenants/{name}",
            get(operator::show_tenant).patch(operator::rename_tenant).delete(operator::delete_tenant),
        )
        .route("/v1/operator/tenants/{name}/cancel-deletion", post(operator::cancel_deletion))
        .route("/v1/operator/tenants/{name}/recovery-key", post(operator::recovery_key))
        .route("/v1/operator/audit", get(operator::audit_log))
        .route("/v1/operator/tenants/{name}/dlq", axum::routing::delete(operator::purge))
        .route("/v1/operator/tenants/{name}/dlq/redrive", post(operator::redrive))
        .route("/v1/whoami", get(whoami::show))
        .route("/v1/people", get(people::list))
        .route("/v1/people/{external_id}", get(people::show))
        .route_layer(axum::middleware::from_fn(refuse_query))
}

/// The routes whose handlers read a query string (with a `Query` type that
/// refuses unknown parameters). Every other route takes none: any
/// parameter sent to it is a `400` naming it, not silently ignored.
const TAKES_QUERY: &[(Method, &str)] = &[
    (Method::POST, "/integrations/hr-feed"),
    (Method::GET, "/v1/feeds"),
    (Method::GET, "/v1/feeds/{id}/leavers"),
    (Method::GET, "/v1/sources"),
    (Method::GET, "/v1/events"),
    (Method::GET, "/v1/dlq"),
    (Method::GET, "/v1/endpoints"),
    (Method::GET, "/v1/endpoints/{id}/dead-letters"),
    (Method::GET, "/v1/endpoints/{id}/attempts"),
    (Method::GET, "/v1/keys"),
    (Method::GET, "/v1/audit"),
    (Method::GET, "/v1/operator/tenants"),
    (Method::DELETE, "/v1/operator/tenants/{name}"),
    (Method::GET, "/v1/operator/audit"),
    (Method::GET, "/v1/people"),
    (Method::GET, "/v1/people/{external_id}"),
];

async fn refuse_query(
    matched: Option<axum::extract::MatchedPath>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let takes = matched.as_ref().is_some_and(|m| {
        TAKES_QUERY.iter().any(|(method, path)| method == req.method() && *path == m.as_str())
    });
    if !takes && let Some(query) = req.uri().query().filter(|q| !q.is_empty()) {
        let first = query.split('&').next().unwrap_or("");
        let name = first.split('=').next().unwrap_or(first);
        return crate::problem::unknown_parameter(name).into_response();
    }
    next.run(req).await
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
        Some(_) => Err(ApiError::invalid("limit", format!("`limit` must be between 1 and {MAX_PAGE}"))),
    }
}

/// The query of every list: `limit` (1 to 1000, default 100) and the
/// `cursor` of the previous page's `next`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The page size and, from the cursor, where the page starts (a value
    /// `list` wrote with [`cursor::encode`]).
    pub fn page(&self, list: &'static str) -> Result<(usize, Option<String>), ApiError> {
        let limit = page_size(self.limit)?;
        let after = self.cursor.as_deref().map(|c| cursor::decode(list, c)).transpose()?;
        Ok((limit, after))
    }
}

/// Every list answers `{"items": [...], "next": "<cursor>" | null}`.
pub fn list_body<T: serde::Serialize>(items: &[T], next: Option<String>) -> serde_json::Value {
    serde_json::json!({ "items": items, "next": next })
}

/// Opaque cursors: the list's name and a position in it, in base64url,
/// so a cursor is taken only by the list that issued it.
pub mod cursor {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::problem::ApiError;

    pub fn encode(list: &str, position: &str) -> String {
        URL_SAFE_NO_PAD.encode(format!("{list}:{position}"))
    }

    fn bad() -> ApiError {
        ApiError::Invalid {
            param: "cursor".into(),
            code: "invalid_cursor",
            detail: "`cursor` is not one this list issued: pass the `next` of its previous page".into(),
        }
    }

    pub fn decode(list: &str, cursor: &str) -> Result<String, ApiError> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        match text.split_once(':') {
            Some((l, position)) if l == list && !position.is_empty() => Ok(position.to_owned()),
            _ => Err(bad()),
        }
    }

    /// A number position (a sequence in a log).
    pub fn decode_seq(list: &str, cursor: Option<&str>) -> Result<u64, ApiError> {
        match cursor {
            None => Ok(0),
            Some(c) => decode(list, c)?.parse().map_err(|_| bad()),
        }
    }
}

/// One page of a list the store gives whole (a tenant's keys, endpoints,
/// sources; the tenants): the items after the one whose `key` the cursor
/// holds, in the store's order. Such items are never deleted, only
/// revoked or disabled, so a key stays found.
pub fn page_in_memory<T>(
    items: Vec<T>,
    list: &'static str,
    q: &ListQuery,
    key: impl Fn(&T) -> String,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let (limit, after) = q.page(list)?;
    let start = match after {
        None => 0,
        Some(after) => match items.iter().position(|i| key(i) == after) {
            Some(i) => i + 1,
            None => {
                return Err(ApiError::Invalid {
                    param: "cursor".into(),
                    code: "invalid_cursor",
                    detail: "`cursor` points at an item that is gone: list again from the start".into(),
                });
            }
        },
    };
    let page: Vec<T> = items.into_iter().skip(start).take(limit + 1).collect();
    let mut page = page;
    let more = page.len() > limit;
    page.truncate(limit);
    let next = if more { page.last().map(|i| cursor::encode(list, &key(i))) } else { None };
    Ok((page, next))
}
