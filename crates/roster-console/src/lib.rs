//! The admin console: server-rendered pages under `/console/` for the
//! people who run HR integrations (a customer's IT admin, an onboarding
//! engineer, the platform's operators).
//!
//! - `identity/`: who is signed in — OIDC (`oidc.rs`) or an ALB's signed
//!   header (`alb.rs`) — and the server-side `session.rs`;
//! - `views/`: one module per page area, its templates in `templates/`
//!   under the same name (compiled in by askama);
//! - `csrf.rs`, `security_headers.rs`, `errors.rs` (`ConsoleError`, the
//!   console's HTML error page), `assets.rs` (the stylesheet, from the binary).
//!
//! Architecture invariant: the console calls the store and engine through
//! `ConsoleState`, never the JSON API; tenant data is read only under a
//! tenant the person has a role in, and the store filters by it.

mod assets;
pub mod csrf;
pub mod errors;
pub mod identity;
pub mod security_headers;
pub mod settings;
mod state;
mod views;

use axum::Router;
use axum::middleware::{from_fn_with_state, map_response};
use axum::routing::{get, post};

pub use settings::ConsoleSettings;
pub use state::{ConsoleState, EndpointPolicy, UploadLimits};

/// The console's routes, all under `/console/`; merge into the server's
/// router. Signed-in pages sit behind the identity middleware; every
/// non-GET request passes the same-origin check first.
pub fn router(state: ConsoleState) -> Router {
    let signed_in = Router::new()
        .route("/console/", get(views::overview::show))
        .route("/console/logout", post(views::session::logout))
        .route("/console/platform/tenants", get(views::platform::tenants).post(views::platform::create))
        .route("/console/platform/log", get(views::platform::log))
        .route("/console/t/{tenant}/feeds", get(views::feeds::list))
        .route("/console/t/{tenant}/feeds/{id}", get(views::feeds::show))
        .route("/console/t/{tenant}/feeds/{id}/review", get(views::feeds::review))
        .route("/console/t/{tenant}/feeds/{id}/approve", post(views::feeds::approve))
        .route("/console/t/{tenant}/feeds/{id}/reject", post(views::feeds::reject))
        .route("/console/t/{tenant}/people", get(views::people::list))
        .route("/console/t/{tenant}/sources", get(views::sources::list))
        .route("/console/t/{tenant}/sources/{name}", get(views::sources::show))
        .route("/console/t/{tenant}/sources/{name}/settings", post(views::sources::save_settings))
        .route("/console/t/{tenant}/sources/{name}/preview", post(views::sources::preview))
        .route("/console/t/{tenant}/sources/{name}/mapping", post(views::sources::save_mapping))
        .route("/console/t/{tenant}/upload", get(views::upload::form).post(views::upload::submit))
        .route("/console/t/{tenant}/endpoints", get(views::endpoints::list).post(views::endpoints::create))
        .route("/console/t/{tenant}/endpoints/{id}", get(views::endpoints::show))
        .route("/console/t/{tenant}/endpoints/{id}/rotate", post(views::endpoints::rotate))
        .route("/console/t/{tenant}/endpoints/{id}/redrive", post(views::endpoints::redrive))
        .route("/console/t/{tenant}/endpoints/{id}/disable", post(views::endpoints::disable))
        .route("/console/t/{tenant}/keys", get(views::keys::list).post(views::keys::create))
        .route("/console/t/{tenant}/keys/{id}/revoke", post(views::keys::revoke))
        .route("/console/t/{tenant}/audit", get(views::audit_log::list))
        .route("/console/t/{tenant}/people/{id}", get(views::people::show))
        .route("/console/t/{tenant}/dlq", get(views::dlq::list))
        .route("/console/t/{tenant}/dlq/redrive", post(views::dlq::redrive_all))
        .route("/console/t/{tenant}/dlq/purge", post(views::dlq::purge))
        .route("/console/t/{tenant}/dlq/{id}", get(views::dlq::show))
        .route("/console/t/{tenant}/dlq/{id}/redrive", post(views::dlq::redrive_one))
        .route_layer(from_fn_with_state(state.clone(), identity::require_user));
    Router::new()
        .route("/console", get(|| async { axum::response::Redirect::permanent("/console/") }))
        .route("/console/login", get(identity::oidc::login))
        .route("/console/callback", get(identity::oidc::callback))
        .route("/console/signed-out", get(views::session::signed_out))
        .route("/console/assets/console.css", get(assets::css))
        .route("/console/assets/upload.js", get(assets::upload_js))
        .merge(signed_in)
        .layer(from_fn_with_state(state.clone(), csrf::same_origin))
        .layer(map_response(security_headers::add))
        .with_state(state)
}
