//! Every error the API returns, as RFC 9457 `application/problem+json`.
//! This is the one place where errors become HTTP.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roster_core::RecordError;
use roster_engine::IngestError;
use roster_formats::FormatError;
use roster_queue::QueueError;
use roster_store::StoreError;
use serde_json::json;

/// On a `401` answer: the rule that refused the credential, for the audit
/// of failed authentications (the credential itself is never kept).
#[derive(Debug, Clone, Copy)]
pub struct AuthRefusal(pub &'static str);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this credential lacks the `{0}` scope")]
    Forbidden(&'static str),
    #[error("this route needs an operator credential (`rk_op_...`)")]
    OperatorOnly,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    MethodNotAllowed(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but cannot be done; `errors` lists the
    /// records and fields at fault (no values).
    #[error("{detail}")]
    Unprocessable { detail: String, errors: Vec<RecordError> },
    #[error("Content-Type must be {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Too many records in one request (the detail says how to send them).
    #[error("{0}")]
    TooManyRecords(String),
    /// A part of the request is over its own size limit (the detail names it).
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    /// The node's share of something all tenants use (streamed uploads,
    /// bytes of bodies in memory) is spent: retry after the delay.
    #[error("{detail}")]
    Overloaded { detail: String, retry_after_secs: u64 },
    /// A streamed upload sent no bytes for this long: it failed.
    #[error(
        "no bytes of the upload arrived for {secs} s: the upload failed and its feed with it; send it again"
    )]
    UploadIdle { secs: u64 },
    /// The request took longer than the server's limit for it.
    #[error("the request took longer than the limit of {secs} s; the connection is closed")]
    RequestTimeout { secs: u64 },
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after_secs: u64 },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) | ApiError::OperatorOnly => {
                (StatusCode::FORBIDDEN, "forbidden", "Forbidden")
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not Found"),
            ApiError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method Not Allowed")
            }
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad Request"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::Unprocessable { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", "Unprocessable Content")
            }
            ApiError::UnsupportedMediaType { .. } => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported Media Type")
            }
            ApiError::PayloadTooLarge { .. } | ApiError::TooManyRecords(_) | ApiError::TooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload Too Large")
            }
            ApiError::Unavailable(_) | ApiError::Overloaded { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service Unavailable")
            }
            ApiError::RequestTimeout { .. } | ApiError::UploadIdle { .. } => {
                (StatusCode::REQUEST_TIMEOUT, "request-timeout", "Request Timeout")
            }
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too-many-requests", "Too Many Requests")
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal Server Error"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let detail = match &self {
            ApiError::Internal(cause) => {
                // The cause goes to the log (it names no personal data); the
                // client gets nothing it could use against us.
                tracing::error!(cause, "internal error");
                "an internal error occurred; the request id identifies it in the logs".to_owned()
            }
            other => other.to_string(),
        };
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), detail, "request failed");
        }
        let mut body = json!({
            "type": format!("https://roster.dev/problems/{slug}"),
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        });
        if let ApiError::Unprocessable { errors, .. } = &self
            && !errors.is_empty()
        {
            body["errors"] = json!(errors);
        }
        let mut res = (status, Json(body)).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match self {
            ApiError::Unauthorized(reason) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                res.extensions_mut().insert(AuthRefusal(reason));
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::RequestTimeout { .. } | ApiError::UploadIdle { .. } => {
                // The rest of the body may still be on its way: start afresh.
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::TooManyRequests { retry_after_secs, .. }
            | ApiError::Overloaded { retry_after_secs, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("resource"),
            StoreError::Invalid(m) => ApiError::BadRequest(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Unavailable(m) => {
                ApiError::Unavailable(format!("the directory is busy ({m}); retry"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Unavailable(m) => ApiError::Unavailable(format!("the queue is busy ({m}); retry")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Format(too_many @ FormatError::TooManyRecords { .. }) => {
                ApiError::TooManyRecords(format!("{too_many}: split it, or send a CSV file (streamed)"))
            }
            IngestError::Format(f) => ApiError::BadRequest(f.to_string()),
            too_many @ IngestError::TooManyRows { .. } => ApiError::TooManyRecords(too_many.to_string()),
            strict @ IngestError::Strict { .. } => {
                let detail = strict.to_string();
                let IngestError::Strict { rejected, .. } = strict else { unreachable!() };
                ApiError::Unprocessable { detail, errors: rejected }
            }
            too_many @ IngestError::TooManyRecords { .. } => ApiError::TooManyRecords(too_many.to_string()),
            IngestError::Queue(q) => q.into(),
            IngestError::Store(s) => s.into(),
            busy @ IngestError::Busy { retry_after, .. } => ApiError::TooManyRequests {
                detail: busy.to_string(),
                retry_after_secs: retry_after.as_secs().max(1),
            },
        }
    }
}
