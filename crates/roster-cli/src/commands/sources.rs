//! `roster sources` and `roster mappings`: a tenant's integration channels,
//! their validation mode, deletion threshold and CSV mapping profile.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::Value;

use crate::client::{Client, ServerArgs, json_or_problem};

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Lists the configured sources.
    Ls {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Shows a source's settings (the defaults if never configured).
    Show {
        #[command(flatten)]
        server: ServerArgs,
        name: String,
    },
    /// Changes a source's settings; the ones not given stay as they are.
    Set {
        #[command(flatten)]
        server: ServerArgs,
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
    },
}

#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Prints a source's CSV mapping profile.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        source: String,
    },
    /// Stores a source's CSV mapping profile from a JSON file (checked first).
    Set {
        #[command(flatten)]
        server: ServerArgs,
        source: String,
        file: PathBuf,
    },
}

fn path(name: &str) -> String {
    format!("/v1/sources/{}", super::people::urlencode(name))
}

pub async fn run(cmd: SourcesCommand) -> anyhow::Result<()> {
    match cmd {
        SourcesCommand::Ls { server } => {
            let items = Client::new(&server)?.list("/v1/sources", usize::MAX).await?;
            println!("{:<24} {:<8} {:>9} {:>6} {:<7}", "SOURCE", "MODE", "THRESHOLD", "FLOOR", "MAPPING");
            for s in &items {
                println!(
                    "{:<24} {:<8} {:>8}% {:>6} {:<7}",
                    s["name"].as_str().unwrap_or("-"),
                    s["validation"].as_str().unwrap_or("-"),
                    s["deletionThresholdPercent"],
                    s["deletionThresholdFloor"],
                    if s["mapping"].is_null() { "no" } else { "yes" }
                );
            }
        }
        SourcesCommand::Show { server, name } => {
            let source = Client::new(&server)?.get_json(&path(&name)).await?;
            println!("{}", serde_json::to_string_pretty(&source)?);
        }
        SourcesCommand::Set { server, name, validation, threshold_percent, threshold_floor } => {
            let client = Client::new(&server)?;
            let current = client.get_json(&path(&name)).await?;
            let mut settings = serde_json::Map::new();
            for key in ["validation", "mapping", "deletionThresholdPercent", "deletionThresholdFloor"] {
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
    }
    Ok(())
}
