//! The process's Prometheus recorder. The engine records through the
//! `metrics` facade, which has one global recorder per process; it is
//! installed once, however many servers the process starts (tests start
//! several), and every `/metrics` renders from the same handle.

use std::sync::OnceLock;
use std::time::Duration;

pub mod emf;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use roster_engine::telemetry;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder on first call and returns its handle. If another
/// recorder was installed first (an embedding program's), Roster's metrics
/// go there and `/metrics` shows only the gauges it reads itself.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(telemetry::APPLY_DURATION.into()), telemetry::APPLY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(telemetry::INGEST_TO_APPLY.into()),
                    telemetry::LATENCY_BUCKETS,
                )
            })
            .unwrap_or_else(|_| unreachable!("the bucket lists are not empty"));
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        match metrics::set_global_recorder(recorder) {
            Ok(()) => telemetry::describe(),
            Err(_) => tracing::warn!("a metrics recorder was installed already; /metrics shows gauges only"),
        }
        // Histograms keep raw samples until upkeep folds them into buckets:
        // do it even when nobody scrapes, so memory stays flat.
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        });
        handle
    })
}
