//! `GET /console/`: each of the person's tenants (recent records, halted
//! feeds waiting for a decision) and, for operators, the platform (queue,
//! dead letters, alarms, feeds by status).

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use roster_store::{FeedFilter, FeedStatus};

use super::{FeedRow, page};
use crate::errors::ConsoleError;
use crate::identity::ConsoleUser;
use crate::state::ConsoleState;

/// Recent feeds counted for a tenant's figures.
const RECENT_FEEDS: usize = 100;
const DAY_MS: i64 = 86_400_000;

pub struct TenantSummary {
    pub name: String,
    pub role: &'static str,
    pub feeds_today: u64,
    pub accepted_today: u64,
    pub applied_today: u64,
    pub failed_today: u64,
    pub halted: Vec<FeedRow>,
}

pub struct AlarmRow {
    pub name: String,
    pub state: &'static str,
    pub reason: String,
    pub since: String,
}

pub struct Platform {
    pub visible: u64,
    pub in_flight: u64,
    pub dead_letters: u64,
    pub oldest_age: String,
    pub alarms: Option<Vec<AlarmRow>>,
    pub feeds_by_status: Vec<(&'static str, u64)>,
}

#[derive(Template)]
#[template(path = "overview/index.html")]
struct Overview {
    user: ConsoleUser,
    tenants: Vec<TenantSummary>,
    platform: Option<Platform>,
}

pub async fn show(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
) -> Result<Response, ConsoleError> {
    let now = state.now();
    let mut tenants = Vec::new();
    for grant in &user.grants {
        let d = state.directory();
        let recent = d.list_feeds(grant.tenant_id, RECENT_FEEDS, None).await?;
        let today: Vec<_> =
            recent.items.iter().filter(|f| now.millis() - f.created_at.millis() < DAY_MS).collect();
        let halted = FeedFilter { source: None, status: Some(FeedStatus::Halted) };
        let halted = d.find_feeds(grant.tenant_id, &halted, 20, None).await?;
        tenants.push(TenantSummary {
            name: grant.tenant_name.clone(),
            role: grant.role.as_str(),
            feeds_today: today.len() as u64,
            accepted_today: today.iter().map(|f| f.counts.accepted).sum(),
            applied_today: today.iter().map(|f| f.counts.applied).sum(),
            failed_today: today.iter().map(|f| f.counts.failed).sum(),
            halted: halted.items.iter().map(FeedRow::from).collect(),
        });
    }
    let platform = if user.operator { Some(platform(&state).await?) } else { None };
    page(Overview { user, tenants, platform })
}

async fn platform(state: &ConsoleState) -> Result<Platform, ConsoleError> {
    let stats = state.queue().stats().await.map_err(|e| {
        tracing::warn!(error = %e, "queue stats for the console overview");
        ConsoleError::Unavailable("the queue could not be read; try again")
    })?;
    let alarms = state.alarms().map(|board| {
        board
            .statuses()
            .into_iter()
            .map(|a| AlarmRow {
                name: a.name,
                state: a.state.as_str(),
                reason: a.reason,
                since: a.since.to_rfc3339(),
            })
            .collect()
    });
    let feeds_by_status =
        state.directory().count_feeds_by_status().await?.into_iter().map(|(s, n)| (s.as_str(), n)).collect();
    Ok(Platform {
        visible: stats.visible,
        in_flight: stats.in_flight,
        dead_letters: stats.dead_letters,
        oldest_age: stats.oldest_age.map(|a| format!("{} s", a.as_secs())).unwrap_or_else(|| "—".into()),
        alarms,
        feeds_by_status,
    })
}
