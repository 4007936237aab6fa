use clap::Subcommand;
use serde_json::Value;

use super::people::urlencode;
use crate::client::{Client, ServerArgs, json_or_problem};
use crate::output::{OutputArgs, Table, cell};

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Lists dead letters (without payloads).
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        /// How many at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Shows one dead letter with its payload, error and attempts.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// The dead letter's id (`dl_...`).
        id: String,
    },
    /// Moves dead letters back to the queue: one by id, or all with --all.
    Redrive {
        #[command(flatten)]
        server: ServerArgs,
        /// The dead letter's id (`dl_...`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every dead letter of the tenant.
        #[arg(long)]
        all: bool,
    },
    /// Queues a test message that is dead-lettered on arrival and never
    /// applied: to see the DLQ, its alarm and a redrive in staging (needs an
    /// admin key).
    Inject {
        #[command(flatten)]
        server: ServerArgs,
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
        DlqCommand::Ls { server, limit, out } => {
            let client = Client::new(&server)?;
            let items = client.list("/v1/dlq", limit).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table = Table::new(&["ID", "RECEIVES", "DEAD-LETTERED", "REASON"]).numeric(&[1]);
            for d in &items {
                table.row([
                    cell(&d["id"]),
                    cell(&d["receiveCount"]),
                    super::time(&d["deadLetteredAt"]),
                    d["reason"].as_str().unwrap_or("").to_owned(),
                ]);
            }
            table.print();
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
        DlqCommand::Inject { server } => {
            let client = Client::new(&server)?;
            let res: Value = json_or_problem(client.post("/v1/dlq/test").send().await?).await?;
            println!("{}", res["id"].as_str().unwrap_or("?"));
            eprintln!("queued a test message: it is a dead letter once a worker receives it (roster dlq ls)");
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
