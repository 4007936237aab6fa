//! `roster whoami`: the tenant, key, scopes and expiry of the credential in
//! use — a cron job's first check.

use serde_json::Value;

use crate::client::{Client, ServerArgs};
use crate::output::{OutputArgs, Table, cell};

#[derive(Debug, clap::Args)]
pub struct WhoamiArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(args: WhoamiArgs) -> anyhow::Result<()> {
    let me = Client::new(&args.server)?.get_json("/v1/whoami").await?;
    if args.out.json(&me)? {
        return Ok(());
    }
    let (t, c) = (&me["tenant"], &me["credential"]);
    let scopes = c["scopes"]
        .as_array()
        .map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let mut table = Table::new(&["", ""]);
    table.row(["tenant".into(), format!("{} ({})", cell(&t["name"]), cell(&t["id"]))]);
    match c["type"].as_str() {
        Some("jwt") => table.row(["client".into(), format!("{} (JWT)", cell(&c["clientId"]))]),
        _ => {
            let name = c["name"].as_str().map(|n| format!(" ({n})")).unwrap_or_default();
            table.row(["key".into(), format!("{}{name}", cell(&c["id"]))]);
        }
    }
    table.row(["scopes".into(), scopes]);
    if c["type"] == "api_key" {
        let expires = if c["expiresAt"].is_null() { "never".into() } else { super::time(&c["expiresAt"]) };
        table.row(["expires".into(), expires]);
        table.row(["last used".into(), super::time(&c["lastUsedAt"])]);
    }
    table.print_body();
    Ok(())
}
