//! Identifiers, each a newtype that can only be built by parsing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $public:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7), so ids sort by creation.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        /// The bare UUID, or the UUID after its public prefix
        /// ([`crate::public_id`]), as a client may paste it.
        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.strip_prefix($public).unwrap_or(s)).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "({})"), self.0)
            }
        }
    };
}

uuid_id!(
    /// An enterprise customer.
    TenantId,
    "TenantId",
    "ten_"
);
uuid_id!(
    /// One submission of records (delta or full).
    FeedId,
    "FeedId",
    "feed_"
);
uuid_id!(
    /// One change travelling through the queue; stable across redeliveries.
    MessageId,
    "MessageId",
    "msg_"
);

/// The source's immutable key for a person (e.g. the employee number).
///
/// Non-empty, at most [`ExternalId::MAX_LEN`] bytes, no control characters and
/// no leading or trailing white space. Its `Debug` form is redacted: it is an
/// identifier of a person.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ExternalId(String);

/// Why a string is not an [`ExternalId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExternalIdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {} characters", ExternalId::MAX_LEN)]
    TooLong,
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must not start or end with white space")]
    Padded,
}

impl ExternalId {
    pub const MAX_LEN: usize = 256;

    pub fn parse(s: &str) -> Result<Self, ExternalIdError> {
        if s.is_empty() {
            return Err(ExternalIdError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(ExternalIdError::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(ExternalIdError::ControlCharacter);
        }
        if s.trim() != s {
            return Err(ExternalIdError::Padded);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExternalId(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for ExternalId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ExternalId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The name of one of a tenant's integration channels (`workday`,
/// `nightly-csv`, ...): 1–64 of `a-z`, `0-9`, `-` and `_`, so it is safe in
/// URLs, file names and log lines. Feeds that name none belong to `default`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SourceName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a source name is 1 to 64 characters of a-z, 0-9, '-' and '_'")]
pub struct SourceNameError;

impl SourceName {
    pub const DEFAULT: &'static str = "default";

    pub fn parse(s: &str) -> Result<Self, SourceNameError> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok { Ok(Self(s.to_owned())) } else { Err(SourceNameError) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SourceName {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SourceName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SourceName::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A tenant's name as given (trimmed), if it is one: 1 to 200 printable
/// characters. The rule of `roster tenants create` and the operator API.
pub fn tenant_name(s: &str) -> Result<&str, TenantNameError> {
    let name = s.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        Err(TenantNameError)
    } else {
        Ok(name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tenant name must be 1 to 200 printable characters")]
pub struct TenantNameError;

/// An API key's name, saying what it is for (`workday-prod`): 1 to 64
/// ASCII letters, digits, `-`, `_` and `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key name is 1 to 64 characters of letters, digits, '-', '_' and '.'")]
pub struct KeyNameError;

impl KeyName {
    pub fn parse(s: &str) -> Result<Self, KeyNameError> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if ok { Ok(Self(s.to_owned())) } else { Err(KeyNameError) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_short_and_plain() {
        assert_eq!(KeyName::parse("workday-prod").unwrap().as_str(), "workday-prod");
        assert!(KeyName::parse("Bamboo_HR.v2").is_ok());
        assert!(KeyName::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "a b", "x/y", "é", "key\n", &"a".repeat(65)] {
            assert!(KeyName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn source_names_are_url_safe() {
        assert_eq!(SourceName::default().as_str(), "default");
        assert!(SourceName::parse("workday-eu_2").is_ok());
        for bad in ["", "Workday", "a b", "x/y", &"a".repeat(65)] {
            assert!(SourceName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn external_id_rejects_what_a_source_key_cannot_be() {
        assert_eq!(ExternalId::parse(""), Err(ExternalIdError::Empty));
        assert_eq!(ExternalId::parse(" E1"), Err(ExternalIdError::Padded));
        assert_eq!(ExternalId::parse("E\n1"), Err(ExternalIdError::ControlCharacter));
        assert_eq!(ExternalId::parse(&"x".repeat(257)), Err(ExternalIdError::TooLong));
        assert_eq!(ExternalId::parse("E-001").unwrap().as_str(), "E-001");
    }

    #[test]
    fn external_id_debug_is_redacted() {
        let id = ExternalId::parse("E-001").unwrap();
        assert!(!format!("{id:?}").contains("E-001"));
    }

    #[test]
    fn feed_ids_sort_by_creation() {
        let a = FeedId::new();
        let b = FeedId::new();
        assert!(a < b);
        assert_eq!(a.to_string().parse::<FeedId>().unwrap(), a);
        assert_eq!(format!("feed_{a}").parse::<FeedId>().unwrap(), a, "with its public prefix too");
    }
}
