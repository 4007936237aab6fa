//! Roster's HTTP edge: the ingest API, the read API, alarms, health checks
//! and `/metrics`.
//!
//! Architecture invariant: handlers authenticate, translate HTTP to engine
//! and store calls, and translate results back; every error becomes an RFC
//! 9457 problem in exactly one place ([`problem`]). No business rule lives here.

pub mod audit;
pub mod auth;
pub mod budget;
pub mod connections;
pub mod extract;
pub mod metrics;
pub mod panic;
pub mod problem;
pub mod ratelimit;
pub mod request_id;
mod routes;
mod state;
#[cfg(test)]
mod tests;
pub mod tls;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use routes::Readiness;
pub use routes::endpoints::endpoint_url;
pub use state::{AppState, Budgets, ServerConfig, Surface, TestEvents};

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let mut routes = match state.config.surface {
        state::Surface::Api => routes::routes(),
        state::Surface::Ops => routes::ops_routes(),
    };
    if let (state::Surface::Api, Some((prefix, extra))) = (state.config.surface, &state.extra_routes) {
        // The whole subtree, the prefix kept in the path the router sees.
        routes = routes
            .route_service(prefix, extra.clone())
            .route_service(&format!("{prefix}/"), extra.clone())
            .route_service(&format!("{prefix}/{{*rest}}"), extra.clone());
    }
    with_layers(routes, state)
}

/// `routes` behind the edge's layers (tests add routes of their own).
fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            // The route template, never the raw path: paths carry external ids.
            let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str());
            let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            let client_request_id =
                req.extensions().get::<request_id::ClientRequestId>().map_or("-", |c| c.0.as_str());
            // `tenant` and `feed_id` are filled in once known (authentication,
            // ingest), so every line of the request carries them.
            tracing::info_span!(
                "request",
                method = %req.method(),
                route,
                request_id,
                client_request_id,
                tenant = tracing::field::Empty,
                feed_id = tracing::field::Empty,
            )
        })
        .on_request(())
        .on_response(
            tower_http::trace::DefaultOnResponse::new()
                .level(tracing::Level::INFO)
                .latency_unit(tower_http::LatencyUnit::Millis),
        );
    let hsts = state.config.hsts.then(|| {
        SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        )
    });
    routes
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), ratelimit::limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), time_limit))
        // Inside the trace layer, so the 500 is logged in the request's span.
        .layer(CatchPanicLayer::custom(panic_response))
        // Inside the request-id layers (the id is known) and the trace.
        .layer(axum::middleware::from_fn(problem::finish))
        .layer(trace)
        .layer(tower::util::option_layer(hsts))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::map_request(request_id::sanitize))
        .with_state(state)
}

/// A handler that panicked answers `500` as any internal error does; the
/// panic's message (which may quote request data) goes nowhere — the panic
/// hook ([`panic::install_hook`]) logged where it happened.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    problem::ApiError::Internal("a handler panicked".into()).into_response()
}

/// The path whose requests may stream a large upload.
pub(crate) const INGEST_PATH: &str = "/integrations/hr-feed";

/// Whether requests to `path` may stream a large upload: the ingest
/// endpoint, and the admin console's upload page (`/console/t/{tenant}/upload`,
/// crates/roster-console), which streams files into the same ingest.
fn is_upload(path: &str) -> bool {
    path == INGEST_PATH || (path.starts_with("/console/t/") && path.ends_with("/upload"))
}

/// Answers `408` (and closes the connection) when a request takes longer
/// than its limit: `upload_timeout` where a large CSV streams for long
/// ([`is_upload`]), `request_timeout` everywhere else.
async fn time_limit(State(state): State<AppState>, req: Request<axum::body::Body>, next: Next) -> Response {
    let limit =
        if is_upload(req.uri().path()) { state.config.upload_timeout } else { state.config.request_timeout };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => problem::ApiError::RequestTimeout { secs: limit.as_secs() }.into_response(),
    }
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish
/// (at most 30 s).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = axum_server::from_tcp(listener.into_std()?)?;
    let server = with_limits(server, &state.config).handle(graceful(shutdown));
    // The peer's address reaches the rate limiter as `ConnectInfo`.
    server.serve(router(state).into_make_service_with_connect_info::<std::net::SocketAddr>()).await
}

/// The connection-level limits hyper enforces before a request reaches the
/// router: the size of a request head (`431` past it), how long its
/// headers may take to arrive (the connection is closed past it), the
/// connections held at once ([`connections::ConnectionLimit`]) and the
/// HTTP/2 streams open at once on one connection.
pub(crate) fn with_limits<A: axum_server::Address, Acc>(
    mut server: axum_server::Server<A, Acc>,
    config: &ServerConfig,
) -> axum_server::Server<A, connections::ConnectionLimit<Acc>> {
    let builder = server.http_builder();
    builder
        .http1()
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_bytes.max(8192));
    builder
        .http2()
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(config.max_http2_streams);
    // A connection that never completes a first request (not even the bytes
    // that tell HTTP/1 from HTTP/2) is closed too.
    let max_connections = config.max_connections;
    server
        .first_request_timeout(config.header_read_timeout)
        .map(|inner| connections::ConnectionLimit::new(inner, max_connections))
}

/// A handle that starts a graceful shutdown when `shutdown` resolves.
pub(crate) fn graceful(
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> axum_server::Handle<std::net::SocketAddr> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    handle
}
