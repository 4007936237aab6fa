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
        /// What it is for, shown in listings.
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
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Shows one endpoint (never its secret).
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// The endpoint id (`ep_...`).
        id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Changes an endpoint's URL, description or event types, or re-enables it.
    Update {
        #[command(flatten)]
        server: ServerArgs,
        /// The endpoint id (`ep_...`).
        id: String,
        /// The new URL (https; checked as at `add`).
        #[arg(long)]
        url: Option<String>,
        /// The new description; "" removes it.
        #[arg(long)]
        description: Option<String>,
        /// Comma-separated event types, or `all`.
        #[arg(long)]
        event_types: Option<String>,
        /// Re-enables a disabled endpoint; it resumes from the newest event (`replay` sends older ones).
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Disables the endpoint (as `rm`).
        #[arg(long)]
        disable: bool,
    },
    /// Sends the endpoint a signed `endpoint.test` event now and prints how it answered.
    Test {
        #[command(flatten)]
        server: ServerArgs,
        /// The endpoint id (`ep_...`).
        id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Lists an endpoint's delivery attempts, newest first.
    Attempts {
        #[command(flatten)]
        server: ServerArgs,
        /// The endpoint id (`ep_...`).
        id: String,
        /// Only the attempts at this event (`evt_...`).
        #[arg(long)]
        event: Option<String>,
        /// At most this many (default 100).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Sends again every event after a position (an event's `seq`) or an event id (`evt_...`).
    Replay {
        #[command(flatten)]
        server: ServerArgs,
        /// The endpoint id (`ep_...`).
        id: String,
        /// The position or event id after which events are sent again.
        #[arg(long)]
        after: String,
    },
    /// Disables an endpoint at once: nothing more is sent to it.
    Rm {
        #[command(flatten)]
        server: ServerArgs,
        /// The endpoint id (`ep_...`).
        id: String,
    },
    /// Replaces an endpoint's signing secret and prints the new one (shown once) on the last line;
    /// the old one keeps signing too (a second signature) for the grace period.
    RotateSecret {
        #[command(flatten)]
        server: ServerArgs,
        /// The endpoint id (`ep_...`).
        id: String,
        /// Seconds the old secret stays valid (0 to 604800; default 86400, a day).
        #[arg(long)]
        previous_valid_for_secs: Option<u64>,
    },
    /// Lists the events an endpoint could not take after every attempt.
    DeadLetters {
        #[command(flatten)]
        server: ServerArgs,
        /// The endpoint id (`ep_...`).
        id: String,
    },
    /// Sends an endpoint's dead letters again (once the endpoint is fixed).
    Redrive {
        #[command(flatten)]
        server: ServerArgs,
        /// The endpoint id (`ep_...`).
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
        EndpointsCommand::Show { server, id, json } => {
            let client = Client::new(&server)?;
            let e = client.get_json(&path(&id, "")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&e)?);
                return Ok(());
            }
            let status = if e["disabledAt"].is_null() { "active" } else { "disabled" };
            let types = match e["eventTypes"].as_array() {
                Some(t) => t.iter().map(text).collect::<Vec<_>>().join(","),
                None => "all".into(),
            };
            for (name, value) in [
                ("id", text(&e["id"])),
                ("url", text(&e["url"])),
                ("description", text(&e["description"])),
                ("status", status.to_owned()),
                ("event types", types),
                ("cursor", text(&e["cursor"])),
                ("created", text(&e["createdAt"])),
                ("disabled", text(&e["disabledAt"])),
            ] {
                println!("{name:<12} {value}");
            }
        }
        EndpointsCommand::Update { server, id, url, description, event_types, enable, disable } => {
            let client = Client::new(&server)?;
            let mut body = json!({});
            if let Some(url) = url {
                body["url"] = json!(url);
            }
            if let Some(d) = description {
                body["description"] = if d.is_empty() { Value::Null } else { json!(d) };
            }
            if let Some(types) = event_types {
                body["eventTypes"] = if types.trim() == "all" {
                    Value::Null
                } else {
                    json!(types.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>())
                };
            }
            if enable || disable {
                body["enabled"] = json!(enable);
            }
            let e = json_or_problem(client.patch(&path(&id, "")).json(&body).send().await?).await?;
            let status = if e["disabledAt"].is_null() { "active" } else { "disabled" };
            println!("endpoint {} updated ({status}, {})", text(&e["id"]), text(&e["url"]));
        }
        EndpointsCommand::Test { server, id, json } => {
            let client = Client::new(&server)?;
            let r = json_or_problem(client.post(&path(&id, "/test")).send().await?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if r["outcome"] == "delivered" {
                println!("test event {} delivered in {} ms", text(&r["eventId"]), text(&r["durationMs"]));
            } else {
                println!(
                    "test event {} not delivered ({}): {}",
                    text(&r["eventId"]),
                    text(&r["outcome"]),
                    text(&r["error"])
                );
            }
            if r["outcome"] != "delivered" {
                anyhow::bail!("the endpoint did not take the test event");
            }
        }
        EndpointsCommand::Attempts { server, id, event, limit, json } => {
            let client = Client::new(&server)?;
            let mut p = path(&id, "/attempts");
            if let Some(e) = event {
                p.push_str(&format!("?eventId={}", urlencode(&e)));
            }
            let items = client.list(&p, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
                return Ok(());
            }
            println!(
                "{:<25} {:<42} {:<16} {:<7} {:<11} {:<6} DURATION",
                "AT", "EVENT", "TYPE", "ATTEMPT", "OUTCOME", "STATUS"
            );
            for a in &items {
                println!(
                    "{:<25} {:<42} {:<16} {:<7} {:<11} {:<6} {} ms",
                    text(&a["at"]),
                    text(&a["event"]["id"]),
                    text(&a["event"]["type"]),
                    text(&a["attempt"]),
                    text(&a["outcome"]),
                    text(&a["status"]),
                    text(&a["durationMs"])
                );
            }
        }
        EndpointsCommand::Replay { server, id, after } => {
            let client = Client::new(&server)?;
            let after = match after.parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => json!(after),
            };
            let e = json_or_problem(
                client.post(&path(&id, "/replay")).json(&json!({ "after": after })).send().await?,
            )
            .await?;
            println!(
                "endpoint {}: events after position {} will be sent again",
                text(&e["id"]),
                text(&e["cursor"])
            );
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
