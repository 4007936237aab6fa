//! API keys: random, prefixed so a leaked key is greppable, stored only as a
//! SHA-256 hash (the keys carry 192 bits of entropy, so a slow hash buys
//! nothing), shown once.

use std::fmt;

use sha2::{Digest, Sha256};

/// Every live key starts with this, so secret scanners can find leaked ones.
pub const KEY_PREFIX: &str = "rk_live_";
/// How much of a key is kept in clear to recognise it in listings.
pub const SHOWN_PREFIX_LEN: usize = KEY_PREFIX.len() + 6;

/// A secret that never shows in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The clear text, to be shown to its owner exactly once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first characters, safe to store and list.
    pub fn shown_prefix(&self) -> String {
        self.0.chars().take(SHOWN_PREFIX_LEN).collect()
    }

    pub fn hash(&self) -> [u8; 32] {
        hash_api_key(&self.0)
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(<redacted>)")
    }
}

/// Every operator key starts with this: greppable too, and never mistaken
/// for a tenant's key.
pub const OPERATOR_KEY_PREFIX: &str = "rk_op_";

/// Generates a new key: `rk_live_` and 48 hex digits (24 random bytes).
pub fn generate_api_key() -> ApiKeySecret {
    generate_with(KEY_PREFIX)
}

/// Generates an operator key: `rk_op_` and 48 hex digits.
pub fn generate_operator_key() -> ApiKeySecret {
    generate_with(OPERATOR_KEY_PREFIX)
}

fn generate_with(prefix: &str) -> ApiKeySecret {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let mut s = String::with_capacity(prefix.len() + 48);
    s.push_str(prefix);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    ApiKeySecret(s)
}

/// Generates a webhook endpoint's signing secret: `whsec_` and the base64
/// of 32 random bytes (Standard Webhooks).
pub fn generate_endpoint_secret() -> roster_core::secret::Secret {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    roster_core::secret::Secret::new(format!("{}{encoded}", roster_notify::events::SECRET_PREFIX))
}

pub fn hash_api_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_unique_and_redacted() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert!(a.expose().starts_with(KEY_PREFIX));
        assert_eq!(a.expose().len(), KEY_PREFIX.len() + 48);
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(&a.expose()[KEY_PREFIX.len()..]));
        assert_eq!(a.hash(), hash_api_key(a.expose()));
    }

    #[test]
    fn endpoint_secrets_are_whsec_base64_of_32_bytes() {
        use base64::Engine as _;
        let a = generate_endpoint_secret();
        let encoded = a.expose().strip_prefix("whsec_").expect("the whsec_ prefix");
        let key = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(a, generate_endpoint_secret());
        assert!(!format!("{a:?}").contains(encoded));
    }
}
