//! HTTPS: the same router behind rustls. HR data must not cross a network in
//! clear; plain HTTP is for loopback (or behind a TLS-terminating proxy,
//! explicitly allowed by the operator).

use std::future::Future;
use std::io;
use std::path::Path;

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
    let server = axum_server::from_tcp_rustls(listener.into_std()?, config)?;
    let server = crate::with_limits(server, &state.config).handle(crate::graceful(shutdown));
    server.serve(crate::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>()).await
}
