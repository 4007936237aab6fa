//! The SCIM 2.0 bulk request (RFC 7644 §3.7) of User operations, as Microsoft
//! Entra ID's API-driven inbound provisioning sends it to `/bulkUpload`
//! (`Content-Type: application/scim+json`).
//!
//! Every operation becomes one record of a delta feed, validated by
//! `roster_core::validate::parse_record`; its position in `Operations` is its
//! index. A bad operation is rejected with its errors and the others go on.
//!
//! # Operations
//!
//! - `POST /Users` → upsert keyed by `data.externalId`. A person that exists is
//!   updated rather than refused with `409`: Entra's `/bulkUpload` sends only
//!   POST and means "create or update".
//! - `PUT /Users/{externalId}` → upsert of the whole User. Roster's only id of
//!   a person is its external id, so the path names it; a missing
//!   `data.externalId` is taken from the path, a different one is refused.
//! - `DELETE /Users/{externalId}` → deactivation (Roster never forgets a
//!   person; the leaver keeps their history).
//! - `PATCH /Users/{externalId}` → only a deactivation: exactly one
//!   `replace` of `active` with `false` (also `"False"`, and the path-less
//!   form `{"op": "replace", "value": {"active": false}}`). Anything else is
//!   refused: send the whole User with PUT or POST.
//! - `method` and the `Users` segment are case-insensitive; the id in the path
//!   is percent-decoded. Other resources (`/Groups`), `bulkId:` references in
//!   paths and missing methods or paths reject that operation. An operation's
//!   `version` (an ETag precondition) is ignored: ordering is by
//!   `meta.lastModified`.
//!
//! # Attributes a SCIM User has and Roster's record does not
//!
//! - `schemas`, `id` and `meta` (except `meta.lastModified`): ignored.
//! - `password`: dropped silently. It is never stored, logged or echoed.
//! - `groups`: read-only in SCIM (RFC 7643 §4.1.2), ignored with a warning.
//! - `nickName`, `userType`, `preferredLanguage`, `locale`, `timezone`,
//!   `profileUrl`, `addresses`, `name.honorificPrefix` and
//!   `name.honorificSuffix` (all in Entra's own sample request), and any
//!   custom schema extension (an `urn:` attribute other than the Enterprise
//!   User one): kept under `customAttributes` by their SCIM name or URN, within
//!   its size limit. The same key also sent in `customAttributes` is an error.
//! - `photos`, `ims`, `x509Certificates`, `entitlements`, `roles`: refused
//!   (an error for that operation): Roster keeps none of them and access
//!   rights are not an HR feed's to grant.
//! - Anything else: `parse_record`'s unknown-attribute error.
//!
//! Errors name paths relative to the operation (`method`, `path`,
//! `data.emails[0].value`), never values.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use roster_core::validate::{ENTERPRISE_USER, ValidRecord, parse_record};
use roster_core::{Change, ExternalId, FeedMode, FieldError, RecordError};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};

use crate::{FeedBuilder, FormatError, ParsedFeed};

/// The `schemas` URN of a request.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// The `schemas` URN of the response.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// The `schemas` URN of an operation's error.
pub const SCIM_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// Most operations accepted in one request (Entra sends at most 50).
pub const MAX_OPERATIONS: usize = 10_000;
/// Longest `bulkId` accepted, in characters: it is echoed in the response.
pub const MAX_BULK_ID_LEN: usize = 256;
/// The error of an operation left alone once `failOnErrors` was reached.
pub const NOT_PROCESSED: &str = "not processed: failOnErrors reached";
/// The error of a PATCH other than a deactivation.
pub const PATCH_UNSUPPORTED: &str = "PATCH is not supported (except a replace of active with false); \
                                     send the whole User with PUT or POST";

/// A bulk request, parsed.
#[derive(Debug)]
pub struct ParsedBulk {
    /// One record per operation (mode delta), indexed by operation position.
    pub feed: ParsedFeed,
    /// One entry per operation, in order: what the response echoes.
    pub operations: Vec<BulkOperation>,
}

/// What the response needs of one operation. The path is not kept: it holds
/// an external id, and the response has no `location` (see [`bulk_response`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOperation {
    /// The position in `Operations` (0-based).
    pub index: usize,
    /// The method upper-cased; `None` if missing or not a short word.
    pub method: Option<String>,
    /// The client's `bulkId`, if it sent a valid one.
    pub bulk_id: Option<String>,
}

/// Parses a bulk request. Envelope problems (not JSON, no BulkRequest schema,
/// no `Operations` array, too many operations, a bad `failOnErrors`) reject
/// the whole request; a bad operation only itself.
pub fn parse_bulk_request(body: &[u8]) -> Result<ParsedBulk, FormatError> {
    let too_many = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let root = RootSeed { too_many: &too_many }.deserialize(&mut de).and_then(|root| de.end().map(|()| root));
    let root = match root {
        Ok(root) => root,
        Err(_) if too_many.get() => return Err(too_many_operations()),
        Err(e) => return Err(malformed(e)),
    };
    let Value::Object(root) = root else {
        return Err(envelope("", "must be a JSON object (a SCIM BulkRequest)"));
    };
    match get(&root, "schemas") {
        Some(Value::Array(urns))
            if urns.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(BULK_REQUEST))) => {}
        _ => return Err(envelope("schemas", &format!("must be an array containing \"{BULK_REQUEST}\""))),
    }
    let fail_on_errors = match get(&root, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => {
            n.as_u64().map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        }
        Some(_) => return Err(envelope("failOnErrors", "must be a positive integer or null")),
    };
    let ops = match get(&root, "Operations") {
        Some(Value::Array(ops)) => ops,
        None | Some(Value::Null) => {
            return Err(envelope("Operations", "is required (an array of operations)"));
        }
        Some(_) => return Err(envelope("Operations", "must be an array of operations")),
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(too_many_operations());
    }

    let mut builder = FeedBuilder::default();
    let mut operations = Vec::with_capacity(ops.len());
    // Where each operation's external id came from, to name it in a duplicate.
    let mut key_paths = Vec::with_capacity(ops.len());
    let mut ignored = BTreeMap::new();
    for (index, op) in ops.iter().enumerate() {
        let obj = op.as_object();
        operations.push(BulkOperation {
            index,
            method: obj.and_then(echo_method),
            bulk_id: obj.and_then(|o| bulk_id(o).ok().flatten()),
        });
        let (record, key_path) = if fail_on_errors.is_some_and(|n| builder.rejected_count() >= n) {
            (Err(vec![FieldError::new("", NOT_PROCESSED)]), KEY_IN_DATA)
        } else {
            operation(op, &mut ignored)
        };
        key_paths.push(key_path);
        builder.push(index, record);
    }

    let mut feed = builder.finish(FeedMode::Delta);
    for rejected in &mut feed.rejected {
        rejected.bulk_id = operations[rejected.index].bulk_id.clone();
        // Our own errors are all relative to the operation; an unprefixed
        // `externalId` is the builder's duplicate.
        for error in &mut rejected.errors {
            if error.path == "externalId" {
                error.path = key_paths[rejected.index].to_owned();
            }
        }
    }
    feed.warnings = ignored
        .into_iter()
        .map(|(attr, n)| format!("`data.{attr}` is read-only in SCIM and was ignored (in {n} operation(s))"))
        .collect();
    Ok(ParsedBulk { feed, operations })
}

/// Builds the RFC 7644 `BulkResponse` for a parsed request: `202` for an
/// accepted operation (its change is queued and applied asynchronously, so
/// there is no `location`; the HTTP layer may point at the feed), `400` with a
/// SCIM error naming paths and rules, never values, for a rejected one.
/// `feedId` is a Roster addition to follow the feed's progress.
pub fn bulk_response(operations: &[BulkOperation], feed_id: &str, rejected: &[RecordError]) -> Value {
    let rejections: HashMap<usize, &RecordError> = rejected.iter().map(|r| (r.index, r)).collect();
    let results: Vec<Value> = operations
        .iter()
        .map(|op| {
            let mut out = Map::new();
            if let Some(method) = &op.method {
                out.insert("method".into(), method.as_str().into());
            }
            if let Some(bulk_id) = &op.bulk_id {
                out.insert("bulkId".into(), bulk_id.as_str().into());
            }
            match rejections.get(&op.index) {
                None => {
                    out.insert("status".into(), "202".into());
                }
                Some(rejection) => {
                    let mut error = Map::new();
                    error.insert("schemas".into(), json!([SCIM_ERROR]));
                    let not_processed = rejection.errors.iter().any(|e| e.message == NOT_PROCESSED);
                    if !not_processed {
                        error.insert("scimType".into(), "invalidValue".into());
                    }
                    error.insert("status".into(), "400".into());
                    error.insert("detail".into(), detail(&rejection.errors).into());
                    out.insert("status".into(), "400".into());
                    out.insert("response".into(), Value::Object(error));
                }
            }
            Value::Object(out)
        })
        .collect();
    json!({"schemas": [BULK_RESPONSE], "feedId": feed_id, "Operations": results})
}

fn detail(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| if e.path.is_empty() { e.message.clone() } else { format!("{}: {}", e.path, e.message) })
        .collect();
    parts.join("; ")
}

const KEY_IN_DATA: &str = "data.externalId";
const KEY_IN_PATH: &str = "path";

type Outcome = (Result<ValidRecord, Vec<FieldError>>, &'static str);

#[derive(Clone, Copy)]
enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

enum Target {
    /// `/Users`
    Users,
    /// `/Users/{externalId}`, decoded.
    User(String),
}

fn operation(op: &Value, ignored: &mut BTreeMap<&'static str, usize>) -> Outcome {
    let Value::Object(op) = op else {
        return (Err(vec![FieldError::new("", "an operation must be a JSON object")]), KEY_IN_DATA);
    };
    let mut errors = Vec::new();
    if let Err(e) = bulk_id(op) {
        errors.push(e);
    }
    let method = match get(op, "method") {
        Some(Value::String(m)) => match m.to_ascii_uppercase().as_str() {
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => {
                errors.push(FieldError::new("method", "must be POST, PUT, PATCH or DELETE"));
                None
            }
        },
        None | Some(Value::Null) => {
            errors.push(FieldError::new("method", "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("method", "must be a string"));
            None
        }
    };
    let target = match get(op, "path") {
        Some(Value::String(p)) => parse_path(p).map_err(|m| errors.push(FieldError::new("path", m))).ok(),
        None | Some(Value::Null) => {
            errors.push(FieldError::new("path", "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("path", "must be a string"));
            None
        }
    };
    let (Some(method), Some(target)) = (method, target) else { return (Err(errors), KEY_IN_DATA) };
    if !errors.is_empty() {
        return (Err(errors), KEY_IN_DATA);
    }
    let data = get(op, "data").filter(|d| !d.is_null());
    match (method, target) {
        (Method::Post, Target::Users) => upsert(data, None, ignored),
        (Method::Put, Target::User(id)) => upsert(data, Some(id), ignored),
        (Method::Delete, Target::User(id)) => {
            if data.is_some() {
                return (Err(vec![FieldError::new("data", "not allowed on DELETE")]), KEY_IN_PATH);
            }
            (deactivate(&id), KEY_IN_PATH)
        }
        (Method::Patch, Target::User(id)) => {
            if !is_deactivation_patch(data) {
                return (Err(vec![FieldError::new("method", PATCH_UNSUPPORTED)]), KEY_IN_PATH);
            }
            (deactivate(&id), KEY_IN_PATH)
        }
        (Method::Post, Target::User(_)) => (
            Err(vec![FieldError::new(
                "path",
                "POST must target /Users (to replace a user, PUT /Users/{externalId})",
            )]),
            KEY_IN_DATA,
        ),
        (_, Target::Users) => {
            (Err(vec![FieldError::new("path", "must name a user: /Users/{externalId}")]), KEY_IN_DATA)
        }
    }
}

/// POST or PUT: the User, turned into the record `parse_record` knows.
fn upsert(
    data: Option<&Value>,
    path_id: Option<String>,
    ignored: &mut BTreeMap<&'static str, usize>,
) -> Outcome {
    let data = match data {
        Some(Value::Object(data)) => data,
        None => return (Err(vec![FieldError::new("data", "is required (a User)")]), KEY_IN_DATA),
        Some(_) => return (Err(vec![FieldError::new("data", "must be a User object")]), KEY_IN_DATA),
    };
    let mut errors = Vec::new();
    let mut record = to_record(data, &mut errors, ignored);
    let mut key_path = KEY_IN_DATA;
    if let Some(id) = path_id {
        match record.get("externalId") {
            None | Some(Value::Null) => {
                record.insert("externalId".into(), Value::String(id));
                key_path = KEY_IN_PATH;
            }
            Some(Value::String(s)) if *s != id => {
                errors.push(FieldError::new("path", "does not match data.externalId"))
            }
            Some(Value::Number(n)) if n.to_string() != id => {
                errors.push(FieldError::new("path", "does not match data.externalId"));
            }
            // Equal, or of a type parse_record refuses.
            Some(_) => {}
        }
    }
    let result = match parse_record(&Value::Object(record)) {
        Ok(rec) if errors.is_empty() => Ok(rec),
        Ok(_) => Err(errors),
        Err(found) => {
            errors.extend(found.into_iter().map(|mut e| {
                e.path = if e.path == "externalId" && key_path == KEY_IN_PATH {
                    KEY_IN_PATH.to_owned()
                } else if e.path.is_empty() {
                    "data".to_owned()
                } else {
                    format!("data.{}", e.path)
                };
                e
            }));
            Err(errors)
        }
    };
    (result, key_path)
}

/// Strips and moves what SCIM has and a Roster record does not (see the
/// module documentation).
fn to_record(
    data: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
    ignored: &mut BTreeMap<&'static str, usize>,
) -> Map<String, Value> {
    let mut record = Map::new();
    let mut custom = Map::new();
    for (key, value) in data {
        match key.as_str() {
            // Never stored, never echoed.
            "password" => {}
            "groups" => *ignored.entry("groups").or_insert(0) += 1,
            // parse_record would read it as a Roster operation.
            "op" => errors.push(FieldError::new("data.op", "unknown attribute of a SCIM User")),
            "photos" | "ims" | "x509Certificates" | "entitlements" | "roles" => errors.push(FieldError::new(
                format!("data.{key}"),
                "not supported: Roster does not keep it (remove it from the attribute mapping)",
            )),
            "nickName" | "userType" | "preferredLanguage" | "locale" | "timezone" | "profileUrl" => {
                keep(&mut custom, key, value, errors, Shape::String);
            }
            "addresses" => keep(&mut custom, key, value, errors, Shape::Array),
            "name" => {
                let Value::Object(name) = value else {
                    record.insert(key.clone(), value.clone());
                    continue;
                };
                let mut rest = Map::new();
                for (part, v) in name {
                    match part.as_str() {
                        "honorificPrefix" | "honorificSuffix" => match v {
                            Value::Null => {}
                            Value::String(_) => {
                                custom.insert(part.clone(), v.clone());
                            }
                            _ => {
                                errors.push(FieldError::new(format!("data.name.{part}"), "must be a string"))
                            }
                        },
                        _ => {
                            rest.insert(part.clone(), v.clone());
                        }
                    }
                }
                record.insert(key.clone(), Value::Object(rest));
            }
            k if k.starts_with("urn:ietf:params:scim:schemas:core:") => errors.push(FieldError::new(
                format!("data.{key}"),
                "core attributes must be sent unqualified (without the schema URN)",
            )),
            k if k.starts_with("urn:") && k != ENTERPRISE_USER => {
                keep(&mut custom, key, value, errors, Shape::Object)
            }
            _ => {
                record.insert(key.clone(), value.clone());
            }
        }
    }
    if !custom.is_empty() {
        match record.get_mut("customAttributes") {
            None | Some(Value::Null) => {
                record.insert("customAttributes".into(), Value::Object(custom));
            }
            Some(Value::Object(existing)) => {
                for (key, value) in custom {
                    if existing.contains_key(&key) {
                        errors.push(FieldError::new(
                            format!("data.customAttributes.{key}"),
                            "is also sent as a SCIM attribute; send it once",
                        ));
                    } else {
                        existing.insert(key, value);
                    }
                }
            }
            // Not an object: parse_record refuses it.
            Some(_) => {}
        }
    }
    record
}

#[derive(Clone, Copy)]
enum Shape {
    String,
    Array,
    Object,
}

/// Keeps a SCIM attribute Roster has no field for under `customAttributes`.
fn keep(
    custom: &mut Map<String, Value>,
    key: &str,
    value: &Value,
    errors: &mut Vec<FieldError>,
    want: Shape,
) {
    match (want, value) {
        (_, Value::Null) => {}
        (Shape::String, Value::String(_))
        | (Shape::Array, Value::Array(_))
        | (Shape::Object, Value::Object(_)) => {
            custom.insert(key.to_owned(), value.clone());
        }
        (Shape::String, _) => errors.push(FieldError::new(format!("data.{key}"), "must be a string")),
        (Shape::Array, _) => errors.push(FieldError::new(format!("data.{key}"), "must be an array")),
        (Shape::Object, _) => errors.push(FieldError::new(format!("data.{key}"), "must be an object")),
    }
}

fn deactivate(id: &str) -> Result<ValidRecord, Vec<FieldError>> {
    ExternalId::parse(id)
        .map(|external_id| ValidRecord {
            change: Change::Deactivate { external_id },
            last_modified: None,
            active_explicit: true,
        })
        .map_err(|e| vec![FieldError::new("path", format!("must name a valid external id: {e}"))])
}

/// Exactly one `replace` of `active` with false, as Entra sends it.
fn is_deactivation_patch(data: Option<&Value>) -> bool {
    let Some(Value::Object(data)) = data else { return false };
    let Some(Value::Array(ops)) = get(data, "Operations") else { return false };
    let [Value::Object(op)] = ops.as_slice() else { return false };
    let is_false = |v: &Value| match v {
        Value::Bool(b) => !b,
        // Entra has sent booleans as strings ("False").
        Value::String(s) => s.eq_ignore_ascii_case("false"),
        _ => false,
    };
    let replace = matches!(get(op, "op"), Some(Value::String(s)) if s.eq_ignore_ascii_case("replace"));
    let value = get(op, "value");
    replace
        && match get(op, "path") {
            Some(Value::String(p)) => p.eq_ignore_ascii_case("active") && value.is_some_and(is_false),
            None | Some(Value::Null) => {
                matches!(value, Some(Value::Object(v)) if v.len() == 1 && get(v, "active").is_some_and(is_false))
            }
            Some(_) => false,
        }
}

fn parse_path(path: &str) -> Result<Target, &'static str> {
    let Some(rest) = path.strip_prefix('/') else { return Err("must be /Users or /Users/{externalId}") };
    let (resource, id) = match rest.split_once('/') {
        Some((resource, id)) => (resource, id),
        None => (rest, ""),
    };
    if !resource.eq_ignore_ascii_case("Users") {
        return Err("only /Users operations are supported");
    }
    if id.is_empty() {
        Ok(Target::Users)
    } else if id.contains(['/', '?', '#']) {
        Err("must be /Users or /Users/{externalId} (encode / ? # in the id as %2F %3F %23)")
    } else if id.starts_with("bulkId:") {
        Err("bulkId references are not supported; name the user by externalId")
    } else {
        percent_decode(id).map(Target::User).ok_or("has invalid percent-encoding")
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn bulk_id(op: &Map<String, Value>) -> Result<Option<String>, FieldError> {
    match get(op, "bulkId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if !s.is_empty() && s.chars().count() <= MAX_BULK_ID_LEN && !s.chars().any(char::is_control) =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(FieldError::new(
            "bulkId",
            format!(
                "must be a non-empty string of at most {MAX_BULK_ID_LEN} characters, without control characters"
            ),
        )),
    }
}

fn echo_method(op: &Map<String, Value>) -> Option<String> {
    let m = get(op, "method")?.as_str()?;
    (!m.is_empty() && m.len() <= 16 && m.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| m.to_ascii_uppercase())
}

/// SCIM attribute names are case-insensitive (RFC 7643 §2.1): the exact
/// spelling first, then any other.
fn get<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

fn too_many_operations() -> FormatError {
    envelope("Operations", &format!("has more than {MAX_OPERATIONS} operations; split the request"))
}

/// The root of a request, as a [`Value`], with its `Operations` (any case)
/// cut off at the first operation past [`MAX_OPERATIONS`]: the rest of a
/// huge body is never turned into a tree (about 17 bytes of memory a byte).
/// A root that is not an object becomes `null`, refused as such after.
struct RootSeed<'c> {
    too_many: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for RootSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RootSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SCIM BulkRequest object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut root = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = if key.eq_ignore_ascii_case("Operations") {
                map.next_value_seed(OperationsSeed { too_many: self.too_many })?
            } else {
                map.next_value::<Value>()?
            };
            root.insert(key, value);
        }
        Ok(Value::Object(root))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// `Operations`: an array of at most [`MAX_OPERATIONS`] values; anything
/// else keeps its shape (`null` stays `null`, other values become a
/// non-array) to be refused with the usual message.
struct OperationsSeed<'c> {
    too_many: &'c Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for OperationsSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for OperationsSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of operations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut ops = Vec::new();
        while let Some(op) = seq.next_element::<Value>()? {
            if ops.len() == MAX_OPERATIONS {
                self.too_many.set(true);
                return Err(de::Error::custom("too many operations"));
            }
            ops.push(op);
        }
        Ok(Value::Array(ops))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Object(Map::new()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Bool(false))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Bool(false))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Bool(false))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Bool(false))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Bool(false))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

fn envelope(path: &str, message: &str) -> FormatError {
    FormatError::InvalidEnvelope { path: path.into(), message: message.into() }
}

/// serde_json's messages can quote the input; only its position and class
/// are kept.
fn malformed(e: serde_json::Error) -> FormatError {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "syntax error",
        Category::Eof => "unexpected end of input",
        Category::Data => "unexpected type (expected a SCIM BulkRequest object)",
        Category::Io => "read error",
    };
    FormatError::MalformedJson { line: e.line(), column: e.column(), what }
}

#[cfg(test)]
mod tests {
    use roster_core::Person;

    use super::*;

    fn bulk(ops: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"schemas": [BULK_REQUEST], "Operations": ops, "failOnErrors": null}))
            .unwrap()
    }

    fn parse(ops: Value) -> ParsedBulk {
        parse_bulk_request(&bulk(ops)).unwrap()
    }

    fn only_person(parsed: &ParsedBulk) -> &Person {
        assert!(parsed.feed.rejected.is_empty(), "{:?}", parsed.feed.rejected);
        match &parsed.feed.valid[..] {
            [(_, ValidRecord { change: Change::Upsert { person }, .. })] => person,
            other => panic!("expected one upsert, got {other:?}"),
        }
    }

    fn deactivated(parsed: &ParsedBulk) -> Vec<String> {
        parsed
            .feed
            .valid
            .iter()
            .map(|(_, rec)| match &rec.change {
                Change::Deactivate { external_id } => external_id.as_str().to_owned(),
                Change::Upsert { .. } => panic!("expected a deactivation"),
            })
            .collect()
    }

    fn error_paths(parsed: &ParsedBulk, index: usize) -> Vec<String> {
        let rejected = parsed.feed.rejected.iter().find(|r| r.index == index).expect("operation rejected");
        rejected.errors.iter().map(|e| e.path.clone()).collect()
    }

    /// Shaped as the sample request of Microsoft's bulkUpload documentation.
    fn entra_user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "701984",
            "userName": "bjensen@example.com",
            "name": {"formatted": "Ms. Barbara J Jensen, III", "familyName": "Jensen", "givenName": "Barbara",
                     "middleName": "Jane", "honorificPrefix": "Ms.", "honorificSuffix": "III"},
            "displayName": "Babs Jensen",
            "nickName": "Babs",
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
            "addresses": [{"type": "work", "streetAddress": "234300 Universal City Plaza", "locality": "Hollywood",
                           "formatted": "100 Universal City Plaza\nHollywood, CA 91608 USA", "primary": true}],
            "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
            "userType": "Employee",
            "title": "Tour Guide",
            "preferredLanguage": "en-US",
            "locale": "en-US",
            "timezone": "America/Los_Angeles",
            "active": true,
            "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z", "version": "W/\"3\"",
                     "location": "https://example.com/Users/x", "lastModified": "2026-11-01T10:00:00Z"},
            ENTERPRISE_USER: {
                "employeeNumber": "701984", "costCenter": "4130", "organization": "Universal Studios",
                "division": "Theme Park", "department": "Tour Operations",
                "manager": {"value": "89607", "$ref": "../Users/26118915", "displayName": "John Smith"}
            }
        })
    }

    #[test]
    fn entra_post_with_enterprise_extension_becomes_the_canonical_person() {
        let parsed =
            parse(json!([{"method": "POST", "bulkId": "897401c2", "path": "/Users", "data": entra_user()}]));
        assert_eq!(parsed.feed.mode, FeedMode::Delta);
        assert_eq!(
            parsed.operations,
            vec![BulkOperation { index: 0, method: Some("POST".into()), bulk_id: Some("897401c2".into()) }]
        );
        let person = only_person(&parsed);
        assert_eq!(person.external_id.as_str(), "701984");
        assert_eq!(person.department.as_deref(), Some("Tour Operations"));
        assert_eq!(person.employee_number.as_deref(), Some("701984"));
        assert_eq!(person.cost_center.as_deref(), Some("4130"));
        assert_eq!(person.manager.as_ref().map(ExternalId::as_str), Some("89607"));
        assert_eq!(person.title.as_deref(), Some("Tour Guide"));
        assert_eq!(person.emails[0].value, "bjensen@example.com");
        assert!(person.active);
        // What Roster has no attribute for is kept, under its SCIM name.
        for key in ["nickName", "userType", "preferredLanguage", "timezone", "addresses", "honorificPrefix"] {
            assert!(person.custom_attributes.contains_key(key), "missing {key}");
        }
        assert!(parsed.feed.valid[0].1.last_modified.is_some());
    }

    #[test]
    fn active_false_is_an_inactive_person() {
        let mut user = entra_user();
        user["active"] = json!(false);
        let parsed = parse(json!([{"method": "post", "path": "/users", "data": user}]));
        assert!(!only_person(&parsed).active);
    }

    #[test]
    fn delete_deactivates_the_user_named_in_the_path() {
        let parsed = parse(json!([
            {"method": "DELETE", "bulkId": "d1", "path": "/Users/701984"},
            {"method": "DELETE", "path": "/Users/EMP%2F7%20B"}
        ]));
        assert_eq!(deactivated(&parsed), vec!["701984", "EMP/7 B"]);
        let parsed = parse(json!([{"method": "DELETE", "path": "/Users/bulkId:d1"}]));
        assert_eq!(error_paths(&parsed, 0), vec!["path"]);
    }

    #[test]
    fn put_takes_the_external_id_from_the_path_when_data_has_none() {
        let parsed =
            parse(json!([{"method": "PUT", "path": "/Users/E7", "data": {"title": "Lead", "active": true}}]));
        let person = only_person(&parsed);
        assert_eq!(person.external_id.as_str(), "E7");
        assert_eq!(person.title.as_deref(), Some("Lead"));

        let parsed = parse(json!([
            {"method": "PUT", "path": "/Users/E7", "data": {"externalId": "E8"}},
            {"method": "PUT", "path": "/Users", "data": {"externalId": "E8"}},
            {"method": "POST", "path": "/Users/E8", "data": {"externalId": "E8"}}
        ]));
        for index in 0..3 {
            assert_eq!(error_paths(&parsed, index), vec!["path"]);
        }
    }

    #[test]
    fn patch_replacing_active_with_false_deactivates_and_other_patches_are_refused() {
        let patch = |id: &str, op: Value| {
            json!({"method": "PATCH", "path": format!("/Users/{id}"), "data": {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]}})
        };
        let parsed = parse(json!([
            patch("E1", json!({"op": "replace", "path": "active", "value": false})),
            patch("E2", json!({"op": "Replace", "path": "active", "value": "False"})),
            patch("E3", json!({"op": "replace", "value": {"active": false}}))
        ]));
        assert!(parsed.feed.rejected.is_empty(), "{:?}", parsed.feed.rejected);
        assert_eq!(deactivated(&parsed), vec!["E1", "E2", "E3"]);

        let parsed = parse(json!([
            patch("E1", json!({"op": "replace", "path": "title", "value": "Boss"})),
            patch("E2", json!({"op": "replace", "path": "active", "value": true})),
            patch("E3", json!({"op": "remove", "path": "active"}))
        ]));
        assert!(parsed.feed.valid.is_empty());
        assert_eq!(parsed.feed.rejected.len(), 3);
        for rejected in &parsed.feed.rejected {
            assert_eq!(rejected.errors[0].path, "method");
            assert!(rejected.errors[0].message.contains("PATCH is not supported"));
            assert!(rejected.errors[0].message.contains("PUT or POST"));
        }
    }

    #[test]
    fn groups_and_unknown_methods_are_refused_per_operation() {
        let parsed = parse(json!([
            {"method": "POST", "bulkId": "g", "path": "/Groups", "data": {"displayName": "Tour Guides"}},
            {"method": "GET", "path": "/Users/E1"},
            {"path": "/Users"},
            "not an operation",
            {"method": "POST", "path": "/Users", "data": {"externalId": "E2"}}
        ]));
        assert_eq!(error_paths(&parsed, 0), vec!["path"]);
        assert_eq!(parsed.feed.rejected[0].bulk_id.as_deref(), Some("g"));
        assert_eq!(error_paths(&parsed, 1), vec!["method"]);
        assert_eq!(error_paths(&parsed, 2), vec!["method"]);
        assert_eq!(error_paths(&parsed, 3), vec![""]);
        assert_eq!(parsed.feed.valid.len(), 1);
    }

    #[test]
    fn unsupported_attributes_are_refused_with_their_path() {
        let parsed = parse(json!([{"method": "POST", "path": "/Users", "data": {
            "externalId": "E1", "photos": [{"value": "https://x/p.jpg"}], "roles": [], "op": "deactivate",
            "emails": [{"value": "nope"}]
        }}]));
        let paths = error_paths(&parsed, 0);
        for want in ["data.photos", "data.roles", "data.op", "data.emails[0].value"] {
            assert!(paths.contains(&want.to_owned()), "missing {want} in {paths:?}");
        }
    }

    #[test]
    fn password_is_dropped_and_never_kept() {
        let mut user = entra_user();
        user["password"] = json!("Hunter2-Zebra!");
        let parsed = parse(json!([{"method": "POST", "path": "/Users", "data": user}]));
        let person = only_person(&parsed);
        assert!(!serde_json::to_string(person).unwrap().contains("Hunter2-Zebra"));
        assert!(!format!("{parsed:?}").contains("Hunter2-Zebra"));
        assert!(!person.custom_attributes.contains_key("password"));
    }

    #[test]
    fn groups_attribute_is_ignored_with_a_warning() {
        let parsed = parse(json!([{"method": "POST", "path": "/Users",
            "data": {"externalId": "E1", "groups": [{"value": "g1"}]}}]));
        only_person(&parsed);
        assert_eq!(parsed.feed.warnings.len(), 1);
        assert!(parsed.feed.warnings[0].contains("data.groups"));
    }

    #[test]
    fn envelope_errors_reject_the_request_without_quoting_it() {
        let no_schema =
            br#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Operations": []}"#;
        assert!(matches!(
            parse_bulk_request(no_schema),
            Err(FormatError::InvalidEnvelope { path, .. }) if path == "schemas"
        ));
        let not_array = format!(r#"{{"schemas": ["{BULK_REQUEST}"], "Operations": {{}}}}"#);
        assert!(matches!(
            parse_bulk_request(not_array.as_bytes()),
            Err(FormatError::InvalidEnvelope { path, .. }) if path == "Operations"
        ));
        let zero = format!(r#"{{"schemas": ["{BULK_REQUEST}"], "Operations": [], "failOnErrors": 0}}"#);
        assert!(matches!(
            parse_bulk_request(zero.as_bytes()),
            Err(FormatError::InvalidEnvelope { path, .. }) if path == "failOnErrors"
        ));
        let too_many = bulk(Value::Array(vec![json!({}); MAX_OPERATIONS + 1]));
        assert!(matches!(parse_bulk_request(&too_many), Err(FormatError::InvalidEnvelope { .. })));
        // Cut off early: what follows the operation past the limit is never
        // read (not even the syntax error at the end).
        let mut early = format!(r#"{{"schemas": ["{BULK_REQUEST}"], "operations": ["#).into_bytes();
        early.extend_from_slice("{},".repeat(MAX_OPERATIONS + 1).as_bytes());
        early.extend_from_slice(b"not json");
        assert!(matches!(
            parse_bulk_request(&early),
            Err(FormatError::InvalidEnvelope { path, message }) if path == "Operations" && message.contains("more than")
        ));
        let scalar_root = parse_bulk_request(b"[1, 2]").unwrap_err();
        assert!(
            matches!(&scalar_root, FormatError::InvalidEnvelope { path, .. } if path.is_empty()),
            "{scalar_root:?}"
        );
        let err =
            parse_bulk_request(br#"{"Operations": [{"data": {"externalId": "SECRET-NAME""#).unwrap_err();
        assert!(matches!(err, FormatError::MalformedJson { line: 1, .. }));
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }

    #[test]
    fn fail_on_errors_stops_processing_after_that_many_rejections() {
        let body = json!({"schemas": [BULK_REQUEST], "failOnErrors": 1, "Operations": [
            {"method": "POST", "path": "/Users", "data": {"externalId": "E1"}},
            {"method": "POST", "bulkId": "bad", "path": "/Users", "data": {"emails": ["nope"]}},
            {"method": "POST", "bulkId": "late", "path": "/Users", "data": {"externalId": "E3"}},
            {"method": "DELETE", "path": "/Users/E4"}
        ]});
        let parsed = parse_bulk_request(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(parsed.feed.valid.len(), 1);
        assert_eq!(parsed.feed.rejected.len(), 3);
        assert!(!parsed.feed.rejected[0].errors.iter().any(|e| e.message == NOT_PROCESSED));
        for rejected in &parsed.feed.rejected[1..] {
            assert_eq!(rejected.errors[0].message, NOT_PROCESSED);
        }
        assert_eq!(parsed.feed.rejected[1].bulk_id.as_deref(), Some("late"));
    }

    #[test]
    fn a_second_operation_on_the_same_person_is_rejected_with_its_bulk_id() {
        let parsed = parse(json!([
            {"method": "POST", "bulkId": "first", "path": "/Users", "data": {"externalId": "E1"}},
            {"method": "POST", "bulkId": "second", "path": "/Users", "data": {"externalId": "E1", "title": "X"}},
            {"method": "DELETE", "bulkId": "third", "path": "/Users/E1"}
        ]));
        assert_eq!(parsed.feed.valid.len(), 1);
        let [second, third] = &parsed.feed.rejected[..] else { panic!("{:?}", parsed.feed.rejected) };
        assert_eq!((second.index, second.bulk_id.as_deref()), (1, Some("second")));
        assert_eq!(second.errors[0].path, "data.externalId");
        assert!(second.errors[0].message.contains("duplicate"));
        assert_eq!((third.index, third.bulk_id.as_deref()), (2, Some("third")));
        assert_eq!(third.errors[0].path, "path");
    }

    #[test]
    fn bulk_response_echoes_bulk_ids_with_statuses_and_never_values() {
        let secret = "zebediah.quixote-secret@localhost";
        let body = json!({"schemas": [BULK_REQUEST], "failOnErrors": 1, "Operations": [
            {"method": "POST", "bulkId": "ok", "path": "/Users", "data": {"externalId": "E1"}},
            {"method": "post", "bulkId": "bad", "path": "/Users", "data": {"externalId": "E2", "emails": [{"value": secret}]}},
            {"method": "DELETE", "bulkId": "late", "path": "/Users/E3"}
        ]});
        let parsed = parse_bulk_request(&serde_json::to_vec(&body).unwrap()).unwrap();
        let response = bulk_response(&parsed.operations, "feed-123", &parsed.feed.rejected);
        assert_eq!(response["schemas"], json!([BULK_RESPONSE]));
        assert_eq!(response["feedId"], "feed-123");
        let ops = response["Operations"].as_array().unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0], json!({"method": "POST", "bulkId": "ok", "status": "202"}));
        assert_eq!(ops[1]["method"], "POST");
        assert_eq!(ops[1]["bulkId"], "bad");
        assert_eq!(ops[1]["status"], "400");
        assert_eq!(ops[1]["response"]["schemas"], json!([SCIM_ERROR]));
        assert_eq!(ops[1]["response"]["scimType"], "invalidValue");
        assert_eq!(ops[1]["response"]["status"], "400");
        let detail = ops[1]["response"]["detail"].as_str().unwrap();
        assert!(detail.contains("data.emails[0].value"), "{detail}");
        assert!(!detail.contains("zebediah") && !detail.contains("quixote"), "{detail}");
        assert_eq!(ops[2]["bulkId"], "late");
        assert_eq!(ops[2]["status"], "400");
        assert_eq!(ops[2]["response"]["detail"], NOT_PROCESSED);
        assert!(!response.to_string().contains("zebediah"));
    }
}
