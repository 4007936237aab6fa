//! Jobs that run once per cluster: a [`Singleton`] holds one named lease of
//! the directory ([`Leases`]) for this node. A job asks [`Singleton::hold`]
//! before each pass (it takes the lease if it is free or expired) and runs
//! the pass inside [`Singleton::run`], which drops it the moment the lease
//! is lost. While held, a task renews the lease every third of its ttl; a
//! renewal the store refuses, or renewals failing until the next would come
//! too late, count as lost — before the store's expiry, so the node stops
//! before another can take over. A node that dies stops renewing and its
//! lease expires within the ttl; another node's next `hold` takes it.
//!
//! The holding is kept between passes (not released after each), so a job
//! runs on one node for as long as that node lives; what must survive a
//! takeover (the alarm evaluator's states) is recorded in the directory.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roster_store::{Lease, Leases};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Who holds, and for how long a holding lasts without renewal.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// This node's holder id ([`node_holder`]).
    pub holder: String,
    /// How long a holding lasts unless renewed; renewed at a third of it.
    pub ttl: Duration,
}

/// A holder id for this process: host name, pid and a random part, so that
/// a restarted process (even with the same pid in a new container) is a
/// new holder and an operator can still tell which host holds a lease.
pub fn node_holder() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    let mut random = [0u8; 4];
    // A failing RNG only costs the id its random part.
    let _ = getrandom::fill(&mut random);
    format!("{host}-{}-{:08x}", std::process::id(), u32::from_be_bytes(random))
}

/// One named lease as this node sees it. Cheap to share (`Arc`).
pub struct Singleton {
    leases: Arc<dyn Leases>,
    name: String,
    config: LeaseConfig,
    /// `Some` while this node holds the lease.
    held: watch::Sender<Option<Lease>>,
    renewer: Mutex<Option<JoinHandle<()>>>,
}

impl Singleton {
    pub fn new(leases: Arc<dyn Leases>, name: impl Into<String>, config: LeaseConfig) -> Arc<Self> {
        Arc::new(Self {
            leases,
            name: name.into(),
            config,
            held: watch::channel(None).0,
            renewer: Mutex::new(None),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this node holds the lease now.
    pub fn is_held(&self) -> bool {
        self.held.borrow().is_some()
    }

    /// Holds the lease: true if this node held it already or has just taken
    /// it; false while another node holds it (or the store cannot be asked).
    pub async fn hold(self: &Arc<Self>) -> bool {
        if self.is_held() {
            return true;
        }
        let asked = Instant::now();
        match self.leases.acquire(&self.name, &self.config.holder, self.config.ttl).await {
            Ok(Some(lease)) => {
                tracing::info!(lease = %self.name, holder = %self.config.holder, "lease taken: this node runs the job");
                self.held.send_replace(Some(lease.clone()));
                let this = Arc::clone(self);
                let task = tokio::spawn(async move { this.keep(lease, asked).await });
                if let Some(old) = self.renewer.lock().ok().and_then(|mut r| r.replace(task)) {
                    old.abort();
                }
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(lease = %self.name, error = %e, "could not ask for a lease; trying again next pass");
                false
            }
        }
    }

    /// Runs `pass` if the lease is held, and drops it as soon as the lease
    /// is lost (at its next `.await`): `None` if it did not run to the end.
    pub async fn run<F: Future>(&self, pass: F) -> Option<F::Output> {
        let mut held = self.held.subscribe();
        if held.borrow_and_update().is_none() {
            return None;
        }
        tokio::select! {
            out = pass => Some(out),
            _ = held.wait_for(Option::is_none) => {
                tracing::warn!(lease = %self.name, "lease lost during a pass: the pass was stopped");
                None
            }
        }
    }

    /// Resolves when the lease is lost (or at once if it is not held).
    pub async fn lost(&self) {
        let mut held = self.held.subscribe();
        let _ = held.wait_for(Option::is_none).await;
    }

    /// Gives the lease up (at shutdown), so another node takes over at once
    /// rather than after the ttl.
    pub async fn release(&self) {
        if let Some(task) = self.renewer.lock().ok().and_then(|mut r| r.take()) {
            task.abort();
        }
        if let Some(lease) = self.held.send_replace(None) {
            match self.leases.release(&lease).await {
                Ok(()) => tracing::info!(lease = %self.name, "lease released"),
                Err(e) => {
                    tracing::warn!(lease = %self.name, error = %e, "could not release a lease; it expires by itself")
                }
            }
        }
    }

    /// Stops renewing without releasing, as a node that dies does (tests).
    pub fn abandon(&self) {
        if let Some(task) = self.renewer.lock().ok().and_then(|mut r| r.take()) {
            task.abort();
        }
        self.held.send_replace(None);
    }

    /// Renews every third of the ttl until the lease is lost.
    async fn keep(&self, mut lease: Lease, mut renewed_at: Instant) {
        let ttl = self.config.ttl;
        let every = ttl / 3;
        loop {
            tokio::time::sleep(every).await;
            let asked = Instant::now();
            match self.leases.renew(&lease, ttl).await {
                Ok(Some(l)) => {
                    lease = l;
                    renewed_at = asked;
                    self.held.send_replace(Some(lease.clone()));
                }
                Ok(None) => {
                    tracing::warn!(lease = %self.name, "lease lost: it expired or another node took it");
                    break;
                }
                // The store's expiry is at least `ttl` after the request that
                // last renewed it: give up while the next try would come late.
                Err(e) if renewed_at.elapsed() + every >= ttl => {
                    tracing::warn!(lease = %self.name, error = %e, "lease given up: it could not be renewed in time");
                    break;
                }
                Err(e) => {
                    tracing::warn!(lease = %self.name, error = %e, "could not renew a lease; trying again")
                }
            }
        }
        self.held.send_replace(None);
    }
}
