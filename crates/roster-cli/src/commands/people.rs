use clap::Subcommand;
use serde_json::Value;

use crate::client::{Client, ServerArgs};

#[derive(Debug, Subcommand)]
pub enum PeopleCommand {
    /// Lists people (ordered by external id).
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        /// How many at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Shows one person as JSON.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        external_id: String,
        /// Include every version.
        #[arg(long)]
        history: bool,
    },
}

pub async fn run(cmd: PeopleCommand) -> anyhow::Result<()> {
    match cmd {
        PeopleCommand::Ls { server, limit, json } => {
            let client = Client::new(&server)?;
            let items = client.list("/v1/people", limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&items)?);
                return Ok(());
            }
            println!("{:<16} {:<28} {:<20} {:<8} VERSION", "EXTERNAL ID", "NAME", "DEPARTMENT", "STATUS");
            for p in &items {
                println!(
                    "{:<16} {:<28} {:<20} {:<8} {}",
                    text(&p["externalId"]),
                    display_name(p),
                    text(&p["department"]),
                    text(&p["status"]),
                    p["version"]
                );
            }
            eprintln!("{} people", items.len());
        }
        PeopleCommand::Show { server, external_id, history } => {
            let client = Client::new(&server)?;
            let path = format!(
                "/v1/people/{}{}",
                urlencode(&external_id),
                if history { "?history=true" } else { "" }
            );
            println!("{}", serde_json::to_string_pretty(&client.get_json(&path).await?)?);
        }
    }
    Ok(())
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("-").to_owned()
}

fn display_name(p: &Value) -> String {
    if let Some(d) = p["displayName"].as_str() {
        return d.to_owned();
    }
    let given = p["name"]["givenName"].as_str().unwrap_or("");
    let family = p["name"]["familyName"].as_str().unwrap_or("");
    let full = format!("{given} {family}").trim().to_owned();
    if full.is_empty() { "-".into() } else { full }
}

/// Percent-encodes a path or query component.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
