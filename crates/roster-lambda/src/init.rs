//! A function's cold start: settings from the environment, adapters and
//! platform built once, outside the handler.

use roster_app::{Adapters, MetricsFormat, Platform, Role, Settings};
use roster_server::metrics::emf::{self, EmfRecorder};

/// What a function keeps between events.
pub struct Function {
    pub platform: Platform,
    /// Metrics leave a function as CloudWatch Embedded Metric Format lines
    /// on stdout (nothing scrapes a function), flushed after each event.
    pub metrics: EmfRecorder,
}

/// Builds the function `role` is from `ROSTER_*` variables. Logs are JSON
/// lines on stderr; a panic logs only its location (its message may quote
/// request data).
pub async fn function(role: Role) -> anyhow::Result<Function> {
    roster_app::telemetry::init("info")?;
    roster_server::panic::install_hook();
    let mut settings = Settings::from_env()?;
    // Whatever the variable says: `/metrics` has no scraper here.
    settings.metrics_format = MetricsFormat::Emf;
    settings.validate_for(role)?;
    let metrics = emf::install();
    let adapters = Adapters::open(&settings).await?;
    let platform = Platform::build(&settings, adapters, role).await?;
    tracing::info!(?role, store = ?settings.store, "function initialised");
    Ok(Function { platform, metrics })
}

impl Function {
    /// Writes what the event recorded (and, with `gauges`, the platform's
    /// gauges) before the environment may be frozen.
    pub async fn flush_metrics(&self, gauges: bool) {
        emf::write_lines(&self.metrics, &self.platform.state, gauges).await;
    }
}
