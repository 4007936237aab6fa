//! Ids as clients see them: a short type prefix before the stored id
//! (`feed_0193…`, `key_…`, `ep_…`, `dl_…`, `evt_…`, `opk_…`, `ten_…`), so an
//! id pasted in the wrong place is recognisable at a glance and refused.
//!
//! The prefix lives at the edge, not in storage: tables, queue messages and
//! ordering groups keep the bare id (no migration, and an SQS dead letter's
//! id is the queue's own), outputs render the prefix (the `ser` helpers are
//! `serialize_with` functions for the types the API returns), and inputs
//! take an id with or without it ([`strip`]) during the transition to 1.0.

use std::fmt::Display;

use serde::Serializer;

/// What an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tenant,
    Feed,
    ApiKey,
    OperatorKey,
    Endpoint,
    /// A dead letter: of the queue (a change) or of an endpoint (an event).
    DeadLetter,
    Event,
}

impl Kind {
    pub const fn prefix(self) -> &'static str {
        match self {
            Kind::Tenant => "ten_",
            Kind::Feed => "feed_",
            Kind::ApiKey => "key_",
            Kind::OperatorKey => "opk_",
            Kind::Endpoint => "ep_",
            Kind::DeadLetter => "dl_",
            Kind::Event => "evt_",
        }
    }
}

/// The id as outputs show it.
pub fn render(kind: Kind, stored: impl Display) -> String {
    format!("{}{stored}", kind.prefix())
}

/// The stored id an input names, given with or without its prefix.
pub fn strip(kind: Kind, input: &str) -> &str {
    input.strip_prefix(kind.prefix()).unwrap_or(input)
}

/// `serialize_with` helpers: one per kind, and `_opt` for optional ids.
pub mod ser {
    use super::*;

    macro_rules! kinds {
        ($($name:ident, $opt:ident => $kind:expr;)*) => {$(
            pub fn $name<S: Serializer, T: Display>(id: &T, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&render($kind, id))
            }
            pub fn $opt<S: Serializer, T: Display>(id: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
                match id {
                    Some(id) => s.serialize_str(&render($kind, id)),
                    None => s.serialize_none(),
                }
            }
        )*};
    }

    kinds! {
        tenant, tenant_opt => Kind::Tenant;
        feed, feed_opt => Kind::Feed;
        api_key, api_key_opt => Kind::ApiKey;
        operator_key, operator_key_opt => Kind::OperatorKey;
        endpoint, endpoint_opt => Kind::Endpoint;
        dead_letter, dead_letter_opt => Kind::DeadLetter;
        event, event_opt => Kind::Event;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_taken_with_or_without_its_prefix() {
        assert_eq!(render(Kind::Feed, "0193"), "feed_0193");
        assert_eq!(strip(Kind::Feed, "feed_0193"), "0193");
        assert_eq!(strip(Kind::Feed, "0193"), "0193");
        // Another kind's prefix is not taken off: that id names nothing here.
        assert_eq!(strip(Kind::Feed, "key_0193"), "key_0193");
    }
}
