use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use roster_queue::QueueStats;
use serde_json::{Value, json};

use crate::auth::MetricsReader;
use crate::problem::ApiError;
use crate::state::AppState;

/// How long one look at the directory and the queue answers `/readyz`: the
/// queue's figures cost several `COUNT(*)` on its one connection, so however
/// many probes arrive, they are taken at most once a second.
pub const READINESS_TTL: Duration = Duration::from_secs(1);

/// Which dependency did not answer (`directory` or `queue`), and why.
type NotReady = (&'static str, String);

/// `/readyz`'s cached state. The lock is held while the state is refreshed,
/// so probes arriving meanwhile wait for that one refresh, not each their own.
#[derive(Default)]
pub struct Readiness {
    last: tokio::sync::Mutex<Option<(Instant, Result<QueueStats, NotReady>)>>,
}

impl Readiness {
    /// The queue's figures if the directory and the queue answer (at most
    /// `READINESS_TTL` old), else why not.
    /// `fresh`: look now whatever the cache holds (the figures' readers,
    /// whose credentials the rate limit charges).
    async fn get(&self, state: &AppState, fresh: bool) -> Result<QueueStats, NotReady> {
        let mut last = self.last.lock().await;
        if let Some((at, result)) = last.as_ref()
            && at.elapsed() < READINESS_TTL
            && !fresh
        {
            return result.clone();
        }
        let result = match state.directory.ping().await {
            Err(e) => Err(("directory", e.to_string())),
            Ok(()) => state.queue.stats().await.map_err(|e| ("queue", e.to_string())),
        };
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

/// Liveness: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the directory and the queue answer. Anyone gets `ready` (or
/// `503`), from a look at most `READINESS_TTL` old; the queue's figures
/// count every tenant's messages, so only the metrics token or an operator
/// key gets them (fresh).
pub async fn readyz(
    State(state): State<AppState>,
    headers: HeaderMap,
    reader: Result<MetricsReader, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let figures = match (headers.contains_key(header::AUTHORIZATION), reader) {
        (false, _) => false,
        (true, Ok(MetricsReader)) => true,
        (true, Err(_)) => {
            return Err(ApiError::Unauthorized(
                "the figures of /readyz need the metrics token or an operator key; without credentials it answers readiness only",
            ));
        }
    };
    let stats = state
        .readiness
        .get(&state, figures)
        .await
        .map_err(|(dependency, detail)| ApiError::NotReady { dependency, detail })?;
    if !figures {
        return Ok(Json(json!({"status": "ready"})));
    }
    Ok(Json(json!({
        "status": "ready",
        "queue": {
            "visible": stats.visible,
            "inFlight": stats.in_flight,
            "delayed": stats.delayed,
            "deadLetters": stats.dead_letters,
            "oldestAgeSeconds": stats.oldest_age.map(|d| d.as_secs_f64()),
        }
    })))
}
