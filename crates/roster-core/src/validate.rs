//! Parse, don't validate: turn one untrusted JSON record into a [`Change`], or
//! into every field-level error it has.
//!
//! Error messages name the field path and the rule, never the value: values
//! are personal data and errors end up in logs and problem details.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::change::Change;
use crate::clock::Timestamp;
use crate::ids::ExternalId;
use crate::person::{Contact, Person};

/// The attribute URN of the SCIM Enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Longest accepted value of a plain string attribute, in characters.
pub const MAX_STRING_LEN: usize = 256;
/// Most entries in `emails` or `phoneNumbers`.
pub const MAX_CONTACTS: usize = 16;
/// Largest `customAttributes` object, serialized, in bytes.
pub const MAX_CUSTOM_BYTES: usize = 16 * 1024;

/// One problem with one field of one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Where, e.g. `emails[0].value` or `name.givenName`.
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// All the problems of one rejected record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordError {
    /// The record's position in the feed (0-based).
    pub index: usize,
    /// For CSV: the row as a spreadsheet numbers it (the header is row 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// For SCIM: the operation's `bulkId`, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    pub errors: Vec<FieldError>,
}

impl RecordError {
    pub fn new(index: usize, errors: Vec<FieldError>) -> Self {
        Self { index, row: None, bulk_id: None, errors }
    }
}

/// A valid record: the change it asks for and the source's modification time.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRecord {
    pub change: Change,
    pub last_modified: Option<Timestamp>,
    /// Whether the record said `active` itself; if not, `active` follows
    /// its `employmentStatus` (see [`ValidRecord::apply_inactive_statuses`]).
    pub active_explicit: bool,
}

impl ValidRecord {
    /// Decides `active` from `employmentStatus` by a source's own list of
    /// inactive statuses (instead of [`INACTIVE_STATUSES`]), unless the
    /// record said `active` itself.
    pub fn apply_inactive_statuses(&mut self, inactive: &[String]) {
        if let (false, Change::Upsert { person }) = (self.active_explicit, &mut self.change) {
            let status = person.employment_status.as_deref().map(str::trim);
            person.active = !status.is_some_and(|s| inactive.iter().any(|i| i.eq_ignore_ascii_case(s)));
        }
    }
}

/// Parses one record of a feed.
/// A record's `externalId` as validation reads it — a string, or a whole
/// number (a common export artefact for employee numbers) — whatever else
/// is wrong with the record. `None` if it has none that parses.
pub fn raw_external_id(value: Option<&Value>) -> Option<ExternalId> {
    match value? {
        Value::String(s) => ExternalId::parse(s.trim()).ok(),
        Value::Number(n) if n.is_u64() => ExternalId::parse(&n.to_string()).ok(),
        _ => None,
    }
}

pub fn parse_record(value: &Value) -> Result<ValidRecord, Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError::new("", "a record must be a JSON object")]);
    };
    let mut p = Parser { errors: Vec::new() };
    let op = match obj.get("op") {
        None => "upsert",
        Some(Value::String(s)) if s == "upsert" || s == "deactivate" => s.as_str(),
        Some(_) => {
            p.err("op", "must be \"upsert\" or \"deactivate\"");
            "upsert"
        }
    };
    let external_id = p.external_id(obj.get("externalId"), "externalId", true);
    let last_modified = p.last_modified(obj.get("meta"));

    let change = if op == "deactivate" {
        for key in obj.keys() {
            if !matches!(key.as_str(), "op" | "externalId" | "meta" | "schemas") {
                p.err(key, "not allowed on a deactivation (only externalId and meta are)");
            }
        }
        external_id.map(|external_id| Change::Deactivate { external_id })
    } else {
        let person = p.person(obj, external_id);
        person.map(|person| Change::Upsert { person })
    };
    match change {
        Some(change) if p.errors.is_empty() => {
            let active_explicit = obj.get("active").is_some_and(|v| !v.is_null());
            Ok(ValidRecord { change, last_modified, active_explicit })
        }
        _ => Err(p.errors),
    }
}

struct Parser {
    errors: Vec<FieldError>,
}

impl Parser {
    fn err(&mut self, path: &str, message: &str) {
        self.errors.push(FieldError::new(path, message));
    }

    fn person(&mut self, obj: &Map<String, Value>, id: Option<ExternalId>) -> Option<Person> {
        let mut person = Person::new(id.clone().unwrap_or_else(placeholder_id));
        let mut explicit_active = None;
        for (key, value) in obj {
            let path = key.as_str();
            match path {
                "op" | "externalId" | "meta" | "schemas" | "id" => {}
                "userName" => person.user_name = self.string(value, path),
                "displayName" => person.display_name = self.string(value, path),
                "title" => person.title = self.string(value, path),
                "employeeNumber" => person.employee_number = self.string(value, path),
                "costCenter" => person.cost_center = self.string(value, path),
                "organization" => person.organization = self.string(value, path),
                "division" => person.division = self.string(value, path),
                "department" => person.department = self.string(value, path),
                "employmentStatus" => person.employment_status = self.string(value, path),
                "location" => person.location = self.string(value, path),
                "hireDate" => person.hire_date = self.date(value, path),
                "terminationDate" => person.termination_date = self.date(value, path),
                "manager" => person.manager = self.manager(value, path),
                "active" => match value {
                    Value::Bool(b) => explicit_active = Some(*b),
                    Value::Null => {}
                    _ => self.err(path, "must be true or false"),
                },
                "name" => self.name(value, &mut person),
                "emails" => person.emails = self.contacts(value, path, Kind::Email),
                "phoneNumbers" => person.phone_numbers = self.contacts(value, path, Kind::Phone),
                "customAttributes" => match value {
                    Value::Object(map) => {
                        if serde_json::to_vec(map).map_or(0, |v| v.len()) > MAX_CUSTOM_BYTES {
                            self.err(path, &format!("must be at most {MAX_CUSTOM_BYTES} bytes"));
                        } else {
                            person.custom_attributes = map.clone().into_iter().collect();
                        }
                    }
                    Value::Null => {}
                    _ => self.err(path, "must be an object"),
                },
                ENTERPRISE_USER => self.enterprise(value, &mut person),
                _ => self.err(path, "unknown attribute (put source-specific data under customAttributes)"),
            }
        }
        person.active = explicit_active
            .unwrap_or_else(|| !person.employment_status.as_deref().is_some_and(is_inactive_status));
        if id.is_some() && id == person.manager {
            self.err("manager", "a person cannot be their own manager");
        }
        id.map(|_| person)
    }

    fn enterprise(&mut self, value: &Value, person: &mut Person) {
        let Value::Object(map) = value else {
            self.err(ENTERPRISE_USER, "must be an object");
            return;
        };
        for (key, value) in map {
            let path = format!("{ENTERPRISE_USER}.{key}");
            match key.as_str() {
                "employeeNumber" => person.employee_number = self.string(value, &path),
                "costCenter" => person.cost_center = self.string(value, &path),
                "organization" => person.organization = self.string(value, &path),
                "division" => person.division = self.string(value, &path),
                "department" => person.department = self.string(value, &path),
                "manager" => person.manager = self.manager(value, &path),
                _ => self.err(&path, "unknown attribute of the Enterprise User extension"),
            }
        }
    }

    fn name(&mut self, value: &Value, person: &mut Person) {
        let Value::Object(map) = value else {
            if !value.is_null() {
                self.err("name", "must be an object with givenName, familyName, ...");
            }
            return;
        };
        for (key, value) in map {
            let path = format!("name.{key}");
            match key.as_str() {
                "givenName" => person.name.given_name = self.string(value, &path),
                "familyName" => person.name.family_name = self.string(value, &path),
                "middleName" => person.name.middle_name = self.string(value, &path),
                "formatted" => person.name.formatted = self.string(value, &path),
                _ => self.err(&path, "unknown attribute of name"),
            }
        }
    }

    fn external_id(&mut self, value: Option<&Value>, path: &str, required: bool) -> Option<ExternalId> {
        match value {
            None | Some(Value::Null) => {
                if required {
                    self.err(path, "is required");
                }
                None
            }
            Some(Value::String(s)) => match ExternalId::parse(s) {
                Ok(id) => Some(id),
                Err(e) => {
                    self.err(path, &e.to_string());
                    None
                }
            },
            // Numbers are a common export artefact for employee numbers.
            Some(Value::Number(n)) if n.is_u64() => ExternalId::parse(&n.to_string()).ok(),
            Some(_) => {
                self.err(path, "must be a string");
                None
            }
        }
    }

    fn manager(&mut self, value: &Value, path: &str) -> Option<ExternalId> {
        match value {
            // SCIM sends {"value": "<manager's id>", "displayName": ...}.
            Value::Object(map) => {
                for key in map.keys() {
                    if !matches!(key.as_str(), "value" | "displayName" | "$ref") {
                        self.err(&format!("{path}.{key}"), "unknown attribute of manager");
                    }
                }
                self.external_id(map.get("value"), &format!("{path}.value"), false)
            }
            other => self.external_id(Some(other), path, false),
        }
    }

    fn string(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::Null => None,
            Value::String(s) => {
                if s.chars().count() > MAX_STRING_LEN {
                    self.err(path, &format!("must be at most {MAX_STRING_LEN} characters"));
                    None
                } else if s.chars().any(char::is_control) {
                    self.err(path, "must not contain control characters");
                    None
                } else {
                    let t = s.trim();
                    (!t.is_empty()).then(|| t.to_owned())
                }
            }
            _ => {
                self.err(path, "must be a string");
                None
            }
        }
    }

    fn date(&mut self, value: &Value, path: &str) -> Option<time::Date> {
        let s = match value {
            Value::Null => return None,
            Value::String(s) => s,
            _ => {
                self.err(path, "must be a date string (YYYY-MM-DD)");
                return None;
            }
        };
        // A SCIM dateTime is accepted too; its calendar date (UTC) is kept.
        let parsed = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
            .ok()
            .or_else(|| Timestamp::parse_rfc3339(s).map(Timestamp::date));
        if parsed.is_none() {
            self.err(path, "must be a date (YYYY-MM-DD) or an RFC 3339 date-time");
        }
        parsed
    }

    fn contacts(&mut self, value: &Value, path: &str, kind: Kind) -> Vec<Contact> {
        let items = match value {
            Value::Null => return Vec::new(),
            Value::Array(items) => items,
            _ => {
                self.err(path, "must be an array");
                return Vec::new();
            }
        };
        if items.len() > MAX_CONTACTS {
            self.err(path, &format!("must have at most {MAX_CONTACTS} entries"));
            return Vec::new();
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let (raw, kind_label, primary) = match item {
                Value::String(s) => (Some(s.as_str()), None, false),
                Value::Object(map) => {
                    for key in map.keys() {
                        if !matches!(key.as_str(), "value" | "type" | "primary" | "display") {
                            self.err(&format!("{at}.{key}"), "unknown attribute");
                        }
                    }
                    let label = map.get("type").and_then(|t| self.string(t, &format!("{at}.type")));
                    let primary = match map.get("primary") {
                        None | Some(Value::Null) => false,
                        Some(Value::Bool(b)) => *b,
                        Some(_) => {
                            self.err(&format!("{at}.primary"), "must be true or false");
                            false
                        }
                    };
                    match map.get("value") {
                        Some(Value::String(s)) => (Some(s.as_str()), label, primary),
                        None | Some(Value::Null) => {
                            self.err(&format!("{at}.value"), "is required");
                            (None, label, primary)
                        }
                        Some(_) => {
                            self.err(&format!("{at}.value"), "must be a string");
                            (None, label, primary)
                        }
                    }
                }
                _ => {
                    self.err(&at, "must be an object with a value, or a string");
                    (None, None, false)
                }
            };
            let Some(raw) = raw else { continue };
            let value_path = if item.is_object() { format!("{at}.value") } else { at };
            let checked = match kind {
                Kind::Email => normalize_email(raw),
                Kind::Phone => normalize_phone(raw),
            };
            match checked {
                Ok(value) => out.push(Contact { value, kind: kind_label, primary }),
                Err(message) => self.err(&value_path, message),
            }
        }
        out
    }

    fn last_modified(&mut self, meta: Option<&Value>) -> Option<Timestamp> {
        let Value::Object(map) = meta? else {
            self.err("meta", "must be an object");
            return None;
        };
        match map.get("lastModified") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                let t = Timestamp::parse_rfc3339(s);
                if t.is_none() {
                    self.err("meta.lastModified", "must be an RFC 3339 date-time");
                }
                t
            }
            Some(_) => {
                self.err("meta.lastModified", "must be an RFC 3339 date-time string");
                None
            }
        }
    }
}

enum Kind {
    Email,
    Phone,
}

fn placeholder_id() -> ExternalId {
    ExternalId::parse("-").expect("a constant valid id")
}

/// Checks the shape of an e-mail address (RFC 5321 lengths, one `@`, a
/// dotted domain) and lower-cases the domain, which is case-insensitive.
pub fn normalize_email(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    if s.len() > 254 {
        return Err("must be an e-mail address of at most 254 characters");
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err("must be an e-mail address (no @ found)");
    };
    let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '@' | '<' | '>' | ',' | ';' | '"');
    if local.is_empty() || local.len() > 64 || local.chars().any(bad) {
        return Err("must be an e-mail address (invalid local part)");
    }
    let labels_ok =
        domain.split('.').all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'));
    if !domain.contains('.') || !labels_ok || domain.chars().any(|c| bad(c) || c == '_') {
        return Err("must be an e-mail address (invalid domain)");
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// Accepts the usual ways of writing a phone number; keeps it as written.
pub fn normalize_phone(raw: &str) -> Result<String, &'static str> {
    let s = raw.trim();
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let allowed = s.chars().all(|c| c.is_ascii_digit() || " +-().x/".contains(c));
    if !allowed || !(3..=20).contains(&digits) || s.len() > 40 {
        return Err("must be a phone number (digits, spaces and + - ( ) . x only)");
    }
    Ok(s.to_owned())
}

/// `employmentStatus` values (any case) that make a person inactive when
/// the record does not say `active` itself.
pub const INACTIVE_STATUSES: &[&str] =
    &["terminated", "inactive", "leaver", "retired", "deceased", "separated", "withdrawn"];

/// Whether `status` is one of [`INACTIVE_STATUSES`].
pub fn is_inactive_status(status: &str) -> bool {
    INACTIVE_STATUSES.iter().any(|s| s.eq_ignore_ascii_case(status.trim()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn paths(v: Value) -> Vec<String> {
        parse_record(&v).unwrap_err().into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn parses_a_full_scim_shaped_record() {
        let rec = parse_record(&json!({
            "externalId": "E1",
            "userName": "alice@example.com",
            "name": {"givenName": "Alice", "familyName": "Liddell"},
            "emails": [{"value": "alice@Example.COM", "type": "work", "primary": true}],
            "phoneNumbers": ["+1 (555) 010-2030"],
            "title": "Analyst",
            "department": "Finance",
            "manager": {"value": "E0"},
            "employmentStatus": "active",
            "hireDate": "2024-02-29",
            "customAttributes": {"badge": 17},
            "meta": {"lastModified": "2026-11-01T10:00:00Z"}
        }))
        .unwrap();
        let Change::Upsert { person } = rec.change else { panic!("expected an upsert") };
        assert_eq!(person.emails[0].value, "alice@example.com");
        assert!(person.emails[0].primary);
        assert_eq!(person.manager.unwrap().as_str(), "E0");
        assert!(person.active);
        assert_eq!(person.hire_date.unwrap().to_string(), "2024-02-29");
        assert!(rec.last_modified.is_some());
    }

    #[test]
    fn collects_every_error_with_its_path() {
        let got = paths(json!({
            "name": {"givenName": 5, "nickName": "x"},
            "emails": [{"value": "not-an-email"}, "b@c"],
            "hireDate": "31/12/2024",
            "title": "a\u{0007}b",
            "shoeSize": 44
        }));
        for want in [
            "externalId",
            "name.givenName",
            "name.nickName",
            "emails[0].value",
            "emails[1]",
            "hireDate",
            "title",
            "shoeSize",
        ] {
            assert!(got.contains(&want.to_owned()), "missing {want} in {got:?}");
        }
    }

    #[test]
    fn errors_never_echo_values() {
        let errs =
            parse_record(&json!({"externalId": "E1", "emails": ["secret.person@nowhere"]})).unwrap_err();
        assert!(errs.iter().all(|e| !e.message.contains("secret.person")));
    }

    #[test]
    fn own_manager_is_refused() {
        assert_eq!(paths(json!({"externalId": "E1", "manager": "E1"})), vec!["manager"]);
    }

    #[test]
    fn deactivation_needs_only_the_key() {
        let rec = parse_record(&json!({"op": "deactivate", "externalId": "E9"})).unwrap();
        assert!(matches!(rec.change, Change::Deactivate { .. }));
        assert_eq!(paths(json!({"op": "deactivate", "externalId": "E9", "title": "x"})), vec!["title"]);
        assert_eq!(paths(json!({"op": "remove", "externalId": "E9"})), vec!["op"]);
    }

    #[test]
    fn terminated_status_or_active_false_means_inactive() {
        for rec in [
            json!({"externalId": "E1", "employmentStatus": "Terminated"}),
            json!({"externalId": "E1", "employmentStatus": "retired"}),
            json!({"externalId": "E1", "employmentStatus": " DECEASED "}),
            json!({"externalId": "E1", "active": false}),
        ] {
            let Change::Upsert { person } = parse_record(&rec).unwrap().change else { panic!() };
            assert!(!person.active, "{rec}");
        }
        for rec in [
            json!({"externalId": "E1", "employmentStatus": "on leave"}),
            json!({"externalId": "E1", "employmentStatus": "retired", "active": true}),
        ] {
            let Change::Upsert { person } = parse_record(&rec).unwrap().change else { panic!() };
            assert!(person.active, "{rec}: not an inactive status, or active said explicitly");
        }
    }

    #[test]
    fn enterprise_extension_maps_to_canonical_attributes() {
        let rec = parse_record(&json!({
            "externalId": "E2",
            ENTERPRISE_USER: {"department": "R&D", "manager": {"value": "E1"}, "costCenter": "CC-9"}
        }))
        .unwrap();
        let Change::Upsert { person } = rec.change else { panic!() };
        assert_eq!(person.department.as_deref(), Some("R&D"));
        assert_eq!(person.cost_center.as_deref(), Some("CC-9"));
        assert_eq!(person.manager.unwrap().as_str(), "E1");
    }

    /// The errors of a record, as (path, message).
    fn errors(v: Value) -> Vec<(String, String)> {
        parse_record(&v).unwrap_err().into_iter().map(|e| (e.path, e.message)).collect()
    }

    #[test]
    fn a_string_longer_than_the_limit_is_refused_by_its_path() {
        let at_limit = "x".repeat(MAX_STRING_LEN);
        let over = "x".repeat(MAX_STRING_LEN + 1);
        // The limit counts characters, not bytes.
        let wide = "é".repeat(MAX_STRING_LEN);
        let rec = parse_record(&json!({"externalId": "E1", "title": at_limit, "department": wide})).unwrap();
        let Change::Upsert { person } = rec.change else { panic!() };
        assert_eq!(person.title.unwrap().chars().count(), MAX_STRING_LEN);
        assert_eq!(person.department.unwrap().chars().count(), MAX_STRING_LEN);

        let limit = format!("must be at most {MAX_STRING_LEN} characters");
        assert_eq!(errors(json!({"externalId": "E1", "title": over})), [("title".into(), limit.clone())]);
        assert_eq!(
            errors(json!({"externalId": "E1", "name": {"familyName": over}})),
            [("name.familyName".into(), limit.clone())]
        );
        assert_eq!(
            errors(json!({"externalId": "E1", ENTERPRISE_USER: {"costCenter": over}})),
            [(format!("{ENTERPRISE_USER}.costCenter"), limit.clone())]
        );
        // An external id (own or manager's) has its own limit, in bytes.
        let long_id = "9".repeat(crate::ExternalId::MAX_LEN + 1);
        assert_eq!(paths(json!({"externalId": long_id})), ["externalId"]);
        assert_eq!(paths(json!({"externalId": "E1", "manager": {"value": long_id}})), ["manager.value"]);
        // The error does not repeat the value.
        assert!(errors(json!({"externalId": "E1", "title": over})).iter().all(|(_, m)| !m.contains("xxx")));
    }

    #[test]
    fn more_contacts_than_the_limit_are_refused_by_their_path() {
        let emails =
            |n: usize| -> Vec<Value> { (0..n).map(|i| json!(format!("p{i}@example.com"))).collect() };
        let phones =
            |n: usize| -> Vec<Value> { (0..n).map(|i| json!(format!("+1 555 010 {i:04}"))).collect() };
        let rec = parse_record(
            &json!({"externalId": "E1", "emails": emails(MAX_CONTACTS), "phoneNumbers": phones(MAX_CONTACTS)}),
        )
        .unwrap();
        let Change::Upsert { person } = rec.change else { panic!() };
        assert_eq!((person.emails.len(), person.phone_numbers.len()), (MAX_CONTACTS, MAX_CONTACTS));

        let limit = format!("must have at most {MAX_CONTACTS} entries");
        assert_eq!(
            errors(json!({"externalId": "E1", "emails": emails(MAX_CONTACTS + 1)})),
            [("emails".into(), limit.clone())]
        );
        assert_eq!(
            errors(json!({"externalId": "E1", "phoneNumbers": phones(MAX_CONTACTS + 1)})),
            [("phoneNumbers".into(), limit)]
        );
    }

    #[test]
    fn custom_attributes_larger_than_the_limit_are_refused_by_their_path() {
        // {"blob":"<n x>"} serializes to n + 11 bytes.
        let fits = json!({"blob": "x".repeat(MAX_CUSTOM_BYTES - 11)});
        assert_eq!(serde_json::to_vec(&fits).unwrap().len(), MAX_CUSTOM_BYTES);
        let rec = parse_record(&json!({"externalId": "E1", "customAttributes": fits})).unwrap();
        let Change::Upsert { person } = rec.change else { panic!() };
        assert_eq!(person.custom_attributes.len(), 1);

        let over = json!({"blob": "x".repeat(MAX_CUSTOM_BYTES - 10)});
        assert_eq!(
            errors(json!({"externalId": "E1", "customAttributes": over})),
            [("customAttributes".into(), format!("must be at most {MAX_CUSTOM_BYTES} bytes"))]
        );
        // Many small attributes count together.
        let many: serde_json::Map<String, Value> =
            (0..2000).map(|i| (format!("attribute{i:04}"), json!("value"))).collect();
        assert_eq!(paths(json!({"externalId": "E1", "customAttributes": many})), ["customAttributes"]);
    }
}
