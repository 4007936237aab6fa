//! `roster events`: the tenant's lifecycle events, as the product is told.

use clap::Subcommand;

use super::people::query;
use crate::client::{Client, ServerArgs};
use crate::output::{OutputArgs, Table, cell};

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Lists lifecycle events, oldest first; the filters must all match.
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        /// Only events of this type (e.g. person.left).
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// Only events about the person with this external id.
        #[arg(long)]
        person: Option<String>,
        /// Only events of this feed (`feed_...`).
        #[arg(long)]
        feed: Option<String>,
        /// How many at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
}

pub async fn run(cmd: EventsCommand) -> anyhow::Result<()> {
    match cmd {
        EventsCommand::Ls { server, kind, person, feed, limit, out } => {
            let client = Client::new(&server)?;
            let q = query(&[("type", &kind), ("person", &person), ("feed", &feed)]);
            let items = client.list(&format!("/v1/events{q}"), limit).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table = Table::new(&["EVENT", "TYPE", "PERSON", "CHANGED", "FEED", "OCCURRED"]);
            for e in &items {
                let changed = e["payload"]["changedFields"]
                    .as_array()
                    .map(|f| f.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(","))
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "-".into());
                table.row([
                    cell(&e["id"]),
                    cell(&e["type"]),
                    cell(&e["payload"]["person"]["externalId"]),
                    changed,
                    cell(&e["feedId"]),
                    super::time(&e["occurredAt"]),
                ]);
            }
            table.print();
            eprintln!("{} events", items.len());
        }
    }
    Ok(())
}
