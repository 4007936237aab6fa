use clap::Subcommand;

use crate::client::{Client, ServerArgs};

#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// Shows a feed: status, counts and rejected records.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
    /// Approves a halted full snapshot: the people it did not list leave.
    Approve {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
    /// Rejects a halted full snapshot: nobody is deactivated.
    Reject {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
    /// Lists recent feeds, newest first.
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

pub async fn run(cmd: FeedsCommand) -> anyhow::Result<()> {
    match cmd {
        FeedsCommand::Show { server, id } => {
            let client = Client::new(&server)?;
            let feed = client.get_json(&format!("/v1/feeds/{}", super::people::urlencode(&id))).await?;
            println!("{}", serde_json::to_string_pretty(&feed)?);
        }
        FeedsCommand::Approve { server, id } => decide(&server, &id, "approve").await?,
        FeedsCommand::Reject { server, id } => decide(&server, &id, "reject").await?,
        FeedsCommand::Ls { server, limit } => {
            let client = Client::new(&server)?;
            let items = client.list("/v1/feeds", limit).await?;
            println!(
                "{:<42} {:<12} {:<6} {:<22} {:>9} {:>9} {:>8} {:>8}",
                "FEED", "SOURCE", "MODE", "STATUS", "ACCEPTED", "APPLIED", "FAILED", "LEAVERS"
            );
            for f in &items {
                let c = &f["counts"];
                println!(
                    "{:<42} {:<12} {:<6} {:<22} {:>9} {:>9} {:>8} {:>8}",
                    f["id"].as_str().unwrap_or("-"),
                    f["source"].as_str().unwrap_or("-"),
                    f["mode"].as_str().unwrap_or("-"),
                    f["status"].as_str().unwrap_or("-"),
                    c["accepted"],
                    c["applied"],
                    c["failed"],
                    c["leavers"]
                );
            }
        }
    }
    Ok(())
}

/// Approves or rejects a halted full snapshot and says what it did.
async fn decide(server: &ServerArgs, id: &str, verb: &str) -> anyhow::Result<()> {
    let client = Client::new(server)?;
    let path = format!("/v1/feeds/{}/{verb}", super::people::urlencode(id));
    let res = client.post(&path).send().await?;
    let feed = crate::client::json_or_problem(res).await?;
    let r = &feed["reconciliation"];
    println!(
        "feed {} is {}: {} of {} active people absent, {} deactivated",
        feed["id"].as_str().unwrap_or("?"),
        feed["status"].as_str().unwrap_or("?"),
        r["absent"],
        r["active"],
        feed["counts"]["leavers"]
    );
    Ok(())
}
