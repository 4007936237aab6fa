//! Server-side sessions: the cookie carries a random secret, the directory
//! keeps its SHA-256 (like an API key) with the person and the timeouts.
//! A new session (new secret) at every sign-in, and the one the browser
//! brought is ended: no session fixation.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use roster_store::NewConsoleSession;
use sha2::{Digest, Sha256};

use super::{ConsoleUser, grants_of};
use crate::errors::ConsoleError;
use crate::state::ConsoleState;

/// `__Host-`: the browser takes it only with `Secure`, `Path=/` and no
/// `Domain`, so no sibling host or plain-http page can plant or read it.
pub const SESSION_COOKIE: &str = "__Host-roster_session";

/// `len` random bytes, base64url.
pub fn random_token(len: usize) -> Result<String, ConsoleError> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes).map_err(|_| ConsoleError::Internal("no randomness".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The session's CSRF token: derived from its secret, so nothing more is
/// stored and it changes with every session.
pub fn csrf_token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"roster-console-csrf\0");
    h.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The value of the cookie `name` the request carries.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` for a `__Host-` cookie; `max_age` `None` ends it.
pub fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> String {
    match max_age {
        Some(secs) => format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={secs}"),
        None => format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"),
    }
}

/// Starts a session for a person just signed in: ends the one the browser
/// brought (if any), stores a new one, and answers its `Set-Cookie` and
/// its secret.
pub async fn start(
    state: &ConsoleState,
    headers: &HeaderMap,
    subject: String,
    display_name: String,
    groups: Vec<String>,
) -> Result<(String, String), ConsoleError> {
    if let Some(old) = cookie(headers, SESSION_COOKIE) {
        state.directory().delete_console_session(&hash(old)).await?;
    }
    let now = state.now();
    // Now and then, sweep the sessions nobody ended.
    let purged = state.directory().purge_console_sessions(now, state.settings().idle()).await?;
    if purged > 0 {
        tracing::debug!(purged, "ended timed-out console sessions");
    }
    let secret = random_token(32)?;
    let absolute = state.settings().absolute();
    let expires_at = now.plus_millis(i64::try_from(absolute.as_millis()).unwrap_or(i64::MAX / 4));
    state
        .directory()
        .create_console_session(NewConsoleSession {
            hash: hash(&secret),
            subject,
            display_name,
            groups,
            created_at: now,
            expires_at,
        })
        .await?;
    Ok((set_cookie(SESSION_COOKIE, &secret, Some(absolute.as_secs())), secret))
}

/// The live session's secret and the person it is for.
pub async fn find(
    state: &ConsoleState,
    headers: &HeaderMap,
) -> Result<Option<(String, roster_store::ConsoleSession)>, ConsoleError> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    let found =
        state.directory().use_console_session(&hash(secret), state.now(), state.settings().idle()).await?;
    Ok(found.map(|s| (secret.to_owned(), s)))
}

/// OIDC mode: the person of the session cookie, or a sign-in.
pub async fn current(state: &ConsoleState, headers: &HeaderMap) -> Result<ConsoleUser, ConsoleError> {
    let (secret, session) = find(state, headers).await?.ok_or(ConsoleError::SignIn)?;
    let (grants, operator) = grants_of(state, &session.groups).await?;
    Ok(ConsoleUser {
        subject: session.subject,
        display_name: session.display_name,
        grants,
        operator,
        csrf: csrf_token(&secret),
    })
}
