//! The JSON batch: `{"mode": "delta" | "full", "records": [ ... ]}`.

use std::cell::Cell;
use std::fmt;

use roster_core::FeedMode;
use roster_core::validate::parse_record;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::{FeedBuilder, FormatError, ParsedFeed};

/// Most records accepted in one JSON batch.
pub const MAX_RECORDS: usize = 100_000;

struct Envelope<'a> {
    mode: Option<String>,
    records: Option<Vec<&'a RawValue>>,
}

/// Parses a JSON batch. Records are validated one by one; a bad record is
/// rejected with its errors and the others go on. More than `max_records`
/// (at most [`MAX_RECORDS`]) is refused as soon as the array grows past it,
/// so a body of tiny records never becomes a list longer than the limit.
pub fn parse_feed(body: &[u8], max_records: usize) -> Result<ParsedFeed, FormatError> {
    let limit = max_records.min(MAX_RECORDS);
    let too_many = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let envelope = EnvelopeSeed { limit, too_many: &too_many }
        .deserialize(&mut de)
        .and_then(|e| de.end().map(|()| e))
        .map_err(|e| if too_many.get() { FormatError::TooManyRecords { limit } } else { malformed(e) })?;
    let mode = match envelope.mode.as_deref() {
        None => FeedMode::Delta,
        Some(m) => FeedMode::parse(m).ok_or_else(|| FormatError::InvalidEnvelope {
            path: "mode".into(),
            message: "must be \"delta\" or \"full\"".into(),
        })?,
    };
    let records = envelope.records.ok_or_else(|| FormatError::InvalidEnvelope {
        path: "records".into(),
        message: "is required (an array of records)".into(),
    })?;
    let mut feed = FeedBuilder::default();
    for (index, raw) in records.into_iter().enumerate() {
        // The envelope parsed, so every raw record is well-formed JSON.
        let value: serde_json::Value = serde_json::from_str(raw.get()).map_err(malformed)?;
        let record = parse_record(&value);
        if record.is_err() {
            feed.note_rejected_id(roster_core::validate::raw_external_id(value.get("externalId")));
        }
        feed.push(index, record);
    }
    let mut parsed = feed.finish(mode);
    parsed.mode_stated = envelope.mode.is_some();
    Ok(parsed)
}

/// The envelope, read with the record limit: `mode`, `records`, and any
/// other member ignored.
struct EnvelopeSeed<'c> {
    limit: usize,
    too_many: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_> {
    type Value = Envelope<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_> {
    type Value = Envelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a records array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = Envelope { mode: None, records: None };
        let (mut saw_mode, mut saw_records) = (false, false);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "mode" if !saw_mode => {
                    saw_mode = true;
                    envelope.mode = map.next_value()?;
                }
                "records" if !saw_records => {
                    saw_records = true;
                    let seed = RecordsSeed { limit: self.limit, too_many: self.too_many };
                    envelope.records = map.next_value_seed(seed)?;
                }
                "mode" | "records" => return Err(de::Error::custom("duplicate field")),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(envelope)
    }
}

/// `records`: `null` or an array of at most `limit` raw records.
struct RecordsSeed<'c> {
    limit: usize,
    too_many: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Option<Vec<&'de RawValue>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Option<Vec<&'de RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            if records.len() == self.limit {
                self.too_many.set(true);
                return Err(de::Error::custom("too many records"));
            }
            records.push(raw);
        }
        Ok(Some(records))
    }
}

/// serde_json's messages can quote the input; only its position and class
/// are kept.
fn malformed(e: serde_json::Error) -> FormatError {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "syntax error",
        Category::Eof => "unexpected end of input",
        Category::Data => "unexpected type (expected an object with a records array)",
        Category::Io => "read error",
    };
    FormatError::MalformedJson { line: e.line(), column: e.column(), what }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_records_go_on_when_others_are_rejected() {
        let feed = parse_feed(
            br#"{"mode":"full","records":[
                {"externalId":"E1","name":{"givenName":"Ann"}},
                {"externalId":"E2","emails":["nope"]},
                {"externalId":"E1"}
            ]}"#,
            MAX_RECORDS,
        )
        .unwrap();
        assert_eq!(feed.mode, FeedMode::Full);
        assert_eq!(feed.valid.len(), 1);
        assert_eq!(feed.rejected.len(), 2);
        assert_eq!(feed.rejected[0].index, 1);
        assert_eq!(feed.rejected[0].errors[0].path, "emails[0]");
        assert_eq!(feed.rejected[1].index, 2);
        assert!(feed.rejected[1].errors[0].message.contains("duplicate"));
    }

    #[test]
    fn a_rejected_record_with_a_numeric_id_is_still_a_snapshot_member() {
        // Employee numbers exported as JSON numbers: validation accepts them,
        // so a full snapshot must list the person even when the row is bad.
        let feed = parse_feed(
            br#"{"mode":"full","records":[
                {"externalId":1003,"emails":[{"value":"bad"}]},
                {"externalId":" E7 ","emails":["bad"]},
                {"externalId":1.5,"emails":["bad"]}
            ]}"#,
            MAX_RECORDS,
        )
        .unwrap();
        assert_eq!(feed.rejected.len(), 3);
        let ids: Vec<&str> = feed.rejected_ids.iter().map(|i| i.as_str()).collect();
        assert_eq!(ids, ["1003", "E7"], "not 1.5: validation does not read it as an id either");
    }

    #[test]
    fn malformed_json_names_the_position_not_the_content() {
        let err = parse_feed(b"{\"records\": [{\"externalId\": \"SECRET-NAME\"", MAX_RECORDS).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 1"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }

    #[test]
    fn envelope_errors_name_the_field() {
        assert!(matches!(
            parse_feed(br#"{"mode":"weekly","records":[]}"#, MAX_RECORDS),
            Err(FormatError::InvalidEnvelope { path, .. }) if path == "mode"
        ));
        assert!(matches!(
            parse_feed(br#"{"mode":"delta"}"#, MAX_RECORDS),
            Err(FormatError::InvalidEnvelope { path, .. }) if path == "records"
        ));
        assert!(matches!(parse_feed(br#"[1,2]"#, MAX_RECORDS), Err(FormatError::MalformedJson { .. })));
    }

    #[test]
    fn the_record_limit_stops_the_parse_early() {
        let ok = br#"{"records":[{"externalId":"E1"},{"externalId":"E2"}],"other":{"x":[1]}}"#;
        assert_eq!(parse_feed(ok, 2).unwrap().received(), 2);
        // The array is cut off at the first record past the limit: what
        // follows is never read, not even the syntax error at the end.
        let many = format!("{{\"records\":[{}{{}}]", "{},".repeat(50_000));
        assert!(matches!(parse_feed(many.as_bytes(), 100), Err(FormatError::TooManyRecords { limit: 100 })));
        assert_eq!(
            parse_feed(br#"{"records":[{},{},{}]}"#, usize::MAX).unwrap().received(),
            3,
            "the limit is at most MAX_RECORDS"
        );
        assert!(matches!(
            parse_feed(br#"{"records":[],"records":[]}"#, 10),
            Err(FormatError::MalformedJson { .. })
        ));
        assert!(matches!(parse_feed(br#"{"records":null}"#, 10), Err(FormatError::InvalidEnvelope { .. })));
    }
}
