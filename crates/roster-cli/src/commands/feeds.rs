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
        FeedsCommand::Ls { server, limit } => {
            let client = Client::new(&server)?;
            let page = client.get_json(&format!("/v1/feeds?limit={}", limit.clamp(1, 1000))).await?;
            println!(
                "{:<38} {:<6} {:<22} {:>9} {:>9} {:>8}",
                "FEED", "MODE", "STATUS", "ACCEPTED", "APPLIED", "FAILED"
            );
            for f in page["items"].as_array().into_iter().flatten() {
                let c = &f["counts"];
                println!(
                    "{:<38} {:<6} {:<22} {:>9} {:>9} {:>8}",
                    f["id"].as_str().unwrap_or("-"),
                    f["mode"].as_str().unwrap_or("-"),
                    f["status"].as_str().unwrap_or("-"),
                    c["accepted"],
                    c["applied"],
                    c["failed"]
                );
            }
        }
    }
    Ok(())
}
