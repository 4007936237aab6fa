//! `ConsoleError`: the console's one error type, rendered as an HTML page
//! (the API's errors are RFC 9457 problems; a browser needs a page). No
//! page shows a secret, a token or a store's internal message.

use askama::Template;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{Html, IntoResponse, Response};
use roster_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not signed in: off to the sign-in.
    #[error("sign-in required")]
    SignIn,
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// A refused state-changing request (CSRF token or origin).
    #[error("{0}")]
    Csrf(&'static str),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    /// The tenant holds its whole share of something the API shares too.
    #[error("{0}")]
    TooManyRequests(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    /// Logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ConsoleError::NotFound("record"),
            StoreError::Conflict(m) => ConsoleError::Conflict(m),
            StoreError::Invalid(m) => ConsoleError::BadRequest(m),
            StoreError::Unavailable(_) => ConsoleError::Unavailable("the directory is busy; try again"),
            StoreError::Storage(m) => ConsoleError::Internal(m),
        }
    }
}

impl From<roster_queue::QueueError> for ConsoleError {
    fn from(e: roster_queue::QueueError) -> Self {
        match e {
            roster_queue::QueueError::Unavailable(_) => {
                ConsoleError::Unavailable("the queue is busy; try again")
            }
            other => ConsoleError::Internal(other.to_string()),
        }
    }
}

impl From<roster_engine::dead_letters::PurgeError> for ConsoleError {
    fn from(e: roster_engine::dead_letters::PurgeError) -> Self {
        match e {
            roster_engine::dead_letters::PurgeError::Queue(e) => e.into(),
            roster_engine::dead_letters::PurgeError::Store(e) => e.into(),
        }
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        ConsoleError::Internal(format!("template: {e}"))
    }
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    detail: &'a str,
    sign_in: bool,
}

impl ConsoleError {
    fn status(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ConsoleError::Forbidden(_) | ConsoleError::Csrf(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Conflict(_) => StatusCode::CONFLICT,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ConsoleError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        if let ConsoleError::SignIn = self {
            return (StatusCode::SEE_OTHER, [(LOCATION, "/console/login")]).into_response();
        }
        let status = self.status();
        let title = match &self {
            ConsoleError::Unauthenticated(_) => "Not signed in",
            ConsoleError::Forbidden(_) => "Not allowed",
            ConsoleError::Csrf(_) => "Request refused",
            ConsoleError::NotFound(_) => "Not found",
            ConsoleError::Conflict(_) => "Cannot do that now",
            ConsoleError::BadRequest(_) => "Bad request",
            ConsoleError::TooManyRequests(_) => "Too many at once",
            ConsoleError::Unavailable(_) => "Try again shortly",
            ConsoleError::Internal(_) | ConsoleError::SignIn => "Something went wrong",
        };
        let detail = match &self {
            ConsoleError::Internal(m) => {
                tracing::error!(error = m, "console request failed");
                "The error was logged. Try again, or ask an operator.".to_owned()
            }
            other => other.to_string(),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            detail: &detail,
            sign_in: matches!(self, ConsoleError::Unauthenticated(_)),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, detail).into_response(),
        }
    }
}
