//! OpenID Connect sign-in: the authorization-code flow with PKCE (S256),
//! `state` and `nonce`, against any provider found by discovery.
//!
//! `/console/login` keeps `state`, `nonce` and the PKCE verifier in a
//! short-lived `__Host-` cookie (so any node can finish the sign-in) and
//! sends the browser to the provider; `/console/callback` checks `state`
//! against it, redeems the code with the verifier, and verifies the ID
//! token: signature by the provider's JWKS (the server's `KeySet`), then
//! `iss`, `aud` (and `azp`), `exp`, `iat` and `nonce`. Only then a session.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use roster_server::auth::jwt::{KeySet, parse_jwks_url};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::session::{self, cookie, random_token, set_cookie};
use crate::errors::ConsoleError;
use crate::settings::OidcSettings;
use crate::state::{ConsoleState, Mode};

const LOGIN_COOKIE: &str = "__Host-roster_login";
/// How long a sign-in at the provider may take.
const LOGIN_MAX_AGE_SECS: u64 = 600;
const LEEWAY_SECS: f64 = 60.0;
/// Signing keys are fetched again at most this often for unknown `kid`s.
const JWKS_REFETCH: Duration = Duration::from_secs(60);

/// The provider, as discovery describes it.
pub struct Provider {
    authorization_endpoint: reqwest::Url,
    token_endpoint: reqwest::Url,
    end_session_endpoint: Option<reqwest::Url>,
    keys: KeySet,
}

/// The OIDC mode: settings, and the provider once discovered (on the first
/// sign-in, not at start, so a provider down at start delays nobody else).
pub struct Oidc {
    pub settings: OidcSettings,
    provider: OnceCell<Provider>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    end_session_endpoint: Option<String>,
}

impl Oidc {
    pub fn new(settings: OidcSettings, http: reqwest::Client) -> Self {
        Self { settings, provider: OnceCell::new(), http }
    }

    async fn provider(&self) -> Result<&Provider, ConsoleError> {
        self.provider.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Provider, ConsoleError> {
        let unavailable = |what: String| {
            tracing::warn!(url = self.settings.discovery_url, problem = what, "OpenID discovery failed");
            ConsoleError::Unavailable("the identity provider could not be reached; try again shortly")
        };
        let res = self
            .http
            .get(&self.settings.discovery_url)
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if !res.status().is_success() {
            return Err(unavailable(format!("HTTP {}", res.status())));
        }
        let d: Discovery = res.json().await.map_err(|e| unavailable(e.without_url().to_string()))?;
        // OpenID Connect Discovery §4.3: the document's issuer is the one configured.
        if d.issuer != self.settings.issuer {
            return Err(unavailable(format!("the document names issuer `{}`", d.issuer)));
        }
        let url = |u: &str| parse_jwks_url(u).map_err(unavailable);
        Ok(Provider {
            authorization_endpoint: url(&d.authorization_endpoint)?,
            token_endpoint: url(&d.token_endpoint)?,
            end_session_endpoint: d.end_session_endpoint.as_deref().map(url).transpose()?,
            keys: KeySet::new(&self.settings.issuer, url(&d.jwks_uri)?, JWKS_REFETCH),
        })
    }
}

fn oidc(state: &ConsoleState) -> Result<&Oidc, ConsoleError> {
    match state.mode() {
        Mode::Oidc(o) => Ok(o),
        Mode::Alb(_) => Err(ConsoleError::NotFound("page")),
    }
}

fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn redirect(to: &str) -> Response {
    (axum::http::StatusCode::SEE_OTHER, [(LOCATION, to.to_owned())]).into_response()
}

/// `GET /console/login`: off to the provider.
pub async fn login(State(state): State<ConsoleState>) -> Result<Response, ConsoleError> {
    let oidc = oidc(&state)?;
    let provider = oidc.provider().await?;
    let (st, nonce, verifier) = (random_token(24)?, random_token(24)?, random_token(32)?);
    let mut url = provider.authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &oidc.settings.client_id)
        .append_pair("redirect_uri", &oidc.settings.redirect_url)
        .append_pair("scope", &oidc.settings.scopes.join(" "))
        .append_pair("state", &st)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &pkce_challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    let mut res = redirect(url.as_str());
    let value = format!("{st}.{nonce}.{verifier}");
    let cookie = set_cookie(LOGIN_COOKIE, &value, Some(LOGIN_MAX_AGE_SECS));
    res.headers_mut()
        .append(SET_COOKIE, cookie.parse().map_err(|_| ConsoleError::Internal("cookie".into()))?);
    Ok(res)
}

#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: String,
}

/// `GET /console/callback?code&state`: the provider sends the browser back.
pub async fn callback(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Result<Response, ConsoleError> {
    let oidc = oidc(&state)?;
    if let Some(error) = q.error {
        // The provider's own code (access_denied, ...): short, no personal data.
        let error: String =
            error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
        return Err(ConsoleError::Unauthenticated(format!(
            "the identity provider refused the sign-in ({error})"
        )));
    }
    let refused = |why: &str| ConsoleError::Unauthenticated(format!("sign-in refused: {why}; start again"));
    let login =
        cookie(&headers, LOGIN_COOKIE).ok_or_else(|| refused("this browser did not start a sign-in"))?;
    let mut parts = login.splitn(3, '.');
    let (Some(expected_state), Some(nonce), Some(verifier)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(refused("the sign-in cookie is malformed"));
    };
    let given = q.state.unwrap_or_default();
    if !same(given.as_bytes(), expected_state.as_bytes()) {
        return Err(refused("`state` does not match the sign-in this browser started"));
    }
    let code = q.code.ok_or_else(|| refused("no authorization code"))?;
    let provider = oidc.provider().await?;

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", oidc.settings.redirect_url.as_str()),
        ("code_verifier", verifier),
        ("client_id", oidc.settings.client_id.as_str()),
    ];
    let mut req = oidc.http.post(provider.token_endpoint.clone()).form(&form);
    if let Some(secret) = &oidc.settings.client_secret {
        // client_secret_basic (RFC 6749 §2.3.1): both parts form-urlencoded.
        req = req.basic_auth(form_encode(&oidc.settings.client_id), Some(form_encode(secret.expose())));
    }
    let res = req.send().await.map_err(|e| {
        tracing::warn!(error = %e.without_url(), "the token endpoint could not be reached");
        ConsoleError::Unavailable("the identity provider could not be reached; try again shortly")
    })?;
    if !res.status().is_success() {
        tracing::info!(status = %res.status(), "the token endpoint refused the authorization code");
        return Err(refused("the identity provider did not accept the authorization code"));
    }
    let tokens: TokenResponse =
        res.json().await.map_err(|_| refused("the token response has no ID token"))?;
    let claims: Value = provider.keys.verify(&oidc.http, &tokens.id_token).await.map_err(|r| {
        tracing::info!(reason = r.detail(), "ID token refused");
        match r {
            roster_server::auth::jwt::Refusal::KeysUnavailable => {
                ConsoleError::Unavailable("the identity provider's signing keys could not be fetched")
            }
            _ => refused("the ID token's signature does not verify"),
        }
    })?;
    let identity = check_id_token(&oidc.settings, &claims, nonce, state.now().millis() as f64 / 1000.0)
        .map_err(refused)?;
    let groups = groups(&claims, &state.settings().groups_claim);
    let (session_cookie, _) =
        session::start(&state, &headers, identity.subject, identity.display_name, groups).await?;
    let mut res = redirect("/console/");
    let h = res.headers_mut();
    h.append(SET_COOKIE, session_cookie.parse().map_err(|_| ConsoleError::Internal("cookie".into()))?);
    h.append(
        SET_COOKIE,
        set_cookie(LOGIN_COOKIE, "", None).parse().map_err(|_| ConsoleError::Internal("cookie".into()))?,
    );
    Ok(res)
}

fn form_encode(s: &str) -> String {
    reqwest::Url::parse_with_params("x:", &[("v", s)])
        .ok()
        .and_then(|u| u.query().map(|q| q.trim_start_matches("v=").to_owned()))
        .unwrap_or_default()
}

/// Compares digests, so the time taken says nothing of the value.
fn same(a: &[u8], b: &[u8]) -> bool {
    !b.is_empty() && Sha256::digest(a) == Sha256::digest(b)
}

pub(crate) struct Identity {
    pub subject: String,
    pub display_name: String,
}

/// OpenID Connect Core §3.1.3.7, on a token whose signature verified.
pub(crate) fn check_id_token(
    settings: &OidcSettings,
    claims: &Value,
    nonce: &str,
    now: f64,
) -> Result<Identity, &'static str> {
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if str_claim("iss") != Some(settings.issuer.as_str()) {
        return Err("the ID token is from another issuer");
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !audiences.contains(&settings.client_id.as_str()) {
        return Err("the ID token is for another client");
    }
    if audiences.len() > 1 && str_claim("azp") != Some(settings.client_id.as_str()) {
        return Err("the ID token is for another client");
    }
    let exp = claims.get("exp").and_then(Value::as_f64).ok_or("the ID token has no expiry")?;
    if now > exp + LEEWAY_SECS {
        return Err("the ID token has expired");
    }
    if claims.get("iat").and_then(Value::as_f64).is_some_and(|iat| iat > now + LEEWAY_SECS) {
        return Err("the ID token was issued in the future");
    }
    if !str_claim("nonce").is_some_and(|n| same(n.as_bytes(), nonce.as_bytes())) {
        return Err("the ID token's nonce is not this sign-in's");
    }
    let subject = str_claim("sub").filter(|s| !s.is_empty()).ok_or("the ID token names no subject")?;
    let display_name =
        ["email", "name", "preferred_username"].into_iter().find_map(str_claim).unwrap_or(subject);
    Ok(Identity { subject: subject.to_owned(), display_name: display_name.to_owned() })
}

/// The groups the claim lists: an array of strings, or one string
/// (comma- or space-separated, as some providers send it).
pub(crate) fn groups(claims: &Value, claim: &str) -> Vec<String> {
    match claims.get(claim) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(s)) => s.split([',', ' ']).filter(|g| !g.is_empty()).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Where sign-out sends the browser: the provider's end-session endpoint
/// when discovery named one (back to `post_logout`), else `post_logout`.
pub async fn end_session_url(oidc: &Oidc, post_logout: &str) -> String {
    match oidc.provider().await {
        Ok(Provider { end_session_endpoint: Some(end), .. }) => {
            let mut url = end.clone();
            url.query_pairs_mut()
                .append_pair("client_id", &oidc.settings.client_id)
                .append_pair("post_logout_redirect_uri", post_logout);
            url.to_string()
        }
        _ => post_logout.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> OidcSettings {
        OidcSettings {
            issuer: "https://idp.example.com".into(),
            discovery_url: "https://idp.example.com/.well-known/openid-configuration".into(),
            client_id: "roster".into(),
            client_secret: None,
            redirect_url: "https://roster.example.com/console/callback".into(),
            scopes: vec!["openid".into()],
        }
    }

    const NOW: f64 = 1_700_000_000.0;

    fn good() -> Value {
        json!({"iss": "https://idp.example.com", "aud": "roster", "exp": NOW + 300.0, "iat": NOW,
               "nonce": "n-1", "sub": "user-1", "email": "ada@example.com"})
    }

    #[test]
    fn an_id_token_passes_only_with_every_claim_right() {
        let ok = check_id_token(&settings(), &good(), "n-1", NOW).unwrap();
        assert_eq!((ok.subject.as_str(), ok.display_name.as_str()), ("user-1", "ada@example.com"));
        let with = |k: &str, v: Value| {
            let mut c = good();
            c[k] = v;
            check_id_token(&settings(), &c, "n-1", NOW).err()
        };
        assert_eq!(
            with("iss", json!("https://evil.example.com")),
            Some("the ID token is from another issuer")
        );
        assert_eq!(with("aud", json!("other")), Some("the ID token is for another client"));
        assert_eq!(with("aud", json!(["roster", "other"])), Some("the ID token is for another client"));
        assert_eq!(with("exp", json!(NOW - 120.0)), Some("the ID token has expired"));
        assert_eq!(with("nonce", json!("n-2")), Some("the ID token's nonce is not this sign-in's"));
        assert_eq!(with("sub", json!("")), Some("the ID token names no subject"));
        let mut multi = good();
        multi["aud"] = json!(["roster", "other"]);
        multi["azp"] = json!("roster");
        assert!(check_id_token(&settings(), &multi, "n-1", NOW).is_ok());
    }

    #[test]
    fn groups_come_as_an_array_or_a_list_in_a_string() {
        assert_eq!(groups(&json!({"g": ["a", "b", 3]}), "g"), ["a", "b"]);
        assert_eq!(groups(&json!({"g": "a,b c"}), "g"), ["a", "b", "c"]);
        assert!(groups(&json!({}), "g").is_empty());
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636 Appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
