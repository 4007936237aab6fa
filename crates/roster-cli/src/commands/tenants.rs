use clap::Subcommand;
use roster_core::public_id::{Kind, render};
use roster_core::{Clock, SystemClock};
use roster_engine::ApiKeySecret;
use roster_engine::credentials::generate_api_key;
use roster_store::{
    ApiKeyInfo, Directory, NewApiKey, NewAuditEntry, Scope, StoreError, Tenant, platform_log,
};

use serde_json::{Value, json};

use crate::client::{Client, ServerArgs, json_or_problem};
use crate::config::{self, GlobalArgs, ServeArgs};
use crate::output::{OutputArgs, Table};
use roster_app as app;

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Creates a tenant on the server's data directory and prints its first
    /// API key (shown once) on the last line. Without a data directory (the
    /// AWS shape), an operator creates tenants with `POST /v1/operator/tenants`.
    Create {
        /// A unique name, e.g. the customer's company.
        name: String,
        /// Create the data directory if it does not exist (otherwise refused:
        /// a mistyped --data-dir would make keys no running server knows).
        #[arg(long)]
        init: bool,
        #[command(flatten)]
        directory: GlobalArgs,
    },
    /// Lists tenants, with those being deleted (an operator key).
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Shows a tenant (an operator key).
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// The tenant's id (`ten_...`) or name.
        tenant: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Renames a tenant; its id, keys and data stay (an operator key).
    Rename {
        #[command(flatten)]
        server: ServerArgs,
        /// The tenant's id (`ten_...`) or current name.
        tenant: String,
        /// The new name.
        new_name: String,
    },
    /// Schedules a tenant's deletion: its keys are refused at once, its data
    /// purged after the grace period (default 7 days) unless cancelled (an
    /// operator key).
    Delete {
        #[command(flatten)]
        server: ServerArgs,
        /// The tenant's id (`ten_...`) or name.
        tenant: String,
        /// The tenant's name, repeated, to confirm.
        #[arg(long)]
        confirm: String,
    },
    /// Cancels a scheduled deletion during its grace period (an operator key).
    CancelDelete {
        #[command(flatten)]
        server: ServerArgs,
        /// The tenant's id (`ten_...`) or name.
        tenant: String,
    },
    /// Mints an admin key for a tenant that lost its own, expiring in 7 days;
    /// prints it (shown once) on the last line (an operator key).
    RecoveryKey {
        #[command(flatten)]
        server: ServerArgs,
        /// The tenant's id (`ten_...`) or name.
        tenant: String,
        /// The key's name, as listings show it.
        #[arg(long, default_value = "recovery")]
        name: String,
    },
}

pub async fn run(cmd: TenantsCommand) -> anyhow::Result<()> {
    match cmd {
        TenantsCommand::Create { name, init, directory } => {
            let settings = config::resolve(&directory, &ServeArgs::default())?;
            let directory = app::open_admin_directory(&settings, init).await?;
            let (tenant, key, secret) = create_tenant(directory.as_ref(), &name).await?;
            println!("tenant {} created (id {})", tenant.name, render(Kind::Tenant, tenant.id));
            println!(
                "API key {} (scopes: ingest, read, admin); store it now, it is not shown again:",
                render(Kind::ApiKey, &key.id)
            );
            println!("{}", secret.expose());
        }
        TenantsCommand::Ls { server, out } => {
            let client = Client::new(&server)?;
            let items = client.list("/v1/operator/tenants", usize::MAX).await?;
            if out.json(&items)? {
                return Ok(());
            }
            let mut table = Table::new(&["ID", "NAME", "STATUS", "CREATED", "DELETE AFTER"]);
            for t in &items {
                table.row([
                    text(&t["id"]),
                    text(&t["name"]),
                    text(&t["status"]),
                    super::time(&t["createdAt"]),
                    super::time(&t["deleteAfter"]),
                ]);
            }
            table.print();
        }
        TenantsCommand::Show { server, tenant, out } => {
            let client = Client::new(&server)?;
            let t = client.get_json(&path(&tenant, "")).await?;
            if out.json(&t)? {
                return Ok(());
            }
            let mut table = Table::new(&["", ""]);
            for (label, v) in [
                ("id", text(&t["id"])),
                ("name", text(&t["name"])),
                ("status", text(&t["status"])),
                ("created", super::time(&t["createdAt"])),
                ("deletion requested", super::time(&t["deletionRequestedAt"])),
                ("delete after", super::time(&t["deleteAfter"])),
            ] {
                table.row([label.to_owned(), v]);
            }
            table.print_body();
        }
        TenantsCommand::Rename { server, tenant, new_name } => {
            let client = Client::new(&server)?;
            let res = client.patch(&path(&tenant, "")).json(&json!({"name": new_name})).send().await?;
            let t = json_or_problem(res).await?;
            println!("tenant {} renamed to {}", text(&t["id"]), text(&t["name"]));
        }
        TenantsCommand::Delete { server, tenant, confirm } => {
            let client = Client::new(&server)?;
            let url = format!("{}?confirm={}", path(&tenant, ""), super::people::urlencode(&confirm));
            let t = json_or_problem(client.delete(&url).send().await?).await?;
            println!(
                "tenant {} ({}) scheduled for deletion: its keys are refused now, its data is purged after {} (cancel before: roster tenants cancel-delete)",
                text(&t["name"]),
                text(&t["id"]),
                super::time(&t["deleteAfter"])
            );
        }
        TenantsCommand::CancelDelete { server, tenant } => {
            let client = Client::new(&server)?;
            let t = json_or_problem(client.post(&path(&tenant, "/cancel-deletion")).send().await?).await?;
            println!(
                "deletion of tenant {} ({}) cancelled: its keys work again",
                text(&t["name"]),
                text(&t["id"])
            );
        }
        TenantsCommand::RecoveryKey { server, tenant, name } => {
            let client = Client::new(&server)?;
            let res =
                client.post(&path(&tenant, "/recovery-key")).json(&json!({"name": name})).send().await?;
            let key = json_or_problem(res).await?;
            println!(
                "recovery API key {} (admin, expires {}); store it now, it is not shown again:",
                text(&key["id"]),
                super::time(&key["expiresAt"])
            );
            println!("{}", text(&key["secret"]));
        }
    }
    Ok(())
}

/// `/v1/operator/tenants/<tenant><rest>`.
fn path(tenant: &str, rest: &str) -> String {
    format!("/v1/operator/tenants/{}{rest}", super::people::urlencode(tenant))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Creates a tenant and its first API key (all scopes). The secret is
/// returned once; only its hash is stored. Audited with the actor `cli`:
/// `tenant.created` and `key.created` in the tenant's log, `tenant.created`
/// in the platform's.
pub async fn create_tenant(
    directory: &dyn Directory,
    name: &str,
) -> anyhow::Result<(Tenant, ApiKeyInfo, ApiKeySecret)> {
    let name = roster_core::ids::tenant_name(name)?;
    let now = SystemClock.now();
    let tenant = match directory.create_tenant(name, now).await {
        Err(StoreError::Conflict(_)) => anyhow::bail!("a tenant named {name:?} exists already"),
        other => other?,
    };
    let secret = generate_api_key();
    let key = directory
        .create_api_key(
            NewApiKey {
                tenant_id: tenant.id,
                name: "admin".into(),
                prefix: secret.shown_prefix(),
                hash: secret.hash(),
                scopes: vec![Scope::Ingest, Scope::Read, Scope::Admin],
                expires_at: None,
            },
            now,
        )
        .await?;
    // Who made the tenant and its first key: the command line, beside the server.
    let entry = |log, action, target: String| NewAuditEntry {
        at: now,
        tenant_id: log,
        actor: "cli".into(),
        action,
        target: Some(target),
        request_id: None,
        client_request_id: None,
    };
    let tenant_id = render(Kind::Tenant, tenant.id);
    directory.append_audit(entry(tenant.id, "tenant.created", tenant_id.clone())).await?;
    directory.append_audit(entry(tenant.id, "key.created", render(Kind::ApiKey, &key.id))).await?;
    directory.append_audit(entry(platform_log(), "tenant.created", tenant_id)).await?;
    Ok((tenant, key, secret))
}
