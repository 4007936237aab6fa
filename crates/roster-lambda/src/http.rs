//! The ingest function: API Gateway HTTP API events (payload format 2.0)
//! served by the same router as `roster serve`, so status codes, problem
//! documents, Idempotency-Key, authentication, body limits and `Location`
//! headers are the same.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use lambda_http::Request;
use lambda_http::request::RequestContext;
use roster_server::AppState;
use tower::ServiceExt as _;

/// The router as a Lambda HTTP service: requests pass [`from_gateway`]
/// before routing.
pub type Service = tower::util::MapRequest<axum::Router, fn(Request) -> Request>;

pub fn service(state: AppState) -> Service {
    roster_server::router(state).map_request(from_gateway as fn(Request) -> Request)
}

/// What API Gateway adds to a request, undone: a named stage's prefix
/// (`/prod/integrations/hr-feed` is the router's `/integrations/hr-feed`;
/// the `$default` stage has none), and the caller's address, which API
/// Gateway gives in the request context rather than as the connection's
/// peer — the rate limiter of failed authentications keys on it.
pub fn from_gateway(mut req: Request) -> Request {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.extensions().get::<RequestContext>().cloned() else {
        return req;
    };
    if let Some(stage) = ctx.stage.as_deref().filter(|s| *s != "$default" && !s.is_empty())
        && let Some(stripped) = strip_stage(req.uri(), stage)
    {
        *req.uri_mut() = stripped;
    }
    if let Some(ip) = ctx.http.source_ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()) {
        req.extensions_mut().insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    req
}

fn strip_stage(uri: &axum::http::Uri, stage: &str) -> Option<axum::http::Uri> {
    let path = uri.path();
    let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let rest = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    axum::http::Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::strip_stage;

    #[test]
    fn a_named_stage_is_stripped_and_nothing_else() {
        let uri = "https://api.example.com/prod/v1/people?status=active".parse().unwrap();
        assert_eq!(
            strip_stage(&uri, "prod").unwrap().to_string(),
            "https://api.example.com/v1/people?status=active"
        );
        let root = "/prod".parse().unwrap();
        assert_eq!(strip_stage(&root, "prod").unwrap().path(), "/");
        let other = "/production/v1/people".parse().unwrap();
        assert!(strip_stage(&other, "prod").is_none(), "a longer segment is not the stage");
    }
}
