use clap::Subcommand;

use crate::client::{Client, ServerArgs};
use crate::output::{OutputArgs, Table};

#[derive(Debug, Subcommand)]
pub enum AlarmsCommand {
    /// Lists every alarm rule with its state, since when and why.
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        out: OutputArgs,
    },
}

pub async fn run(cmd: AlarmsCommand) -> anyhow::Result<()> {
    match cmd {
        AlarmsCommand::Ls { server, out } => {
            let client = Client::new(&server)?;
            let res = client.get_json("/v1/alarms").await?;
            let items = res["items"].as_array().cloned().unwrap_or_default();
            if out.json(&items)? {
                return Ok(());
            }
            let mut table = Table::new(&["NAME", "STATE", "CONDITION", "SINCE", "REASON"]);
            for a in &items {
                let threshold = a["threshold"].as_f64().map_or_else(|| "?".to_owned(), |t| t.to_string());
                let condition = format!(
                    "{} {} {threshold}",
                    a["metric"].as_str().unwrap_or("-"),
                    a["comparison"].as_str().unwrap_or("?"),
                );
                table.row([
                    a["name"].as_str().unwrap_or("-").to_owned(),
                    a["state"].as_str().unwrap_or("-").to_owned(),
                    condition,
                    super::time(&a["since"]),
                    a["reason"].as_str().unwrap_or("").to_owned(),
                ]);
            }
            table.print();
        }
    }
    Ok(())
}
