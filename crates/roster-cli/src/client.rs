//! A small client of Roster's HTTP API for the CLI commands.

use anyhow::{Context, bail};
use reqwest::{Response, StatusCode};
use roster_core::secret::Secret;
use serde_json::Value;

#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Base URL of a running Roster. Plain `http://` only to a loopback
    /// address unless `--allow-insecure-http`: the key and the data would
    /// cross the network in clear.
    #[arg(long, env = "ROSTER_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// API key (shown once by `roster tenants create`), or an operator key.
    /// Prefer `ROSTER_KEY` or `--key-file`: a flag's value is visible to
    /// every user of the machine (`ps`). A `Secret`: `Debug` never shows it.
    #[arg(long, env = "ROSTER_KEY", hide_env_values = true)]
    pub key: Option<Secret>,
    /// A file holding the key (its first line), instead of `--key`.
    #[arg(long, env = "ROSTER_KEY_FILE", conflicts_with = "key")]
    pub key_file: Option<std::path::PathBuf>,
    /// Talk plain `http://` to a server that is not on loopback.
    #[arg(long, env = "ROSTER_ALLOW_INSECURE_HTTP")]
    pub allow_insecure_http: bool,
}

impl ServerArgs {
    /// The key, from `--key`/`ROSTER_KEY` or the key file.
    pub fn key(&self) -> anyhow::Result<Secret> {
        if let Some(key) = &self.key {
            if key_on_command_line() {
                eprintln!(
                    "warning: --key is visible to other users of this machine (ps); prefer ROSTER_KEY or --key-file"
                );
            }
            return Ok(key.clone());
        }
        let Some(path) = &self.key_file else {
            bail!("no key: set ROSTER_KEY, or give --key-file (or --key)");
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the key file {}", path.display()))?;
        let key = text.lines().next().unwrap_or_default().trim();
        if key.is_empty() {
            bail!("the key file {} is empty", path.display());
        }
        Ok(Secret::new(key))
    }

    /// The server's base URL, refused when it is plain HTTP off loopback
    /// (unless allowed).
    pub fn base(&self) -> anyhow::Result<String> {
        let url = reqwest::Url::parse(&self.server).with_context(|| format!("--server `{}`", self.server))?;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback || self.allow_insecure_http => {}
            "http" => bail!(
                "refusing plain HTTP to {host}: the key and the data would cross the network in clear; use https:// (or --allow-insecure-http)"
            ),
            other => bail!("--server must be an http(s) URL, not {other}://"),
        }
        Ok(self.server.trim_end_matches('/').to_owned())
    }
}

/// Whether `--key` itself (not `ROSTER_KEY`) was given.
fn key_on_command_line() -> bool {
    std::env::args().any(|a| a == "--key" || a.starts_with("--key="))
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
        Ok(Self { http, base: args.base()?, key: args.key()? })
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

    pub fn patch(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.patch(self.url(path)).bearer_auth(self.key.expose())
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

    /// Up to `limit` items of a list, following its `next` cursors page by
    /// page (the API answers every list as `{"items": [...], "next"}`).
    pub async fn list(&self, path: &str, limit: usize) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        while items.len() < limit {
            let page_size = (limit - items.len()).min(1000);
            let mut page_path = format!("{path}{sep}limit={page_size}");
            if let Some(c) = &cursor {
                page_path.push_str(&format!("&cursor={}", crate::commands::people::urlencode(c)));
            }
            let page = self.get_json(&page_path).await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        Ok(items)
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

/// A problem as the CLI tells it: the status and detail, then the `code`
/// and the request id to quote to whoever runs the server.
pub fn problem_text(status: StatusCode, body: &Value) -> String {
    let detail = body.get("detail").and_then(Value::as_str).unwrap_or("no detail");
    let mut text = format!("server answered {status}: {detail}");
    let code = body.get("code").and_then(Value::as_str);
    let request_id = body.get("requestId").and_then(Value::as_str);
    match (code, request_id) {
        (Some(code), Some(id)) => text.push_str(&format!(" ({code}; request id {id})")),
        (Some(code), None) => text.push_str(&format!(" ({code})")),
        (None, Some(id)) => text.push_str(&format!(" (request id {id})")),
        (None, None) => {}
    }
    text
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
        assert_eq!(cli.server.key().unwrap().expose(), "rk_live_s3cr3t0123456789");
        let debug = format!("{cli:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(debug.contains("Secret(<redacted>)"), "{debug}");
    }

    #[test]
    fn the_key_comes_from_a_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "rk_live_fromafile0123\n").unwrap();
        let cli = Cli::parse_from(["roster", "--key-file", path.to_str().unwrap()]);
        assert_eq!(cli.server.key().unwrap().expose(), "rk_live_fromafile0123");
        let none = Cli::parse_from(["roster"]);
        if std::env::var_os("ROSTER_KEY").is_none() {
            assert!(none.server.key().unwrap_err().to_string().contains("no key"));
        }
    }

    #[test]
    fn plain_http_only_to_loopback_unless_allowed() {
        let base = |args: &[&str]| {
            let mut all = vec!["roster", "--key", "k"];
            all.extend_from_slice(args);
            Cli::parse_from(all).server.base().map_err(|e| e.to_string())
        };
        for ok in [
            "http://127.0.0.1:8080/",
            "http://localhost:1",
            "http://[::1]:8080",
            "https://roster.example.com",
        ] {
            assert!(base(&["--server", ok]).is_ok(), "{ok}");
        }
        let refused = base(&["--server", "http://roster.example.com"]).unwrap_err();
        assert!(refused.contains("refusing plain HTTP to roster.example.com"), "{refused}");
        assert!(base(&["--server", "http://10.0.0.5:8080", "--allow-insecure-http"]).is_ok());
        assert!(base(&["--server", "ftp://x"]).is_err());
    }
}
