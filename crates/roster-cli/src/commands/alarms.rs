use clap::Subcommand;
use serde_json::Value;

use crate::client::{Client, ServerArgs};

#[derive(Debug, Subcommand)]
pub enum AlarmsCommand {
    /// Lists every alarm rule with its state, since when and why.
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: AlarmsCommand) -> anyhow::Result<()> {
    match cmd {
        AlarmsCommand::Ls { server, json } => {
            let client = Client::new(&server)?;
            let res = client.get_json("/v1/alarms").await?;
            let items = res["items"].as_array().cloned().unwrap_or_default();
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
                return Ok(());
            }
            if res["evaluatedHere"] == Value::Bool(false) {
                eprintln!("this node runs no workers, so it evaluates no alarms; ask one that does");
            }
            println!("{:<28} {:<17} {:<36} {:<26} REASON", "NAME", "STATE", "CONDITION", "SINCE");
            for a in &items {
                let threshold = a["threshold"].as_f64().map_or_else(|| "?".to_owned(), |t| t.to_string());
                let condition = format!(
                    "{} {} {threshold}",
                    a["metric"].as_str().unwrap_or("-"),
                    a["comparison"].as_str().unwrap_or("?"),
                );
                let since = super::time(&a["since"]);
                println!(
                    "{:<28} {:<17} {:<36} {:<26} {}",
                    a["name"].as_str().unwrap_or("-"),
                    a["state"].as_str().unwrap_or("-"),
                    condition,
                    since,
                    a["reason"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}
