//! `roster operators create NAME`: an operator key for cross-tenant
//! administration (`/v1/operator/...`), made on the server's data directory
//! like tenants are.

use clap::Subcommand;
use roster_core::{Clock, SystemClock};
use roster_engine::ApiKeySecret;
use roster_engine::credentials::generate_operator_key;
use roster_store::{Directory, OperatorKeyInfo, StoreError};

use crate::app;
use crate::config::{GlobalArgs, ServeArgs, Settings};

#[derive(Debug, Subcommand)]
pub enum OperatorsCommand {
    /// Creates an operator key and prints it (shown once) on the last line.
    Create {
        /// Who holds it, as the audit log will name them.
        name: String,
    },
}

pub async fn run(global: &GlobalArgs, cmd: OperatorsCommand) -> anyhow::Result<()> {
    let settings = Settings::resolve(global, &ServeArgs::default())?;
    let directory = app::open_directory(&settings)?;
    let OperatorsCommand::Create { name } = cmd;
    let (key, secret) = create_operator(directory.as_ref(), &name).await?;
    println!("operator key {} for {}; store it now, it is not shown again:", key.id, key.name);
    println!("{}", secret.expose());
    Ok(())
}

pub async fn create_operator(
    directory: &dyn Directory,
    name: &str,
) -> Result<(OperatorKeyInfo, ApiKeySecret), StoreError> {
    let secret = generate_operator_key();
    let key =
        directory.create_operator_key(name, secret.shown_prefix(), secret.hash(), SystemClock.now()).await?;
    Ok((key, secret))
}
