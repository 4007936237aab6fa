//! Signing out, and the page after it.

use axum::Extension;
use axum::extract::{Form, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::errors::ConsoleError;
use crate::identity::session::{SESSION_COOKIE, cookie, hash, set_cookie};
use crate::identity::{ConsoleUser, oidc};
use crate::state::{ConsoleState, Mode};

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /console/logout`: ends the session here, then at the provider.
pub async fn logout(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    crate::csrf::check_token(&user, form.csrf.as_deref())?;
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        state.directory().delete_console_session(&hash(secret)).await?;
    }
    let signed_out = format!("{}/console/signed-out", state.origin());
    let to = match state.mode() {
        Mode::Oidc(o) => oidc::end_session_url(o, &signed_out).await,
        Mode::Alb(_) => signed_out,
    };
    let mut res = (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response();
    let clear = set_cookie(SESSION_COOKIE, "", None);
    res.headers_mut().append(SET_COOKIE, clear.parse().map_err(|_| ConsoleError::Internal("cookie".into()))?);
    if let Mode::Alb(_) = state.mode() {
        // The load balancer's own session (sharded cookies -0, -1, ...).
        for shard in 0..4 {
            let c = format!("AWSELBAuthSessionCookie-{shard}=; Path=/; Secure; HttpOnly; Max-Age=0");
            res.headers_mut()
                .append(SET_COOKIE, c.parse().map_err(|_| ConsoleError::Internal("cookie".into()))?);
        }
    }
    Ok(res)
}

#[derive(askama::Template)]
#[template(path = "login/signed_out.html")]
struct SignedOut;

/// `GET /console/signed-out`
pub async fn signed_out() -> Result<Response, ConsoleError> {
    super::page(SignedOut)
}
