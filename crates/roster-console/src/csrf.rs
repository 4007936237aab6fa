//! Cross-site request forgery: every state-changing request must come from
//! the console's own pages, shown two ways:
//! 1. its origin: `Sec-Fetch-Site: same-origin`, or, from a browser that
//!    sends no fetch metadata, an `Origin` exactly the console's. `SameSite`
//!    cookies alone would let a sibling port of the same host through
//!    (same-site is not same-origin);
//! 2. the session's CSRF token in the form ([`check_token`]).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::errors::ConsoleError;
use crate::identity::ConsoleUser;
use crate::state::ConsoleState;

/// Refuses a non-safe request from another origin, before any handler.
pub async fn same_origin(State(state): State<ConsoleState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (site, origin) = (header("sec-fetch-site"), header("origin"));
    let verdict = match (site.as_deref(), origin.as_deref()) {
        (Some("same-origin"), _) => Ok(()),
        (Some(_), _) => Err("this form was sent from another site or origin"),
        (None, Some(origin)) if origin == state.origin() => Ok(()),
        (None, Some(_)) => Err("this form was sent from another origin"),
        (None, None) => Err("the request does not say where it came from (no Origin)"),
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err(why) => ConsoleError::Csrf(why).into_response(),
    }
}

/// The form's token is this session's.
pub fn check_token(user: &ConsoleUser, given: Option<&str>) -> Result<(), ConsoleError> {
    let given = given
        .filter(|g| !g.is_empty())
        .ok_or(ConsoleError::Csrf("the form has no CSRF token; reload the page"))?;
    if Sha256::digest(given.as_bytes()) != Sha256::digest(user.csrf.as_bytes()) {
        return Err(ConsoleError::Csrf("the form's CSRF token is not this session's; reload the page"));
    }
    Ok(())
}
