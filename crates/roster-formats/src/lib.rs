//! Feed formats: how a submission's bytes become validated records.
//!
//! Each format lives in its own module and yields a [`ParsedFeed`]; record
//! validation itself is `roster_core::validate`. Nothing here does I/O besides
//! reading the bytes it is given.

pub mod csv;
pub mod json;
pub mod scim;

use roster_core::mapping::BindError;
use roster_core::validate::ValidRecord;
use roster_core::{ExternalId, FeedMode, FieldError, RecordError};
use std::collections::HashMap;

/// A submission, parsed: its mode and, per record, the change or its errors.
#[derive(Debug)]
pub struct ParsedFeed {
    pub mode: FeedMode,
    /// Whether the submission itself named its mode (a JSON envelope's
    /// `mode`), rather than leaving the default.
    pub mode_stated: bool,
    /// Valid records with their position in the submission.
    pub valid: Vec<(usize, ValidRecord)>,
    pub rejected: Vec<RecordError>,
    /// Problems that reject nothing (e.g. a CSV column no mapping uses).
    pub warnings: Vec<String>,
    /// External ids of rejected records, where they could be read: a full
    /// snapshot still lists these people, so they are not its leavers.
    pub rejected_ids: Vec<ExternalId>,
    /// The CSV row of each valid record, by its index (empty for formats
    /// without rows): warnings about a record name its row.
    pub rows: HashMap<usize, u64>,
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
    /// A CSV file that cannot be read on: no header, not UTF-8, a duplicate
    /// column name. `row` counts as a spreadsheet does (the header is row 1).
    #[error("row {row}: {message}")]
    Csv { row: u64, message: String },
    /// The CSV header lacks columns the mapping profile names.
    #[error("the CSV header has no column {} (the mapping profile needs it)", quote_all(.columns))]
    MissingColumns { columns: Vec<String> },
    /// The mapping profile itself is wrong (paths like `fields.hireDate.dateFormat`).
    #[error("invalid mapping profile: {}", describe_errors(.0))]
    InvalidProfile(Vec<FieldError>),
    /// More records than one request may carry: reading stopped at the
    /// first record past the limit, so memory never holds more.
    #[error("the feed has more than {limit} records; at most {limit} are accepted per request")]
    TooManyRecords { limit: usize },
}

impl From<BindError> for FormatError {
    fn from(e: BindError) -> Self {
        match e {
            BindError::InvalidProfile(errors) => FormatError::InvalidProfile(errors),
            BindError::MissingColumns(columns) => FormatError::MissingColumns { columns },
            BindError::DuplicateColumn(column) => FormatError::Csv {
                row: 1,
                message: format!("column `{column}` appears more than once in the header"),
            },
        }
    }
}

fn quote_all(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

fn describe_errors(errors: &[FieldError]) -> String {
    errors.iter().map(|e| format!("`{}` {}", e.path, e.message)).collect::<Vec<_>>().join("; ")
}

/// Collects records, rejecting a second record with an external id already
/// seen in the same feed (which of two contradicting rows is right is
/// unknowable, so the later one is refused and the source must fix it).
#[derive(Default)]
pub struct FeedBuilder {
    /// Each external id's first record: its index and, for CSV, its row.
    seen: HashMap<ExternalId, (usize, Option<u64>)>,
    valid: Vec<(usize, ValidRecord)>,
    rejected: Vec<RecordError>,
    rejected_ids: Vec<ExternalId>,
}

impl FeedBuilder {
    pub fn push(&mut self, index: usize, record: Result<ValidRecord, Vec<FieldError>>) {
        self.push_at(index, None, None, record);
    }

    /// Like [`FeedBuilder::push`], with the record's location as the format
    /// knows it (a CSV row, a SCIM `bulkId`), kept in its [`RecordError`].
    pub fn push_at(
        &mut self,
        index: usize,
        row: Option<u64>,
        bulk_id: Option<String>,
        record: Result<ValidRecord, Vec<FieldError>>,
    ) {
        let errors = match record {
            Ok(rec) => {
                let id = rec.change.external_id().clone();
                let Some(&(first, first_row)) = self.seen.get(&id) else {
                    self.seen.insert(id, (index, row));
                    self.valid.push((index, rec));
                    return;
                };
                let at = match first_row {
                    Some(r) => format!("row {r}"),
                    None => format!("record {first}"),
                };
                vec![FieldError::new("externalId", format!("duplicate in this feed (first at {at})"))]
            }
            Err(errors) => errors,
        };
        self.rejected.push(RecordError { index, row, bulk_id, errors });
    }

    /// Notes the external id of a rejected record, read from the raw record
    /// as validation reads it (`roster_core::validate::raw_external_id`), so
    /// a full snapshot still lists that person.
    pub fn note_rejected_id(&mut self, id: Option<ExternalId>) {
        if let Some(id) = id
            && !self.seen.contains_key(&id)
        {
            self.rejected_ids.push(id);
        }
    }

    /// How many records have been rejected so far (SCIM's `failOnErrors`).
    pub fn rejected_count(&self) -> usize {
        self.rejected.len()
    }

    pub fn finish(self, mode: FeedMode) -> ParsedFeed {
        let rows = self.seen.values().filter_map(|&(index, row)| Some((index, row?))).collect();
        ParsedFeed {
            rows,
            mode,
            mode_stated: false,
            valid: self.valid,
            rejected: self.rejected,
            warnings: Vec::new(),
            rejected_ids: self.rejected_ids,
        }
    }
}
