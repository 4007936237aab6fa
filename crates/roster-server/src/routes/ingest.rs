//! `POST /integrations/hr-feed`: a feed as JSON, CSV or a SCIM BulkRequest,
//! answered `202 Accepted` once its accepted records are durably queued.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use roster_core::public_id::{Kind, render};
use roster_core::{FeedMode, SourceName};
use roster_engine::{IngestReceipt, Submission};
use roster_store::{IdempotencyClaim, Scope, Validation};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::budget::{BudgetGuard, Refused, content_length};
use crate::problem::ApiError;
use crate::state::AppState;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IngestQuery {
    /// The tenant's integration channel; `default` when absent.
    source: Option<String>,
    /// `delta` or `full`; for JSON it overrides the envelope's `mode`.
    mode: Option<String>,
    /// Parse, map and validate only.
    dry_run: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Scim,
}

impl Format {
    fn of(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mime = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase());
        match mime.as_deref() {
            Some("application/json") => Ok(Format::Json),
            Some("text/csv") => Ok(Format::Csv),
            Some("application/scim+json") => Ok(Format::Scim),
            _ => Err(ApiError::UnsupportedMediaType {
                expected: "application/json, text/csv or application/scim+json",
            }),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Scim => "scim",
        }
    }
}

/// An answer, kept whole so an `Idempotency-Key` can replay it.
struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Value,
    location: Option<String>,
}

impl Reply {
    fn into_response(self, replayed: bool) -> Response {
        let mut res = (self.status, self.body.to_string()).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if let Some(v) = self.location.as_deref().and_then(|l| HeaderValue::from_str(l).ok()) {
            h.insert(header::LOCATION, v);
        }
        if replayed {
            h.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        res
    }
}

/// The request's identity for `Idempotency-Key`: what it asks (method,
/// path, query, content type) and its body, hashed as the body streams by.
type Fingerprint = Arc<Mutex<Sha256>>;

fn fingerprint_of(req: &Request) -> Fingerprint {
    let mut h = Sha256::new();
    h.update(req.method().as_str());
    h.update(b"\n");
    h.update(req.uri().path_and_query().map_or("", |p| p.as_str()));
    h.update(b"\n");
    h.update(req.headers().get(header::CONTENT_TYPE).map_or(&b""[..], |v| v.as_bytes()));
    h.update(b"\n");
    Arc::new(Mutex::new(h))
}

fn finish(fp: &Fingerprint) -> [u8; 32] {
    fp.lock().expect("fingerprint lock").clone().finalize().into()
}

pub async fn hr_feed(
    State(state): State<AppState>,
    principal: Principal,
    query: Result<Query<IngestQuery>, QueryRejection>,
    req: Request,
) -> Result<Response, ApiError> {
    principal.require(Scope::Ingest)?;
    let Query(q) = query.map_err(|e| crate::problem::query_error(&e))?;
    let format = Format::of(req.headers())?;
    let source = match q.source.as_deref() {
        None => SourceName::default(),
        Some(s) => SourceName::parse(s).map_err(|e| ApiError::invalid("source", format!("`source`: {e}")))?,
    };
    let mode = match q.mode.as_deref() {
        None => None,
        Some(m) => Some(
            FeedMode::parse(m).ok_or_else(|| ApiError::invalid("mode", "`mode` must be delta or full"))?,
        ),
    };
    if format == Format::Scim && mode == Some(FeedMode::Full) {
        return Err(ApiError::Invalid {
            param: "mode".into(),
            code: "mode_conflict",
            detail: "a SCIM BulkRequest is a delta; it cannot be a full snapshot".into(),
        });
    }
    let sub = Submission {
        tenant: principal.tenant_id,
        source,
        format: format.name(),
        dry_run: q.dry_run.unwrap_or(false),
        request_id: request_id(req.headers()),
    };
    let Some(key) = idempotency_key(req.headers())? else {
        let fp = fingerprint_of(&req);
        return Ok(run(&state, &sub, format, mode, req, &fp).await?.into_response(false));
    };

    let tenant = principal.tenant_id;
    let fp = fingerprint_of(&req);
    // The claim outlives any request: the timeout middleware ends one at
    // `upload_timeout` at the latest.
    let hold = state.config.upload_timeout + std::time::Duration::from_secs(60);
    match state.directory.claim_idempotency_key(tenant, &key, state.clock.now(), hold).await? {
        IdempotencyClaim::InProgress => Err(ApiError::Conflict(
            "a request with this Idempotency-Key is still being processed; retry later".into(),
        )),
        IdempotencyClaim::Completed { fingerprint, status, body, location } => {
            drain(&state, format, req, &fp).await?;
            if finish(&fp) != fingerprint {
                return Err(ApiError::Unprocessable {
                    detail: "this Idempotency-Key was used for a different request; use a new key".into(),
                    errors: Vec::new(),
                });
            }
            let mut body: Value =
                serde_json::from_str(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
            // An answer stored by an older build named the feed bare.
            let location = location.map(|l| match l.strip_prefix("/v1/feeds/") {
                Some(id) if !id.starts_with(Kind::Feed.prefix()) => {
                    format!("/v1/feeds/{}", render(Kind::Feed, id))
                }
                _ => l,
            });
            if let Some(id) = body["feedId"].as_str().filter(|id| !id.starts_with(Kind::Feed.prefix())) {
                body["feedId"] = json!(render(Kind::Feed, id));
            }
            let content_type =
                if format == Format::Scim { "application/scim+json" } else { "application/json" };
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
            Ok(Reply { status, content_type, body, location }.into_response(true))
        }
        IdempotencyClaim::Claimed => match run(&state, &sub, format, mode, req, &fp).await {
            Ok(reply) if reply.status.is_success() && !sub.dry_run => {
                let body = replay_body(&reply.body);
                let location = reply.location.clone();
                state
                    .directory
                    .complete_idempotency_key(
                        tenant,
                        &key,
                        finish(&fp),
                        reply.status.as_u16(),
                        body,
                        location,
                    )
                    .await?;
                Ok(reply.into_response(false))
            }
            other => {
                state.directory.release_idempotency_key(tenant, &key).await?;
                other.map(|r| r.into_response(false))
            }
        },
    }
}

/// Most rejected records a stored answer keeps for replays (as many as the
/// feed keeps: `GET /v1/feeds/{id}` shows the same ones).
const MAX_REPLAYED_REJECTIONS: usize = 1000;

/// The answer as stored for replays, bounded: a feed of 100,000 rejected
/// records answers with every error once, but its replay (and the row kept
/// for 24 hours) carries the first thousand and says so.
fn replay_body(body: &Value) -> String {
    match body.get("rejected").and_then(Value::as_array) {
        Some(rejected) if rejected.len() > MAX_REPLAYED_REJECTIONS => {
            let mut bounded = body.clone();
            bounded["rejected"] = Value::Array(rejected[..MAX_REPLAYED_REJECTIONS].to_vec());
            bounded["rejectedTruncated"] = Value::Bool(true);
            bounded.to_string()
        }
        _ => body.to_string(),
    }
}

/// The request's `x-request-id` (the client's, or the one the server made),
/// to be carried by each queued message: only if it is 1–128 visible ASCII
/// characters, as it is copied into every message of the feed.
fn request_id(headers: &HeaderMap) -> Option<String> {
    let id = headers.get("x-request-id")?.to_str().ok()?;
    ((1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())).then(|| id.to_owned())
}

/// `Idempotency-Key`: 1–255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let key = v
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        ApiError::invalid("Idempotency-Key", "`Idempotency-Key` must be 1 to 255 visible ASCII characters")
    })
}

async fn run(
    state: &AppState,
    sub: &Submission,
    format: Format,
    mode: Option<FeedMode>,
    req: Request,
    fp: &Fingerprint,
) -> Result<Reply, ApiError> {
    match format {
        Format::Json => {
            let (body, _held) = buffered(state, sub, req, fp).await?;
            let receipt = state.ingest.submit_json(sub, mode, body).await?;
            Ok(receipt_reply(sub, receipt))
        }
        Format::Scim => {
            let (body, _held) = buffered(state, sub, req, fp).await?;
            let (receipt, operations) = state.ingest.submit_scim(sub, body).await?;
            if sub.dry_run {
                return Ok(receipt_reply(sub, receipt));
            }
            let feed_id = receipt.feed_id.map(|f| render(Kind::Feed, f)).unwrap_or_default();
            tracing::Span::current().record("feed_id", feed_id.as_str());
            let body = roster_formats::scim::bulk_response(&operations, &feed_id, &receipt.rejected);
            Ok(Reply {
                status: StatusCode::ACCEPTED,
                content_type: "application/scim+json",
                body,
                location: Some(format!("/v1/feeds/{feed_id}")),
            })
        }
        Format::Csv => {
            let mode = mode.unwrap_or_default();
            let length = content_length(req.headers());
            let small = length.is_some_and(|n| n <= state.config.body_limit as u64);
            // Strict sources and dry runs judge the file whole before
            // queueing anything, so they hold it in memory.
            let whole = small
                || sub.dry_run
                || state.ingest.source_settings(sub.tenant, &sub.source).await?.validation
                    == Validation::Strict;
            let receipt = if whole {
                let (body, _held) = buffered(state, sub, req, fp).await?;
                state.ingest.submit_csv(sub, mode, body).await?
            } else {
                let slot = upload_slot(state, sub)?;
                let ended = Arc::new(StreamEnd::default());
                let input = stream(state, req, fp, Arc::clone(&ended), slot);
                match state.ingest.submit_csv_stream(sub, mode, input).await {
                    Err(_) if ended.too_large.load(Ordering::Relaxed) => {
                        return Err(ApiError::PayloadTooLarge { limit: state.config.upload_limit as usize });
                    }
                    Err(_) if ended.idle.load(Ordering::Relaxed) => {
                        return Err(ApiError::UploadIdle {
                            secs: state.config.upload_idle_timeout.as_secs(),
                        });
                    }
                    other => other?,
                }
            };
            Ok(receipt_reply(sub, receipt))
        }
    }
}

fn receipt_reply(sub: &Submission, r: IngestReceipt) -> Reply {
    let rejected_count = r.received - r.accepted;
    let mut body = json!({
        "source": sub.source,
        "mode": r.mode,
        "received": r.received,
        "accepted": r.accepted,
        "rejected": r.rejected,
    });
    if rejected_count > r.rejected.len() {
        body["rejectedCount"] = rejected_count.into();
    }
    if !r.warnings.is_empty() {
        body["warnings"] = json!(r.warnings);
    }
    match (r.feed_id, r.preview) {
        (Some(feed_id), _) => {
            tracing::Span::current().record("feed_id", tracing::field::display(feed_id));
            body["feedId"] = json!(render(Kind::Feed, feed_id));
            Reply {
                status: StatusCode::ACCEPTED,
                content_type: "application/json",
                body,
                location: Some(format!("/v1/feeds/{}", render(Kind::Feed, feed_id))),
            }
        }
        (None, preview) => {
            body["dryRun"] = true.into();
            body["records"] = json!(preview.unwrap_or_default());
            Reply { status: StatusCode::OK, content_type: "application/json", body, location: None }
        }
    }
}

/// How long a client refused for want of room is asked to wait.
const BODY_RETRY_SECS: u64 = 2;
const UPLOAD_RETRY_SECS: u64 = 30;

/// The whole body, within the body limit and the ordinary request timeout
/// (only a streamed CSV gets the longer upload timeout), and within the
/// budget of bodies held in memory: its `Content-Length`, or the body limit
/// when the length is unknown, is reserved before a byte is read, and held
/// (the guard) until the caller is done with the body.
async fn buffered(
    state: &AppState,
    sub: &Submission,
    req: Request,
    fp: &Fingerprint,
) -> Result<(Bytes, BudgetGuard), ApiError> {
    let body_limit = state.config.body_limit as u64;
    let length = content_length(req.headers());
    if length.is_some_and(|n| n > body_limit) {
        return Err(ApiError::PayloadTooLarge { limit: state.config.body_limit });
    }
    let held = state.budgets.bodies.try_take(sub.tenant, length.unwrap_or(body_limit)).map_err(|refused| {
        let mib = |n: u64| n / (1024 * 1024);
        match refused {
            Refused::Tenant => ApiError::TooManyRequests {
                detail: format!(
                    "this tenant's requests in progress already hold {} MiB of bodies, the most it may at once; retry when they are answered",
                    mib(state.config.max_body_bytes_in_flight_per_tenant)
                ),
                retry_after_secs: BODY_RETRY_SECS,
            },
            Refused::Global => ApiError::Overloaded {
                detail: format!(
                    "the server holds {} MiB of request bodies, the most it takes at once; retry later",
                    mib(state.config.max_body_bytes_in_flight)
                ),
                retry_after_secs: BODY_RETRY_SECS,
            },
        }
    })?;
    let limit = state.config.request_timeout;
    let read = tokio::time::timeout(limit, Bytes::from_request(req, state))
        .await
        .map_err(|_| ApiError::RequestTimeout { secs: limit.as_secs() })?;
    let body = read.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit: state.config.body_limit }
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })?;
    fp.lock().expect("fingerprint lock").update(&body);
    Ok((body, held))
}

/// A place among the uploads streaming now, or why there is none.
fn upload_slot(state: &AppState, sub: &Submission) -> Result<BudgetGuard, ApiError> {
    state.budgets.uploads.try_take(sub.tenant, 1).map_err(|refused| match refused {
        Refused::Tenant => ApiError::TooManyRequests {
            detail: format!(
                "this tenant already streams {} CSV uploads, the most it may at once; retry when one has ended",
                state.config.max_streaming_uploads_per_tenant
            ),
            retry_after_secs: UPLOAD_RETRY_SECS,
        },
        Refused::Global => ApiError::Overloaded {
            detail: format!(
                "the server already streams {} CSV uploads, the most it takes at once; retry later",
                state.config.max_streaming_uploads
            ),
            retry_after_secs: UPLOAD_RETRY_SECS,
        },
    })
}

/// Why a streamed body ended early, when it was the server's doing.
#[derive(Default)]
struct StreamEnd {
    too_large: AtomicBool,
    idle: AtomicBool,
}

/// The body as a blocking reader for the CSV parser, hashed and counted
/// as it streams by; past the upload limit, or when no bytes come for the
/// idle timeout, it fails (and flags why). It holds the upload's `slot`
/// until the reader is dropped — when the upload's thread is done with it,
/// which may be after the request was answered (a `408`).
fn stream(
    state: &AppState,
    req: Request,
    fp: &Fingerprint,
    ended: Arc<StreamEnd>,
    slot: BudgetGuard,
) -> impl io::Read + Send + 'static {
    let limit = state.config.upload_limit;
    let idle = state.config.upload_idle_timeout;
    let fp = Arc::clone(fp);
    let mut seen = 0u64;
    let body = req.into_body().into_data_stream();
    let idle_flag = Arc::clone(&ended);
    let timed = futures_util::stream::unfold(Some(body), move |body| {
        let ended = Arc::clone(&idle_flag);
        async move {
            let mut body = body?;
            match tokio::time::timeout(idle, body.next()).await {
                Ok(Some(chunk)) => Some((chunk.map_err(io::Error::other), Some(body))),
                Ok(None) => None,
                Err(_) => {
                    ended.idle.store(true, Ordering::Relaxed);
                    Some((Err(io::Error::new(io::ErrorKind::TimedOut, "upload idle")), None))
                }
            }
        }
    });
    let chunks = timed.map(move |chunk| {
        let _slot = &slot;
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > limit {
            ended.too_large.store(true, Ordering::Relaxed);
            return Err(io::Error::other("upload over the limit"));
        }
        fp.lock().expect("fingerprint lock").update(&chunk);
        Ok::<_, io::Error>(chunk)
    });
    tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(Box::pin(chunks)))
}

/// Reads (and hashes) a body only to compare it with the first request's:
/// up to the limit the first could have had (only a CSV streams past the
/// body limit).
async fn drain(state: &AppState, format: Format, req: Request, fp: &Fingerprint) -> Result<(), ApiError> {
    let limit =
        if format == Format::Csv { state.config.upload_limit } else { state.config.body_limit as u64 };
    let mut seen = 0u64;
    let mut chunks = req.into_body().into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest("the request body could not be read".into()))?;
        seen += chunk.len() as u64;
        if seen > limit {
            return Err(ApiError::PayloadTooLarge { limit: limit as usize });
        }
        fp.lock().expect("fingerprint lock").update(&chunk);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_answer_keeps_at_most_a_thousand_rejections() {
        let errors: Vec<Value> = (0..20_000).map(|i| json!({"index": i, "errors": []})).collect();
        let body = json!({"feedId": "f", "accepted": 0, "rejected": errors});
        let stored: Value = serde_json::from_str(&replay_body(&body)).unwrap();
        assert_eq!(stored["rejected"].as_array().unwrap().len(), MAX_REPLAYED_REJECTIONS);
        assert_eq!(stored["rejectedTruncated"], true);
        assert_eq!(stored["feedId"], "f");
        let small = json!({"feedId": "g", "rejected": []});
        assert_eq!(replay_body(&small), small.to_string(), "small answers are kept as they were");
    }
}
