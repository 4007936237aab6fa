//! The composition root, the one crate that names adapters: [`Settings`]
//! (file, `ROSTER_*` environment, the caller's overrides), [`Adapters`]
//! picked from them, [`Platform::build`] wiring them to the engine and the
//! HTTP router without starting anything, and [`start_as`], which runs a
//! long-lived node (`roster serve`, `roster worker`). The `roster` binary
//! and the Lambda functions share all of it, so both shapes behave alike.

pub mod adapters;
pub mod notifiers;
pub mod platform;
mod secrets;
pub mod serve;
pub mod settings;
pub mod telemetry;

pub use adapters::{Adapters, migrate, open_admin_directory, open_directory};
pub use notifiers::notifiers;
pub use platform::Platform;
pub use serve::{Running, start, start_as};
pub use settings::{
    MetricsFormat, NotifiersConfig, OutboxSettings, QueueBackend, Settings, SnsConfig, StoreBackend,
    WebhookConfig,
};

/// What a process is. Long-running nodes: one with the public HTTP API
/// (`roster serve`; with workers the whole platform) or a worker without
/// it (`roster worker`: consumers and the jobs, the operations routes
/// only). Lambda functions: the API Gateway front door, the SQS consumer
/// and the scheduled jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Serve,
    Worker,
    LambdaIngest,
    LambdaConsumer,
    LambdaScheduler,
}

impl Role {
    /// A Lambda function: no disk that outlives it, no listener of its own.
    pub fn is_function(self) -> bool {
        matches!(self, Self::LambdaIngest | Self::LambdaConsumer | Self::LambdaScheduler)
    }
}
