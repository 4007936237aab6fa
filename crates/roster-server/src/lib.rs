//! Roster's HTTP edge: the ingest API, the read API, alarms, health checks
//! and `/metrics`.
//!
//! Architecture invariant: handlers authenticate, translate HTTP to engine
//! and store calls, and translate results back; every error becomes an RFC
//! 9457 problem in exactly one place ([`problem`]). No business rule lives here.

pub mod audit;
pub mod auth;
pub mod metrics;
pub mod problem;
pub mod ratelimit;
mod routes;
mod state;
pub mod tls;

use std::future::Future;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::Request;
use axum::http::{HeaderValue, header};
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use state::{AppState, ServerConfig};

/// The whole HTTP API.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            // The route template, never the raw path: paths carry external ids.
            let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str());
            let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            // `tenant` and `feed_id` are filled in once known (authentication,
            // ingest), so every line of the request carries them.
            tracing::info_span!(
                "request",
                method = %req.method(),
                route,
                request_id,
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
    routes::routes()
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), ratelimit::limit))
        .layer(trace)
        .layer(tower::util::option_layer(hsts))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
