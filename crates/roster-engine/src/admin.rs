//! Platform administration the command line, the console and tests share:
//! a tenant and its first admin key, made and audited in one place.

use roster_core::Timestamp;
use roster_core::public_id::{Kind, render};
use roster_store::{
    ApiKeyInfo, Directory, NewApiKey, NewAuditEntry, Scope, StoreError, Tenant, platform_log,
};

use crate::credentials::{ApiKeySecret, generate_api_key};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    InvalidName(String),
    #[error("a tenant named {0:?} exists already")]
    NameTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Makes the tenant `name` and its first key (ingest, read and admin; its
/// secret is returned once), audited in the tenant's log and the platform's
/// as done by `actor` (`cli`, `console:<sub>`).
pub async fn create_tenant(
    directory: &dyn Directory,
    name: &str,
    now: Timestamp,
    actor: &str,
) -> Result<(Tenant, ApiKeyInfo, ApiKeySecret), AdminError> {
    let name = roster_core::ids::tenant_name(name).map_err(|e| AdminError::InvalidName(e.to_string()))?;
    let tenant = match directory.create_tenant(name, now).await {
        Err(StoreError::Conflict(_)) => return Err(AdminError::NameTaken(name.to_string())),
        other => other?,
    };
    let (key, secret) = issue_api_key(
        directory,
        tenant.id,
        "admin",
        vec![Scope::Ingest, Scope::Read, Scope::Admin],
        None,
        now,
    )
    .await?;
    let entry = |log, action, target: String| NewAuditEntry {
        at: now,
        tenant_id: log,
        actor: actor.into(),
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

/// A new API key of `tenant`: its secret generated here and returned once,
/// only its hash and shown prefix stored. The API, the console and tenant
/// creation issue keys through it; the caller audits.
pub async fn issue_api_key(
    directory: &dyn Directory,
    tenant: roster_core::TenantId,
    name: &str,
    scopes: Vec<Scope>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(ApiKeyInfo, ApiKeySecret), StoreError> {
    let secret = generate_api_key();
    let key = directory
        .create_api_key(
            NewApiKey {
                tenant_id: tenant,
                name: name.into(),
                prefix: secret.shown_prefix(),
                hash: secret.hash(),
                scopes,
                expires_at,
            },
            now,
        )
        .await?;
    Ok((key, secret))
}
