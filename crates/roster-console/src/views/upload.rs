//! The "admin tools" source: an admin uploads a CSV, JSON or SCIM file as a
//! delta or full feed of a source, through the same ingest as the API. A
//! CSV is streamed to ingest as it arrives (memory does not grow with the
//! file; a strict source's is read whole first, as the API does), JSON and
//! SCIM are read whole up to the API's body limit. Without JavaScript the
//! form posts and the answer is the new feed's page; `upload.js` adds a
//! progress bar.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use roster_core::public_id::{Kind, render};
use roster_core::{FeedMode, SourceName};
use roster_engine::{Ingest, IngestError, IngestReceipt, Submission};
use roster_server::budget::{BudgetGuard, Refused, content_length};
use roster_store::Validation;

use super::multipart::{self, FormStream};
use super::{audit, page};
use crate::errors::ConsoleError;
use crate::identity::{ConsoleUser, Role};
use crate::state::ConsoleState;

/// The source an upload goes to unless the admin names another.
pub const DEFAULT_SOURCE: &str = "admin-upload";

#[derive(Template)]
#[template(path = "upload/form.html")]
struct UploadForm {
    user: ConsoleUser,
    tenant: String,
    default_source: &'static str,
    limit_mib: u64,
    available: bool,
}

/// `GET /console/t/{tenant}/upload`
pub async fn form(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Admin)?.clone();
    page(UploadForm {
        tenant: grant.tenant_name,
        default_source: DEFAULT_SOURCE,
        limit_mib: state.upload_limits().upload / (1024 * 1024),
        available: state.ingest().is_some(),
        user,
    })
}

/// `POST /console/t/{tenant}/upload` (multipart: `csrf`, `source`,
/// `format`, `mode`, then the `file`): answers with the feed's page.
pub async fn submit(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
    req: Request,
) -> Result<Response, ConsoleError> {
    // The whole form's length bounds the file's: what a file read whole
    // reserves of the bodies' budget, as the API reserves a body's length.
    let length = content_length(req.headers());
    let mut form = FormStream::new(req)?;
    let (mut csrf, mut source, mut format, mut mode) = (None, String::new(), String::new(), FeedMode::Delta);
    let file = loop {
        let Some(field) = form.next().await? else {
            return Err(ConsoleError::BadRequest("file: choose a file to upload".into()));
        };
        match field.name() {
            Some("csrf") => csrf = Some(multipart::text(field).await?),
            Some("source") => source = multipart::text(field).await?,
            Some("format") => format = multipart::text(field).await?,
            Some("mode") => {
                let m = multipart::text(field).await?;
                mode = FeedMode::parse(&m)
                    .ok_or_else(|| ConsoleError::BadRequest(format!("mode: `{m}` is not delta or full")))?;
            }
            Some("file") => break field,
            _ => {}
        }
    };
    // Checked before a byte of the file is read.
    let grant = super::form_grant(&user, &tenant, csrf.as_deref(), Role::Admin)?;
    let ingest = state.ingest().ok_or(ConsoleError::Unavailable("this node takes no uploads"))?;
    let source = match source.trim() {
        "" => SourceName::parse(DEFAULT_SOURCE),
        s => SourceName::parse(s),
    }
    .map_err(|e| ConsoleError::BadRequest(format!("source: {e}")))?;
    let format: &'static str = match format.as_str() {
        "csv" => "csv",
        "json" => "json",
        "scim" => "scim",
        other => return Err(ConsoleError::BadRequest(format!("format: `{other}` is not csv, json or scim"))),
    };
    let sub = Submission { tenant: grant.tenant_id, source, format, dry_run: false, request_id: None };
    let limits = state.upload_limits();
    let ended = Arc::new(multipart::StreamEnd::default());
    let streamed = format == "csv"
        && ingest.source_settings(sub.tenant, &sub.source).await.map_err(refused)?.validation
            != Validation::Strict;
    // Held until ingest has answered, like the API's.
    let _held = take_budget(
        &state,
        &sub,
        streamed,
        length.map_or(limits.body as u64, |n| n.min(limits.body as u64)),
    )?;
    let receipt = if streamed {
        let chunks = multipart::limited(file, limits.upload, limits.idle, Arc::clone(&ended));
        let input = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(Box::pin(chunks)));
        ingest.submit_csv_stream(&sub, mode, input).await
    } else {
        let body = multipart::bytes(file, limits.body, "file").await?;
        whole(ingest, &sub, mode, body).await
    };
    let receipt = match receipt {
        Err(_) if ended.too_large.load(Ordering::Relaxed) => {
            return Err(ConsoleError::BadRequest(format!(
                "file: larger than the {} MiB an upload may have",
                limits.upload / (1024 * 1024)
            )));
        }
        Err(_) if ended.idle.load(Ordering::Relaxed) => {
            return Err(ConsoleError::BadRequest(format!(
                "file: the upload stopped sending for {} s; nothing more was read",
                limits.idle.as_secs()
            )));
        }
        other => other.map_err(refused)?,
    };
    let feed = receipt.feed_id.map(|f| render(Kind::Feed, f)).unwrap_or_default();
    audit(&state, &user, &grant, "feed.uploaded", Some(feed.clone())).await;
    let to = grant.path(&format!("feeds/{feed}"));
    Ok((StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response())
}

/// A place in the API's budgets for this upload: one of the tenant's
/// streaming uploads, or `bytes` of the bodies held in memory. Refused at
/// once, never queued, as the API refuses.
fn take_budget(
    state: &ConsoleState,
    sub: &Submission,
    streamed: bool,
    bytes: u64,
) -> Result<Option<BudgetGuard>, ConsoleError> {
    let Some(budgets) = state.budgets() else { return Ok(None) };
    let taken = match streamed {
        true => budgets.uploads.try_take(sub.tenant, 1),
        false => budgets.bodies.try_take(sub.tenant, bytes),
    };
    taken.map(Some).map_err(|refused| match refused {
        Refused::Tenant => ConsoleError::TooManyRequests(
            "this tenant's uploads in progress, here and through the API, already hold its whole share: \
             nothing was accepted; try again when one has ended",
        ),
        Refused::Global => ConsoleError::Unavailable(
            "the server takes no more uploads at the moment: nothing was accepted; try again shortly",
        ),
    })
}

async fn whole(
    ingest: &Ingest,
    sub: &Submission,
    mode: FeedMode,
    body: bytes::Bytes,
) -> Result<IngestReceipt, IngestError> {
    match sub.format {
        "csv" => ingest.submit_csv(sub, mode, body).await,
        "json" => ingest.submit_json(sub, Some(mode), body).await,
        _ => ingest.submit_scim(sub, body).await.map(|(receipt, _)| receipt),
    }
}

/// Why ingest refused, as the person can act on it.
fn refused(e: IngestError) -> ConsoleError {
    match e {
        IngestError::Busy { .. } | IngestError::Queue(_) | IngestError::Stalled => {
            ConsoleError::Unavailable("the platform is busy: nothing was accepted; try again shortly")
        }
        IngestError::Store(e) => e.into(),
        refused => ConsoleError::BadRequest(format!("nothing was accepted: {refused}")),
    }
}
