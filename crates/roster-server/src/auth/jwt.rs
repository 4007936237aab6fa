//! OAuth2 client-credentials bearer tokens (JWTs), as Amazon Cognito's
//! machine-to-machine app clients or any OIDC issuer hand them out.
//!
//! A token is accepted when all of this holds, checked in this order:
//! 1. it is a compact JWS whose header names RS256, RS384, RS512 or ES256
//!    (never `none`, never HS*: see [`super::ring_crypto`]) and a `kid`, and
//!    has no `crit` member (RFC 7515 §4.1.11: Roster understands no header
//!    extension, so a token that makes one critical is refused);
//! 2. its `iss` is exactly a configured issuer;
//! 3. the `kid` names a signing key in that issuer's JWKS (cached; an unknown
//!    `kid` refetches the JWKS, at most once per `jwks_refetch_secs`), whose
//!    type and `alg` fit the token's algorithm, and the signature verifies;
//! 4. `exp` (required), `nbf` and `iat` hold at the server's clock, give or
//!    take `leeway_secs`, and the token lives at most `max_lifetime_secs`
//!    (from `iat`, or from now without it); `token_use` is the required one
//!    if configured, else — when the token has one — `access` (Cognito ID
//!    tokens are refused);
//! 5. an `aud` value is one of the `audiences` — or, for a token without
//!    `aud` (a Cognito access token), its `client_id` is;
//! 6. its client (`client_id`, else `azp`) is mapped to a tenant by `clients`,
//!    and that tenant exists;
//! 7. unless `client_credentials_only = false`, it was issued to the client
//!    itself, not to a user signed in through it: no `username` claim (a
//!    Cognito user's access token has one), `sub` equal to the client id
//!    when the token has `token_use` (Cognito's client-credentials tokens),
//!    and `idtyp`, when present (Entra ID), `app`. A user's token with the
//!    mapped scopes would otherwise act as the tenant's machine principal.
//!
//! Its scopes (`scope`, space-separated, and/or `scp`) become Roster scopes
//! through `scope_map`; unmapped ones are ignored. The principal is named
//! `jwt:<client id>`. Each refusal is a 401 naming the rule that failed; no
//! refusal, log line or `Debug` output carries the token.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use roster_core::{TenantId, Timestamp};
use roster_store::{Directory, Scope};
use serde::Deserialize;

use super::{Principal, ring_crypto};
use crate::problem::ApiError;

/// Default `leeway_secs`: clock skew tolerated on `exp` and `nbf`.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// Default `jwks_refetch_secs`: the least time between two fetches of an
/// issuer's JWKS caused by tokens (unknown `kid`s), so that made-up key ids
/// cannot turn the server into a fetch amplifier.
pub const DEFAULT_JWKS_REFETCH_SECS: u64 = 60;
/// A JWKS older than this is fetched again on the next token.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const JWKS_MAX_BYTES: usize = 256 * 1024;
/// Longer bearer tokens are refused unread.
const TOKEN_MAX_BYTES: usize = 16 * 1024;
/// Default `max_lifetime_secs`: a day, the longest access token Cognito issues.
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 86_400;
const MAX_LEEWAY_SECS: u64 = 600;

/// `[[jwt_issuers]]`: one trusted token issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerConfig {
    /// The tokens' `iss`, exactly (Cognito:
    /// `https://cognito-idp.<region>.amazonaws.com/<user pool id>`).
    pub issuer: String,
    /// Where the issuer's signing keys are; default `<issuer>/.well-known/jwks.json`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Accepted `aud` values; for tokens without `aud` (Cognito access
    /// tokens), accepted `client_id` values.
    pub audiences: Vec<String>,
    /// Client id → the name of the tenant its tokens act for.
    pub clients: BTreeMap<String, String>,
    /// Token scope → Roster scope (`ingest`, `read` or `admin`); when given,
    /// it replaces [`default_scope_map`].
    #[serde(default = "default_scope_map")]
    pub scope_map: BTreeMap<String, String>,
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
    /// When set, a token's `token_use` claim must be this. Unset, a token
    /// that has the claim must say `access` (a Cognito ID token is refused);
    /// one without it (other issuers) passes.
    #[serde(default)]
    pub required_token_use: Option<String>,
    /// Longest a token may be valid: `exp - iat`, or `exp - now` for a
    /// token without `iat`.
    #[serde(default = "default_max_lifetime_secs")]
    pub max_lifetime_secs: u64,
    #[serde(default = "default_jwks_refetch_secs")]
    pub jwks_refetch_secs: u64,
    /// Rule 7: only client-credentials (machine) tokens. Default true.
    #[serde(default = "default_true")]
    pub client_credentials_only: bool,
}

fn default_true() -> bool {
    true
}

/// `roster/ingest` → `ingest`, `roster/read` → `read`, `roster/admin` →
/// `admin`: the custom scopes of a Cognito resource server named `roster`.
pub fn default_scope_map() -> BTreeMap<String, String> {
    ["ingest", "read", "admin"].into_iter().map(|s| (format!("roster/{s}"), s.to_owned())).collect()
}

fn default_leeway_secs() -> u64 {
    DEFAULT_LEEWAY_SECS
}

fn default_jwks_refetch_secs() -> u64 {
    DEFAULT_JWKS_REFETCH_SECS
}

fn default_max_lifetime_secs() -> u64 {
    DEFAULT_MAX_LIFETIME_SECS
}

/// A `[[jwt_issuers]]` entry that cannot work; stops the server at start.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("jwt_issuers[{index}] ({issuer}): {problem}")]
    Issuer { index: usize, issuer: String, problem: String },
    #[error("the HTTP client for fetching JWKS: {0}")]
    Client(String),
}

/// Checks every `[[jwt_issuers]]` entry, as the server would at start.
pub fn validate_issuers(configs: &[JwtIssuerConfig]) -> Result<(), JwtConfigError> {
    let mut seen = HashSet::new();
    for (index, config) in configs.iter().enumerate() {
        let issuer = Issuer::from_config(index, config)?;
        if !seen.insert(issuer.issuer) {
            return Err(JwtConfigError::Issuer {
                index,
                issuer: config.issuer.clone(),
                problem: "this issuer is configured twice".to_owned(),
            });
        }
    }
    Ok(())
}

/// Why a token was refused. Each is a 401 (except an unreachable JWKS, a
/// 503), with a detail that names the rule, never the token or its claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Algorithm,
    CriticalHeader,
    Issuer,
    NoKeyId,
    UnknownKey,
    KeyMismatch,
    Signature,
    NoExpiry,
    Expired,
    NotYetValid,
    Lifetime,
    TokenUse,
    Audience,
    NoClient,
    UnmappedClient,
    UnknownTenant,
    UserToken,
    KeysUnavailable,
}

impl Refusal {
    pub fn detail(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed bearer token",
            Refusal::Algorithm => "token signing algorithm not accepted (RS256, RS384, RS512 or ES256 only)",
            Refusal::CriticalHeader => {
                "token header names critical extensions (crit), which are not supported"
            }
            Refusal::Issuer => "token issuer not accepted",
            Refusal::NoKeyId => "token header names no signing key (kid)",
            Refusal::UnknownKey => "unknown signing key",
            Refusal::KeyMismatch => "the signing key does not fit the token's algorithm",
            Refusal::Signature => "invalid token signature",
            Refusal::NoExpiry => "token has no expiry (exp)",
            Refusal::Expired => "token expired",
            Refusal::NotYetValid => "token not yet valid",
            Refusal::Lifetime => "token lifetime longer than accepted",
            Refusal::TokenUse => "token_use not accepted",
            Refusal::Audience => "token audience not accepted",
            Refusal::NoClient => "token names no client (client_id or azp)",
            Refusal::UnmappedClient => "token client is not mapped to a tenant",
            Refusal::UnknownTenant => "the tenant of the token's client does not exist",
            Refusal::UserToken => {
                "the token was issued to a user, not to the client itself (client credentials only)"
            }
            Refusal::KeysUnavailable => "the token issuer's signing keys could not be fetched; retry",
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::KeysUnavailable => ApiError::Unavailable(r.detail().to_owned()),
            other => ApiError::Unauthorized(other.detail()),
        }
    }
}

/// A JWT signing key from a JWKS, with the algorithms it may verify.
#[derive(Clone)]
struct SigningKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, SigningKey>,
    /// The last successful fetch.
    fetched_at: Option<Instant>,
    /// The last fetch, successful or not.
    attempted_at: Option<Instant>,
    last_failed: bool,
}

/// One configured issuer, checked.
struct Issuer {
    issuer: String,
    audiences: HashSet<String>,
    clients: HashMap<String, String>,
    scope_map: HashMap<String, Scope>,
    leeway_secs: f64,
    required_token_use: Option<String>,
    client_credentials_only: bool,
    max_lifetime_secs: f64,
    keys: KeySet,
}

/// A JWKS URL as Roster accepts one: https, or http on loopback (tests).
pub fn parse_jwks_url(url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}`: {e}"))?;
    let host = parsed.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!("`{url}` must be https (http only on loopback)")),
    }
}

/// The HTTP client key sets are fetched with: a short timeout, no proxy
/// from the environment, redirects to https only.
pub fn jwks_http_client() -> Result<reqwest::Client, JwtConfigError> {
    reqwest::Client::builder()
        .timeout(JWKS_FETCH_TIMEOUT)
        // Explicit egress only: the environment's proxy is not used.
        .no_proxy()
        // A JWKS may move, but only to another https URL.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 3 {
                attempt.error("too many redirects")
            } else if attempt.url().scheme() != "https" {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
        .map_err(|e| JwtConfigError::Client(e.to_string()))
}

/// One issuer's signing keys: its JWKS, cached, fetched again when old or
/// when a token names an unknown `kid` (at most once per refetch interval).
/// Shared by the API's bearer tokens and the console's ID tokens: it checks
/// the header and the signature; the caller checks the claims.
pub struct KeySet {
    /// Who the keys are of, for log lines (an issuer URL).
    label: String,
    url: reqwest::Url,
    refetch_interval: Duration,
    /// Held for lookups only, never across a fetch.
    keys: Mutex<KeyCache>,
    /// Held by the one caller fetching the JWKS: callers that need its
    /// result wait for it; those whose key is cached do not.
    fetching: tokio::sync::Mutex<()>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

impl KeySet {
    pub fn new(label: impl Into<String>, url: reqwest::Url, refetch_interval: Duration) -> Self {
        ring_crypto::install();
        Self {
            label: label.into(),
            url,
            refetch_interval,
            keys: Mutex::new(KeyCache::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// Verifies a compact JWS: an accepted algorithm (RS256/384/512, ES256),
    /// no `crit`, a `kid` naming a key of this set that fits the algorithm,
    /// a valid signature. Returns the claims, none of them checked.
    pub async fn verify<C: serde::de::DeserializeOwned>(
        &self,
        http: &reqwest::Client,
        token: &str,
    ) -> Result<C, Refusal> {
        let parts = split(token).ok_or(Refusal::Malformed)?;
        let header: RawHeader = decode_part(parts.header)?;
        if header.crit.is_some() {
            return Err(Refusal::CriticalHeader);
        }
        let alg = header
            .alg
            .parse::<Algorithm>()
            .ok()
            .filter(|a| ring_crypto::ACCEPTED.contains(a))
            .ok_or(Refusal::Algorithm)?;
        let kid = header.kid.ok_or(Refusal::NoKeyId)?;
        let key = self.signing_key(http, &kid).await?;
        if !key.algorithms.contains(&alg) {
            return Err(Refusal::KeyMismatch);
        }
        let mut validation = Validation::new(alg);
        // The claims are the caller's to check, against the server's clock.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<C>(token, &key.key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Refusal::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
            | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat
            | jsonwebtoken::errors::ErrorKind::InvalidEcdsaKey
            | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_) => Refusal::KeyMismatch,
            _ => Refusal::Malformed,
        })?;
        Ok(data.claims)
    }

    /// The cached key named `kid` while the set is young enough.
    fn cached(&self, kid: &str, now: Instant) -> Option<SigningKey> {
        let cache = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cache.fetched_at.is_some_and(|t| now.duration_since(t) < JWKS_MAX_AGE);
        fresh.then(|| cache.keys.get(kid).cloned()).flatten()
    }

    /// The key named `kid`, from the cached JWKS or, when it is unknown or
    /// the set is old, a fresh one — fetched at most once per refetch
    /// interval. The cache is never locked across the fetch: a cached key
    /// is found at once while another caller (say, with a made-up `kid`)
    /// waits for the issuer.
    async fn signing_key(&self, http: &reqwest::Client, kid: &str) -> Result<SigningKey, Refusal> {
        if let Some(key) = self.cached(kid, Instant::now()) {
            return Ok(key);
        }
        let fetching = self.fetching.lock().await;
        let may_fetch = {
            let mut cache = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let old = cache.fetched_at.is_none_or(|t| now.duration_since(t) >= JWKS_MAX_AGE);
            let may = (old || !cache.keys.contains_key(kid))
                && cache.attempted_at.is_none_or(|t| now.duration_since(t) >= self.refetch_interval);
            if may {
                cache.attempted_at = Some(now);
            }
            may
        };
        if may_fetch {
            let fetched = fetch_jwks(http, &self.url).await;
            let mut cache = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            match fetched {
                Ok(keys) => {
                    tracing::info!(issuer = self.label, keys = keys.len(), "fetched the issuer's JWKS");
                    cache.keys = keys;
                    cache.fetched_at = Some(Instant::now());
                    cache.last_failed = false;
                }
                Err(error) => {
                    tracing::warn!(issuer = self.label, url = %self.url, error, "could not fetch the JWKS");
                    cache.last_failed = true;
                }
            }
        }
        drop(fetching);
        let cache = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        match cache.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if cache.fetched_at.is_none() || cache.last_failed => Err(Refusal::KeysUnavailable),
            None => Err(Refusal::UnknownKey),
        }
    }
}

impl Issuer {
    fn from_config(index: usize, c: &JwtIssuerConfig) -> Result<Self, JwtConfigError> {
        let problem = |p: String| JwtConfigError::Issuer { index, issuer: c.issuer.clone(), problem: p };
        if c.issuer.trim().is_empty() {
            return Err(problem("`issuer` is empty".into()));
        }
        let url = match &c.jwks_url {
            Some(u) => u.clone(),
            None => format!("{}/.well-known/jwks.json", c.issuer.trim_end_matches('/')),
        };
        let jwks_url = parse_jwks_url(&url).map_err(|e| problem(format!("jwks_url {e}")))?;
        if c.audiences.is_empty() {
            return Err(problem("`audiences` is empty: no token could be accepted".into()));
        }
        if c.clients.is_empty() {
            return Err(problem("`clients` is empty: no client is mapped to a tenant".into()));
        }
        let mut scope_map = HashMap::new();
        for (token_scope, roster_scope) in &c.scope_map {
            let scope = Scope::parse(roster_scope).ok_or_else(|| {
                problem(format!("scope_map: `{roster_scope}` is not a scope (ingest, read or admin)"))
            })?;
            scope_map.insert(token_scope.clone(), scope);
        }
        if c.leeway_secs > MAX_LEEWAY_SECS {
            return Err(problem(format!("leeway_secs must be at most {MAX_LEEWAY_SECS}")));
        }
        if c.max_lifetime_secs == 0 {
            return Err(problem("max_lifetime_secs must be at least 1".into()));
        }
        Ok(Issuer {
            issuer: c.issuer.clone(),
            audiences: c.audiences.iter().cloned().collect(),
            clients: c.clients.clone().into_iter().collect(),
            scope_map,
            leeway_secs: c.leeway_secs as f64,
            required_token_use: c.required_token_use.clone(),
            client_credentials_only: c.client_credentials_only,
            max_lifetime_secs: c.max_lifetime_secs as f64,
            keys: KeySet::new(&c.issuer, jwks_url, Duration::from_secs(c.jwks_refetch_secs)),
        })
    }
}

/// Verifies bearer JWTs against the configured issuers; holds their key sets
/// and the tenants their clients map to.
pub struct JwtAuthenticator {
    issuers: Vec<Issuer>,
    http: reqwest::Client,
    tenants: Mutex<HashMap<String, TenantId>>,
    /// The UTC day of each client's last use seen by this process, so the
    /// first use of a day is audited once, as an API key's is.
    used: Mutex<HashMap<(TenantId, String), i64>>,
}

impl fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuers: Vec<&str> = self.issuers.iter().map(|i| i.issuer.as_str()).collect();
        f.debug_struct("JwtAuthenticator").field("issuers", &issuers).finish()
    }
}

impl JwtAuthenticator {
    pub fn new(configs: &[JwtIssuerConfig]) -> Result<Self, JwtConfigError> {
        validate_issuers(configs)?;
        ring_crypto::install();
        let issuers =
            configs.iter().enumerate().map(|(i, c)| Issuer::from_config(i, c)).collect::<Result<_, _>>()?;
        let http = jwks_http_client()?;
        Ok(Self { issuers, http, tenants: Mutex::new(HashMap::new()), used: Mutex::new(HashMap::new()) })
    }

    /// Whether a configured issuer maps a client to the tenant named
    /// `tenant` and can grant it `admin` (its `scope_map` names `admin`):
    /// then the tenant keeps an admin credential without any API key.
    pub fn may_grant_admin(&self, tenant: &str) -> bool {
        self.issuers.iter().any(|i| {
            i.clients.values().any(|t| t == tenant) && i.scope_map.values().any(|s| *s == Scope::Admin)
        })
    }

    /// Whether this is the principal's first use on `now`'s UTC day (in this
    /// process; a restart may audit one more use that day).
    pub fn first_use_today(&self, principal: &Principal, now: Timestamp) -> bool {
        let day = now.millis().div_euclid(86_400_000);
        let mut used = self.used.lock().expect("jwt use lock");
        let key = (principal.tenant_id, principal.key_id.clone());
        used.insert(key, day).is_none_or(|last| last != day)
    }

    /// Verifies a bearer token and names the principal it stands for.
    pub async fn authenticate(
        &self,
        token: &str,
        directory: &dyn Directory,
        now: Timestamp,
    ) -> Result<Principal, ApiError> {
        let grant = match self.verify(token, now).await {
            Ok(grant) => grant,
            Err(refusal) => {
                tracing::debug!(reason = refusal.detail(), "bearer token refused");
                return Err(refusal.into());
            }
        };
        let tenant_id = self.tenant(&grant.tenant, directory).await?.ok_or_else(|| {
            tracing::warn!(
                client = grant.client_id,
                tenant = grant.tenant,
                "a [[jwt_issuers]] client maps to a tenant that does not exist"
            );
            ApiError::from(Refusal::UnknownTenant)
        })?;
        Ok(Principal { tenant_id, key_id: format!("jwt:{}", grant.client_id), scopes: grant.scopes })
    }

    async fn verify(&self, token: &str, now: Timestamp) -> Result<Grant, Refusal> {
        let parts = split(token).ok_or(Refusal::Malformed)?;
        let header: RawHeader = decode_part(parts.header)?;
        if header.crit.is_some() {
            return Err(Refusal::CriticalHeader);
        }
        if !header.alg.parse::<Algorithm>().is_ok_and(|a| ring_crypto::ACCEPTED.contains(&a)) {
            return Err(Refusal::Algorithm);
        }
        // Which issuer (and so which keys) is chosen from the claims before
        // the signature is checked; they are all checked again after it.
        let peek: Peek = decode_part(parts.payload)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| peek.iss.as_deref() == Some(i.issuer.as_str()))
            .ok_or(Refusal::Issuer)?;
        let claims: Claims = issuer.keys.verify(&self.http, token).await?;
        check_claims(issuer, &claims, now.millis() as f64 / 1000.0)
    }

    /// The tenant named `name`, remembered once found.
    async fn tenant(&self, name: &str, directory: &dyn Directory) -> Result<Option<TenantId>, ApiError> {
        if let Some(id) = self.tenants.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Ok(Some(*id));
        }
        let Some(tenant) = directory.tenant_by_name(name).await? else { return Ok(None) };
        self.tenants.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned(), tenant.id);
        Ok(Some(tenant.id))
    }
}

/// Whether a bearer credential has the shape of a JWT (three base64url
/// parts), as opposed to an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    split(token).is_some()
}

struct Parts<'a> {
    header: &'a str,
    payload: &'a str,
}

fn split(token: &str) -> Option<Parts<'_>> {
    if token.len() > TOKEN_MAX_BYTES {
        return None;
    }
    let mut it = token.split('.');
    let (header, payload, signature) = (it.next()?, it.next()?, it.next()?);
    let b64url =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (it.next().is_none() && b64url(header) && b64url(payload) && (signature.is_empty() || b64url(signature)))
        .then_some(Parts { header, payload })
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, Refusal> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| Refusal::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed)
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// Any value (even `[]`, which RFC 7515 forbids) refuses the token.
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Peek {
    #[serde(default)]
    iss: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            OneOrMany::One(s) => (Some(s.as_str()), &[][..]),
            OneOrMany::Many(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }
}

/// The claims Roster reads; others are ignored.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<OneOrMany>,
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<OneOrMany>,
    #[serde(default)]
    token_use: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    /// Cognito: the signed-in user's name; client-credentials tokens have none.
    #[serde(default)]
    username: Option<String>,
    /// Entra ID (optional claim): `app` for an application's own token.
    #[serde(default)]
    idtyp: Option<String>,
}

/// What a verified token grants.
#[derive(Debug, PartialEq)]
struct Grant {
    client_id: String,
    tenant: String,
    scopes: Vec<Scope>,
}

/// Rules 2 and 4–6 of the module documentation, on verified claims;
/// `now` in seconds since the epoch.
fn check_claims(issuer: &Issuer, claims: &Claims, now: f64) -> Result<Grant, Refusal> {
    if claims.iss.as_deref() != Some(issuer.issuer.as_str()) {
        return Err(Refusal::Issuer);
    }
    let exp = claims.exp.ok_or(Refusal::NoExpiry)?;
    if now > exp + issuer.leeway_secs {
        return Err(Refusal::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now + issuer.leeway_secs < nbf) {
        return Err(Refusal::NotYetValid);
    }
    if claims.iat.is_some_and(|iat| now + issuer.leeway_secs < iat) {
        return Err(Refusal::NotYetValid);
    }
    if exp - claims.iat.unwrap_or(now) > issuer.max_lifetime_secs + issuer.leeway_secs {
        return Err(Refusal::Lifetime);
    }
    let token_use_ok = match (&issuer.required_token_use, &claims.token_use) {
        (Some(required), given) => given.as_ref() == Some(required),
        (None, Some(given)) => given == "access",
        (None, None) => true,
    };
    if !token_use_ok {
        return Err(Refusal::TokenUse);
    }
    let audience_ok = match &claims.aud {
        Some(aud) => aud.iter().any(|a| issuer.audiences.contains(a)),
        None => claims.client_id.as_ref().is_some_and(|c| issuer.audiences.contains(c)),
    };
    if !audience_ok {
        return Err(Refusal::Audience);
    }
    let client_id = claims.client_id.as_ref().or(claims.azp.as_ref()).ok_or(Refusal::NoClient)?;
    let tenant = issuer.clients.get(client_id).ok_or(Refusal::UnmappedClient)?;
    if issuer.client_credentials_only {
        let cognito_user = claims.token_use.is_some() && claims.sub.as_ref() != Some(client_id);
        let entra_user = claims.idtyp.as_ref().is_some_and(|t| t != "app");
        if claims.username.is_some() || cognito_user || entra_user {
            return Err(Refusal::UserToken);
        }
    }
    let mut scopes = Vec::new();
    let named = claims
        .scope
        .iter()
        .flat_map(|s| s.split_whitespace())
        .chain(claims.scp.iter().flat_map(|s| s.iter()));
    for scope in named.filter_map(|s| issuer.scope_map.get(s)) {
        if !scopes.contains(scope) {
            scopes.push(*scope);
        }
    }
    Ok(Grant { client_id: client_id.clone(), tenant: tenant.clone(), scopes })
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// The members of a JWK that Roster reads.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// A JWKS document's signing keys by `kid`: RSA keys for RS256/384/512 and
/// P-256 keys for ES256. Other keys (symmetric `oct` keys above all,
/// encryption keys, keys without `kid`) are left out.
fn parse_jwks(body: &[u8]) -> Result<HashMap<String, SigningKey>, String> {
    let jwks: RawJwks = serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut keys = HashMap::new();
    for value in jwks.keys {
        let Ok(jwk) = serde_json::from_value::<RawJwk>(value) else { continue };
        let Some(kid) = jwk.kid else { continue };
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            continue;
        }
        let (key, family) = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => {
                let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else { continue };
                let Ok(key) = DecodingKey::from_rsa_components(n, e) else { continue };
                (key, &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512][..])
            }
            ("EC", Some("P-256")) => {
                let (Some(x), Some(y)) = (&jwk.x, &jwk.y) else { continue };
                let Ok(key) = DecodingKey::from_ec_components(x, y) else { continue };
                (key, &[Algorithm::ES256][..])
            }
            _ => continue,
        };
        let algorithms: Vec<Algorithm> = match &jwk.alg {
            Some(alg) => family.iter().copied().filter(|a| alg.parse() == Ok(*a)).collect(),
            None => family.to_vec(),
        };
        if !algorithms.is_empty() {
            keys.insert(kid, SigningKey { key, algorithms });
        }
    }
    Ok(keys)
}

async fn fetch_jwks(
    http: &reqwest::Client,
    url: &reqwest::Url,
) -> Result<HashMap<String, SigningKey>, String> {
    let mut res = http.get(url.clone()).send().await.map_err(|e| e.without_url().to_string())?;
    if !res.status().is_success() {
        return Err(format!("HTTP {}", res.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| e.without_url().to_string())? {
        if body.len() + chunk.len() > JWKS_MAX_BYTES {
            return Err(format!("larger than {JWKS_MAX_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    parse_jwks(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> JwtIssuerConfig {
        JwtIssuerConfig {
            issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool".into(),
            jwks_url: None,
            audiences: vec!["client-a".into(), "api://roster".into()],
            clients: [("client-a".to_owned(), "acme".to_owned())].into(),
            scope_map: default_scope_map(),
            leeway_secs: 60,
            required_token_use: None,
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
            jwks_refetch_secs: 60,
            client_credentials_only: true,
        }
    }

    fn claims(json: serde_json::Value) -> Claims {
        serde_json::from_value(json).unwrap()
    }

    const NOW: f64 = 1_700_000_000.0;

    fn cognito_access() -> serde_json::Value {
        serde_json::json!({
            "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool",
            "client_id": "client-a", "sub": "client-a", "token_use": "access",
            "scope": "roster/ingest roster/read other/scope", "exp": NOW + 3600.0,
        })
    }

    #[test]
    fn a_cognito_access_token_maps_client_and_scopes() {
        let issuer = Issuer::from_config(0, &config()).unwrap();
        assert_eq!(
            issuer.keys.url().as_str(),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool/.well-known/jwks.json"
        );
        let grant = check_claims(&issuer, &claims(cognito_access()), NOW).unwrap();
        assert_eq!(
            grant,
            Grant {
                client_id: "client-a".into(),
                tenant: "acme".into(),
                scopes: vec![Scope::Ingest, Scope::Read]
            }
        );
    }

    #[test]
    fn each_claim_rule_refuses_with_its_own_reason() {
        let mut c = config();
        c.required_token_use = Some("access".into());
        let issuer = Issuer::from_config(0, &c).unwrap();
        let check = |patch: serde_json::Value| {
            let mut json = cognito_access();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    json.as_object_mut().unwrap().remove(k);
                } else {
                    json[k] = v.clone();
                }
            }
            check_claims(&issuer, &claims(json), NOW)
        };
        assert_eq!(check(serde_json::json!({"iss": "https://evil.example.com"})), Err(Refusal::Issuer));
        assert_eq!(check(serde_json::json!({"exp": null})), Err(Refusal::NoExpiry));
        assert_eq!(check(serde_json::json!({"exp": NOW - 61.0})), Err(Refusal::Expired));
        assert!(check(serde_json::json!({"exp": NOW - 59.0})).is_ok(), "within the leeway");
        assert_eq!(check(serde_json::json!({"nbf": NOW + 61.0})), Err(Refusal::NotYetValid));
        assert!(check(serde_json::json!({"nbf": NOW + 59.0})).is_ok(), "within the leeway");
        assert_eq!(check(serde_json::json!({"token_use": "id"})), Err(Refusal::TokenUse));
        assert_eq!(check(serde_json::json!({"client_id": "client-b"})), Err(Refusal::Audience));
        assert_eq!(check(serde_json::json!({"aud": "someone-else"})), Err(Refusal::Audience));
        assert_eq!(
            check(serde_json::json!({"aud": ["api://roster"], "client_id": "client-z"})),
            Err(Refusal::UnmappedClient)
        );
        assert_eq!(
            check(serde_json::json!({"aud": "api://roster", "client_id": null})),
            Err(Refusal::NoClient)
        );
        let grant = check(serde_json::json!({"aud": "api://roster", "client_id": null, "azp": "client-a", "scope": null, "scp": ["roster/admin"]}))
            .unwrap();
        assert_eq!(grant.scopes, vec![Scope::Admin]);
    }

    #[test]
    fn a_users_token_is_not_a_clients_unless_configured() {
        let with = |patch: serde_json::Value| {
            let mut json = cognito_access();
            for (k, v) in patch.as_object().unwrap() {
                json[k] = v.clone();
            }
            claims(json)
        };
        // Cognito: a user signed in through the app client has a `username`
        // and their own `sub`; Entra ID marks user tokens in `idtyp`.
        let users = [
            with(serde_json::json!({"username": "alice", "sub": "4f1c-user"})),
            with(serde_json::json!({"sub": "4f1c-user"})),
            with(serde_json::json!({"username": "client-a"})),
            with(serde_json::json!({"token_use": null, "sub": "00000000-user", "idtyp": "user"})),
        ];
        let strict = Issuer::from_config(0, &config()).unwrap();
        for user in &users {
            assert_eq!(check_claims(&strict, user, NOW), Err(Refusal::UserToken));
        }
        let entra_app = with(serde_json::json!({"token_use": null, "sub": "sp-object-id", "idtyp": "app"}));
        assert!(check_claims(&strict, &entra_app, NOW).is_ok(), "an application's own token");
        let mut c = config();
        c.client_credentials_only = false;
        let lenient = Issuer::from_config(0, &c).unwrap();
        for user in &users {
            assert!(check_claims(&lenient, user, NOW).is_ok());
        }
    }

    #[test]
    fn without_a_required_token_use_id_tokens_are_refused_and_lifetimes_bounded() {
        let issuer = Issuer::from_config(0, &config()).unwrap();
        let check = |patch: serde_json::Value| {
            let mut json = cognito_access();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    json.as_object_mut().unwrap().remove(k);
                } else {
                    json[k] = v.clone();
                }
            }
            check_claims(&issuer, &claims(json), NOW)
        };
        assert!(check(serde_json::json!({})).is_ok(), "an access token");
        assert_eq!(check(serde_json::json!({"token_use": "id"})), Err(Refusal::TokenUse));
        assert!(check(serde_json::json!({"token_use": null})).is_ok(), "other issuers have no token_use");
        // A day at most (plus the leeway), from `iat` or else from now.
        assert!(check(serde_json::json!({"iat": NOW, "exp": NOW + 86_400.0})).is_ok());
        assert_eq!(
            check(serde_json::json!({"iat": NOW - 120.0, "exp": NOW + 86_400.0})),
            Err(Refusal::Lifetime)
        );
        assert_eq!(check(serde_json::json!({"exp": NOW + 86_461.0})), Err(Refusal::Lifetime));
        assert_eq!(check(serde_json::json!({"iat": NOW + 61.0})), Err(Refusal::NotYetValid));
    }

    #[test]
    fn a_critical_header_is_refused_before_any_key_is_looked_for() {
        let auth = JwtAuthenticator::new(&[config()]).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k1","crit":["x-unknown"]}"#);
        let payload = URL_SAFE_NO_PAD.encode(cognito_access().to_string());
        let token = format!("{header}.{payload}.c2ln");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let refused = rt.block_on(auth.verify(&token, Timestamp(NOW as i64 * 1000)));
        assert_eq!(refused, Err(Refusal::CriticalHeader));
    }

    /// A JWKS endpoint with one RSA key `k1`, answering every fetch after
    /// the first only after `delay`.
    async fn slow_jwks(delay: Duration) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut served = 0;
            while let Ok((mut stream, _)) = listener.accept().await {
                served += 1;
                let wait = if served > 1 { delay } else { Duration::ZERO };
                tokio::spawn(async move {
                    let mut buf = vec![0; 4096];
                    let _ = stream.read(&mut buf).await;
                    tokio::time::sleep(wait).await;
                    let body = r#"{"keys":[{"kty":"RSA","kid":"k1","n":"AQAB","e":"AQAB"}]}"#;
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
                });
            }
        });
        url
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unknown_kid_fetching_the_jwks_does_not_stall_a_cached_key() {
        let mut c = config();
        c.jwks_url = Some(slow_jwks(Duration::from_secs(3)).await);
        c.jwks_refetch_secs = 0;
        let auth = std::sync::Arc::new(JwtAuthenticator::new(&[c]).unwrap());
        let issuer = 0;
        assert!(
            auth.issuers[issuer].keys.signing_key(&auth.http, "k1").await.is_ok(),
            "the first fetch is quick"
        );
        let slow = {
            let auth = std::sync::Arc::clone(&auth);
            tokio::spawn(
                async move { auth.issuers[issuer].keys.signing_key(&auth.http, "made-up").await.err() },
            )
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        assert!(auth.issuers[issuer].keys.signing_key(&auth.http, "k1").await.is_ok());
        let took = started.elapsed();
        assert!(took < Duration::from_millis(500), "a cached key waited {took:?} for another's fetch");
        assert_eq!(slow.await.unwrap(), Some(Refusal::UnknownKey));
    }

    #[test]
    fn bad_issuer_entries_are_refused_at_start() {
        let bad = |f: fn(&mut JwtIssuerConfig)| {
            let mut c = config();
            f(&mut c);
            validate_issuers(&[c]).unwrap_err().to_string()
        };
        assert!(bad(|c| c.audiences.clear()).contains("`audiences` is empty"));
        assert!(bad(|c| c.clients.clear()).contains("`clients` is empty"));
        assert!(bad(|c| c.jwks_url = Some("http://keys.example.com/jwks".into())).contains("must be https"));
        assert!(
            bad(|c| {
                c.scope_map.insert("x".into(), "write".into());
            })
            .contains("`write` is not a scope")
        );
        assert!(
            validate_issuers(&[config(), config()]).unwrap_err().to_string().contains("configured twice")
        );
        let mut local = config();
        local.jwks_url = Some("http://127.0.0.1:9000/jwks.json".into());
        validate_issuers(&[local]).unwrap();
    }

    #[test]
    fn only_signing_keys_with_a_kid_are_kept() {
        let jwks = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "r2", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": "AQAB", "y": "AQAB"},
            {"kty": "EC", "kid": "e2", "crv": "P-384", "x": "AQAB", "y": "AQAB"},
            {"kty": "RSA", "kid": "weird", "alg": "HS256", "n": "AQAB", "e": "AQAB"},
            {"unexpected": true}
        ]});
        let keys = parse_jwks(jwks.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.keys().map(String::as_str).collect();
        kids.sort();
        assert_eq!(kids, ["e1", "r1", "r2"]);
        assert_eq!(keys["r1"].algorithms, [Algorithm::RS256]);
        assert_eq!(keys["r2"].algorithms.len(), 3);
        assert!(parse_jwks(b"<html>").is_err());
    }

    #[test]
    fn the_shape_of_a_jwt() {
        assert!(looks_like_jwt("eyJh.eyJp.c2ln"));
        assert!(looks_like_jwt("eyJh.eyJp."), "alg none has an empty signature");
        assert!(!looks_like_jwt("rk_live_0123"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a+.b.c"));
        assert!(!looks_like_jwt(&format!("{}.b.c", "a".repeat(TOKEN_MAX_BYTES))));
    }

    #[test]
    fn refusals_name_the_rule_and_are_401_but_for_unreachable_keys() {
        let e: ApiError = Refusal::Expired.into();
        assert!(matches!(e, ApiError::Unauthorized("token expired")));
        assert!(matches!(ApiError::from(Refusal::KeysUnavailable), ApiError::Unavailable(_)));
    }
}
