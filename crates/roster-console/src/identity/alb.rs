//! ALB mode: an AWS Application Load Balancer signs the person in and
//! passes their claims in `x-amzn-oidc-data`, verified here on every
//! request as AWS documents it:
//!
//! - three parts, `header.payload.signature`, each base64url **with**
//!   padding (which is why no JWT library is used: RFC 7515 forbids it);
//! - the header's `alg` is `ES256`, its `signer` is the configured load
//!   balancer's ARN, and its `kid` names a PEM public key at
//!   `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>` (cached);
//! - the signature (P-256, SHA-256, `r || s`) verifies over the first two
//!   parts exactly as received; `exp` (header and payload) is in the future.
//!
//! `x-amzn-oidc-identity` and `x-amzn-oidc-accesstoken` are never read:
//! anything that reaches the container directly could set them.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde_json::Value;

use super::session::{self, csrf_token};
use super::{ConsoleUser, grants_of};
use crate::errors::ConsoleError;
use crate::settings::AlbSettings;
use crate::state::ConsoleState;

pub const DATA_HEADER: &str = "x-amzn-oidc-data";
const MAX_HEADER_BYTES: usize = 16 * 1024;
const MAX_KEY_BYTES: usize = 8 * 1024;
/// Most keys kept: the ALB rotates them, and made-up `kid`s are not cached.
const MAX_CACHED_KEYS: usize = 64;
const LEEWAY_SECS: f64 = 60.0;

/// base64url, padded or not.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The DER prefix of a P-256 SubjectPublicKeyInfo (RFC 5480): what comes
/// before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
    0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Why a header was refused (each a 401; never the header's content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlbRefusal {
    Missing,
    Malformed,
    Algorithm,
    Signer,
    UnknownKey,
    Signature,
    Expired,
    KeysUnavailable,
}

impl AlbRefusal {
    pub fn detail(self) -> &'static str {
        match self {
            AlbRefusal::Missing => "no signed identity from the load balancer (x-amzn-oidc-data)",
            AlbRefusal::Malformed => "the load balancer's identity header is malformed",
            AlbRefusal::Algorithm => "the load balancer's identity header is not ES256",
            AlbRefusal::Signer => "the identity header was signed by another load balancer",
            AlbRefusal::UnknownKey => "the identity header names an unknown signing key",
            AlbRefusal::Signature => "the identity header's signature does not verify",
            AlbRefusal::Expired => "the identity header has expired; reload the page",
            AlbRefusal::KeysUnavailable => "the load balancer's signing key could not be fetched; retry",
        }
    }
}

/// The claims of a verified header.
#[derive(Debug)]
pub struct AlbClaims {
    pub claims: serde_json::Map<String, Value>,
}

/// Verifies `x-amzn-oidc-data`, with a cache of the load balancer's keys.
pub struct AlbVerifier {
    signer_arn: String,
    key_base: reqwest::Url,
    http: reqwest::Client,
    keys: Mutex<HashMap<String, Vec<u8>>>,
}

impl AlbVerifier {
    pub fn new(settings: &AlbSettings, http: reqwest::Client) -> Result<Self, String> {
        let base = match &settings.key_url {
            Some(url) => url.clone(),
            None => format!("https://public-keys.auth.elb.{}.amazonaws.com/", settings.region),
        };
        let mut key_base =
            roster_server::auth::jwt::parse_jwks_url(&base).map_err(|e| format!("key_url {e}"))?;
        if !key_base.path().ends_with('/') {
            key_base.set_path(&format!("{}/", key_base.path()));
        }
        Ok(Self { signer_arn: settings.signer_arn.clone(), key_base, http, keys: Mutex::new(HashMap::new()) })
    }

    /// The header's claims, if it holds; `now` in seconds since the epoch.
    pub async fn verify(&self, headers: &HeaderMap, now: f64) -> Result<AlbClaims, AlbRefusal> {
        let mut values = headers.get_all(DATA_HEADER).iter();
        let token = values.next().ok_or(AlbRefusal::Missing)?;
        if values.next().is_some() {
            return Err(AlbRefusal::Malformed);
        }
        let token = token.to_str().map_err(|_| AlbRefusal::Malformed)?;
        if token.len() > MAX_HEADER_BYTES {
            return Err(AlbRefusal::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AlbRefusal::Malformed);
        };
        let header: serde_json::Map<String, Value> = json_part(h)?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(AlbRefusal::Algorithm);
        }
        // Checked before any key is fetched: another ALB's (or anyone's) kid
        // makes no request.
        if header.get("signer").and_then(Value::as_str) != Some(self.signer_arn.as_str()) {
            return Err(AlbRefusal::Signer);
        }
        let kid = header.get("kid").and_then(Value::as_str).ok_or(AlbRefusal::Malformed)?;
        let point = self.key(kid).await?;
        let signature = B64.decode(s).map_err(|_| AlbRefusal::Malformed)?;
        // Over the header and payload exactly as received, padding included.
        let signed = &token[..h.len() + 1 + p.len()];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| AlbRefusal::Signature)?;
        let claims: serde_json::Map<String, Value> = json_part(p)?;
        let exps: Vec<f64> =
            [header.get("exp"), claims.get("exp")].into_iter().flatten().filter_map(number).collect();
        if exps.is_empty() {
            return Err(AlbRefusal::Malformed);
        }
        if exps.iter().any(|exp| now > exp + LEEWAY_SECS) {
            return Err(AlbRefusal::Expired);
        }
        Ok(AlbClaims { claims })
    }

    /// The uncompressed P-256 point of the key `kid`, cached once fetched.
    async fn key(&self, kid: &str) -> Result<Vec<u8>, AlbRefusal> {
        // A kid is a UUID: anything else could walk the key URL's path.
        if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(AlbRefusal::UnknownKey);
        }
        if let Some(point) = self.keys.lock().unwrap_or_else(|e| e.into_inner()).get(kid) {
            return Ok(point.clone());
        }
        let url = self.key_base.join(kid).map_err(|_| AlbRefusal::UnknownKey)?;
        let res = self.http.get(url).send().await.map_err(|e| {
            tracing::warn!(error = %e.without_url(), "the load balancer's key endpoint could not be reached");
            AlbRefusal::KeysUnavailable
        })?;
        match res.status() {
            s if s.is_success() => {}
            s if s.is_client_error() => return Err(AlbRefusal::UnknownKey),
            _ => return Err(AlbRefusal::KeysUnavailable),
        }
        let body = res.bytes().await.map_err(|_| AlbRefusal::KeysUnavailable)?;
        if body.len() > MAX_KEY_BYTES {
            return Err(AlbRefusal::UnknownKey);
        }
        let point = p256_point_from_pem(&String::from_utf8_lossy(&body)).ok_or(AlbRefusal::UnknownKey)?;
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.insert(kid.to_owned(), point.clone());
        Ok(point)
    }
}

fn json_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, AlbRefusal> {
    let bytes = B64.decode(part).map_err(|_| AlbRefusal::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AlbRefusal::Malformed)
}

/// `exp` as a number, or a string of one.
fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// A PEM `PUBLIC KEY` (SPKI) of a P-256 key → its 65-byte point.
pub fn p256_point_from_pem(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
        .skip(1)
        .take_while(|l| *l != "-----END PUBLIC KEY-----")
        .collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
    let point = der.strip_prefix(&P256_SPKI_PREFIX[..])?;
    (point.len() == 65 && point[0] == 4).then(|| point.to_vec())
}

/// ALB mode: the person of the verified header. A session is kept beside
/// it for the CSRF token only: made when the browser has none (or one of
/// another person), answered as the `Set-Cookie` to add.
pub async fn current(
    state: &ConsoleState,
    verifier: &AlbVerifier,
    headers: &HeaderMap,
) -> Result<(ConsoleUser, Option<String>), ConsoleError> {
    let now = state.now().millis() as f64 / 1000.0;
    let claims = verifier.verify(headers, now).await.map_err(|r| {
        tracing::info!(reason = r.detail(), "ALB identity header refused");
        match r {
            AlbRefusal::KeysUnavailable => ConsoleError::Unavailable(r.detail()),
            other => ConsoleError::Unauthenticated(other.detail().to_owned()),
        }
    })?;
    let claim = |name: &str| claims.claims.get(name).and_then(Value::as_str);
    let subject = claim("sub").filter(|s| !s.is_empty()).ok_or_else(|| {
        ConsoleError::Unauthenticated("the load balancer's identity names no subject".into())
    })?;
    let display_name = claim("email").or(claim("name")).or(claim("username")).unwrap_or(subject).to_owned();
    let groups = super::oidc::groups(&Value::Object(claims.claims.clone()), &state.settings().groups_claim);
    let (grants, operator) = grants_of(state, &groups).await?;
    let (secret, set_cookie) = match session::find(state, headers).await? {
        Some((secret, s)) if s.subject == subject => (secret, None),
        _ => {
            let (cookie, secret) =
                session::start(state, headers, subject.to_owned(), display_name.clone(), groups).await?;
            (secret, Some(cookie))
        }
    };
    Ok((
        ConsoleUser {
            subject: subject.to_owned(),
            display_name,
            grants,
            operator,
            csrf: csrf_token(&secret),
        },
        set_cookie,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_and_unpadded_base64url_both_decode() {
        assert_eq!(B64.decode("eyJhIjoxfQ==").unwrap(), br#"{"a":1}"#);
        assert_eq!(B64.decode("eyJhIjoxfQ").unwrap(), br#"{"a":1}"#);
    }

    #[test]
    fn a_pem_that_is_not_a_p256_key_gives_no_point() {
        assert!(
            p256_point_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_none()
        );
        assert!(p256_point_from_pem("not a pem").is_none());
    }
}
