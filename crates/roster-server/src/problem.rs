//! Every error the API returns, as RFC 9457 `application/problem+json`.
//! This is the one place where errors become HTTP.
//!
//! A problem is `{"type": "about:blank", "title", "status", "detail",
//! "code", "param"?, "requestId"}`: `code` is the machine-readable reason
//! (each is listed in `docs/errors.md`), `param` names the query parameter,
//! body field or header at fault when there is one, and `requestId` is the
//! `x-request-id` the logs carry. [`finish`] adds the request id and turns
//! any error answer made elsewhere (axum's rejections, a layer's) into one.

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
    /// A named part of the request is wrong: a query parameter, a field of
    /// the body, a header. `code` says how (see `docs/errors.md`).
    #[error("{detail}")]
    Invalid { param: String, code: &'static str, detail: String },
    #[error("{0}")]
    Conflict(String),
    /// A conflict with a reason of its own (`code`, see `docs/errors.md`).
    #[error("{detail}")]
    ConflictOf { code: &'static str, detail: String },
    /// The credential's tenant is scheduled for deletion: refused until an
    /// operator cancels it.
    #[error(
        "this tenant is scheduled for deletion (its data is purged at {delete_after}): its keys and tokens are refused unless an operator cancels the deletion"
    )]
    TenantDeleting { delete_after: roster_core::Timestamp },
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
    /// `/readyz`: a dependency (`directory` or `queue`) does not answer; the
    /// problem names it in its `dependency` member.
    #[error("{dependency} not ready: {detail}")]
    NotReady { dependency: &'static str, detail: String },
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
    /// A query parameter or body field named `param` has a value this route
    /// cannot take.
    pub fn invalid(param: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Invalid { param: param.into(), code: "invalid_parameter", detail: detail.into() }
    }

    /// The machine-readable `code` of this problem.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "insufficient_scope",
            ApiError::OperatorOnly => "operator_only",
            ApiError::NotFound("route") => "route_not_found",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::Invalid { code, .. } => code,
            ApiError::Conflict(_) => "conflict",
            ApiError::ConflictOf { code, .. } => code,
            ApiError::TenantDeleting { .. } => "tenant_deleting",
            ApiError::Unprocessable { .. } => "validation_failed",
            ApiError::UnsupportedMediaType { .. } => "unsupported_media_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::TooManyRecords(_) => "too_many_records",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotReady { .. } => "not_ready",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::UploadIdle { .. } => "upload_idle",
            ApiError::RequestTimeout { .. } => "request_timeout",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Internal(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::OperatorOnly => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_) | ApiError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) | ApiError::ConflictOf { .. } => StatusCode::CONFLICT,
            ApiError::TenantDeleting { .. } => StatusCode::FORBIDDEN,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } | ApiError::TooManyRecords(_) | ApiError::TooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Unavailable(_) | ApiError::NotReady { .. } | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::RequestTimeout { .. } | ApiError::UploadIdle { .. } => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The field at fault, when the problem names one.
    fn param(&self) -> Option<&str> {
        match self {
            ApiError::Invalid { param, .. } => Some(param),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
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
        let mut body = problem(status, title, &detail, self.code());
        if let Some(param) = self.param() {
            body["param"] = json!(param);
        }
        if let ApiError::Unprocessable { errors, .. } = &self
            && !errors.is_empty()
        {
            body["errors"] = json!(errors);
        }
        if let ApiError::NotReady { dependency, .. } = &self {
            body["dependency"] = json!(dependency);
        }
        let mut res = (status, Json(body)).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match self {
            ApiError::Unauthorized(reason) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                res.extensions_mut().insert(AuthRefusal(reason));
            }
            ApiError::Unavailable(_) | ApiError::NotReady { .. } => {
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

impl From<roster_engine::dead_letters::PurgeError> for ApiError {
    fn from(e: roster_engine::dead_letters::PurgeError) -> Self {
        match e {
            roster_engine::dead_letters::PurgeError::Queue(e) => e.into(),
            roster_engine::dead_letters::PurgeError::Store(e) => e.into(),
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
            conflict @ IngestError::ModeConflict { .. } => ApiError::Invalid {
                param: "mode".into(),
                code: "mode_conflict",
                detail: conflict.to_string(),
            },
            IngestError::Queue(q) => q.into(),
            IngestError::Store(s) => s.into(),
            stalled @ IngestError::Stalled => ApiError::Unavailable(stalled.to_string()),
            busy @ IngestError::Busy { retry_after, .. } => ApiError::TooManyRequests {
                detail: busy.to_string(),
                retry_after_secs: retry_after.as_secs().max(1),
            },
        }
    }
}

/// The members every problem has.
fn problem(status: StatusCode, title: &str, detail: &str, code: &str) -> serde_json::Value {
    json!({
        // The codes are documented in `docs/errors.md`; `type` says nothing
        // more than the status does (RFC 9457 §4.2.1).
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    })
}

/// The largest error body [`finish`] reads to add the request id (a strict
/// feed's problem lists up to a thousand rejected records).
const MAX_PROBLEM_BYTES: usize = 8 << 20;

/// Middleware: every error answer leaves as a problem with the request's
/// id. Problems made by [`ApiError`] get `requestId`; any other error
/// answer (a rejection axum or a layer made, in `text/plain` or empty) is
/// replaced by a problem of its status. An HTML page (the console's error
/// pages, for a browser) is left as it is.
pub async fn finish(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let content_type =
        res.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes().to_vec()).unwrap_or_default();
    if content_type.starts_with(b"text/html") {
        return res;
    }
    let is_problem = content_type.starts_with(b"application/problem+json");
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_PROBLEM_BYTES).await.unwrap_or_default();
    let mut problem_body = if is_problem {
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_else(|_| generic(status, &[]))
    } else {
        generic(status, &bytes)
    };
    if let (Some(obj), Some(id)) = (problem_body.as_object_mut(), request_id) {
        obj.insert("requestId".into(), json!(id));
    }
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(problem_body.to_string()))
}

/// A problem for an error answer made outside [`ApiError`]: its status, and
/// the answer's text as the detail (quoted values taken out).
fn generic(status: StatusCode, text: &[u8]) -> serde_json::Value {
    let code = match status {
        StatusCode::NOT_FOUND => "route_not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "insufficient_scope",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let text = String::from_utf8_lossy(text);
    let detail = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        t => redact_quoted(&t.chars().take(500).collect::<String>()),
    };
    problem(status, status.canonical_reason().unwrap_or("Error"), &detail, code)
}

/// Takes double-quoted strings out of a parser's message: serde quotes the
/// values it could not take (`invalid type: string "…"`), and a value may
/// be personal data. Field names (in backticks) stay.
pub fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        match (c, inside) {
            ('"', false) => {
                inside = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                inside = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// A serde message `path: what went wrong`, as axum's extractors report it
/// (serde_path_to_error): the path, if any, and the rest.
fn split_path(message: &str) -> (Option<&str>, &str) {
    match message.split_once(": ") {
        Some((path, rest)) if !path.is_empty() && !path.contains(' ') => (Some(path), rest),
        _ => (None, message),
    }
}

/// The name serde quotes in `unknown field `x`, expected ...`.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.split("unknown field `").nth(1)?;
    rest.split('`').next()
}

/// A query string this route cannot take: an unknown parameter names it
/// (`unknown_parameter`), a bad value names its parameter.
pub fn query_error(e: &axum::extract::rejection::QueryRejection) -> ApiError {
    let text = e.body_text();
    let message = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text);
    if let Some(name) = unknown_field(message) {
        return unknown_parameter(name);
    }
    match split_path(message) {
        (Some(param), why) => ApiError::invalid(param, format!("`{param}`: {}", redact_quoted(why))),
        (None, why) => match why.split("missing field `").nth(1).and_then(|r| r.split('`').next()) {
            Some(param) => ApiError::invalid(param, format!("`{param}` is required")),
            None => ApiError::BadRequest(format!("invalid query string: {}", redact_quoted(why))),
        },
    }
}

/// A query parameter this route does not take.
pub fn unknown_parameter(name: &str) -> ApiError {
    let shown: String = name.chars().take(64).collect();
    ApiError::Invalid {
        param: shown.clone(),
        code: "unknown_parameter",
        detail: format!("unknown query parameter `{shown}`"),
    }
}

/// A JSON body this route cannot take: `415` without a JSON content type,
/// `413` past the size limit, `400` naming the field at fault otherwise.
pub fn json_error(e: &axum::extract::rejection::JsonRejection, what: &str) -> ApiError {
    use axum::extract::rejection::JsonRejection as R;
    match e {
        R::MissingJsonContentType(_) => ApiError::UnsupportedMediaType { expected: "application/json" },
        R::JsonSyntaxError(_) => ApiError::Invalid {
            param: "body".into(),
            code: "invalid_json",
            detail: format!("the {what} is not valid JSON: {}", redact_quoted(&source_text(e))),
        },
        R::JsonDataError(_) => {
            let text = source_text(e);
            let (path, why) = split_path(&text);
            let param = unknown_field(why)
                .map(str::to_owned)
                .or_else(|| {
                    why.split("missing field `").nth(1).and_then(|r| r.split('`').next()).map(str::to_owned)
                })
                // serde_path_to_error's path ends with an unknown field,
                // not with a missing one.
                .map(|field| match path {
                    Some(p) if p == field || p.ends_with(&format!(".{field}")) => p.to_owned(),
                    Some(p) if p != "." => format!("{p}.{field}"),
                    _ => field,
                })
                .or_else(|| path.map(str::to_owned))
                .unwrap_or_else(|| "body".into());
            ApiError::Invalid {
                param,
                code: "invalid_field",
                detail: format!("invalid {what}: {}", redact_quoted(&text)),
            }
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge(format!("the {what} is larger than this route takes"))
        }
        other => ApiError::BadRequest(format!(
            "the {what} could not be read: {}",
            redact_quoted(&other.body_text())
        )),
    }
}

/// The message of a JSON rejection without axum's prefix.
fn source_text(e: &axum::extract::rejection::JsonRejection) -> String {
    let text = e.body_text();
    for prefix in [
        "Failed to deserialize the JSON body into the target type: ",
        "Failed to parse the request body as JSON: ",
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
    text
}

/// A path segment that could not be read (e.g. not UTF-8 once decoded).
pub fn path_error(e: &axum::extract::rejection::PathRejection) -> ApiError {
    ApiError::invalid("path", format!("invalid path: {}", redact_quoted(&e.body_text())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_taken_out_of_parser_messages() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "jane@example.com", expected u64 at line 1"#),
            r#"invalid type: string "…", expected u64 at line 1"#
        );
        assert_eq!(redact_quoted("unknown field `foo`"), "unknown field `foo`");
    }

    #[test]
    fn every_problem_has_a_code_and_names_its_param() {
        let e = ApiError::invalid("limit", "`limit` must be between 1 and 1000");
        assert_eq!(
            (e.code(), e.param(), e.status()),
            ("invalid_parameter", Some("limit"), StatusCode::BAD_REQUEST)
        );
        assert_eq!(ApiError::NotFound("route").code(), "route_not_found");
        assert_eq!(unknown_parameter("bogus").param(), Some("bogus"));
    }

    #[test]
    fn a_feed_the_sweep_failed_before_its_seal_is_a_503_to_retry() {
        let e = ApiError::from(IngestError::Stalled);
        assert_eq!((e.status(), e.code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
        assert!(e.into_response().headers().contains_key(header::RETRY_AFTER));
    }
}
