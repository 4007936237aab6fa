//! Wiring: the engine's services and the HTTP router's state, built from
//! the settings and the adapters. Building starts no listener and no loop
//! (the alarm dispatcher's task aside), so a Lambda function builds this
//! once per execution environment and drives the pieces per event, while
//! [`crate::start_as`] spawns them for a long-running node.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use roster_console::ConsoleState;
use roster_engine::backoff::Backoff;
use roster_engine::dispatch::{DispatchConfig, Dispatcher};
use roster_engine::{
    AlarmConfig, AlarmEvaluator, Consumer, ConsumerConfig, Ingest, IngestConfig, LeaseConfig, OutboxConfig,
    OutboxDispatcher, Scheduler, SchedulerConfig, Singleton,
};
use roster_notify::{EventSink, HttpEventSink, PrivateTargets};
use roster_server::auth::jwt::JwtAuthenticator;
use roster_server::ratelimit::{RateLimit, RateLimiter};
use roster_server::{AppState, Budgets, ServerConfig, Surface, TestEvents};
use roster_store::Leases;

use crate::adapters::Adapters;
use crate::settings::Settings;
use crate::{Role, notifiers};

/// The most a Lambda function is handed in one synchronous invocation
/// (6 MB), which bounds a request body behind API Gateway whatever
/// `body_limit` says; a larger CSV goes to `roster serve` on ECS, which
/// streams it.
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1000 * 1000;

/// Everything a process of any role drives.
pub struct Platform {
    pub adapters: Adapters,
    pub consumer: Arc<Consumer>,
    /// The HTTP API's state: `roster_server::router(state)` serves it.
    pub state: AppState,
    /// The once-per-cluster jobs, each under its lease; `None` on a node
    /// that does not run them.
    pub jobs: Option<Jobs>,
}

pub struct Jobs {
    pub alarms: AlarmEvaluator,
    pub scheduler: Arc<Scheduler>,
    pub outbox: Arc<OutboxDispatcher>,
    /// The leases they take, to give up when a function's invocation ends.
    pub leases: Vec<Arc<Singleton>>,
}

impl Platform {
    pub async fn build(settings: &Settings, adapters: Adapters, role: Role) -> anyhow::Result<Self> {
        settings.validate_for(role)?;
        let Adapters { queue, directory, shared_limits, clock } = adapters.clone();
        let consumer = Arc::new(Consumer::new(
            Arc::clone(&queue),
            directory.clone(),
            Arc::clone(&clock),
            consumer_config(settings),
        ));
        let event_sink = event_sink(settings)?;
        let runs_jobs = match role {
            Role::Serve => settings.runs_jobs(),
            Role::Worker | Role::LambdaScheduler => true,
            Role::LambdaIngest | Role::LambdaConsumer => false,
        };
        let jobs = if runs_jobs {
            let leases: Arc<dyn Leases> = directory.clone();
            let lease_config =
                LeaseConfig { holder: roster_engine::node_holder(), ttl: settings.lease_ttl() };
            let lease = |name: &str| Singleton::new(Arc::clone(&leases), name, lease_config.clone());
            let (alarms_lease, scheduler_lease, outbox_lease) =
                (lease("alarms"), lease("scheduler"), lease("outbox"));
            let dispatcher =
                Dispatcher::spawn(notifiers(&settings.notifiers).await?, DispatchConfig::default());
            let alarms = AlarmEvaluator::new(
                settings.alarm_rules(),
                Arc::clone(&queue),
                directory.clone(),
                Arc::clone(&clock),
                consumer.stats(),
                dispatcher,
                AlarmConfig {
                    interval: Duration::from_secs(settings.alarm_interval_secs.max(1)),
                    notify_insufficient_data: settings.alarm_notify_insufficient_data,
                },
            )
            .context("invalid [[alarms]] in the configuration")?
            .with_lease(Arc::clone(&alarms_lease));
            let scheduler = Scheduler::new(
                directory.clone(),
                Arc::clone(&clock),
                SchedulerConfig {
                    interval: Duration::from_secs(settings.schedule_interval_secs.max(1)),
                    stall_timeout: Duration::from_secs(settings.upload_stall_secs),
                    ..SchedulerConfig::default()
                },
            )
            .with_queue(Arc::clone(&queue))
            .with_lease(Arc::clone(&scheduler_lease));
            let outbox = OutboxDispatcher::new(
                directory.clone(),
                Arc::clone(&event_sink),
                Arc::clone(&clock),
                outbox_config(settings),
            )
            .with_lease(Arc::clone(&outbox_lease));
            Some(Jobs {
                alarms,
                scheduler: Arc::new(scheduler),
                outbox: Arc::new(outbox),
                leases: vec![alarms_lease, scheduler_lease, outbox_lease],
            })
        } else {
            None
        };
        let config = server_config(settings, role)?;
        let jwt = if settings.jwt_issuers.is_empty() {
            None
        } else {
            let verifier = JwtAuthenticator::new(&settings.jwt_issuers)
                .context("invalid [[jwt_issuers]] in the configuration")?;
            Some(Arc::new(verifier))
        };
        let alarms = jobs.as_ref().map(|j| j.alarms.board());
        let ingest = Arc::new(Ingest::new(
            directory.clone(),
            Arc::clone(&queue),
            Arc::clone(&clock),
            IngestConfig {
                max_queue_depth: settings.max_queue_depth,
                max_records: settings.max_records_per_request,
                max_clock_skew: Duration::from_secs(settings.max_clock_skew_secs),
                max_streamed_records: settings.max_streamed_records,
                ..IngestConfig::default()
            },
        ));
        // One set of budgets for the API and the console's uploads.
        let budgets = Budgets::new(&config);
        // The admin console, on API nodes when `[console]` is configured.
        let console = match (&settings.console, role) {
            (Some(c), Role::Serve) => {
                let console = ConsoleState::new(
                    c.clone(),
                    directory.clone(),
                    queue.clone(),
                    clock.clone(),
                    alarms.clone(),
                )?
                .with_ingest(
                    Arc::clone(&ingest),
                    roster_console::UploadLimits {
                        body: config.body_limit,
                        upload: config.upload_limit,
                        idle: config.upload_idle_timeout,
                    },
                )
                .with_budgets(budgets.clone())
                .with_endpoint_policy(roster_console::EndpointPolicy {
                    allow_http: config.allow_insecure_endpoints,
                    allow_private: config.allow_private_endpoints,
                })
                .with_alarm_rules(settings.alarm_rules().into());
                Some(("/console", roster_console::router(console)))
            }
            _ => None,
        };
        let state = AppState {
            ingest: Arc::clone(&ingest),
            directory,
            queue,
            clock,
            budgets,
            config,
            limiter: Arc::new(RateLimiter::new(RateLimit {
                per_sec: settings.rate_limit_per_sec,
                burst: settings.rate_limit_burst,
            })),
            shared_limits,
            auth_failures: Arc::new(RateLimiter::new(RateLimit {
                per_sec: settings.auth_failure_limit_per_sec,
                burst: settings.auth_failure_burst,
            })),
            readiness: Arc::default(),
            read_audits: Arc::default(),
            test_events: TestEvents {
                sink: event_sink,
                timeout: Duration::from_secs(settings.outbox.timeout_secs),
            },
            alarms,
            alarm_rules: settings.alarm_rules().into(),
            jwt,
            extra_routes: console,
        };
        Ok(Self { adapters, consumer, state, jobs })
    }
}

fn consumer_config(settings: &Settings) -> ConsumerConfig {
    ConsumerConfig {
        workers: settings.workers,
        batch_size: settings.batch_size,
        visibility_timeout: settings.visibility_timeout(),
        wait: Duration::from_millis(500),
        backoff: Backoff {
            base: Duration::from_millis(settings.retry_base_ms),
            cap: Duration::from_millis(settings.retry_cap_ms),
        },
        max_receive_count: settings.max_receive_count,
    }
}

fn outbox_config(settings: &Settings) -> OutboxConfig {
    let o = &settings.outbox;
    OutboxConfig {
        poll_interval: Duration::from_millis(o.poll_interval_ms),
        max_attempts: o.max_attempts,
        backoff: Backoff {
            base: Duration::from_millis(o.retry_base_ms),
            cap: Duration::from_millis(o.retry_cap_ms),
        },
        attempt_timeout: Duration::from_secs(o.timeout_secs),
        ..OutboxConfig::default()
    }
}

/// The webhook sink: the outbox dispatcher's, and the API's test events'.
fn event_sink(settings: &Settings) -> anyhow::Result<Arc<dyn EventSink>> {
    let o = &settings.outbox;
    let private = if o.allow_private_endpoints { PrivateTargets::Allowed } else { PrivateTargets::Refused };
    let sink = HttpEventSink::with_proxy(
        Duration::from_secs(o.timeout_secs),
        private,
        o.proxy.as_ref().map(|p| p.expose()),
    )
    .map_err(|e| anyhow::anyhow!("the outbox's HTTP client: {e}"))?;
    Ok(Arc::new(sink))
}

fn server_config(settings: &Settings, role: Role) -> anyhow::Result<ServerConfig> {
    let (mut body_limit, mut upload_limit) = (settings.body_limit, settings.upload_limit);
    if role == Role::LambdaIngest {
        // The function is handed the whole body at once, within Lambda's cap.
        body_limit = body_limit.min(LAMBDA_PAYLOAD_LIMIT);
        upload_limit = upload_limit.min(LAMBDA_PAYLOAD_LIMIT as u64);
    }
    Ok(ServerConfig {
        body_limit,
        upload_limit,
        hsts: settings.tls_cert.is_some() || role == Role::LambdaIngest,
        request_timeout: Duration::from_secs(settings.request_timeout_secs),
        upload_timeout: Duration::from_secs(settings.upload_timeout_secs),
        header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
        max_header_bytes: settings.max_header_bytes,
        metrics_token: settings.metrics_token.clone(),
        allow_insecure_endpoints: settings.outbox.allow_insecure_endpoints,
        allow_private_endpoints: settings.outbox.allow_private_endpoints,
        max_streaming_uploads: settings.max_streaming_uploads,
        max_streaming_uploads_per_tenant: settings.max_streaming_uploads_per_tenant,
        upload_idle_timeout: Duration::from_secs(settings.upload_idle_secs),
        max_body_bytes_in_flight: settings.max_body_bytes_in_flight,
        max_body_bytes_in_flight_per_tenant: settings.max_body_bytes_in_flight_per_tenant,
        max_connections: settings.max_connections,
        max_http2_streams: settings.max_http2_streams,
        tenant_deletion_grace: Duration::from_secs(u64::from(settings.tenant_deletion_grace_days) * 86_400),
        client_ip_header: settings
            .client_ip_header
            .as_deref()
            .map(reqwest::header::HeaderName::try_from)
            .transpose()
            .context("client_ip_header")?,
        surface: match role {
            Role::Worker | Role::LambdaConsumer | Role::LambdaScheduler => Surface::Ops,
            Role::Serve | Role::LambdaIngest => Surface::Api,
        },
    })
}
