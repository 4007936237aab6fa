//! Who is using the console. Two modes produce the same [`ConsoleUser`]
//! (the pages do not know which ran): [`oidc`] (Roster runs the sign-in
//! and keeps a server-side [`session`]) and [`alb`] (a load balancer signs
//! the person in and its signed header is verified on every request; a
//! session is kept only for the CSRF token).
//!
//! Roles come from the provider's groups through `[[console.roles]]`, on
//! every request, so a changed mapping or a deleted tenant holds at once.

pub mod alb;
pub mod oidc;
pub mod session;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::SET_COOKIE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use roster_core::TenantId;
use serde::Deserialize;

use crate::errors::ConsoleError;
use crate::state::{ConsoleState, Mode};

/// A role in a tenant, or on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads the tenant's feeds, snapshots and people.
    Viewer,
    /// And decides snapshots, redrives, manages keys and endpoints.
    Admin,
    /// The platform's pages (tenants, queue, alarms); no tenant's data
    /// unless a tenant role is granted too, as with the API's operator keys.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }
}

/// A tenant the person may open, and their role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    pub role: Role,
}

impl Grant {
    /// The console's path `rest` under this tenant (`feeds/…`), its name
    /// percent-encoded: a tenant's name may hold any printable character.
    pub fn path(&self, rest: &str) -> String {
        let mut name = String::with_capacity(self.tenant_name.len());
        for b in self.tenant_name.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                name.push(b as char);
            } else {
                name.push_str(&format!("%{b:02X}"));
            }
        }
        format!("/console/t/{name}/{rest}")
    }
}

/// The signed-in person, as every page sees them.
#[derive(Clone)]
pub struct ConsoleUser {
    /// The provider's subject: the audit log's actor is `console:<subject>`.
    pub subject: String,
    pub display_name: String,
    pub grants: Vec<Grant>,
    pub operator: bool,
    /// This session's CSRF token, for every form.
    pub csrf: String,
}

impl std::fmt::Debug for ConsoleUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleUser").field("grants", &self.grants.len()).finish_non_exhaustive()
    }
}

impl ConsoleUser {
    pub fn actor(&self) -> String {
        format!("console:{}", self.subject)
    }

    /// Whether the person is an admin of the tenant named `name` (the
    /// navigation shows admins' pages to admins only).
    pub fn is_admin_of(&self, name: &str) -> bool {
        self.grants.iter().any(|g| g.tenant_name == name && g.role >= Role::Admin)
    }

    /// The person's grant in the tenant named `name`, at least `needed`.
    /// A tenant they have no role in looks like a missing one.
    pub fn grant(&self, name: &str, needed: Role) -> Result<&Grant, ConsoleError> {
        let grant =
            self.grants.iter().find(|g| g.tenant_name == name).ok_or(ConsoleError::NotFound("tenant"))?;
        if grant.role < needed {
            return Err(ConsoleError::Forbidden(format!(
                "this needs the {} role in {name}; yours is {}",
                needed.as_str(),
                grant.role.as_str()
            )));
        }
        Ok(grant)
    }
}

/// The groups' grants under the configured mapping; tenants that do not
/// exist (or are being deleted) are left out. The highest role of a
/// tenant wins.
pub async fn grants_of(state: &ConsoleState, groups: &[String]) -> Result<(Vec<Grant>, bool), ConsoleError> {
    let mut grants: Vec<Grant> = Vec::new();
    let mut operator = false;
    for mapping in state.settings().roles.iter().filter(|m| groups.contains(&m.group)) {
        let Some(name) = &mapping.tenant else {
            operator |= mapping.role == Role::Operator;
            continue;
        };
        let Some(tenant) = state.directory().tenant_by_name(name).await? else {
            tracing::warn!(tenant = name, "a [[console.roles]] mapping names a tenant that does not exist");
            continue;
        };
        if tenant.deletion_requested_at.is_some() {
            continue;
        }
        match grants.iter_mut().find(|g| g.tenant_id == tenant.id) {
            Some(g) => g.role = g.role.max(mapping.role),
            None => grants.push(Grant { tenant_id: tenant.id, tenant_name: tenant.name, role: mapping.role }),
        }
    }
    grants.sort_by(|a, b| a.tenant_name.cmp(&b.tenant_name));
    Ok((grants, operator))
}

/// The middleware in front of every signed-in page: finds the person (or
/// answers with the way to sign in) and puts a [`ConsoleUser`] in the
/// request's extensions.
pub async fn require_user(State(state): State<ConsoleState>, mut req: Request, next: Next) -> Response {
    let found = match state.mode() {
        Mode::Oidc(_) => session::current(&state, req.headers()).await.map(|u| (u, None)),
        Mode::Alb(verifier) => alb::current(&state, verifier, req.headers()).await,
    };
    match found {
        Ok((user, set_cookie)) => {
            req.extensions_mut().insert(user);
            let mut res = next.run(req).await;
            if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
                res.headers_mut().append(SET_COOKIE, cookie);
            }
            res
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenants_path_encodes_its_name() {
        let grant =
            |name: &str| Grant { tenant_id: TenantId::new(), tenant_name: name.into(), role: Role::Admin };
        assert_eq!(grant("acme").path("feeds"), "/console/t/acme/feeds");
        assert_eq!(grant("Initech Europe/West").path("dlq"), "/console/t/Initech%20Europe%2FWest/dlq");
        assert_eq!(grant("Zoë & co").path("keys"), "/console/t/Zo%C3%AB%20%26%20co/keys");
    }
}
