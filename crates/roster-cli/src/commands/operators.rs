//! `roster operators create|ls|revoke`: operator keys for cross-tenant
//! administration (`/v1/operator/...`, `/v1/alarms`, `/metrics`), managed on
//! the server's data directory like tenants are. Each creation and
//! revocation is written to the platform's audit log with the actor `cli`.

use clap::Subcommand;
use roster_core::public_id::{Kind, render, strip};
use roster_core::{Clock, SystemClock};
use roster_engine::ApiKeySecret;
use roster_engine::credentials::generate_operator_key;
use roster_store::{Directory, NewAuditEntry, OperatorKeyInfo, StoreError, platform_log};

use crate::config::{self, GlobalArgs, ServeArgs};
use crate::output::{OutputArgs, Table};
use roster_app as app;

#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Creates an operator key and prints it (shown once) on the last line.
    Create {
        /// Who holds it, as the audit log will name them.
        name: String,
        /// Days until the key stops working (rotate by creating a new key,
        /// then revoking the old one).
        #[arg(long, default_value_t = DEFAULT_EXPIRY_DAYS, conflicts_with = "no_expiry")]
        expires_in_days: u32,
        /// A key that never expires (break-glass keys kept offline).
        #[arg(long)]
        no_expiry: bool,
    },
    /// Lists operator keys (prefixes only), revoked ones included.
    Ls {
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Revokes an operator key at once: by its id, or every live key of a name.
    Revoke {
        /// The key's id, or its holder's name.
        name_or_id: String,
    },
}

pub async fn run(global: &GlobalArgs, cmd: OperatorsCommand) -> anyhow::Result<()> {
    let settings = config::resolve(global, &ServeArgs::default())?;
    let directory = app::open_admin_directory(&settings, false).await?;
    match cmd {
        OperatorsCommand::Create { name, expires_in_days, no_expiry } => {
            anyhow::ensure!(no_expiry || expires_in_days > 0, "--expires-in-days must be at least 1");
            let expires_in = (!no_expiry).then_some(expires_in_days);
            let (key, secret) = create_operator_expiring(directory.as_ref(), &name, expires_in).await?;
            let until = key.expires_at.map_or("never expires".to_owned(), |t| format!("expires {t}"));
            println!(
                "operator key {} for {} ({until}); store it now, it is not shown again:",
                render(Kind::OperatorKey, &key.id),
                key.name
            );
            println!("{}", secret.expose());
        }
        OperatorsCommand::Ls { out } => {
            let keys = directory.list_operator_keys().await?;
            if out.json(&keys)? {
                return Ok(());
            }
            let or_dash =
                |t: Option<roster_core::Timestamp>| t.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
            let mut table =
                Table::new(&["ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST USED", "REVOKED"]);
            for k in keys {
                table.row([
                    render(Kind::OperatorKey, &k.id),
                    k.name,
                    k.prefix,
                    k.created_at.to_rfc3339(),
                    or_dash(k.expires_at),
                    or_dash(k.last_used_at),
                    or_dash(k.revoked_at),
                ]);
            }
            table.print();
        }
        OperatorsCommand::Revoke { name_or_id } => {
            let revoked = revoke_operator(directory.as_ref(), &name_or_id).await?;
            if revoked.is_empty() {
                anyhow::bail!("no live operator key has the id or name {name_or_id:?}");
            }
            for k in revoked {
                println!("operator key {} of {} revoked", render(Kind::OperatorKey, &k.id), k.name);
            }
        }
    }
    Ok(())
}

/// Days an operator key lives unless told otherwise.
pub const DEFAULT_EXPIRY_DAYS: u32 = 90;

/// Creates an operator key that expires in [`DEFAULT_EXPIRY_DAYS`].
pub async fn create_operator(
    directory: &dyn Directory,
    name: &str,
) -> Result<(OperatorKeyInfo, ApiKeySecret), StoreError> {
    create_operator_expiring(directory, name, Some(DEFAULT_EXPIRY_DAYS)).await
}

/// Creates an operator key expiring in `days` (never: `None`); audited in
/// the platform log as `operator.created`.
pub async fn create_operator_expiring(
    directory: &dyn Directory,
    name: &str,
    days: Option<u32>,
) -> Result<(OperatorKeyInfo, ApiKeySecret), StoreError> {
    let secret = generate_operator_key();
    let now = SystemClock.now();
    let expires_at = days.map(|d| now.plus_millis(i64::from(d) * 86_400_000));
    let key =
        directory.create_operator_key(name, secret.shown_prefix(), secret.hash(), expires_at, now).await?;
    directory.append_audit(cli_entry("operator.created", &render(Kind::OperatorKey, &key.id))).await?;
    Ok((key, secret))
}

/// Revokes the key with this id (`opk_...` or bare), or else every live key of this name;
/// returns those revoked (none if nothing matched). Each is audited in the
/// platform log as `operator.revoked`.
pub async fn revoke_operator(
    directory: &dyn Directory,
    name_or_id: &str,
) -> Result<Vec<OperatorKeyInfo>, StoreError> {
    let keys = directory.list_operator_keys().await?;
    let id = strip(Kind::OperatorKey, name_or_id);
    let by_id: Vec<&OperatorKeyInfo> = keys.iter().filter(|k| k.id == id).collect();
    let chosen: Vec<&OperatorKeyInfo> = if by_id.is_empty() {
        keys.iter().filter(|k| k.name == name_or_id && k.revoked_at.is_none()).collect()
    } else {
        by_id
    };
    let mut out = Vec::new();
    for k in chosen {
        let revoked = directory.revoke_operator_key(&k.id, SystemClock.now()).await?;
        directory.append_audit(cli_entry("operator.revoked", &render(Kind::OperatorKey, &k.id))).await?;
        out.push(revoked);
    }
    Ok(out)
}

/// An entry of the platform log made by a command run beside the server.
fn cli_entry(action: &'static str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: SystemClock.now(),
        tenant_id: platform_log(),
        actor: "cli".into(),
        action,
        target: Some(target.to_owned()),
        request_id: None,
        client_request_id: None,
    }
}
