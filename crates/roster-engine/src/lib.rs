//! The engine: what happens between the edge and the ports. Ingest turns a
//! submission into a feed and durable messages; the consumer applies messages
//! to the directory with retries and dead letters; the scheduler applies
//! what falls due by date; the outbox dispatcher pushes lifecycle events to
//! the tenants' webhook endpoints; the alarm evaluator watches all of it and tells
//! operators (`dispatch`) when a rule is breached; `telemetry` counts.
//!
//! The scheduler, the alarm evaluator and the outbox dispatcher run once
//! per cluster: each holds a lease of the directory (`lease::Singleton`)
//! while it works.
//!
//! Architecture invariant: the engine sees only ports — the `Queue`, a
//! `Clock`, and of the directory the narrow trait each service uses
//! (`Consumer`: `ChangeApplier`; `Scheduler`: `SweepStore`; `Ingest`:
//! `IngestStore`; `OutboxDispatcher`: `Outbox`; `AlarmEvaluator`:
//! `AlarmStore`, the platform figures and the rules' recorded states). Which adapters sit behind them is decided by the
//! composition root (the `roster` binary). Nothing here knows about HTTP.

pub mod admin;
pub mod alarms;
pub mod backoff;
pub mod consumer;
pub mod credentials;
pub mod dead_letters;
pub mod dispatch;
pub mod ingest;
pub mod lease;
mod managers;
pub mod outbox;
mod own_thread;
pub mod scheduler;
pub mod telemetry;

pub use alarms::{AlarmBoard, AlarmConfig, AlarmEvaluator};
pub use consumer::{Consumer, ConsumerConfig, ConsumerStats};
pub use credentials::{ApiKeySecret, hash_api_key};
pub use ingest::{Ingest, IngestConfig, IngestError, IngestReceipt, Submission};
pub use lease::{LeaseConfig, Singleton, node_holder};
pub use outbox::{OutboxConfig, OutboxDispatcher};
pub use scheduler::{Scheduler, SchedulerConfig};
