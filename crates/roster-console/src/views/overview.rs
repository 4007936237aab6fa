//! `GET /console/`: each of the person's tenants (recent records, halted
//! feeds waiting for a decision) and, for operators, the platform (queue,
//! dead letters, alarms, feeds by status).

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use roster_core::Timestamp;
use roster_queue::DeadLetterFilter;
use roster_store::{Feed, FeedFilter, FeedStatus};

use super::{FeedRow, page};
use crate::errors::ConsoleError;
use crate::identity::ConsoleUser;
use crate::state::ConsoleState;

/// Most feeds of the last day read for a tenant's figures (newest first).
const RECENT_FEEDS: usize = 1000;
/// Dead letters counted for a tenant's figure; past it, "1000+".
const DEAD_COUNTED: usize = 1000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

pub struct TenantSummary {
    pub name: String,
    pub role: &'static str,
    pub feeds_today: u64,
    pub accepted_today: u64,
    pub applied_today: u64,
    pub failed_today: u64,
    pub accepted_hour: u64,
    pub applied_hour: u64,
    pub failed_hour: u64,
    pub dead_letters: String,
    pub chart: Chart,
    pub halted: Vec<FeedRow>,
}

/// Records of one hour, counted by the hour their feed arrived.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Hour {
    pub accepted: u64,
    pub applied: u64,
    pub failed: u64,
}

/// The last 24 hours, oldest first; the last is the hour up to `now`.
pub fn hourly<'a>(feeds: impl IntoIterator<Item = &'a Feed>, now: Timestamp) -> [Hour; 24] {
    let mut hours = [Hour::default(); 24];
    for f in feeds {
        let age = now.millis() - f.created_at.millis();
        if !(0..DAY_MS).contains(&age) {
            continue;
        }
        let h = &mut hours[23 - (age / HOUR_MS) as usize];
        h.accepted += f.counts.accepted;
        h.applied += f.counts.applied;
        h.failed += f.counts.failed;
    }
    hours
}

/// One bar of the chart, in the SVG's own units.
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub height: u32,
    pub class: &'static str,
    pub title: String,
}

/// The day as an inline SVG bar chart: per hour, records accepted,
/// applied and failed side by side, scaled to the day's largest figure.
pub struct Chart {
    pub bars: Vec<Bar>,
    pub max: u64,
    pub label: String,
}

pub const CHART_HEIGHT: u32 = 100;
const SLOT: u32 = 18;

impl Chart {
    pub fn new(hours: &[Hour; 24]) -> Self {
        let max = hours.iter().map(|h| h.accepted.max(h.applied).max(h.failed)).max().unwrap_or(0);
        let scale = |n: u64| if max == 0 { 0 } else { ((n * u64::from(CHART_HEIGHT)).div_ceil(max)) as u32 };
        let mut bars = Vec::new();
        for (i, h) in hours.iter().enumerate() {
            let ago = 23 - i;
            let when =
                if ago == 0 { "the last hour".to_owned() } else { format!("{ago} to {} hours ago", ago + 1) };
            for (j, (n, class, what)) in [
                (h.accepted, "accepted", "accepted"),
                (h.applied, "applied", "applied"),
                (h.failed, "failed", "failed"),
            ]
            .into_iter()
            .enumerate()
            {
                let height = scale(n);
                bars.push(Bar {
                    x: i as u32 * SLOT + j as u32 * 5 + 1,
                    y: CHART_HEIGHT - height,
                    height,
                    class,
                    title: format!("{n} {what}, {when}"),
                });
            }
        }
        let total = |f: fn(&Hour) -> u64| hours.iter().map(f).sum::<u64>();
        let label = format!(
            "Records in the last 24 hours, by hour: {} accepted, {} applied, {} failed",
            total(|h| h.accepted),
            total(|h| h.applied),
            total(|h| h.failed)
        );
        Self { bars, max, label }
    }
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
        let today: Vec<_> = recent
            .items
            .iter()
            .filter(|f| (0..DAY_MS).contains(&(now.millis() - f.created_at.millis())))
            .collect();
        let hours = hourly(today.iter().copied(), now);
        let day = |f: fn(&Hour) -> u64| hours.iter().map(f).sum::<u64>();
        let dead = DeadLetterFilter {
            tenant: Some(grant.tenant_id.to_string()),
            after: None,
            limit: DEAD_COUNTED + 1,
        };
        let dead = state.queue().list_dead_letters(&dead).await?.len();
        let halted = FeedFilter { source: None, status: Some(FeedStatus::Halted) };
        let halted = d.find_feeds(grant.tenant_id, &halted, 20, None).await?;
        tenants.push(TenantSummary {
            name: grant.tenant_name.clone(),
            role: grant.role.as_str(),
            feeds_today: today.len() as u64,
            accepted_today: day(|h| h.accepted),
            applied_today: day(|h| h.applied),
            failed_today: day(|h| h.failed),
            accepted_hour: hours[23].accepted,
            applied_hour: hours[23].applied,
            failed_hour: hours[23].failed,
            dead_letters: if dead > DEAD_COUNTED { format!("{DEAD_COUNTED}+") } else { dead.to_string() },
            chart: Chart::new(&hours),
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
    // A node that evaluates no alarm (ingest only) shows what the cluster's
    // evaluator recorded, as `/v1/alarms` does; with no rules, nothing.
    let statuses = if state.alarms().is_none() && state.alarm_rules().is_empty() {
        None
    } else {
        let (_, statuses) = roster_engine::alarms::current_statuses(
            state.alarms(),
            state.alarm_rules(),
            state.directory(),
            state.now(),
        )
        .await?;
        Some(statuses)
    };
    let alarms = statuses.map(|statuses| {
        statuses
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

#[cfg(test)]
mod tests {
    use roster_core::{FeedId, FeedMode, SourceName, TenantId};
    use roster_store::{FeedCounts, FeedStatus};

    use super::*;

    fn feed(created_at: Timestamp, accepted: u64, applied: u64, failed: u64) -> Feed {
        Feed {
            id: FeedId::new(),
            position: 1,
            tenant_id: TenantId::new(),
            source: SourceName::default(),
            mode: FeedMode::Delta,
            format: "json".into(),
            status: FeedStatus::Completed,
            counts: FeedCounts { accepted, applied, failed, ..Default::default() },
            rejections: Vec::new(),
            reconciliation: None,
            created_at,
            updated_at: created_at,
            completed_at: None,
        }
    }

    #[test]
    fn records_are_counted_in_the_hour_their_feed_arrived_and_older_ones_left_out() {
        let now = Timestamp(100 * DAY_MS);
        let feeds = [
            feed(Timestamp(now.0 - 10 * 60_000), 5, 4, 1),
            feed(Timestamp(now.0 - 50 * 60_000), 2, 2, 0),
            feed(Timestamp(now.0 - 3 * HOUR_MS - 1), 7, 7, 0),
            feed(Timestamp(now.0 - DAY_MS), 100, 100, 0),
        ];
        let hours = hourly(&feeds, now);
        assert_eq!(hours[23], Hour { accepted: 7, applied: 6, failed: 1 }, "the last hour");
        assert_eq!(hours[20], Hour { accepted: 7, applied: 7, failed: 0 }, "3 to 4 hours ago");
        assert_eq!(hours.iter().map(|h| h.accepted).sum::<u64>(), 14, "a day old is out");
        let chart = Chart::new(&hours);
        assert_eq!(chart.max, 7);
        let tallest = chart.bars.iter().map(|b| b.height).max().unwrap();
        assert_eq!(tallest, CHART_HEIGHT, "the largest figure fills the chart");
        assert!(chart.label.contains("14 accepted, 13 applied, 1 failed"));
    }
}
