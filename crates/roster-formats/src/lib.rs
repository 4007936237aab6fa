//! Feed formats: how a submission's bytes become validated records.
//!
//! Each format lives in its own module and yields a [`ParsedFeed`]; record
//! validation itself is `roster_core::validate`. Nothing here does I/O besides
//! reading the bytes it is given.

pub mod json;

use roster_core::validate::ValidRecord;
use roster_core::{ExternalId, FeedMode, FieldError, RecordError};
use std::collections::HashMap;

/// A submission, parsed: its mode and, per record, the change or its errors.
#[derive(Debug)]
pub struct ParsedFeed {
    pub mode: FeedMode,
    /// Valid records with their position in the submission.
    pub valid: Vec<(usize, ValidRecord)>,
    pub rejected: Vec<RecordError>,
}

impl ParsedFeed {
    pub fn received(&self) -> usize {
        self.valid.len() + self.rejected.len()
    }
}

/// The submission as a whole cannot be read. Messages name the place, never
/// the content: the content is personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("malformed JSON at line {line}, column {column}: {what}")]
    MalformedJson { line: usize, column: usize, what: &'static str },
    #[error("invalid feed: `{path}` {message}")]
    InvalidEnvelope { path: String, message: String },
}

/// Collects records, rejecting a second record with an external id already
/// seen in the same feed (which of two contradicting rows is right is
/// unknowable, so the later one is refused and the source must fix it).
#[derive(Default)]
pub struct FeedBuilder {
    seen: HashMap<ExternalId, usize>,
    valid: Vec<(usize, ValidRecord)>,
    rejected: Vec<RecordError>,
}

impl FeedBuilder {
    pub fn push(&mut self, index: usize, record: Result<ValidRecord, Vec<FieldError>>) {
        match record {
            Ok(rec) => {
                let id = rec.change.external_id().clone();
                if let Some(first) = self.seen.get(&id) {
                    self.rejected.push(RecordError {
                        index,
                        errors: vec![FieldError::new(
                            "externalId",
                            format!("duplicate in this feed (first at record {first})"),
                        )],
                    });
                } else {
                    self.seen.insert(id, index);
                    self.valid.push((index, rec));
                }
            }
            Err(errors) => self.rejected.push(RecordError { index, errors }),
        }
    }

    pub fn finish(self, mode: FeedMode) -> ParsedFeed {
        ParsedFeed { mode, valid: self.valid, rejected: self.rejected }
    }
}
