use clap::Subcommand;
use serde_json::Value;

use super::people::urlencode;
use crate::client::{Client, ServerArgs, json_or_problem};

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Lists dead letters (without payloads).
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Shows one dead letter with its payload, error and attempts.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
    /// Moves dead letters back to the queue: one by id, or all with --all.
    Redrive {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Deletes all dead letters of the tenant.
    Purge {
        #[command(flatten)]
        server: ServerArgs,
        /// Confirms the purge.
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(cmd: DlqCommand) -> anyhow::Result<()> {
    match cmd {
        DlqCommand::Ls { server, limit } => {
            let client = Client::new(&server)?;
            let items = client.list("/v1/dlq", limit).await?;
            println!("{:<40} {:>8} {:<26} REASON", "ID", "RECEIVES", "DEAD-LETTERED");
            for d in &items {
                println!(
                    "{:<40} {:>8} {:<26} {}",
                    d["id"].as_str().unwrap_or("-"),
                    d["receiveCount"],
                    super::time(&d["deadLetteredAt"]),
                    d["reason"].as_str().unwrap_or("")
                );
            }
        }
        DlqCommand::Show { server, id } => {
            let client = Client::new(&server)?;
            let d = client.get_json(&format!("/v1/dlq/{}", urlencode(&id))).await?;
            println!("{}", serde_json::to_string_pretty(&d)?);
        }
        DlqCommand::Redrive { server, id, all } => {
            let client = Client::new(&server)?;
            let path = match (&id, all) {
                (Some(id), false) => format!("/v1/dlq/{}/redrive", urlencode(id)),
                _ => "/v1/dlq/redrive".to_owned(),
            };
            let res: Value = json_or_problem(client.post(&path).send().await?).await?;
            println!("redriven: {}", res["redriven"]);
        }
        DlqCommand::Purge { server, yes } => {
            if !yes {
                anyhow::bail!("purging deletes the dead letters for good; add --yes to confirm");
            }
            let client = Client::new(&server)?;
            let res: Value = json_or_problem(client.delete("/v1/dlq").send().await?).await?;
            println!("purged: {}", res["purged"]);
        }
    }
    Ok(())
}
