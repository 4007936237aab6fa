//! `roster-lambda-scheduler`: an EventBridge schedule's tick.

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
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        // Ticks of one environment run one at a time (Lambda hands an
        // environment one event at a time anyway).
        let report = roster_lambda::schedule::tick(&mut *jobs.lock().await).await;
        // The scheduler publishes the platform's gauges (queue depths,
        // halted feeds, outbox backlog) once a tick.
        function.flush_metrics(true).await;
        Ok::<Value, lambda_runtime::Error>(report)
    }))
    .await
}
