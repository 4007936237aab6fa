use clap::Subcommand;
use roster_core::public_id::{Kind, render};
use roster_core::{Clock, SystemClock};
use roster_engine::ApiKeySecret;
use roster_engine::credentials::generate_api_key;
use roster_store::{
    ApiKeyInfo, Directory, NewApiKey, NewAuditEntry, Scope, StoreError, Tenant, platform_log,
};

use crate::app;
use crate::config::{GlobalArgs, ServeArgs, Settings};

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Creates a tenant and prints its first API key (shown once) on the last line.
    Create {
        /// A unique name, e.g. the customer's company.
        name: String,
        /// Create the data directory if it does not exist (otherwise refused:
        /// a mistyped --data-dir would make keys no running server knows).
        #[arg(long)]
        init: bool,
    },
    /// Lists tenants.
    Ls,
}

pub async fn run(global: &GlobalArgs, cmd: TenantsCommand) -> anyhow::Result<()> {
    let settings = Settings::resolve(global, &ServeArgs::default())?;
    let init = matches!(cmd, TenantsCommand::Create { init: true, .. });
    let directory = app::open_admin_directory(&settings, init).await?;
    match cmd {
        TenantsCommand::Create { name, .. } => {
            let (tenant, key, secret) = create_tenant(directory.as_ref(), &name).await?;
            println!("tenant {} created (id {})", tenant.name, render(Kind::Tenant, tenant.id));
            println!(
                "API key {} (scopes: ingest, read, admin); store it now, it is not shown again:",
                render(Kind::ApiKey, &key.id)
            );
            println!("{}", secret.expose());
        }
        TenantsCommand::Ls => {
            println!("{:<40} {:<24} CREATED", "ID", "NAME");
            for t in directory.list_tenants().await? {
                println!("{:<40} {:<24} {}", render(Kind::Tenant, t.id), t.name, t.created_at);
            }
        }
    }
    Ok(())
}

/// Creates a tenant and its first API key (all scopes). The secret is
/// returned once; only its hash is stored. Audited with the actor `cli`:
/// `tenant.created` and `key.created` in the tenant's log, `tenant.created`
/// in the platform's.
pub async fn create_tenant(
    directory: &dyn Directory,
    name: &str,
) -> anyhow::Result<(Tenant, ApiKeyInfo, ApiKeySecret)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        anyhow::bail!("a tenant name must be 1 to 200 printable characters");
    }
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
