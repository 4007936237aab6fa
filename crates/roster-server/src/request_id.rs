//! `x-request-id`: always one the server makes (`SetRequestIdLayer`), so an
//! id in the logs and the audit log names one request only. The client's
//! own, when it is one a log line and the audit log can safely carry, is
//! kept beside it as [`ClientRequestId`] (`client_request_id` in logs,
//! `clientRequestId` in the audit log).

use axum::extract::Request;
use axum::http::HeaderName;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client request id kept.
pub const MAX_LEN: usize = 128;

/// Whether a client's request id may be kept: 1–128 letters, digits and
/// `-_.:/+=@` (UUIDs, ULIDs, trace ids, `name:123`). Anything else (too
/// long, spaces, quotes, control bytes) could bloat or forge log lines.
pub fn acceptable(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b))
}

/// The request id the client sent, when [`acceptable`].
#[derive(Debug, Clone)]
pub struct ClientRequestId(pub String);

/// Moves a client's request id out of the way of the request-id layer
/// (which then makes the server's): kept as [`ClientRequestId`] when it is
/// [`acceptable`] and sent once, dropped otherwise.
pub async fn sanitize(mut req: Request) -> Request {
    let mut ids = req.headers().get_all(X_REQUEST_ID).iter();
    let client = match (ids.next(), ids.next()) {
        (Some(id), None) if acceptable(id.as_bytes()) => id.to_str().ok().map(str::to_owned),
        _ => None,
    };
    req.headers_mut().remove(X_REQUEST_ID);
    if let Some(id) = client {
        req.extensions_mut().insert(ClientRequestId(id));
    }
    req
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_short_ids_of_a_safe_charset_are_kept() {
        for ok in ["req-123", "0193b6a2-7c1e-7d7a-9f00-1234567890ab", "trace:01HX/z+=@_.", &"a".repeat(128)] {
            assert!(acceptable(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            &"a".repeat(129),
            "has space",
            "quote\"",
            "new\nline",
            "tab\t",
            "é",
            "{\"level\":1}",
            "back\\slash",
        ] {
            assert!(!acceptable(bad.as_bytes()), "{bad:?}");
        }
    }
}
