//! A long-running node: [`start_as`] builds the [`Platform`], spawns its
//! workers and jobs, and serves its HTTP routes until shut down.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Role;
use crate::adapters::Adapters;
use crate::platform::{Jobs, Platform};
use crate::settings::{MetricsFormat, Settings};

/// A running platform: HTTP server and consumer workers.
pub struct Running {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting requests, lets in-flight requests and batches finish,
    /// then the alarm notifications already queued.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.server.await.context("server task")??;
        for w in self.workers {
            w.await.context("consumer task")?;
        }
        Ok(())
    }

    /// Resolves when the server stops by itself (it should not).
    pub fn is_finished(&self) -> bool {
        self.server.is_finished()
    }
}

/// Starts the whole platform in this process (`roster serve`).
pub async fn start(settings: &Settings) -> anyhow::Result<Running> {
    start_as(settings, Role::Serve).await
}

/// Starts `role` (`Serve` or `Worker`) in this process.
pub async fn start_as(settings: &Settings, role: Role) -> anyhow::Result<Running> {
    anyhow::ensure!(!role.is_function(), "{role:?} runs in a Lambda function, not as a node");
    settings.validate_for(role)?;
    let emf = match settings.metrics_format {
        MetricsFormat::Prometheus => {
            roster_server::metrics::install();
            None
        }
        MetricsFormat::Emf => Some(roster_server::metrics::emf::install()),
    };
    let adapters = Adapters::open(settings).await?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let Platform { consumer, state, jobs, .. } = Platform::build(settings, adapters, role).await?;

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut workers = consumer.spawn(shutdown_rx.clone());
    let runs_jobs = jobs.is_some();
    if let Some(Jobs { alarms, scheduler, outbox, .. }) = jobs {
        workers.push(alarms.spawn(shutdown_rx.clone()));
        workers.push(scheduler.spawn(shutdown_rx.clone()));
        workers.push(outbox.spawn(shutdown_rx.clone()));
    }
    if let Some(emf) = emf {
        let every = std::time::Duration::from_secs(settings.emf_interval_secs);
        workers.push(roster_server::metrics::emf::spawn_flusher(
            emf,
            state.clone(),
            every,
            shutdown_rx.clone(),
        ));
    }
    let mut rx = shutdown_rx;
    let stop = async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let server = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = roster_server::tls::load(cert, key)
                .await
                .with_context(|| format!("loading the TLS certificate {} and key", cert.display()))?;
            tokio::spawn(roster_server::tls::serve_tls(listener, state, tls, stop))
        }
        _ => tokio::spawn(roster_server::serve(listener, state, stop)),
    };
    let jobs = runs_jobs;
    match role {
        Role::Worker => tracing::info!(
            %addr, store = ?settings.store, workers = settings.workers, jobs,
            "roster worker is running (health and metrics only on this address)"
        ),
        _ => tracing::info!(
            %addr, store = ?settings.store, data_dir = %settings.data_dir.display(),
            workers = settings.workers, jobs, "roster is serving"
        ),
    }
    Ok(Running { addr, shutdown, server, workers })
}
