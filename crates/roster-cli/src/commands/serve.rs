use roster_app as app;
use roster_app::Settings;

/// Runs `role` until SIGINT or SIGTERM, then shuts down gracefully (the
/// jobs release their leases, so another node takes over at once).
pub async fn run(settings: Settings, role: app::Role) -> anyhow::Result<()> {
    let running = app::start_as(&settings, role).await?;
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests and batches");
    running.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
