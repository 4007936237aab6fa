//! `roster-lambda-scheduler`: an EventBridge schedule's tick.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{LambdaEvent, service_fn};
use roster_app::Role;
use serde_json::Value;
use tokio::sync::Mutex;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut function =
        roster_lambda::init::function(Role::LambdaScheduler).await.map_err(|e| format!("{e:#}"))?;
    let jobs = Mutex::new(function.platform.jobs.take().ok_or("the scheduler role builds the jobs")?);
    let (function, jobs) = (&*Box::leak(Box::new(function)), &*Box::leak(Box::new(jobs)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        // Two seconds to flush the metrics and answer; the dispatcher's
        // retries of one notification take about a minute.
        let notify_within = roster_lambda::schedule::notify_budget(
            event.context.deadline,
            now_ms,
            Duration::from_secs(2),
            Duration::from_secs(120),
        );
        // Ticks of one environment run one at a time (Lambda hands an
        // environment one event at a time anyway).
        let report = roster_lambda::schedule::tick(&mut *jobs.lock().await, notify_within).await;
        // The scheduler publishes the platform's gauges (queue depths,
        // halted feeds, outbox backlog) once a tick.
        function.flush_metrics(true).await;
        Ok::<Value, lambda_runtime::Error>(report)
    }))
    .await
}
