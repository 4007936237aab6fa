//! `roster-lambda-ingest`: API Gateway (HTTP API) → the ingest and read API.

use roster_app::Role;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let function = roster_lambda::init::function(Role::LambdaIngest).await.map_err(|e| format!("{e:#}"))?;
    let function = std::sync::Arc::new(function);
    let service = roster_lambda::http::service(function.platform.state.clone());
    let handler = tower::service_fn(move |req: lambda_http::Request| {
        let (function, mut service) = (function.clone(), service.clone());
        async move {
            use tower::{Service as _, ServiceExt as _};
            let response = service.ready().await?.call(req).await;
            function.flush_metrics(false).await;
            response
        }
    });
    lambda_http::run(handler).await
}
