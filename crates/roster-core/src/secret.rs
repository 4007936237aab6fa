//! A credential read from configuration (a webhook signing key, an SMTP
//! password) that must never reach a log line or a `Debug` dump.

use std::fmt;

use serde::Deserialize;

/// A secret string. `Debug` prints `Secret(<redacted>)`; there is no
/// `Display` and no `Serialize`, so the clear text leaves only through
/// [`Secret::expose`], where a reader can see it happen.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The clear text, for the one place that needs it (signing, logging in).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Parsing cannot fail: any string may be a secret (command-line flags and
/// environment variables are parsed this way).
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(&s)), "Some(Secret(<redacted>))");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn deserializes_from_a_plain_string() {
        let s: Secret = serde_json::from_str("\"k3y\"").unwrap();
        assert_eq!(s.expose(), "k3y");
    }
}
