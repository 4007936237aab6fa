//! `roster endpoints`: a tenant's webhook endpoints for lifecycle events and
//! their dead letters, through the API of a running Roster (an admin key).

use clap::Subcommand;
use serde_json::{Value, json};

use super::people::urlencode;
use crate::client::{Client, ServerArgs, json_or_problem};
use crate::output::{OutputArgs, Table};

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
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Shows one endpoint (never its secret).
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// The endpoint id (`ep_...`).
        id: String,
        #[command(flatten)]
        out: OutputArgs,
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
        #[command(flatten)]
        out: OutputArgs,
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
        #[command(flatten)]
        out: OutputArgs,
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
        #[command(flatten)]
        out: OutputArgs,
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

fn status(e: &Value) -> &'static str {
    if e["disabledAt"].is_null() { "active" } else { "disabled" }
}

/// The endpoint's event types, or `all` when it takes every type.
fn event_types(e: &Value) -> String {
    match e["eventTypes"].as_array() {
        Some(t) => t.iter().map(text).collect::<Vec<_>>().join(","),
        None => "all".into(),
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
        EndpointsCommand::Ls { server, out } => {
            let client = Client::new(&server)?;
            let items = client.list("/v1/endpoints", usize::MAX).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table = Table::new(&["ID", "STATUS", "EVENT TYPES", "CURSOR", "URL"]).numeric(&[3]);
            for e in &items {
                table.row([
                    text(&e["id"]),
                    status(e).into(),
                    event_types(e),
                    text(&e["cursor"]),
                    text(&e["url"]),
                ]);
            }
            table.print();
        }
        EndpointsCommand::Show { server, id, out } => {
            let client = Client::new(&server)?;
            let e = client.get_json(&path(&id, "")).await?;
            if out.json(&e)? {
                return Ok(());
            }
            let mut table = Table::new(&["", ""]);
            for (name, value) in [
                ("id", text(&e["id"])),
                ("url", text(&e["url"])),
                ("description", text(&e["description"])),
                ("status", status(&e).into()),
                ("event types", event_types(&e)),
                ("cursor", text(&e["cursor"])),
                ("created", super::time(&e["createdAt"])),
                ("disabled", super::time(&e["disabledAt"])),
            ] {
                table.row([name.to_owned(), value]);
            }
            table.print_body();
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
            println!("endpoint {} updated ({}, {})", text(&e["id"]), status(&e), text(&e["url"]));
        }
        EndpointsCommand::Test { server, id, out } => {
            let client = Client::new(&server)?;
            let r = json_or_problem(client.post(&path(&id, "/test")).send().await?).await?;
            let delivered = r["outcome"] == "delivered";
            if !out.json(&r)? && delivered {
                println!("test event {} delivered in {} ms", text(&r["eventId"]), text(&r["durationMs"]));
            } else if !out.json {
                println!(
                    "test event {} not delivered ({}): {}",
                    text(&r["eventId"]),
                    text(&r["outcome"]),
                    text(&r["error"])
                );
            }
            if !delivered {
                anyhow::bail!("the endpoint did not take the test event");
            }
        }
        EndpointsCommand::Attempts { server, id, event, limit, out } => {
            let client = Client::new(&server)?;
            let mut p = path(&id, "/attempts");
            if let Some(e) = event {
                p.push_str(&format!("?eventId={}", urlencode(&e)));
            }
            let items = client.list(&p, limit).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table =
                Table::new(&["AT", "EVENT", "TYPE", "ATTEMPT", "OUTCOME", "STATUS", "DURATION MS"])
                    .numeric(&[3, 5, 6]);
            for a in &items {
                table.row([
                    super::time(&a["at"]),
                    text(&a["event"]["id"]),
                    text(&a["event"]["type"]),
                    text(&a["attempt"]),
                    text(&a["outcome"]),
                    text(&a["status"]),
                    text(&a["durationMs"]),
                ]);
            }
            table.print();
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
        EndpointsCommand::DeadLetters { server, id, out } => {
            let client = Client::new(&server)?;
            let items = client.list(&path(&id, "/dead-letters"), usize::MAX).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table =
                Table::new(&["EVENT", "TYPE", "STATE", "ATTEMPTS", "STATUS", "ERROR"]).numeric(&[3, 4]);
            for d in &items {
                table.row([
                    text(&d["event"]["id"]),
                    text(&d["event"]["type"]),
                    text(&d["state"]),
                    text(&d["attempts"]),
                    text(&d["lastStatus"]),
                    text(&d["lastError"]),
                ]);
            }
            table.print();
        }
        EndpointsCommand::Redrive { server, id } => {
            let client = Client::new(&server)?;
            let res = json_or_problem(client.post(&path(&id, "/dead-letters/redrive")).send().await?).await?;
            println!("{} dead letter(s) queued for delivery", text(&res["redriven"]));
        }
    }
    Ok(())
}
