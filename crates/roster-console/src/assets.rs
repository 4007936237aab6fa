//! Files served from the binary.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

const CSS: &str = include_str!("../assets/console.css");

/// `GET /console/assets/console.css`
pub async fn css() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8"), (CACHE_CONTROL, "public, max-age=300")], CSS)
}

const UPLOAD_JS: &str = include_str!("../assets/upload.js");

/// `GET /console/assets/upload.js`: the upload page's progress bar (the
/// CSP allows scripts from the console itself only).
pub async fn upload_js() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8"), (CACHE_CONTROL, "public, max-age=300")], UPLOAD_JS)
}
