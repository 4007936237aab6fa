use clap::Subcommand;

use crate::client::{Client, ServerArgs};
use crate::output::{OutputArgs, Table, cell};

#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// Shows a feed: status, counts and rejected records.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// The feed id (`feed_...`), as `push` printed it.
        id: String,
    },
    /// Approves a halted full snapshot: the people it did not list leave.
    Approve {
        #[command(flatten)]
        server: ServerArgs,
        /// The halted snapshot's feed id.
        id: String,
    },
    /// Rejects a halted full snapshot: nobody is deactivated.
    Reject {
        #[command(flatten)]
        server: ServerArgs,
        /// The halted snapshot's feed id.
        id: String,
    },
    /// Lists a full snapshot's leavers: the people it deactivated or, while
    /// it is halted, those approving it would deactivate.
    Leavers {
        #[command(flatten)]
        server: ServerArgs,
        /// The full snapshot's feed id (`feed_...`).
        id: String,
        /// How many at most.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Lists recent feeds, newest first; the filters must all match.
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        /// Only feeds of this source.
        #[arg(long)]
        source: Option<String>,
        /// Only feeds with this status (e.g. halted, completed_with_errors).
        #[arg(long)]
        status: Option<String>,
        /// How many at most.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        out: OutputArgs,
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
        FeedsCommand::Leavers { server, id, limit, out } => {
            let client = Client::new(&server)?;
            let path = format!("/v1/feeds/{}/leavers", super::people::urlencode(&id));
            let items = client.list(&path, limit).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table =
                Table::new(&["EXTERNAL ID", "NAME", "EMAIL", "DEPARTMENT", "TITLE", "DEACTIVATED"]);
            for l in &items {
                table.row([
                    cell(&l["externalId"]),
                    cell(&l["displayName"]),
                    cell(&l["email"]),
                    cell(&l["department"]),
                    cell(&l["title"]),
                    super::time(&l["deactivatedAt"]),
                ]);
            }
            table.print();
        }
        FeedsCommand::Ls { server, source, status, limit, out } => {
            let client = Client::new(&server)?;
            let query = super::people::query(&[("source", &source), ("status", &status)]);
            let items = client.list(&format!("/v1/feeds{query}"), limit).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table = Table::new(&[
                "FEED", "SOURCE", "MODE", "STATUS", "ACCEPTED", "APPLIED", "FAILED", "LEAVERS", "CREATED",
            ])
            .numeric(&[4, 5, 6, 7]);
            for f in &items {
                let c = &f["counts"];
                table.row([
                    cell(&f["id"]),
                    cell(&f["source"]),
                    cell(&f["mode"]),
                    cell(&f["status"]),
                    cell(&c["accepted"]),
                    cell(&c["applied"]),
                    cell(&c["failed"]),
                    cell(&c["leavers"]),
                    super::time(&f["createdAt"]),
                ]);
            }
            table.print();
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
