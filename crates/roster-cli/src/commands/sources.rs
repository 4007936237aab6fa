//! `roster sources` and `roster mappings`: a tenant's integration channels,
//! their validation mode, deletion threshold and CSV mapping profile.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

use crate::client::{Client, ServerArgs, json_or_problem};
use crate::output::{OutputArgs, Table, cell};

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Lists the configured sources.
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Shows a source's settings (the defaults if never configured).
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// The source's name (e.g. workday).
        name: String,
    },
    /// Changes a source's settings; the ones not given stay as they are.
    Set {
        #[command(flatten)]
        server: ServerArgs,
        /// The source's name (e.g. workday).
        name: String,
        /// `partial` (valid records go on) or `strict` (any error rejects the feed).
        #[arg(long)]
        validation: Option<String>,
        /// Most leavers a full snapshot may cause without approval, in percent.
        #[arg(long)]
        threshold_percent: Option<u8>,
        /// ...or this many people, whichever is more.
        #[arg(long)]
        threshold_floor: Option<u64>,
        /// The employmentStatus values that make this source's people
        /// inactive (comma-separated; replaces the defaults).
        #[arg(long, value_delimiter = ',', value_name = "STATUS,...")]
        inactive_statuses: Option<Vec<String>>,
        /// What the records' `manager` holds: `externalId` (the default),
        /// `email` or `employeeNumber` (looked up at ingest).
        #[arg(long)]
        manager_by: Option<String>,
    },
    /// Forgets a source's settings and mapping profile (its people and feeds
    /// stay; its next feed gets the defaults).
    Delete {
        #[command(flatten)]
        server: ServerArgs,
        /// The source's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Prints a source's CSV mapping profile.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// The source's name.
        source: String,
    },
    /// Stores a source's CSV mapping profile from a JSON file (checked first).
    Set {
        #[command(flatten)]
        server: ServerArgs,
        /// The source's name.
        source: String,
        /// The profile, a JSON file (see "CSV mapping profiles" in the README).
        file: PathBuf,
    },
    /// Removes a source's mapping profile: its CSV feeds are refused until
    /// a new one is stored.
    Delete {
        #[command(flatten)]
        server: ServerArgs,
        /// The source's name.
        source: String,
    },
}

fn path(name: &str) -> String {
    format!("/v1/sources/{}", super::people::urlencode(name))
}

pub async fn run(cmd: SourcesCommand) -> anyhow::Result<()> {
    match cmd {
        SourcesCommand::Ls { server, out } => {
            let items = Client::new(&server)?.list("/v1/sources", usize::MAX).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table = Table::new(&["SOURCE", "MODE", "THRESHOLD", "FLOOR", "MAPPING"]).numeric(&[2, 3]);
            for s in &items {
                table.row([
                    cell(&s["name"]),
                    cell(&s["validation"]),
                    format!("{}%", s["deletionThresholdPercent"]),
                    cell(&s["deletionThresholdFloor"]),
                    (if s["mapping"].is_null() { "no" } else { "yes" }).to_owned(),
                ]);
            }
            table.print();
        }
        SourcesCommand::Delete { server, name } => {
            let res = Client::new(&server)?.delete(&path(&name)).send().await?;
            json_or_problem(res).await?;
            eprintln!("source `{name}` deleted: its next feed gets the default settings");
        }
        SourcesCommand::Show { server, name } => {
            let source = Client::new(&server)?.get_json(&path(&name)).await?;
            println!("{}", serde_json::to_string_pretty(&source)?);
        }
        SourcesCommand::Set {
            server,
            name,
            validation,
            threshold_percent,
            threshold_floor,
            inactive_statuses,
            manager_by,
        } => {
            let client = Client::new(&server)?;
            let current = client.get_json(&path(&name)).await?;
            let mut settings = serde_json::Map::new();
            for key in [
                "validation",
                "mapping",
                "deletionThresholdPercent",
                "deletionThresholdFloor",
                "inactiveStatuses",
                "managerBy",
            ] {
                if let Some(v) = current.get(key).filter(|v| !v.is_null()) {
                    settings.insert(key.into(), v.clone());
                }
            }
            if let Some(v) = validation {
                settings.insert("validation".into(), v.into());
            }
            if let Some(v) = threshold_percent {
                settings.insert("deletionThresholdPercent".into(), v.into());
            }
            if let Some(v) = threshold_floor {
                settings.insert("deletionThresholdFloor".into(), v.into());
            }
            if let Some(v) = inactive_statuses {
                settings.insert("inactiveStatuses".into(), v.into());
            }
            if let Some(v) = manager_by {
                settings.insert("managerBy".into(), v.into());
            }
            let res = client.put(&path(&name)).json(&Value::Object(settings)).send().await?;
            let source = json_or_problem(res).await?;
            println!("{}", serde_json::to_string_pretty(&source)?);
        }
    }
    Ok(())
}

pub async fn run_mappings(cmd: MappingsCommand) -> anyhow::Result<()> {
    match cmd {
        MappingsCommand::Show { server, source } => {
            let profile = Client::new(&server)?.get_json(&format!("{}/mapping", path(&source))).await?;
            println!("{}", serde_json::to_string_pretty(&profile)?);
        }
        MappingsCommand::Set { server, source, file } => {
            let text = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let profile: Value = serde_json::from_slice(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{} is not valid JSON (line {}, column {})",
                    file.display(),
                    e.line(),
                    e.column()
                )
            })?;
            let client = Client::new(&server)?;
            let res = client.put(&format!("{}/mapping", path(&source))).json(&profile).send().await?;
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                for r in body["errors"].as_array().into_iter().flatten() {
                    for e in r["errors"].as_array().into_iter().flatten() {
                        eprintln!(
                            "{}: {}",
                            e["path"].as_str().unwrap_or(""),
                            e["message"].as_str().unwrap_or("")
                        );
                    }
                }
                anyhow::bail!("{}", crate::client::problem_text(status, &body));
            }
            eprintln!("mapping profile of source `{source}` stored");
        }
        MappingsCommand::Delete { server, source } => {
            let res = Client::new(&server)?.delete(&format!("{}/mapping", path(&source))).send().await?;
            json_or_problem(res).await?;
            eprintln!("mapping profile of source `{source}` removed");
        }
    }
    Ok(())
}
