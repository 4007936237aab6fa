//! `roster endpoints`: a tenant's webhook endpoints for lifecycle events and
//! their dead letters, through the API of a running Roster (an admin key).

use clap::Subcommand;
use serde_json::{Value, json};

use super::people::urlencode;
use crate::client::{Client, ServerArgs, json_or_problem};

#[derive(Debug, Subcommand)]
pub enum EndpointsCommand {
    /// Registers an endpoint and prints its signing secret (shown once) on the last line.
    Add {
        #[command(flatten)]
        server: ServerArgs,
        /// Where events are POSTed (https).
        url: String,
        #[arg(long)]
        description: Option<String>,
        /// Comma-separated event types, e.g. person.joined,person.left; default: all.
        #[arg(long)]
        event_types: Option<String>,
    },
    /// Lists the tenant's endpoints (secrets are never shown again).
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        json: bool,
    },
    /// Disables an endpoint at once: nothing more is sent to it.
    Rm {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
    /// Replaces an endpoint's signing secret and prints the new one (shown once) on the last line;
    /// the old one keeps signing too (a second signature) for the grace period.
    RotateSecret {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
        /// Seconds the old secret stays valid (0 to 604800; default 86400, a day).
        #[arg(long)]
        previous_valid_for_secs: Option<u64>,
    },
    /// Lists the events an endpoint could not take after every attempt.
    DeadLetters {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
    /// Sends an endpoint's dead letters again (once the endpoint is fixed).
    Redrive {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn path(id: &str, rest: &str) -> String {
    format!("/v1/endpoints/{}{rest}", urlencode(id))
}

pub async fn run(cmd: EndpointsCommand) -> anyhow::Result<()> {
    match cmd {
        EndpointsCommand::Add { server, url, description, event_types } => {
            let client = Client::new(&server)?;
            let mut body = json!({"url": url, "description": description});
            if let Some(types) = event_types {
                let types: Vec<&str> = types.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
                body["eventTypes"] = json!(types);
            }
            let endpoint = json_or_problem(client.post("/v1/endpoints").json(&body).send().await?).await?;
            println!(
                "endpoint {} for {}; its signing secret, not shown again:",
                text(&endpoint["id"]),
                text(&endpoint["url"])
            );
            println!("{}", text(&endpoint["secret"]));
        }
        EndpointsCommand::Ls { server, json } => {
            let client = Client::new(&server)?;
            let items = client.list("/v1/endpoints", usize::MAX).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
                return Ok(());
            }
            println!("{:<40} {:<9} {:<34} {:<10} URL", "ID", "STATUS", "EVENT TYPES", "CURSOR");
            for e in &items {
                let types = match e["eventTypes"].as_array() {
                    Some(t) => t.iter().map(text).collect::<Vec<_>>().join(","),
                    None => "all".into(),
                };
                let status = if e["disabledAt"].is_null() { "active" } else { "disabled" };
                println!(
                    "{:<40} {:<9} {:<34} {:<10} {}",
                    text(&e["id"]),
                    status,
                    types,
                    text(&e["cursor"]),
                    text(&e["url"])
                );
            }
        }
        EndpointsCommand::Rm { server, id } => {
            let client = Client::new(&server)?;
            let endpoint = json_or_problem(client.delete(&path(&id, "")).send().await?).await?;
            println!("endpoint {} disabled", text(&endpoint["id"]));
        }
        EndpointsCommand::RotateSecret { server, id, previous_valid_for_secs } => {
            let client = Client::new(&server)?;
            let mut body = json!({});
            if let Some(secs) = previous_valid_for_secs {
                body["previousValidForSecs"] = json!(secs);
            }
            let endpoint =
                json_or_problem(client.post(&path(&id, "/rotate-secret")).json(&body).send().await?).await?;
            let old = match previous_valid_for_secs.unwrap_or(86_400) {
                0 => "no longer signs".to_owned(),
                secs => format!("signs too for {secs} s more"),
            };
            println!(
                "endpoint {}: the old secret {old}; the new signing secret, not shown again:",
                text(&endpoint["id"])
            );
            println!("{}", text(&endpoint["secret"]));
        }
        EndpointsCommand::DeadLetters { server, id } => {
            let client = Client::new(&server)?;
            let items = client.list(&path(&id, "/dead-letters"), usize::MAX).await?;
            println!("{:<42} {:<16} {:<9} {:<8} {:<7} ERROR", "EVENT", "TYPE", "STATE", "ATTEMPTS", "STATUS");
            for d in &items {
                println!(
                    "{:<42} {:<16} {:<9} {:<8} {:<7} {}",
                    text(&d["event"]["id"]),
                    text(&d["event"]["type"]),
                    text(&d["state"]),
                    text(&d["attempts"]),
                    text(&d["lastStatus"]),
                    text(&d["lastError"])
                );
            }
        }
        EndpointsCommand::Redrive { server, id } => {
            let client = Client::new(&server)?;
            let res = json_or_problem(client.post(&path(&id, "/dead-letters/redrive")).send().await?).await?;
            println!("{} dead letter(s) queued for delivery", text(&res["redriven"]));
        }
    }
    Ok(())
}
