//! HTTPS: the same router behind rustls. HR data must not cross a network in
//! clear; plain HTTP is for loopback (or behind a TLS-terminating proxy,
//! explicitly allowed by the operator).

use std::future::Future;
use std::io;
use std::path::Path;
use std::time::Duration;

pub use axum_server::tls_rustls::RustlsConfig;
use tokio::net::TcpListener;

use crate::state::AppState;

/// Reads a PEM certificate chain and its private key.
pub async fn load(cert: &Path, key: &Path) -> io::Result<RustlsConfig> {
    RustlsConfig::from_pem_file(cert, key).await
}

/// Serves HTTPS until `shutdown` resolves, then lets in-flight requests
/// finish (at most 30 s).
pub async fn serve_tls(
    listener: TcpListener,
    state: AppState,
    config: RustlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    let app = crate::router(state);
    axum_server::from_tcp_rustls(listener.into_std()?, config)?
        .handle(handle)
        .serve(app.into_make_service())
        .await
}
