//! CSV feeds: an HR system's export, mapped to canonical records by a
//! [`MappingProfile`].
//!
//! [`CsvFeedReader`] streams any [`Read`]: memory holds one row at a time,
//! whatever the file's size. [`parse_feed`] collects a whole body into a
//! [`ParsedFeed`].
//!
//! - A header row is required; its names are trimmed and must be unique.
//! - The delimiter (`,` `;` tab `|`) comes from the profile or is sniffed from
//!   the header line: the most frequent one outside quotes.
//! - Quoted fields may hold delimiters, line breaks and doubled quotes (`""`).
//! - UTF-8, with or without a byte-order mark, or the profile's `encoding`
//!   (Windows-1252 / Latin-1, Latin-9); bytes that are not text in it are
//!   refused with the row where they were found. A UTF-8 byte-order mark
//!   wins over the profile; UTF-16 is refused.
//! - Rows are numbered as records: the header is row 1, a quoted line break
//!   does not start a new row. Blank lines are skipped and not counted (a
//!   spreadsheet would show them as rows; exports rarely have any but at the
//!   end); rows whose cells are all empty are skipped but counted.
//! - A row with more or fewer fields than the header is rejected alone.
//!
//! Errors name rows, columns and attribute paths, never cell values.

use std::borrow::Cow;
use std::io::{self, Chain, Cursor, Read};

use ::csv::{ByteRecord, ReaderBuilder};
use encoding_rs::Encoding;
use roster_core::mapping::RowMapper;
use roster_core::validate::ValidRecord;
use roster_core::{ExternalId, FeedMode, FieldError, MappingProfile};

use crate::{FeedBuilder, FormatError, ParsedFeed};

/// How much of the start of the file is searched for the end of the header
/// line when sniffing the delimiter.
const SNIFF_LIMIT: usize = 1024 * 1024;

/// One data row, mapped and validated.
#[derive(Debug)]
pub struct CsvRecord {
    /// 0-based position among the data records (skipped empty rows do not count).
    pub index: usize,
    /// The row as a spreadsheet numbers it (the header is row 1; blank lines
    /// are not counted).
    pub row: u64,
    /// The row's external id as mapped, when it has one, even if the row is
    /// rejected: a full snapshot still lists that person.
    pub external_id: Option<String>,
    pub result: Result<ValidRecord, Vec<FieldError>>,
}

/// Reads a CSV feed row by row. Yields each data row as a [`CsvRecord`], or
/// one [`FormatError`] after which the file cannot be read on (then `None`).
pub struct CsvFeedReader<R: Read> {
    reader: ::csv::Reader<Chain<Cursor<Vec<u8>>, R>>,
    mapper: RowMapper,
    delimiter: u8,
    /// `None`: UTF-8.
    encoding: Option<&'static Encoding>,
    record: ByteRecord,
    next_index: usize,
    /// The row number of the last record read.
    row: u64,
    done: bool,
}

impl<R: Read> CsvFeedReader<R> {
    /// Reads the header, picks the delimiter and binds `profile` to the header.
    pub fn new(mut input: R, profile: &MappingProfile) -> Result<Self, FormatError> {
        profile.validate().map_err(FormatError::InvalidProfile)?;
        let mut prefix = read_first_line(&mut input)?;
        let mut encoding = match profile.encoding_name() {
            Some("windows-1252") => Some(encoding_rs::WINDOWS_1252),
            Some("iso-8859-15") => Some(encoding_rs::ISO_8859_15),
            _ => None,
        };
        if prefix.starts_with(&[0xEF, 0xBB, 0xBF]) {
            prefix.drain(..3);
            encoding = None;
        } else if prefix.starts_with(&[0xFF, 0xFE]) || prefix.starts_with(&[0xFE, 0xFF]) {
            return Err(header_error("the file is UTF-16 encoded; export it as UTF-8"));
        }
        let delimiter = profile.delimiter_byte().unwrap_or_else(|| sniff_delimiter(&prefix));
        let mut reader = ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(Cursor::new(prefix).chain(input));

        let mut record = ByteRecord::new();
        if !reader.read_byte_record(&mut record).map_err(|e| read_error(1, &e))? {
            return Err(header_error("the file is empty; a header row is required"));
        }
        let row = 1;
        if record.iter().any(|f| f.contains(&0)) {
            return Err(FormatError::Csv {
                row,
                message: "contains NUL bytes (is the file UTF-16?); export the file as UTF-8".into(),
            });
        }
        let mut header = Vec::with_capacity(record.len());
        for field in &record {
            let name = decode(encoding, field, row)?;
            header.push(name.trim().to_owned());
        }
        let mapper = profile.bind(&header).map_err(FormatError::from)?;
        Ok(Self { reader, mapper, delimiter, encoding, record, next_index: 0, row, done: false })
    }

    /// One message per header column that no mapping uses.
    pub fn warnings(&self) -> &[String] {
        self.mapper.warnings()
    }

    /// The delimiter in use (from the profile, or sniffed).
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    fn read_next(&mut self) -> Result<Option<CsvRecord>, FormatError> {
        loop {
            if !self.reader.read_byte_record(&mut self.record).map_err(|e| read_error(self.row + 1, &e))? {
                return Ok(None);
            }
            self.row += 1;
            let row = self.row;

            // Decoded cells of a non-UTF-8 file live here, borrowed by `cells`.
            let decoded: Vec<Cow<'_, str>>;
            let mut cells: Vec<&str> = Vec::with_capacity(self.record.len());
            match self.encoding {
                None => {
                    for field in &self.record {
                        cells.push(std::str::from_utf8(field).map_err(|_| not_utf8(row))?);
                    }
                }
                Some(_) => {
                    decoded = self
                        .record
                        .iter()
                        .map(|f| decode(self.encoding, f, row))
                        .collect::<Result<_, _>>()?;
                    cells.extend(decoded.iter().map(|c| c.as_ref()));
                }
            }
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            let index = self.next_index;
            self.next_index += 1;
            let width = self.mapper.width();
            let result = if cells.len() == width {
                self.mapper.parse_row(&cells)
            } else {
                Err(vec![FieldError::new(
                    "",
                    format!("row {row} has {} fields, the header has {width}", cells.len()),
                )])
            };
            let external_id = match &result {
                Ok(valid) => Some(valid.change.external_id().as_str().to_owned()),
                Err(_) => self.mapper.external_id(&cells),
            };
            return Ok(Some(CsvRecord { index, row, external_id, result }));
        }
    }
}

impl<R: Read> Iterator for CsvFeedReader<R> {
    type Item = Result<CsvRecord, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.read_next().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

/// Parses a whole CSV body: every row mapped and validated, duplicate
/// external ids rejected (with the row of the first), unused columns as
/// warnings. More than `max_records` data rows is refused as soon as the
/// first one past it is read: a body of tiny rows would otherwise cost
/// about 125 bytes of memory per byte before the count could be checked.
pub fn parse_feed(
    body: &[u8],
    profile: &MappingProfile,
    mode: FeedMode,
    max_records: usize,
) -> Result<ParsedFeed, FormatError> {
    let mut reader = CsvFeedReader::new(body, profile)?;
    let mut feed = FeedBuilder::default();
    for record in &mut reader {
        let record = record?;
        if record.index >= max_records {
            return Err(FormatError::TooManyRecords { limit: max_records });
        }
        if record.result.is_err() {
            feed.note_rejected_id(
                record.external_id.as_deref().and_then(|s| ExternalId::parse(s.trim()).ok()),
            );
        }
        feed.push_at(record.index, Some(record.row), None, record.result);
    }
    let mut parsed = feed.finish(mode);
    parsed.warnings = reader.warnings().to_vec();
    Ok(parsed)
}

/// Reads from `input` until the buffer holds the whole first line (a line
/// break outside quotes), the end of the input, or [`SNIFF_LIMIT`] bytes.
fn read_first_line(input: &mut impl Read) -> Result<Vec<u8>, FormatError> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut in_quotes = false;
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => return Ok(buf),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(1, &e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        for &b in &chunk[..n] {
            match b {
                b'"' => in_quotes = !in_quotes,
                b'\n' | b'\r' if !in_quotes => return Ok(buf),
                _ => {}
            }
        }
        if buf.len() >= SNIFF_LIMIT {
            return Ok(buf);
        }
    }
}

/// The candidate delimiter most frequent outside quotes in the first line;
/// a comma when none occurs (a one-column file).
fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut in_quotes = false;
    for &b in bytes {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' | b'\r' if !in_quotes => break,
            _ if !in_quotes => {
                if let Some(i) = candidates.iter().position(|&c| c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    // The first of the most frequent, so ties prefer the comma.
    let best = (0..4).rev().max_by_key(|&i| counts[i]).unwrap_or(0);
    candidates[best]
}

fn header_error(message: &str) -> FormatError {
    FormatError::Csv { row: 1, message: message.into() }
}

fn not_utf8(row: u64) -> FormatError {
    FormatError::Csv {
        row,
        message: "is not valid UTF-8; export the file as UTF-8, or name its encoding in the mapping profile (`encoding`)"
            .into(),
    }
}

/// A field's text: UTF-8, or decoded from `encoding`. C1 control
/// characters (U+0080–U+009F) are refused: Windows-1252 has no character
/// for the bytes that decode to them, and in Latin-9 they are controls no
/// HR export contains — either way the file is not in that encoding.
fn decode<'a>(
    encoding: Option<&'static Encoding>,
    field: &'a [u8],
    row: u64,
) -> Result<Cow<'a, str>, FormatError> {
    let Some(encoding) = encoding else {
        return std::str::from_utf8(field).map(Cow::Borrowed).map_err(|_| not_utf8(row));
    };
    let not_text = || FormatError::Csv {
        row,
        message: format!(
            "has bytes that are not {} text; check the mapping profile's `encoding`",
            encoding.name()
        ),
    };
    let text = encoding.decode_without_bom_handling_and_without_replacement(field).ok_or_else(not_text)?;
    if text.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)) {
        return Err(not_text());
    }
    Ok(text)
}

fn read_error(row: u64, e: &::csv::Error) -> FormatError {
    match e.kind() {
        ::csv::ErrorKind::Io(io) => io_error(row, io),
        // Not expected: records are read as bytes and rows may vary in length.
        _ => FormatError::Csv { row, message: "could not be read as CSV".into() },
    }
}

/// Only the kind of error is kept: a reader's message is not ours to vet.
fn io_error(row: u64, e: &io::Error) -> FormatError {
    FormatError::Csv { row, message: format!("could not be read ({})", e.kind()) }
}

#[cfg(test)]
mod tests {
    use roster_core::Change;

    use super::*;

    const PROFILE: &str = r#"{"fields":{
        "externalId":{"column":"Employee ID"},
        "name.givenName":{"column":"First Name"},
        "name.familyName":{"column":"Last Name"},
        "displayName":{"concat":["First Name","Last Name"],"separator":" "},
        "emails":{"column":"Work Email","transforms":["trim","lowercase"]},
        "hireDate":{"column":"Start Date","dateFormat":"MM/DD/YYYY"},
        "employmentStatus":{"column":"Status","valueMap":{"A":"active","T":"terminated"}},
        "organization":{"default":"Acme Corp"},
        "title":{"column":"Title"}}}"#;
    const HEADER: &str = "Employee ID,First Name,Last Name,Work Email,Start Date,Status,Title";

    fn profile() -> MappingProfile {
        serde_json::from_str(PROFILE).unwrap()
    }

    fn parse(body: &str) -> ParsedFeed {
        parse_feed(body.as_bytes(), &profile(), FeedMode::Full, usize::MAX).unwrap()
    }

    fn person(feed: &ParsedFeed, i: usize) -> &roster_core::Person {
        match &feed.valid[i].1.change {
            Change::Upsert { person } => person,
            Change::Deactivate { .. } => panic!("expected an upsert"),
        }
    }

    #[test]
    fn maps_a_comma_file_with_concat_default_lowercase_dates_and_value_map() {
        let feed = parse(&format!(
            "{HEADER}\nE1,Ann,Lee, Ann.Lee@ACME.com ,03/15/2024,A,Analyst\nE2,Bob,Ray,,12/01/2020,T,\n"
        ));
        assert!(feed.rejected.is_empty(), "{:?}", feed.rejected);
        assert!(feed.warnings.is_empty());
        let ann = person(&feed, 0);
        assert_eq!(ann.display_name.as_deref(), Some("Ann Lee"));
        assert_eq!(ann.emails[0].value, "ann.lee@acme.com");
        assert_eq!(ann.emails[0].kind.as_deref(), Some("work"));
        assert_eq!(ann.hire_date.unwrap().to_string(), "2024-03-15");
        assert_eq!(ann.organization.as_deref(), Some("Acme Corp"));
        assert!(ann.active);
        let bob = person(&feed, 1);
        assert_eq!(bob.employment_status.as_deref(), Some("terminated"));
        assert!(!bob.active);
        assert!(bob.emails.is_empty() && bob.title.is_none());
    }

    #[test]
    fn semicolon_tab_and_pipe_delimiters_are_sniffed() {
        for delim in [";", "\t", "|"] {
            let body =
                format!("{HEADER}\nE1,Ann,Lee,a@b.co,01/02/2024,A,\"Head of Sales\"\n").replace(',', delim);
            let reader = CsvFeedReader::new(body.as_bytes(), &profile()).unwrap();
            assert_eq!(reader.delimiter(), delim.as_bytes()[0]);
            let feed = parse(&body);
            assert_eq!(feed.valid.len(), 1, "{delim:?}: {:?}", feed.rejected);
        }
        // A comma inside quotes in the header does not count.
        let body = "\"Employee ID, number\";Title\nE1;x\n";
        let p: MappingProfile =
            serde_json::from_str(r#"{"fields":{"externalId":{"column":"Employee ID, number"}}}"#).unwrap();
        assert_eq!(CsvFeedReader::new(body.as_bytes(), &p).unwrap().delimiter(), b';');
        // The profile's delimiter wins over sniffing.
        let p: MappingProfile =
            serde_json::from_str(r#"{"delimiter":"|","fields":{"externalId":{"column":"a,b;c"}}}"#).unwrap();
        let feed = parse_feed(b"a,b;c\nE1\n", &p, FeedMode::Delta, usize::MAX).unwrap();
        assert_eq!(feed.valid.len(), 1);
    }

    #[test]
    fn byte_order_mark_is_stripped() {
        let body = format!("\u{feff}{HEADER}\r\nE1,Ann,Lee,,,A,\r\n");
        let feed = parse(&body);
        assert_eq!(feed.valid.len(), 1, "{:?}", feed.rejected);
    }

    #[test]
    fn quoted_fields_hold_newlines_and_doubled_quotes() {
        let p: MappingProfile = serde_json::from_str(
            r#"{"fields":{"externalId":{"column":"ID"},"customAttributes.note":{"column":"Note"},"title":{"column":"Title"}}}"#,
        )
        .unwrap();
        let body = "ID,Note,Title\nE1,\"line one\nline \"\"two\"\"\",\"Boss, \"\"big\"\"\"\nE2,,x\n";
        let feed = parse_feed(body.as_bytes(), &p, FeedMode::Delta, usize::MAX).unwrap();
        assert_eq!(feed.valid.len(), 2, "{:?}", feed.rejected);
        let Change::Upsert { person } = &feed.valid[0].1.change else { panic!() };
        assert_eq!(person.custom_attributes["note"], "line one\nline \"two\"");
        assert_eq!(person.title.as_deref(), Some("Boss, \"big\""));
        // A quoted line break does not start a row; rows of empty cells count.
        let rows: Vec<u64> = CsvFeedReader::new(format!("{body},,\nE3,,\n").as_bytes(), &p)
            .unwrap()
            .map(|r| r.unwrap().row)
            .collect();
        assert_eq!(rows, [2, 3, 5]);
    }

    #[test]
    fn a_bad_date_names_row_path_and_column_not_the_value() {
        let feed = parse(&format!("{HEADER}\nE1,Ann,Lee,,03/15/2024,A,\nE2,Bob,Ray,,31/12/1999,A,\n"));
        assert_eq!(feed.valid.len(), 1);
        let rejected = &feed.rejected[0];
        assert_eq!((rejected.index, rejected.row), (1, Some(3)));
        assert_eq!(
            rejected.errors,
            [FieldError::new("hireDate", "column `Start Date`: must be a date in MM/DD/YYYY")]
        );
    }

    #[test]
    fn identity_profile_reads_canonical_headers_and_warns_of_others() {
        let body = "externalId,name.givenName,emails,hireDate,active,customAttributes.badge,Shoe Size\n\
                    E1,Ann,ann@acme.com,2024-01-02,no,B7,44\n";
        let feed =
            parse_feed(body.as_bytes(), &MappingProfile::identity(), FeedMode::Delta, usize::MAX).unwrap();
        assert_eq!(feed.warnings, ["column `Shoe Size` is not a canonical attribute; it is ignored"]);
        let ann = person(&feed, 0);
        assert_eq!(ann.name.given_name.as_deref(), Some("Ann"));
        assert!(!ann.active);
        assert_eq!(ann.custom_attributes["badge"], "B7");
    }

    #[test]
    fn unmapped_columns_are_warnings_and_missing_mapped_columns_are_errors() {
        let feed = parse(&format!("{HEADER},Cost Code\nE1,Ann,Lee,,,A,,CC1\n"));
        assert_eq!(feed.valid.len(), 1);
        assert_eq!(feed.warnings, ["column `Cost Code` is not mapped; it is ignored"]);

        let err = parse_feed(b"Employee ID,First Name\nE1,Ann\n", &profile(), FeedMode::Full, usize::MAX)
            .unwrap_err();
        let FormatError::MissingColumns { columns } = &err else { panic!("{err:?}") };
        // In the order of the profile's (sorted) attribute paths.
        assert_eq!(columns, &["Last Name", "Work Email", "Status", "Start Date", "Title"]);
        assert!(err.to_string().contains("`Start Date`"), "{err}");

        let err =
            parse_feed(b"Employee ID,Title,Title\n", &profile(), FeedMode::Full, usize::MAX).unwrap_err();
        assert_eq!(err.to_string(), "row 1: column `Title` appears more than once in the header");
    }

    #[test]
    fn a_row_with_the_wrong_field_count_is_rejected_alone() {
        let feed =
            parse(&format!("{HEADER}\nE1,Ann,Lee,,,A,\nE2,Bob\nE3,Cy,Doe,,,A,,extra\nE4,Di,Fox,,,A,\n"));
        assert_eq!(feed.valid.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 3]);
        assert_eq!(feed.rejected.len(), 2);
        assert_eq!(feed.rejected[0].row, Some(3));
        assert_eq!(feed.rejected[0].errors[0].message, "row 3 has 2 fields, the header has 7");
        assert_eq!(feed.rejected[1].errors[0].message, "row 4 has 8 fields, the header has 7");
        // Their ids are still known, so a full snapshot does not count them as leavers.
        assert_eq!(feed.rejected_ids.iter().map(|i| i.as_str()).collect::<Vec<_>>(), ["E2", "E3"]);
    }

    #[test]
    fn rows_of_empty_cells_are_skipped() {
        let feed = parse(&format!("{HEADER}\nE1,Ann,Lee,,,A,\n,,,,,,\n  ,,,,,,\n"));
        assert_eq!(feed.received(), 1);
    }

    #[test]
    fn invalid_utf8_names_the_row() {
        let mut body = format!("{HEADER}\nE1,Ann,Lee,,,A,\nE2,Bob,Ray,,,A,\nE3,J").into_bytes();
        body.extend_from_slice(&[0xF6, b'r', b'g', b',', b'X', b',', b',', b',', b'A', b',', b'\n']);
        let err = parse_feed(&body, &profile(), FeedMode::Full, usize::MAX).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 4: is not valid UTF-8; export the file as UTF-8, or name its encoding in the mapping profile (`encoding`)"
        );
        // The iterator yields the rows before it, then the error, then nothing.
        let mut reader = CsvFeedReader::new(&body[..], &profile()).unwrap();
        assert!(reader.next().unwrap().is_ok());
        assert!(reader.next().unwrap().is_ok());
        assert!(reader.next().unwrap().is_err());
        assert!(reader.next().is_none());
    }

    #[test]
    fn a_windows_1252_export_is_read_with_its_encoding_and_stray_bytes_name_the_row() {
        let mut with_encoding = profile();
        with_encoding.encoding = Some("windows-1252".into());
        // "Jörg Müller, Café Ltd": the bytes a Windows-1252 export has.
        let mut body = format!("{HEADER}\nE1,J").into_bytes();
        body.extend_from_slice(b"\xF6rg,M\xFCller,,,A,Caf\xE9 \x80 desk\n");
        let feed = parse_feed(&body, &with_encoding, FeedMode::Full, usize::MAX).unwrap();
        let ann = person(&feed, 0);
        assert_eq!(ann.name.given_name.as_deref(), Some("Jörg"));
        assert_eq!(ann.display_name.as_deref(), Some("Jörg Müller"));
        assert_eq!(ann.title.as_deref(), Some("Café € desk"));
        // Latin-1 is read as Windows-1252, its superset.
        with_encoding.encoding = Some("ISO-8859-1".into());
        assert_eq!(
            person(&parse_feed(&body, &with_encoding, FeedMode::Full, usize::MAX).unwrap(), 0)
                .display_name
                .as_deref(),
            Some("Jörg Müller")
        );

        // 0x81 is no Windows-1252 character: refused, with its row.
        with_encoding.encoding = Some("windows-1252".into());
        body.extend_from_slice(b"E2,Bob,R\x81y,,,A,\n");
        let err = parse_feed(&body, &with_encoding, FeedMode::Full, usize::MAX).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 3: has bytes that are not windows-1252 text; check the mapping profile's `encoding`"
        );
        // A UTF-8 byte-order mark wins over the profile.
        let utf8 = format!("\u{feff}{HEADER}\nE1,Jörg,Müller,,,A,\n");
        let feed = parse_feed(utf8.as_bytes(), &with_encoding, FeedMode::Full, usize::MAX).unwrap();
        assert_eq!(person(&feed, 0).name.given_name.as_deref(), Some("Jörg"));
    }

    #[test]
    fn utf16_is_refused_clearly() {
        let mut body = vec![0xFF, 0xFE];
        for unit in format!("{HEADER}\nE1,Ann,Lee,,,A,\n").encode_utf16() {
            body.extend_from_slice(&unit.to_le_bytes());
        }
        let err = parse_feed(&body, &profile(), FeedMode::Full, usize::MAX).unwrap_err();
        assert_eq!(err.to_string(), "row 1: the file is UTF-16 encoded; export it as UTF-8");
        // Without its byte-order mark.
        let err = parse_feed(&body[2..], &profile(), FeedMode::Full, usize::MAX).unwrap_err();
        assert!(err.to_string().contains("UTF-16"), "{err}");
    }

    #[test]
    fn empty_file_is_an_error_and_header_only_is_an_empty_feed() {
        for body in ["", "\u{feff}", "\n\n"] {
            let err = parse_feed(body.as_bytes(), &profile(), FeedMode::Full, usize::MAX).unwrap_err();
            assert_eq!(err.to_string(), "row 1: the file is empty; a header row is required");
        }
        let feed = parse(&format!("{HEADER}\n"));
        assert_eq!(feed.received(), 0);
        assert_eq!(feed.mode, FeedMode::Full);
    }

    #[test]
    fn a_duplicate_external_id_is_rejected_with_the_first_row() {
        let feed = parse(&format!("{HEADER}\nE1,Ann,Lee,,,A,\nE2,Bob,Ray,,,A,\nE1,Ann,Lee,,,T,\n"));
        assert_eq!(feed.valid.len(), 2);
        let dup = &feed.rejected[0];
        assert_eq!((dup.index, dup.row), (2, Some(4)));
        assert_eq!(dup.errors, [FieldError::new("externalId", "duplicate in this feed (first at row 2)")]);
    }

    #[test]
    fn an_invalid_profile_is_refused_before_reading() {
        let p: MappingProfile =
            serde_json::from_str(r#"{"fields":{"hireDate":{"column":"D","dateFormat":"DD/MM/YYY"}}}"#)
                .unwrap();
        let FormatError::InvalidProfile(errors) =
            parse_feed(b"D\n", &p, FeedMode::Full, usize::MAX).unwrap_err()
        else {
            panic!()
        };
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["fields.externalId", "fields.hireDate.dateFormat"]);
    }

    #[test]
    fn errors_never_contain_cell_values() {
        let secret = "Zebulon-Quixote";
        let body = format!(
            "{HEADER}\nE1,{secret},Lee,,,A,\nE1,{secret},Lee,,,A,\nE2,{secret},Lee,{secret}@,{secret},A,\n\
             {secret}\u{7},,,,,A,\nE9,{secret}\n"
        );
        let feed = parse(&body);
        assert_eq!(feed.rejected.len(), 4);
        let text = serde_json::to_string(&feed.rejected).unwrap();
        assert!(text.contains("Start Date") && text.contains("Work Email"), "{text}");
        assert!(!text.contains(secret) && !text.contains("Zebulon"), "{text}");
        let mut bad = format!("{HEADER}\n{secret},").into_bytes();
        bad.push(0xFF);
        let err = parse_feed(&bad, &profile(), FeedMode::Full, usize::MAX).unwrap_err();
        assert!(!err.to_string().contains(secret), "{err}");
    }

    #[test]
    fn reading_stops_at_the_first_record_past_the_limit() {
        let ok = format!("{HEADER}\nE1,Ann,Lee,,,A,\nE2,Bo,Lee,,,A,\n");
        assert_eq!(parse_feed(ok.as_bytes(), &profile(), FeedMode::Delta, 2).unwrap().received(), 2);
        // Past the limit nothing more is read: not even the bad bytes further on.
        let mut body = format!("{ok}\n1\n2\n").into_bytes();
        body.extend_from_slice(b"\xFF\xFE,,,,,,\n");
        let err = parse_feed(&body, &profile(), FeedMode::Delta, 2).unwrap_err();
        assert_eq!(err, FormatError::TooManyRecords { limit: 2 });
        assert!(err.to_string().contains("more than 2 records; at most 2"), "{err}");
        // Rejected rows count too: a file of ids alone cannot pile up.
        let tiny = format!("{HEADER}\n{}", "1\n".repeat(10_000));
        let err = parse_feed(tiny.as_bytes(), &profile(), FeedMode::Delta, 100).unwrap_err();
        assert_eq!(err, FormatError::TooManyRecords { limit: 100 });
    }

    /// Generates `rows` CSV rows on demand, so the file never exists whole.
    struct Generated {
        rows: usize,
        next: usize,
        pending: Vec<u8>,
        at: usize,
    }

    impl Read for Generated {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.pending.len() {
                self.pending.clear();
                self.at = 0;
                if self.next == 0 {
                    self.pending.extend_from_slice(format!("{HEADER}\n").as_bytes());
                }
                while self.next < self.rows && self.pending.len() < 4096 {
                    let n = self.next;
                    let line = format!(
                        "E{n},Given{n},Family{n},p{n}@acme.com,01/{:02}/2020,A,Title {n}\n",
                        n % 28 + 1
                    );
                    self.pending.extend_from_slice(line.as_bytes());
                    self.next += 1;
                }
            }
            let n = buf.len().min(self.pending.len() - self.at);
            buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn streams_a_large_file_one_row_at_a_time() {
        const ROWS: usize = 200_000;
        let input = Generated { rows: ROWS, next: 0, pending: Vec::new(), at: 0 };
        let reader = CsvFeedReader::new(input, &profile()).unwrap();
        let (mut count, mut last_row) = (0usize, 0u64);
        for record in reader {
            let record = record.unwrap();
            assert!(record.result.is_ok(), "row {}: {:?}", record.row, record.result);
            assert_eq!(record.index, count);
            count += 1;
            last_row = record.row;
        }
        assert_eq!(count, ROWS);
        assert_eq!(last_row, ROWS as u64 + 1);
    }
}
