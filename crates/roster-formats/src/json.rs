//! The JSON batch: `{"mode": "delta" | "full", "records": [ ... ]}`.

use roster_core::FeedMode;
use roster_core::validate::parse_record;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{FeedBuilder, FormatError, ParsedFeed};

/// Most records accepted in one JSON batch.
pub const MAX_RECORDS: usize = 100_000;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    mode: Option<String>,
    #[serde(borrow)]
    records: Option<Vec<&'a RawValue>>,
}

/// Parses a JSON batch. Records are validated one by one; a bad record is
/// rejected with its errors and the others go on.
pub fn parse_feed(body: &[u8]) -> Result<ParsedFeed, FormatError> {
    let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(malformed)?;
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
    if records.len() > MAX_RECORDS {
        return Err(FormatError::InvalidEnvelope {
            path: "records".into(),
            message: format!("has more than {MAX_RECORDS} records; split the feed into batches"),
        });
    }
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
    Ok(feed.finish(mode))
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
        )
        .unwrap();
        assert_eq!(feed.rejected.len(), 3);
        let ids: Vec<&str> = feed.rejected_ids.iter().map(|i| i.as_str()).collect();
        assert_eq!(ids, ["1003", "E7"], "not 1.5: validation does not read it as an id either");
    }

    #[test]
    fn malformed_json_names_the_position_not_the_content() {
        let err = parse_feed(b"{\"records\": [{\"externalId\": \"SECRET-NAME\"").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 1"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }

    #[test]
    fn envelope_errors_name_the_field() {
        assert!(matches!(
            parse_feed(br#"{"mode":"weekly","records":[]}"#),
            Err(FormatError::InvalidEnvelope { path, .. }) if path == "mode"
        ));
        assert!(matches!(
            parse_feed(br#"{"mode":"delta"}"#),
            Err(FormatError::InvalidEnvelope { path, .. }) if path == "records"
        ));
        assert!(matches!(parse_feed(br#"[1,2]"#), Err(FormatError::MalformedJson { .. })));
    }
}
