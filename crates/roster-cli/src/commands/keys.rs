//! `roster keys` and `roster audit`: a tenant's API keys and its audit log,
//! through the API of a running Roster (an admin key).

use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::{Client, ServerArgs, json_or_problem};
use crate::output::{OutputArgs, Table};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Creates a key and prints its secret (shown once) on the last line.
    Create {
        #[command(flatten)]
        server: ServerArgs,
        /// What the key is for, shown in listings (`workday-prod`): 1-64
        /// letters, digits, `-`, `_`, `.`.
        #[arg(long)]
        name: String,
        /// Comma-separated: ingest, read, admin.
        #[arg(long, default_value = "ingest")]
        scopes: String,
        /// When the key stops working (RFC 3339); default: never.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Lists the tenant's keys (prefixes only; secrets are never shown again).
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Revokes a key at once. To rotate: create a new key, switch to it, revoke the old.
    Revoke {
        #[command(flatten)]
        server: ServerArgs,
        /// The key id (`key_...`), as `keys ls` shows it.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Lists the tenant's audit log, oldest first.
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        /// Most entries to show (pages are followed up to it).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        out: OutputArgs,
    },
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create { server, name, scopes, expires_at } => {
            let client = Client::new(&server)?;
            let scopes: Vec<&str> = scopes.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            let res = client
                .post("/v1/keys")
                .json(&json!({"name": name, "scopes": scopes, "expiresAt": expires_at}))
                .send()
                .await?;
            let key = json_or_problem(res).await?;
            println!(
                "API key {} {} (scopes: {}); store it now, it is not shown again:",
                text(&key["id"]),
                text(&key["name"]),
                key["scopes"].as_array().into_iter().flatten().map(text).collect::<Vec<_>>().join(", ")
            );
            println!("{}", text(&key["secret"]));
        }
        KeysCommand::Ls { server, out } => {
            let client = Client::new(&server)?;
            let items = client.list("/v1/keys", usize::MAX).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table =
                Table::new(&["ID", "NAME", "PREFIX", "SCOPES", "EXPIRES", "LAST USED", "REVOKED"]);
            for k in &items {
                let scopes: Vec<String> = k["scopes"].as_array().into_iter().flatten().map(text).collect();
                table.row([
                    text(&k["id"]),
                    text(&k["name"]),
                    text(&k["prefix"]),
                    scopes.join(","),
                    super::time(&k["expiresAt"]),
                    super::time(&k["lastUsedAt"]),
                    super::time(&k["revokedAt"]),
                ]);
            }
            table.print();
        }
        KeysCommand::Revoke { server, id } => {
            let client = Client::new(&server)?;
            let path = format!("/v1/keys/{}", super::people::urlencode(&id));
            let key = json_or_problem(client.delete(&path).send().await?).await?;
            println!("API key {} revoked", text(&key["id"]));
        }
    }
    Ok(())
}

pub async fn run_audit(cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Ls { server, limit, out } = cmd;
    let client = Client::new(&server)?;
    let items = client.list("/v1/audit", limit).await?;
    if out.json(&items)? {
        return Ok(());
    }
    let mut table = Table::new(&["SEQ", "AT", "ACTOR", "ACTION", "TARGET"]).numeric(&[0]);
    for e in &items {
        table.row([
            text(&e["seq"]),
            super::time(&e["at"]),
            text(&e["actor"]),
            text(&e["action"]),
            text(&e["target"]),
        ]);
    }
    table.print();
    Ok(())
}
