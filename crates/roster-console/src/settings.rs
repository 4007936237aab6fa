//! `[console]`: the admin console's settings, embedded in the `roster`
//! configuration file. Absent, the console is off.
//!
//! Two identity modes, one of them:
//! - **OIDC** (`issuer`, `client_id`, `redirect_url`, ...): Roster runs the
//!   authorization-code flow with PKCE itself;
//! - **ALB** (`[console.alb]`): an AWS Application Load Balancer signs the
//!   person in and Roster verifies its `x-amzn-oidc-data` header.
//!
//! In both, `[[console.roles]]` maps the provider's groups to a tenant and
//! role, or to platform `operator`.

use std::time::Duration;

use roster_core::secret::Secret;
use serde::Deserialize;

use crate::identity::Role;

/// `[console]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// The OpenID provider's issuer (its ID tokens' `iss`, exactly).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Where discovery is served when not at
    /// `<issuer>/.well-known/openid-configuration`.
    #[serde(default)]
    pub discovery_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    /// Sent to the token endpoint (HTTP Basic); none for a public client.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// `https://<host>/console/callback`, as registered with the provider.
    /// Its origin is the console's: a POST from any other is refused.
    #[serde(default)]
    pub redirect_url: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that lists the person's groups (`cognito:groups`, `groups`).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// The console's origin (`https://roster.example.com`), needed in ALB
    /// mode (in OIDC mode it defaults to `redirect_url`'s).
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub roles: Vec<RoleMapping>,
    /// A session ends after this long without a request.
    #[serde(default = "default_idle_minutes")]
    pub session_idle_minutes: u64,
    /// A session ends this long after sign-in, however active.
    #[serde(default = "default_absolute_hours")]
    pub session_absolute_hours: u64,
    #[serde(default)]
    pub alb: Option<AlbSettings>,
}

/// `[[console.roles]]`: members of `group` get `role` in `tenant`, or,
/// with `role = "operator"` (and no tenant), the platform's pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    pub group: String,
    #[serde(default)]
    pub tenant: Option<String>,
    pub role: Role,
}

/// `[console.alb]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlbSettings {
    /// The load balancer's ARN: a header signed by any other is refused.
    pub signer_arn: String,
    /// Its region, for the public-key endpoint.
    pub region: String,
    /// Where keys are fetched by `kid` (default
    /// `https://public-keys.auth.elb.<region>.amazonaws.com/`); for tests.
    #[serde(default)]
    pub key_url: Option<String>,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"].map(String::from).to_vec()
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn default_idle_minutes() -> u64 {
    30
}

fn default_absolute_hours() -> u64 {
    8
}

/// A `[console]` that cannot work; stops the server at start.
#[derive(Debug, thiserror::Error)]
#[error("[console] {0}")]
pub struct SettingsError(pub String);

/// The checked settings of the OIDC mode.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub discovery_url: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub redirect_url: String,
    pub scopes: Vec<String>,
}

impl ConsoleSettings {
    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_minutes * 60)
    }

    pub fn absolute(&self) -> Duration {
        Duration::from_secs(self.session_absolute_hours * 3600)
    }

    /// The OIDC mode's settings; `None` in ALB mode.
    pub fn oidc(&self) -> Result<Option<OidcSettings>, SettingsError> {
        if self.alb.is_some() {
            if self.issuer.is_some() || self.client_id.is_some() {
                return Err(SettingsError(
                    "set either [console.alb] (the load balancer signs people in) or issuer/client_id (Roster does), not both".into(),
                ));
            }
            return Ok(None);
        }
        let need = |v: &Option<String>, name: &str| {
            v.clone().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                SettingsError(format!("`{name}` is required (or configure [console.alb] for ALB mode)"))
            })
        };
        let issuer = need(&self.issuer, "issuer")?;
        let client_id = need(&self.client_id, "client_id")?;
        let redirect_url = need(&self.redirect_url, "redirect_url")?;
        if !redirect_url.ends_with("/console/callback") {
            return Err(SettingsError(format!(
                "`redirect_url` must end with /console/callback (got `{redirect_url}`)"
            )));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(SettingsError("`scopes` must include `openid`".into()));
        }
        let discovery_url = self
            .discovery_url
            .clone()
            .unwrap_or_else(|| format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')));
        roster_server::auth::jwt::parse_jwks_url(&discovery_url)
            .map_err(|e| SettingsError(format!("discovery_url {e}")))?;
        Ok(Some(OidcSettings {
            issuer,
            discovery_url,
            client_id,
            client_secret: self.client_secret.clone(),
            redirect_url,
            scopes: self.scopes.clone(),
        }))
    }

    /// The console's origin (`scheme://host[:port]`), which a POST's
    /// `Origin` must equal.
    pub fn origin(&self) -> Result<String, SettingsError> {
        let url = self
            .public_url
            .as_deref()
            .or(self.redirect_url.as_deref())
            .ok_or_else(|| SettingsError("`public_url` is required in ALB mode".into()))?;
        let parsed = reqwest::Url::parse(url).map_err(|e| SettingsError(format!("`{url}`: {e}")))?;
        let origin = parsed.origin();
        if !origin.is_tuple() {
            return Err(SettingsError(format!("`{url}` has no origin")));
        }
        Ok(origin.ascii_serialization())
    }

    /// Everything checked, as the server does at start.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.oidc()?;
        self.origin()?;
        if self.session_idle_minutes == 0 || self.session_absolute_hours == 0 {
            return Err(SettingsError("session timeouts must be at least 1".into()));
        }
        for (i, m) in self.roles.iter().enumerate() {
            match (m.role, &m.tenant) {
                (Role::Operator, Some(_)) => {
                    return Err(SettingsError(format!("roles[{i}]: `operator` is platform-wide: no tenant")));
                }
                (Role::Viewer | Role::Admin, None) => {
                    return Err(SettingsError(format!(
                        "roles[{i}]: a `{}` role needs a tenant",
                        m.role.as_str()
                    )));
                }
                _ => {}
            }
        }
        if let Some(alb) = &self.alb {
            if !alb.signer_arn.starts_with("arn:") {
                return Err(SettingsError("[console.alb] signer_arn must be the load balancer's ARN".into()));
            }
            if alb.region.is_empty() || !alb.region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(SettingsError("[console.alb] region must be a region name (eu-west-1)".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> ConsoleSettings {
        serde_json::from_value(v).unwrap()
    }

    fn oidc() -> serde_json::Value {
        json!({"issuer": "https://idp.example.com", "client_id": "roster",
               "redirect_url": "https://roster.example.com:8443/console/callback"})
    }

    #[test]
    fn the_oidc_mode_needs_its_settings_and_takes_its_origin_from_the_redirect() {
        let s = parse(oidc());
        s.validate().unwrap();
        assert_eq!(s.origin().unwrap(), "https://roster.example.com:8443");
        let o = s.oidc().unwrap().unwrap();
        assert_eq!(o.discovery_url, "https://idp.example.com/.well-known/openid-configuration");
        let err = |v: serde_json::Value| parse(v).validate().unwrap_err().to_string();
        assert!(
            err(json!({"client_id": "r", "redirect_url": "https://x/console/callback"}))
                .contains("`issuer` is required")
        );
        let mut v = oidc();
        v["redirect_url"] = json!("https://roster.example.com/callback");
        assert!(err(v).contains("/console/callback"));
        let mut v = oidc();
        v["scopes"] = json!(["email"]);
        assert!(err(v).contains("openid"));
        let mut v = oidc();
        v["discovery_url"] = json!("http://idp.example.com/.well-known/openid-configuration");
        assert!(err(v).contains("must be https"));
    }

    #[test]
    fn alb_mode_excludes_oidc_and_needs_the_public_url() {
        let alb = json!({"signer_arn": "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/r/1", "region": "eu-west-1"});
        parse(json!({"public_url": "https://roster.example.com", "alb": alb})).validate().unwrap();
        let err = |v: serde_json::Value| parse(v).validate().unwrap_err().to_string();
        assert!(err(json!({"alb": alb})).contains("public_url"));
        let mut both = oidc();
        both["alb"] = alb.clone();
        assert!(err(both).contains("not both"));
        let mut bad = alb.clone();
        bad["signer_arn"] = json!("my-alb");
        assert!(err(json!({"public_url": "https://r.example.com", "alb": bad})).contains("ARN"));
    }

    #[test]
    fn a_tenant_role_needs_a_tenant_and_operator_has_none() {
        let with_roles = |roles: serde_json::Value| {
            let mut v = oidc();
            v["roles"] = roles;
            parse(v).validate()
        };
        with_roles(
            json!([{"group": "g", "tenant": "acme", "role": "viewer"}, {"group": "o", "role": "operator"}]),
        )
        .unwrap();
        assert!(
            with_roles(json!([{"group": "g", "role": "admin"}]))
                .unwrap_err()
                .to_string()
                .contains("needs a tenant")
        );
        assert!(
            with_roles(json!([{"group": "g", "tenant": "acme", "role": "operator"}]))
                .unwrap_err()
                .to_string()
                .contains("platform-wide")
        );
        assert!(serde_json::from_value::<RoleMapping>(json!({"group": "g", "role": "owner"})).is_err());
    }
}
