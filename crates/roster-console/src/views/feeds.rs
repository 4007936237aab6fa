//! A tenant's feeds: the list (filter by status and source), a feed's page
//! (counts, rejected records), and the review of a halted full snapshot:
//! the people it would deactivate, the figures against the threshold, and
//! Approve / Reject.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use roster_core::public_id::{Kind, render};
use roster_core::{FeedId, SourceName};
use roster_store::{Feed, FeedFilter, FeedStatus, Leaver, StoreError};
use serde::Deserialize;

use super::{FeedRow, audit, page};
use crate::errors::ConsoleError;
use crate::identity::{ConsoleUser, Grant, Role};
use crate::state::ConsoleState;

const PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "feeds/list.html")]
struct List {
    user: ConsoleUser,
    tenant: String,
    feeds: Vec<FeedRow>,
    status: String,
    source: String,
    statuses: &'static [&'static str],
    next: Option<String>,
}

const STATUSES: &[&str] =
    &["receiving", "accepted", "processing", "completed", "completed_with_errors", "failed", "halted"];

/// `GET /console/t/{tenant}/feeds?status&source&after`
pub async fn list(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Viewer)?.clone();
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let source = q.source.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let filter = FeedFilter {
        status: status
            .map(|s| {
                FeedStatus::parse(s)
                    .ok_or_else(|| ConsoleError::BadRequest(format!("status: `{s}` is not a feed status")))
            })
            .transpose()?,
        source: source
            .map(|s| SourceName::parse(s).map_err(|e| ConsoleError::BadRequest(format!("source: {e}"))))
            .transpose()?,
    };
    let after = q.after.as_deref().filter(|a| !a.is_empty());
    let found =
        state.directory().find_feeds(grant.tenant_id, &filter, PAGE, after).await.map_err(|e| match e {
            StoreError::Invalid(_) => {
                ConsoleError::BadRequest("that page of the list no longer exists".into())
            }
            other => other.into(),
        })?;
    page(List {
        tenant: grant.tenant_name,
        feeds: found.items.iter().map(FeedRow::from).collect(),
        status: status.unwrap_or_default().to_owned(),
        source: source.unwrap_or_default().to_owned(),
        statuses: STATUSES,
        next: found.next,
        user,
    })
}

pub struct Rejection {
    pub record: String,
    pub field: String,
    pub message: String,
}

pub struct Figures {
    pub active: u64,
    pub absent: u64,
    pub allowed: u64,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "feeds/show.html")]
struct Show {
    user: ConsoleUser,
    tenant: String,
    feed: FeedRow,
    figures: Option<Figures>,
    rejections: Vec<Rejection>,
    dead_letters: Vec<super::dlq::DeadLetterRow>,
    can_open_dead_letters: bool,
    halted: bool,
}

/// Dead letters scanned for a feed's page (the queue lists a tenant's, not
/// a feed's).
const DEAD_SCANNED: usize = 1000;

async fn feed_of(state: &ConsoleState, grant: &Grant, id: &str) -> Result<Feed, ConsoleError> {
    // Another tenant's feed and a malformed id both look like a missing feed.
    let id: FeedId = id.parse().map_err(|_| ConsoleError::NotFound("feed"))?;
    state.directory().get_feed(grant.tenant_id, id).await?.ok_or(ConsoleError::NotFound("feed"))
}

fn figures(feed: &Feed) -> Option<Figures> {
    feed.reconciliation.as_ref().map(|r| Figures {
        active: r.active,
        absent: r.absent,
        allowed: r.allowed,
        reason: r.reason.clone().unwrap_or_default(),
    })
}

/// `GET /console/t/{tenant}/feeds/{id}`
pub async fn show(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Viewer)?.clone();
    let feed = feed_of(&state, &grant, &id).await?;
    // Where and what, never the rejected value itself.
    let rejections = feed
        .rejections
        .iter()
        .flat_map(|r| {
            let record = match r.row {
                Some(row) => format!("row {row}"),
                None => format!("record {}", r.index + 1),
            };
            r.errors.iter().map(move |e| Rejection {
                record: record.clone(),
                field: e.path.clone(),
                message: e.message.clone(),
            })
        })
        .collect();
    let scan = roster_queue::DeadLetterFilter {
        tenant: Some(grant.tenant_id.to_string()),
        after: None,
        limit: DEAD_SCANNED,
    };
    let dead_letters = state
        .queue()
        .list_dead_letters(&scan)
        .await?
        .iter()
        .filter(|d| roster_core::ChangeMessage::from_bytes(&d.body).is_ok_and(|m| m.feed_id == feed.id))
        .map(super::dlq::DeadLetterRow::from)
        .collect();
    page(Show {
        can_open_dead_letters: grant.role >= Role::Admin,
        dead_letters,
        tenant: grant.tenant_name,
        halted: feed.status == FeedStatus::Halted,
        figures: figures(&feed),
        feed: FeedRow::from(&feed),
        rejections,
        user,
    })
}

#[derive(Deserialize, Default)]
pub struct ReviewQuery {
    #[serde(default)]
    after: Option<String>,
    /// Part of an external id, name, e-mail or department.
    #[serde(default)]
    q: Option<String>,
}

/// Leavers read for a search, at most (a snapshot that would deactivate
/// more is searched in its first this many).
const SEARCHED: usize = 20_000;

/// Whether `q` (lower-cased) is part of the leaver's id, name, e-mail or
/// department, in any case.
fn matches(l: &Leaver, q: &str) -> bool {
    [Some(l.external_id.as_str()), l.display_name.as_deref(), l.email.as_deref(), l.department.as_deref()]
        .into_iter()
        .flatten()
        .any(|v| v.to_lowercase().contains(q))
}

#[derive(Template)]
#[template(path = "feeds/review.html")]
struct Review {
    user: ConsoleUser,
    tenant: String,
    feed: FeedRow,
    figures: Option<Figures>,
    leavers: Vec<Leaver>,
    next: Option<String>,
    q: String,
    /// A search stopped at [`SEARCHED`] leavers.
    searched_part: bool,
    halted: bool,
    can_decide: bool,
}

/// `GET /console/t/{tenant}/feeds/{id}/review?after`: the people an
/// approval would deactivate (the store's `feed_leavers`, as the API's
/// `GET /v1/feeds/{id}/leavers`), paged.
pub async fn review(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, id)): Path<(String, String)>,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Viewer)?.clone();
    let feed = feed_of(&state, &grant, &id).await?;
    let after = q.after.as_deref().filter(|a| !a.is_empty());
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
    let leavers_page = |limit, cursor: Option<String>| {
        let (state, tenant, feed) = (state.clone(), grant.tenant_id, feed.id);
        async move {
            state.directory().feed_leavers(tenant, feed, limit, cursor.as_deref()).await.map_err(
                |e| match e {
                    StoreError::Invalid(m) => ConsoleError::Conflict(m),
                    other => other.into(),
                },
            )
        }
    };
    let (leavers, searched_part) = match &search {
        None => (leavers_page(PAGE, after.map(str::to_owned)).await?, false),
        // The store pages by external id; a search reads the pages and
        // keeps the matches (shown all at once, up to a page of them).
        Some(needle) => {
            let (mut found, mut cursor, mut read) = (Vec::new(), None, 0);
            loop {
                let page = leavers_page(roster_store::limits::MAX_PAGE, cursor).await?;
                read += page.items.len();
                found.extend(page.items.into_iter().filter(|l| matches(l, needle)));
                match page.next {
                    Some(next) if read < SEARCHED && found.len() < PAGE => cursor = Some(next),
                    rest => {
                        break (
                            roster_store::Page { items: found, next: None },
                            rest.is_some() && read >= SEARCHED,
                        );
                    }
                }
            }
        }
    };
    // Names and addresses of people: a read of personal data, audited as the API's is.
    audit(&state, &user, &grant, "feed.leavers_listed", Some(render(Kind::Feed, feed.id))).await;
    page(Review {
        tenant: grant.tenant_name.clone(),
        halted: feed.status == FeedStatus::Halted,
        can_decide: grant.role >= Role::Admin,
        figures: figures(&feed),
        feed: FeedRow::from(&feed),
        leavers: leavers.items,
        next: leavers.next,
        q: q.q.unwrap_or_default(),
        searched_part,
        user,
    })
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: Option<String>,
    /// The "I have reviewed the list" box.
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /console/t/{tenant}/feeds/{id}/approve`
pub async fn approve(
    state: State<ConsoleState>,
    user: Extension<ConsoleUser>,
    path: Path<(String, String)>,
    form: Form<DecideForm>,
) -> Result<Response, ConsoleError> {
    decide(state, user, path, form, true).await
}

/// `POST /console/t/{tenant}/feeds/{id}/reject`
pub async fn reject(
    state: State<ConsoleState>,
    user: Extension<ConsoleUser>,
    path: Path<(String, String)>,
    form: Form<DecideForm>,
) -> Result<Response, ConsoleError> {
    decide(state, user, path, form, false).await
}

async fn decide(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, id)): Path<(String, String)>,
    Form(form): Form<DecideForm>,
    approve: bool,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    if form.confirm.as_deref() != Some("yes") {
        return Err(ConsoleError::BadRequest(
            "tick the box to confirm you reviewed the list, then send again".into(),
        ));
    }
    let feed = feed_of(&state, &grant, &id).await?;
    state.directory().decide_snapshot(grant.tenant_id, feed.id, approve, state.now()).await.map_err(|e| {
        match e {
            StoreError::NotFound => ConsoleError::NotFound("feed"),
            StoreError::Conflict(_) => {
                ConsoleError::Conflict("this snapshot is no longer waiting for a decision".into())
            }
            other => other.into(),
        }
    })?;
    let action = if approve { "feed.approved" } else { "feed.rejected" };
    audit(&state, &user, &grant, action, Some(render(Kind::Feed, feed.id))).await;
    let to = grant.path(&format!("feeds/{}", render(Kind::Feed, feed.id)));
    Ok((StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response())
}
