//! Mapping profiles: how one source's CSV columns become the canonical record
//! that [`parse_record`] validates.
//!
//! A [`MappingProfile`] is configuration (stored per tenant and source, managed
//! through the API). [`MappingProfile::bind`] checks it against one file's
//! header and yields a [`RowMapper`], which turns each row into a canonical
//! JSON record and validates it.
//!
//! Error messages name the attribute path and the CSV column, never the cell
//! value: values are personal data.
//!
//! # The profile's JSON
//!
//! ```
//! use roster_core::MappingProfile;
//!
//! let profile: MappingProfile = serde_json::from_str(r#"{
//!   "delimiter": ";",
//!   "fields": {
//!     "externalId":        {"column": "Employee ID"},
//!     "name.givenName":    {"column": "First Name"},
//!     "name.familyName":   {"column": "Last Name"},
//!     "displayName":       {"concat": ["First Name", "Last Name"], "separator": " "},
//!     "emails":            {"column": "Work Email", "transforms": ["lowercase"]},
//!     "hireDate":          {"column": "Start Date", "dateFormat": "MM/DD/YYYY"},
//!     "employmentStatus":  {"column": "Status", "valueMap": {"A": "active", "T": "terminated"},
//!                           "strictValueMap": true},
//!     "organization":      {"default": "Acme Corp"},
//!     "manager":           {"column": "Manager ID"},
//!     "meta.lastModified": {"column": "Updated"},
//!     "customAttributes.badge": {"column": "Badge No"}
//!   }
//! }"#).unwrap();
//! assert!(profile.validate().is_ok());
//!
//! let header: Vec<String> = ["Employee ID", "First Name", "Last Name", "Work Email", "Start Date",
//!     "Status", "Manager ID", "Updated", "Badge No"].map(String::from).into();
//! let mapper = profile.bind(&header).unwrap();
//! let record = mapper
//!     .map_row(&["E1", "Ann", "Lee", "Ann@Acme.com", "03/15/2024", "A", "E0", "", "B-7"])
//!     .unwrap();
//! assert_eq!(record["hireDate"], "2024-03-15");
//! assert_eq!(record["displayName"], "Ann Lee");
//! assert_eq!(record["emails"][0]["value"], "ann@acme.com");
//! assert!(mapper.parse_row(&["E1", "Ann", "Lee", "", "", "T", "", "", ""]).is_ok());
//! ```
//!
//! - `delimiter` (optional): `","`, `";"`, `"\t"` or `"|"`; sniffed from the
//!   header line when absent.
//! - `identity` (optional, default `false`): no `fields`; every header column
//!   named by a canonical attribute path (see [`TARGETS`], plus
//!   `customAttributes.<key>`) maps to that attribute. [`MappingProfile::identity`]
//!   is the profile of a source that has none.
//! - `fields`: target attribute path → [`FieldMapping`]. `externalId` is
//!   required. Targets are [`TARGETS`] and `customAttributes.<key>`.
//!
//! Per field, a value is computed as: the cell (`column`) or the non-empty
//! cells of `concat` joined by `separator` (default one space), always trimmed;
//! if that is empty, `default` is used as it is (no transform, map or date
//! format), and without a default the attribute is absent. Otherwise
//! `transforms` apply in order, then `valueMap` (exact match; an unmapped value
//! is kept, or refused with `strictValueMap`), then `dateFormat` (re-written as
//! `YYYY-MM-DD`). `active` accepts true/false, yes/no, y/n, 1/0 (any case);
//! `emails` and `phoneNumbers` become one primary `work` entry. A row whose
//! `op` is `deactivate` keeps only `externalId`, `op` and `meta`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

mod date;

pub use date::DEFAULT_YEAR_PIVOT;
use date::DateFormat;

use crate::validate::{FieldError, ValidRecord, parse_record};

/// Canonical attribute paths a field can map to, besides `customAttributes.<key>`.
pub const TARGETS: &[&str] = &[
    "externalId",
    "op",
    "active",
    "userName",
    "displayName",
    "title",
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "employmentStatus",
    "location",
    "manager",
    "hireDate",
    "terminationDate",
    "name.givenName",
    "name.familyName",
    "name.middleName",
    "name.formatted",
    "emails",
    "phoneNumbers",
    "meta.lastModified",
];

/// Encodings a profile may name (`iso-8859-1` and `latin1` are read as
/// Windows-1252, its superset, as the WHATWG Encoding Standard does).
pub const ENCODINGS: &[&str] = &["utf-8", "windows-1252", "iso-8859-1", "iso-8859-15"];

/// Delimiters a profile may name.
pub const DELIMITERS: &[&str] = &[",", ";", "\t", "|"];

const CUSTOM_PREFIX: &str = "customAttributes.";
const STRING_TARGETS: &[&str] = &[
    "userName",
    "displayName",
    "title",
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "employmentStatus",
    "location",
    "manager",
];
const NAME_TARGETS: &[&str] = &["givenName", "familyName", "middleName", "formatted"];

/// How one source's CSV columns map to canonical attributes. See the
/// [module documentation](self) for the JSON and the rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MappingProfile {
    /// `","`, `";"`, `"\t"` or `"|"`; sniffed from the header when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// The file's character encoding: `utf-8` (the default), `windows-1252`
    /// or `iso-8859-1` (read as Windows-1252, as browsers do), or
    /// `iso-8859-15`. A UTF-8 byte-order mark overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Columns named by canonical paths map one-to-one; `fields` must be empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identity: bool,
    /// Target attribute path → where its value comes from.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldMapping>,
}

/// Where one attribute's value comes from, and how it is transformed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldMapping {
    /// The header name of the column holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// Columns whose non-empty values are joined by `separator` (instead of `column`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concat: Option<Vec<String>>,
    /// Joins `concat`; one space when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Applied in order: `trim` (always done anyway), `lowercase`, `uppercase`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<String>,
    /// The columns' first non-empty value (instead of `column`), e.g. a
    /// work e-mail, else a personal one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalesce: Option<Vec<String>>,
    /// How the value writes its date (and time), e.g. `MM/DD/YYYY`,
    /// `DD-MMM-YY`, `YYYY-MM-DD HH:mm:ss` (see [`date`]); re-written as
    /// `YYYY-MM-DD`, or RFC 3339 UTC for `meta.lastModified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
    /// With `YY` in `dateFormat`: two-digit years from this one on are
    /// 19xx, those below 20xx (default [`DEFAULT_YEAR_PIVOT`], 69).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_digit_year_pivot: Option<u8>,
    /// Exact (after transforms) source value → canonical value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_map: Option<BTreeMap<String, String>>,
    /// A value that `valueMap` does not list is an error (instead of kept).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict_value_map: bool,
    /// The canonical value used when the source value is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl FieldMapping {
    /// A mapping from one column, without transforms.
    pub fn column(name: impl Into<String>) -> Self {
        Self { column: Some(name.into()), ..Self::default() }
    }
}

/// Why a profile cannot be used with a file's header. Messages name columns
/// and profile paths only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("invalid mapping profile: {}", describe_errors(.0))]
    InvalidProfile(Vec<FieldError>),
    #[error("the header has no column {} (the mapping profile needs it)", quote_all(.0))]
    MissingColumns(Vec<String>),
    #[error("the header has column `{0}` more than once")]
    DuplicateColumn(String),
}

fn describe_errors(errors: &[FieldError]) -> String {
    errors.iter().map(|e| format!("`{}` {}", e.path, e.message)).collect::<Vec<_>>().join("; ")
}

fn quote_all(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

impl MappingProfile {
    /// The profile of a source without one: header names are canonical paths.
    pub fn identity() -> Self {
        Self { delimiter: None, encoding: None, identity: true, fields: BTreeMap::new() }
    }

    /// The profile's encoding, normalised: `utf-8`, `windows-1252` or
    /// `iso-8859-15` (`None` when it names none of [`ENCODINGS`]).
    pub fn encoding_name(&self) -> Option<&'static str> {
        match self.encoding.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("utf-8" | "utf8") => Some("utf-8"),
            Some("windows-1252" | "cp1252" | "iso-8859-1" | "latin1" | "latin-1") => Some("windows-1252"),
            Some("iso-8859-15" | "latin-9") => Some("iso-8859-15"),
            Some(_) => None,
        }
    }

    /// The profile's delimiter as a byte, if it names a valid one.
    pub fn delimiter_byte(&self) -> Option<u8> {
        self.delimiter.as_deref().filter(|d| DELIMITERS.contains(d)).map(|d| d.as_bytes()[0])
    }

    /// Checks the profile itself (not against a file). Paths are like
    /// `fields.hireDate.dateFormat`.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.delimiter.is_some() && self.delimiter_byte().is_none() {
            errors.push(FieldError::new("delimiter", "must be \",\", \";\", \"\\t\" (tab) or \"|\""));
        }
        if self.encoding_name().is_none() {
            errors.push(FieldError::new("encoding", format!("must be one of {}", ENCODINGS.join(", "))));
        }
        if self.identity {
            if !self.fields.is_empty() {
                errors.push(FieldError::new("fields", "must be empty when identity is true"));
            }
        } else if !self.fields.contains_key("externalId") {
            errors.push(FieldError::new(
                "fields.externalId",
                "is required (every profile maps the external id)",
            ));
        }
        for (key, mapping) in &self.fields {
            mapping.check(key, &mut errors);
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Checks the profile and resolves its columns against a file's header
    /// (names are compared after trimming). Header columns no mapping uses are
    /// reported by [`RowMapper::warnings`].
    pub fn bind(&self, header: &[String]) -> Result<RowMapper, BindError> {
        self.validate().map_err(BindError::InvalidProfile)?;
        let mut positions: HashMap<&str, usize> = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim();
            // Unnamed columns (often a trailing delimiter) cannot be mapped.
            if !name.is_empty() && positions.insert(name, i).is_some() {
                return Err(BindError::DuplicateColumn(name.to_owned()));
            }
        }
        let identity_fields;
        let fields = if self.identity {
            let mut fields: BTreeMap<String, FieldMapping> = header
                .iter()
                .map(|h| h.trim())
                .filter(|h| Target::parse(h).is_some())
                .map(|h| (h.to_owned(), FieldMapping::column(h)))
                .collect();
            // Missing, it is reported as a missing column below.
            fields.entry("externalId".into()).or_insert_with(|| FieldMapping::column("externalId"));
            identity_fields = fields;
            &identity_fields
        } else {
            &self.fields
        };

        let mut missing: Vec<String> = Vec::new();
        let mut used = vec![false; header.len()];
        let mut resolve = |name: &str| match positions.get(name) {
            Some(&i) => {
                used[i] = true;
                Some(i)
            }
            None => {
                if !missing.iter().any(|m| m == name) {
                    missing.push(name.to_owned());
                }
                None
            }
        };
        let mut bound = Vec::with_capacity(fields.len());
        for (key, m) in fields {
            let target = Target::parse(key).expect("a validated profile has known targets");
            let (source, origin) = if let Some(col) = &m.column {
                (resolve(col).map_or(Source::Nothing, Source::Column), format!("column `{col}`"))
            } else if let Some(cols) = &m.concat {
                let idx: Vec<usize> = cols.iter().filter_map(|c| resolve(c)).collect();
                let sep = m.separator.clone().unwrap_or_else(|| " ".into());
                (Source::Concat(idx, sep), format!("columns {}", quote_all(cols)))
            } else if let Some(cols) = &m.coalesce {
                let idx: Vec<usize> = cols.iter().filter_map(|c| resolve(c)).collect();
                (Source::Coalesce(idx), format!("columns {}", quote_all(cols)))
            } else {
                (Source::Nothing, "the default".to_owned())
            };
            bound.push(Bound {
                key: key.clone(),
                target,
                source,
                origin,
                transforms: m.transforms.iter().filter_map(|t| Transform::parse(t)).collect(),
                date_format: m
                    .date_format
                    .as_deref()
                    .and_then(|f| DateFormat::parse(f, m.two_digit_year_pivot)),
                value_map: m.value_map.clone().unwrap_or_default(),
                strict_value_map: m.strict_value_map,
                default: m.default.clone(),
            });
        }
        if !missing.is_empty() {
            return Err(BindError::MissingColumns(missing));
        }
        let why = if self.identity { "is not a canonical attribute" } else { "is not mapped" };
        let warnings = header
            .iter()
            .zip(&used)
            .filter(|(name, used)| !**used && !name.trim().is_empty())
            .map(|(name, _)| format!("column `{}` {why}; it is ignored", name.trim()))
            .collect();
        Ok(RowMapper { fields: bound, width: header.len(), warnings })
    }
}

impl FieldMapping {
    fn check(&self, key: &str, errors: &mut Vec<FieldError>) {
        let at = format!("fields.{key}");
        let mut err = |path: String, message: &str| errors.push(FieldError::new(path, message));
        let Some(target) = Target::parse(key) else {
            err(at, "unknown target attribute (a canonical attribute path, or customAttributes.<key>)");
            return;
        };
        let sources = [self.column.is_some(), self.concat.is_some(), self.coalesce.is_some()];
        match sources.iter().filter(|s| **s).count() {
            0 if self.default.is_none() => {
                err(at.clone(), "needs a column, a concat, a coalesce or a default")
            }
            0 | 1 => {}
            _ => err(at.clone(), "has more than one of column, concat and coalesce; use one"),
        }
        if let Some(cols) = &self.coalesce {
            if cols.is_empty() {
                err(format!("{at}.coalesce"), "must name at least one column");
            }
            for (i, c) in cols.iter().enumerate() {
                if c.trim().is_empty() {
                    err(format!("{at}.coalesce[{i}]"), "must name a column");
                }
            }
        }
        if self.column.as_deref().is_some_and(|c| c.trim().is_empty()) {
            err(format!("{at}.column"), "must name a column");
        }
        if let Some(cols) = &self.concat {
            if cols.is_empty() {
                err(format!("{at}.concat"), "must name at least one column");
            }
            for (i, c) in cols.iter().enumerate() {
                if c.trim().is_empty() {
                    err(format!("{at}.concat[{i}]"), "must name a column");
                }
            }
        } else if self.separator.is_some() {
            err(format!("{at}.separator"), "applies only with concat");
        }
        for (i, t) in self.transforms.iter().enumerate() {
            if Transform::parse(t).is_none() {
                err(format!("{at}.transforms[{i}]"), "unknown transform (trim, lowercase or uppercase)");
            }
        }
        if self.two_digit_year_pivot.is_some_and(|p| p > 99) {
            err(format!("{at}.twoDigitYearPivot"), "must be 0 to 99");
        } else if self.two_digit_year_pivot.is_some() && self.date_format.is_none() {
            err(format!("{at}.twoDigitYearPivot"), "applies only with dateFormat");
        }
        if let Some(f) = &self.date_format {
            if DateFormat::parse(f, None).is_none() {
                err(
                    format!("{at}.dateFormat"),
                    "unknown date format (YYYY or YY, MM or MMM, DD in any order, separated by - / . space or nothing, optionally followed by HH:mm[:ss] or hh:mm[:ss] A; e.g. MM/DD/YYYY, DD-MMM-YY, YYYY-MM-DD HH:mm:ss)",
                );
            } else if !target.takes_dates() {
                err(
                    format!("{at}.dateFormat"),
                    "applies only to hireDate, terminationDate, meta.lastModified and customAttributes.*",
                );
            }
        }
        if self.strict_value_map && self.value_map.is_none() {
            err(format!("{at}.strictValueMap"), "needs a valueMap");
        }
        // A date mapped through valueMap is re-formatted by dateFormat afterwards.
        let formatted_later = self.date_format.is_some();
        if let Some(map) = self.value_map.as_ref().filter(|_| !formatted_later) {
            for (from, to) in map.iter().filter(|(_, to)| !to.is_empty()) {
                if let Err(message) = target.check_constant(to) {
                    err(format!("{at}.valueMap.{from}"), &message);
                }
            }
        }
        if let Some(default) = &self.default {
            if matches!(target, Target::ExternalId) {
                err(format!("{at}.default"), "is not allowed (every person needs their own external id)");
            } else if let Err(message) = target.check_constant(default) {
                err(format!("{at}.default"), &message);
            }
        }
    }
}

/// A profile bound to one header: maps that file's rows.
#[derive(Debug, Clone)]
pub struct RowMapper {
    fields: Vec<Bound>,
    width: usize,
    warnings: Vec<String>,
}

impl RowMapper {
    /// The number of columns of the header this mapper was bound to.
    pub fn width(&self) -> usize {
        self.width
    }

    /// One message per header column that no mapping uses.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The canonical JSON record of one row (cells in header order; a missing
    /// cell counts as empty), or the mapping errors (bad date, boolean or
    /// strictly mapped value). [`RowMapper::parse_row`] also validates it.
    pub fn map_row(&self, row: &[&str]) -> Result<Value, Vec<FieldError>> {
        let (record, errors) = self.map(row);
        if errors.is_empty() { Ok(Value::Object(record)) } else { Err(errors) }
    }

    /// The row's external id as mapped (transforms and valueMap applied),
    /// whether or not the row is valid.
    pub fn external_id(&self, row: &[&str]) -> Option<String> {
        let field = self.fields.iter().find(|f| f.target == Target::ExternalId)?;
        match field.value(row) {
            Ok(Some(Value::String(id))) => Some(id),
            _ => None,
        }
    }

    /// Maps one row and validates it with [`parse_record`]; every error names
    /// the column(s) its attribute comes from.
    pub fn parse_row(&self, row: &[&str]) -> Result<ValidRecord, Vec<FieldError>> {
        let (record, mut errors) = self.map(row);
        match parse_record(&Value::Object(record)) {
            Ok(valid) if errors.is_empty() => Ok(valid),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more.into_iter().map(|e| self.locate(e)));
                Err(errors)
            }
        }
    }

    fn map(&self, row: &[&str]) -> (Map<String, Value>, Vec<FieldError>) {
        let mut record = Map::new();
        let mut errors = Vec::new();
        for field in &self.fields {
            match field.value(row) {
                Ok(Some(value)) => field.target.insert(&mut record, value),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        // A deactivation carries only the key (see `parse_record`).
        if record.get("op").and_then(Value::as_str) == Some("deactivate") {
            record.retain(|k, _| matches!(k.as_str(), "op" | "externalId" | "meta"));
            errors.retain(|e| matches!(e.path.as_str(), "op" | "externalId" | "meta.lastModified"));
        }
        (record, errors)
    }

    /// Prefixes a validation error with the columns its attribute comes from.
    fn locate(&self, mut error: FieldError) -> FieldError {
        let related = |key: &str, path: &str| {
            let below = |long: &str, short: &str| {
                long.strip_prefix(short).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            };
            key == path || below(path, key) || below(key, path)
        };
        let mut origins: Vec<&str> = Vec::new();
        for f in self.fields.iter().filter(|f| related(&f.key, &error.path)) {
            if !origins.contains(&f.origin.as_str()) {
                origins.push(&f.origin);
            }
        }
        if !origins.is_empty() {
            error.message = format!("{}: {}", origins.join(", "), error.message);
        }
        error
    }
}

#[derive(Debug, Clone)]
struct Bound {
    key: String,
    target: Target,
    source: Source,
    /// How messages name the source, e.g. "column `Start Date`".
    origin: String,
    transforms: Vec<Transform>,
    date_format: Option<DateFormat>,
    value_map: BTreeMap<String, String>,
    strict_value_map: bool,
    default: Option<String>,
}

#[derive(Debug, Clone)]
enum Source {
    Column(usize),
    Concat(Vec<usize>, String),
    /// The first non-empty cell.
    Coalesce(Vec<usize>),
    Nothing,
}

impl Bound {
    fn value(&self, row: &[&str]) -> Result<Option<Value>, FieldError> {
        let cell = |i: usize| row.get(i).map_or("", |c| c.trim());
        let raw = match &self.source {
            Source::Column(i) => cell(*i).to_owned(),
            Source::Concat(cols, sep) => {
                cols.iter().map(|&i| cell(i)).filter(|c| !c.is_empty()).collect::<Vec<_>>().join(sep)
            }
            Source::Coalesce(cols) => {
                cols.iter().map(|&i| cell(i)).find(|c| !c.is_empty()).unwrap_or_default().to_owned()
            }
            Source::Nothing => String::new(),
        };
        if raw.is_empty() {
            return match &self.default {
                Some(d) => self.typed(d.clone()).map(Some),
                None => Ok(None),
            };
        }
        let mut value = raw;
        for t in &self.transforms {
            value = t.apply(value);
        }
        if let Some(mapped) = self.value_map.get(&value) {
            value = mapped.clone();
        } else if self.strict_value_map {
            return Err(self.error("is not one of the values listed in valueMap"));
        }
        if value.is_empty() {
            return Ok(None);
        }
        if let Some(format) = &self.date_format {
            let Some(parsed) = format.parse_value(&value) else {
                return Err(self.error(&format!("must be a date in {}", format.spelling())));
            };
            value = if matches!(self.target, Target::LastModified) {
                parsed.rfc3339_utc()
            } else {
                parsed.date_string()
            };
        }
        self.typed(value).map(Some)
    }

    fn typed(&self, value: String) -> Result<Value, FieldError> {
        match self.target {
            Target::Active => parse_bool(&value).map(Value::Bool).ok_or_else(|| self.error(BOOL_MESSAGE)),
            Target::Contact(_) => Ok(json!([{"value": value, "type": "work", "primary": true}])),
            _ => Ok(Value::String(value)),
        }
    }

    fn error(&self, rule: &str) -> FieldError {
        FieldError::new(self.key.clone(), format!("{}: {rule}", self.origin))
    }
}

const BOOL_MESSAGE: &str = "must be true or false (or yes/no, y/n, 1/0)";

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// A canonical attribute a field maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    ExternalId,
    Op,
    Active,
    /// A top-level string attribute.
    Str(&'static str),
    /// `hireDate` or `terminationDate`.
    Date(&'static str),
    /// A part of `name`.
    Name(&'static str),
    /// `emails` or `phoneNumbers`.
    Contact(&'static str),
    LastModified,
    Custom(String),
}

impl Target {
    fn parse(key: &str) -> Option<Self> {
        let find = |list: &[&'static str], k: &str| list.iter().copied().find(|t| *t == k);
        Some(match key {
            "externalId" => Self::ExternalId,
            "op" => Self::Op,
            "active" => Self::Active,
            "meta.lastModified" => Self::LastModified,
            "hireDate" => Self::Date("hireDate"),
            "terminationDate" => Self::Date("terminationDate"),
            "emails" => Self::Contact("emails"),
            "phoneNumbers" => Self::Contact("phoneNumbers"),
            _ => {
                if let Some(t) = find(STRING_TARGETS, key) {
                    Self::Str(t)
                } else if let Some(t) = key.strip_prefix("name.").and_then(|k| find(NAME_TARGETS, k)) {
                    Self::Name(t)
                } else {
                    let custom = key.strip_prefix(CUSTOM_PREFIX).filter(|k| !k.trim().is_empty())?;
                    Self::Custom(custom.to_owned())
                }
            }
        })
    }

    fn takes_dates(&self) -> bool {
        matches!(self, Self::Date(_) | Self::LastModified | Self::Custom(_))
    }

    fn insert(&self, record: &mut Map<String, Value>, value: Value) {
        let mut nested = |outer: &str, inner: &str| {
            let obj = record.entry(outer).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = obj {
                map.insert(inner.to_owned(), value.clone());
            }
        };
        match self {
            Self::Name(k) => nested("name", k),
            Self::LastModified => nested("meta", "lastModified"),
            Self::Custom(k) => nested("customAttributes", k),
            Self::ExternalId => drop(record.insert("externalId".into(), value)),
            Self::Op => drop(record.insert("op".into(), value)),
            Self::Active => drop(record.insert("active".into(), value)),
            Self::Str(k) | Self::Date(k) | Self::Contact(k) => drop(record.insert((*k).into(), value)),
        }
    }

    /// Checks a canonical value written in the profile (a default or a
    /// valueMap result) as `parse_record` would check it.
    fn check_constant(&self, value: &str) -> Result<(), String> {
        let value = match self {
            Self::Active => Value::Bool(parse_bool(value).ok_or(BOOL_MESSAGE)?),
            Self::Contact(_) => json!([{"value": value, "type": "work", "primary": true}]),
            // Free-form: anything goes (dates may be re-formatted later).
            Self::Custom(_) | Self::ExternalId => return Ok(()),
            _ => Value::String(value.to_owned()),
        };
        let mut record = Map::new();
        record.insert("externalId".into(), Value::String("profile-check".into()));
        self.insert(&mut record, value);
        if matches!(self, Self::Op) {
            // A deactivation would refuse nothing here; only `op` is checked.
            record.retain(|k, _| k == "op" || k == "externalId");
        }
        match parse_record(&Value::Object(record)) {
            Ok(_) => Ok(()),
            Err(errors) => Err(errors.into_iter().map(|e| e.message).collect::<Vec<_>>().join("; ")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transform {
    Trim,
    Lowercase,
    Uppercase,
}

impl Transform {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "trim" => Some(Self::Trim),
            "lowercase" => Some(Self::Lowercase),
            "uppercase" => Some(Self::Uppercase),
            _ => None,
        }
    }

    fn apply(self, s: String) -> String {
        match self {
            Self::Trim => s.trim().to_owned(),
            Self::Lowercase => s.to_lowercase(),
            Self::Uppercase => s.to_uppercase(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::Change;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn profile(json: &str) -> MappingProfile {
        serde_json::from_str(json).unwrap()
    }

    fn paths(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn profile_round_trips_through_json() {
        let p = profile(
            r#"{"delimiter":";","fields":{
                "externalId":{"column":"ID","transforms":["trim"]},
                "displayName":{"concat":["A","B"],"separator":" "},
                "employmentStatus":{"column":"S","valueMap":{"A":"active"},"strictValueMap":true},
                "hireDate":{"column":"D","dateFormat":"DD.MM.YYYY"},
                "organization":{"default":"Acme"}}}"#,
        );
        assert!(p.validate().is_ok());
        let back: MappingProfile = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains("\"strictValueMap\":true") && text.contains("\"dateFormat\""), "{text}");
        assert_eq!(
            serde_json::to_string(&MappingProfile::identity()).unwrap(),
            r#"{"identity":true,"fields":{}}"#
        );
    }

    #[test]
    fn profile_validation_names_each_problem() {
        let p = profile(
            r#"{"delimiter":":","fields":{
                "shoeSize":{"column":"Shoe"},
                "hireDate":{"column":"D","dateFormat":"YY/MM/DD/QQ"},
                "title":{"column":"T","dateFormat":"YYYY-MM-DD"},
                "department":{},
                "userName":{"column":"U","concat":["V"]},
                "displayName":{"concat":[]},
                "emails":{"column":"E","transforms":["reverse"]},
                "active":{"default":"maybe"},
                "location":{"column":"L","strictValueMap":true},
                "terminationDate":{"default":"31/12/2024"},
                "customAttributes.":{"column":"X"}}}"#,
        );
        let errors = p.validate().unwrap_err();
        let got = paths(&errors);
        for want in [
            "delimiter",
            "fields.externalId",
            "fields.shoeSize",
            "fields.hireDate.dateFormat",
            "fields.title.dateFormat",
            "fields.department",
            "fields.userName",
            "fields.displayName.concat",
            "fields.emails.transforms[0]",
            "fields.active.default",
            "fields.location.strictValueMap",
            "fields.terminationDate.default",
            "fields.customAttributes.",
        ] {
            assert!(got.contains(&want), "missing {want} in {got:?}");
        }
        assert!(profile(r#"{"identity":true,"fields":{"title":{"column":"T"}}}"#).validate().is_err());
        assert!(
            serde_json::from_str::<MappingProfile>(r#"{"fields":{"externalId":{"colum":"x"}}}"#).is_err()
        );
    }

    #[test]
    fn binding_reports_missing_and_duplicate_columns_and_unused_ones() {
        let p = profile(r#"{"fields":{"externalId":{"column":"ID"},"title":{"column":"Job"}}}"#);
        assert_eq!(
            p.bind(&header(&["ID", "Name"])).unwrap_err(),
            BindError::MissingColumns(vec!["Job".into()])
        );
        assert_eq!(
            p.bind(&header(&["ID", "Job", "ID"])).unwrap_err(),
            BindError::DuplicateColumn("ID".into())
        );
        let mapper = p.bind(&header(&["ID", " Job ", "Shoe", ""])).unwrap();
        assert_eq!(mapper.warnings(), ["column `Shoe` is not mapped; it is ignored"]);
    }

    #[test]
    fn rows_map_with_transforms_dates_maps_concat_and_defaults() {
        let p = profile(
            r#"{"fields":{
                "externalId":{"column":"ID"},
                "displayName":{"concat":["First","Middle","Last"]},
                "emails":{"column":"Mail","transforms":["lowercase"]},
                "employeeNumber":{"column":"ID","transforms":["uppercase"]},
                "hireDate":{"column":"Start","dateFormat":"DD.MM.YYYY"},
                "terminationDate":{"column":"End","dateFormat":"YYYYMMDD"},
                "meta.lastModified":{"column":"Updated","dateFormat":"MM/DD/YYYY"},
                "active":{"column":"Active"},
                "organization":{"column":"Org","default":"Acme"},
                "customAttributes.badge":{"column":"Badge"}}}"#,
        );
        let h = header(&[
            "ID", "First", "Middle", "Last", "Mail", "Start", "End", "Updated", "Active", "Org", "Badge",
        ]);
        let m = p.bind(&h).unwrap();
        let v = m
            .map_row(&[
                "e1",
                "Ann",
                "",
                "Lee",
                " Ann@ACME.com ",
                "1.2.2024",
                "20241231",
                "3/5/2026 10:00",
                "Yes",
                "",
                "7",
            ])
            .unwrap();
        assert_eq!(v["displayName"], "Ann Lee");
        assert_eq!(v["emails"], json!([{"value": "ann@acme.com", "type": "work", "primary": true}]));
        assert_eq!(v["employeeNumber"], "E1");
        assert_eq!(v["hireDate"], "2024-02-01");
        assert_eq!(v["terminationDate"], "2024-12-31");
        assert_eq!(v["meta"]["lastModified"], "2026-03-05T00:00:00Z");
        assert_eq!(v["active"], true);
        assert_eq!(v["organization"], "Acme");
        assert_eq!(v["customAttributes"]["badge"], "7");
        assert!(m.parse_row(&["e1", "", "", "", "", "", "", "", "0", "", ""]).is_ok());
    }

    #[test]
    fn value_map_and_strict_value_map() {
        let p = profile(
            r#"{"fields":{"externalId":{"column":"ID"},
                "employmentStatus":{"column":"Status","valueMap":{"A":"active","T":"terminated"}},
                "location":{"column":"Site","valueMap":{"B":"Berlin"},"strictValueMap":true}}}"#,
        );
        let m = p.bind(&header(&["ID", "Status", "Site"])).unwrap();
        let Change::Upsert { person } = m.parse_row(&["E1", "T", "B"]).unwrap().change else { panic!() };
        assert!(!person.active);
        assert_eq!(person.employment_status.as_deref(), Some("terminated"));
        let Change::Upsert { person } = m.parse_row(&["E1", "on leave", ""]).unwrap().change else {
            panic!()
        };
        assert!(person.active);
        assert_eq!(person.employment_status.as_deref(), Some("on leave"));
        let errors = m.parse_row(&["E1", "A", "Zurich-Secret"]).unwrap_err();
        assert_eq!(paths(&errors), ["location"]);
        assert!(errors[0].message.contains("column `Site`"), "{errors:?}");
        assert!(!errors[0].message.contains("Zurich"), "{errors:?}");
    }

    #[test]
    fn errors_name_the_path_and_column_never_the_value() {
        let p = profile(
            r#"{"fields":{"externalId":{"column":"ID"},
                "hireDate":{"column":"Start Date","dateFormat":"MM/DD/YYYY"},
                "emails":{"column":"Mail"},"active":{"column":"On"},
                "name.givenName":{"column":"First"}}}"#,
        );
        let m = p.bind(&header(&["ID", "Start Date", "Mail", "On", "First"])).unwrap();
        let errors = m.parse_row(&["E1", "13/45/SECRET", "SECRET-mail", "SECRET", "Ann\u{7}"]).unwrap_err();
        assert_eq!(paths(&errors), ["active", "hireDate", "emails[0].value", "name.givenName"]);
        assert_eq!(errors[1].message, "column `Start Date`: must be a date in MM/DD/YYYY");
        assert!(errors[2].message.starts_with("column `Mail`: must be an e-mail"), "{errors:?}");
        assert!(errors[3].message.starts_with("column `First`: "), "{errors:?}");
        assert!(errors.iter().all(|e| !e.message.contains("SECRET")), "{errors:?}");
        let missing = m.parse_row(&["", "", "", "", ""]).unwrap_err();
        assert_eq!(missing, [FieldError::new("externalId", "column `ID`: is required")]);
    }

    #[test]
    fn deactivation_rows_keep_only_the_key() {
        let p = profile(
            r#"{"fields":{"externalId":{"column":"ID"},"title":{"column":"Title"},
                "hireDate":{"column":"Start","dateFormat":"YYYYMMDD"},
                "op":{"column":"Action","valueMap":{"D":"deactivate","U":"upsert"}}}}"#,
        );
        let m = p.bind(&header(&["ID", "Title", "Start", "Action"])).unwrap();
        let rec = m.parse_row(&["E1", "Boss", "garbage", "D"]).unwrap();
        assert!(matches!(rec.change, Change::Deactivate { .. }));
        assert!(matches!(m.parse_row(&["E1", "Boss", "", "U"]).unwrap().change, Change::Upsert { .. }));
        assert_eq!(paths(&m.parse_row(&["E1", "", "", "X"]).unwrap_err()), ["op"]);
    }

    #[test]
    fn identity_profile_maps_canonical_headers() {
        let h = header(&[
            "externalId",
            "name.givenName",
            "emails",
            "hireDate",
            "customAttributes.x",
            "Shoe",
            "op",
        ]);
        let m = MappingProfile::identity().bind(&h).unwrap();
        assert_eq!(m.warnings(), ["column `Shoe` is not a canonical attribute; it is ignored"]);
        let v = m.map_row(&["E1", "Ann", "a@b.co", "2024-01-02", "y", "44", ""]).unwrap();
        assert_eq!(
            v,
            json!({"externalId": "E1", "name": {"givenName": "Ann"}, "hireDate": "2024-01-02",
                   "emails": [{"value": "a@b.co", "type": "work", "primary": true}],
                   "customAttributes": {"x": "y"}})
        );
        assert!(m.parse_row(&["E1", "Ann", "a@b.co", "2024-01-02", "y", "44", ""]).is_ok());
        assert_eq!(
            MappingProfile::identity().bind(&header(&["id", "title"])).unwrap_err(),
            BindError::MissingColumns(vec!["externalId".into()])
        );
    }

    #[test]
    fn coalesce_takes_the_first_non_empty_column_and_dates_carry_their_time() {
        let p = profile(
            r#"{"encoding":"Windows-1252","fields":{
                "externalId":{"column":"ID"},
                "emails":{"coalesce":["Work Email","Personal Email"],"transforms":["lowercase"]},
                "hireDate":{"column":"Hired","dateFormat":"DD-MMM-YY","twoDigitYearPivot":30},
                "meta.lastModified":{"column":"Changed","dateFormat":"M/D/YYYY hh:mm A"}}}"#,
        );
        assert_eq!(p.encoding_name(), Some("windows-1252"));
        let m = p.bind(&header(&["ID", "Work Email", "Personal Email", "Hired", "Changed"])).unwrap();
        let v = m.map_row(&["E1", "", "Ann@Home.example", "01-Mar-29", "3/15/2024 1:30 PM"]).unwrap();
        assert_eq!(v["emails"][0]["value"], "ann@home.example");
        assert_eq!(v["hireDate"], "2029-03-01");
        assert_eq!(v["meta"]["lastModified"], "2024-03-15T13:30:00Z");
        let v = m.map_row(&["E1", "ann@acme.example", "ann@home.example", "01-Mar-45", ""]).unwrap();
        assert_eq!(v["emails"][0]["value"], "ann@acme.example", "the first non-empty one");
        assert_eq!(v["hireDate"], "1945-03-01", "45 is past the pivot of 30");
        let err = m.map_row(&["E1", "", "", "1945-03-01", ""]).unwrap_err();
        assert_eq!(err[0].message, "column `Hired`: must be a date in DD-MMM-YY");

        let bad = profile(
            r#"{"encoding":"ebcdic","fields":{"externalId":{"column":"ID"},
                "emails":{"column":"A","coalesce":["B"]},
                "title":{"coalesce":[]},
                "hireDate":{"column":"H","twoDigitYearPivot":30}}}"#,
        );
        let errors = bad.validate().unwrap_err();
        assert_eq!(
            paths(&errors),
            ["encoding", "fields.emails", "fields.hireDate.twoDigitYearPivot", "fields.title.coalesce"]
        );
    }
}
