pub mod alarms;
pub mod dlq;
pub mod endpoints;
pub mod events;
pub mod feeds;
pub mod keys;
pub mod operators;
pub mod people;
pub mod push;
pub mod serve;
pub mod sources;
pub mod tenants;
pub mod whoami;

use serde_json::Value;

/// A time as tables print it: the API's RFC 3339 string as it came (a
/// server of an older build sent integer milliseconds: shown the same way);
/// `-` for none. Always 24 characters wide when present.
pub fn time(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            n.as_i64().map_or_else(|| n.to_string(), |ms| roster_core::Timestamp(ms).to_rfc3339())
        }
        _ => "-".into(),
    }
}
