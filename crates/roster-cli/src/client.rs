//! A small client of Roster's HTTP API for the CLI commands.

use anyhow::{Context, bail};
use reqwest::{Response, StatusCode};
use roster_core::secret::Secret;
use serde_json::Value;

#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Base URL of a running Roster.
    #[arg(long, env = "ROSTER_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API key (shown once by `roster tenants create`), or an operator key.
    /// A `Secret`: `Debug` never shows it.
    #[arg(long, env = "ROSTER_KEY", hide_env_values = true)]
    pub key: Secret,
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Secret,
}

impl Client {
    pub fn new(args: &ServerArgs) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("roster-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, base: args.server.trim_end_matches('/').to_owned(), key: args.key.clone() })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(self.key.expose())
    }

    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.put(self.url(path)).bearer_auth(self.key.expose())
    }

    pub fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(self.key.expose())
    }

    pub async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let res = self
            .http
            .get(self.url(path))
            .bearer_auth(self.key.expose())
            .send()
            .await
            .with_context(|| format!("connecting to {}", self.base))?;
        json_or_problem(res).await
    }
}

/// The JSON body of a success, or the problem's detail as an error.
pub async fn json_or_problem(res: Response) -> anyhow::Result<Value> {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    bail!("{}", problem_text(status, &body))
}

pub fn problem_text(status: StatusCode, body: &Value) -> String {
    let detail = body.get("detail").and_then(Value::as_str).unwrap_or("no detail");
    format!("server answered {status}: {detail}")
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ServerArgs;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    #[test]
    fn debug_never_shows_the_key() {
        let cli = Cli::parse_from(["roster", "--key", "rk_live_s3cr3t0123456789"]);
        assert_eq!(cli.server.key.expose(), "rk_live_s3cr3t0123456789");
        let debug = format!("{cli:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("Secret(<redacted>)"), "{debug}");
    }
}
