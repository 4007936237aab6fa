//! A tenant's sources: their settings (validation, the deletion threshold),
//! and the CSV mapping profile editor — a draft profile and a sample file
//! give a dry-run preview (mapped records, per-row errors, warnings; nothing
//! stored, through the same ingest as a real feed), then Save stores the
//! profile. Viewers read; admins change, preview and save.

use askama::Template;
use axum::Extension;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use roster_core::{FeedMode, FieldError, MappingProfile, SourceName};
use roster_engine::{IngestError, Submission};
use roster_store::limits::MAX_MAPPING_BYTES;
use roster_store::{Source, SourceSettings, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::multipart::{self, FormStream};
use super::{audit, page};
use crate::errors::ConsoleError;
use crate::identity::{ConsoleUser, Grant, Role};
use crate::state::ConsoleState;

/// The largest sample file a preview reads.
const MAX_SAMPLE: usize = 5 * 1024 * 1024;
/// Mapped records a preview shows (the counts cover the whole sample).
const SHOWN: usize = 20;

pub struct SourceRow {
    pub name: String,
    pub validation: &'static str,
    pub threshold: String,
    pub has_mapping: bool,
    pub updated_at: String,
}

#[derive(Template)]
#[template(path = "sources/list.html")]
struct List {
    user: ConsoleUser,
    tenant: String,
    sources: Vec<SourceRow>,
}

fn threshold(s: &SourceSettings) -> String {
    format!("{}% or {} people", s.deletion_threshold_percent, s.deletion_threshold_floor)
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    /// "Open a source by name": to its page, configured or not.
    #[serde(default)]
    open: Option<String>,
}

/// `GET /console/t/{tenant}/sources?open`
pub async fn list(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path(tenant): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Viewer)?.clone();
    if let Some(name) = q.open.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        let name = SourceName::parse(name).map_err(|e| ConsoleError::BadRequest(format!("source: {e}")))?;
        return Ok(back_to(&grant, &name));
    }
    let sources = state.directory().list_sources(grant.tenant_id).await?;
    page(List {
        tenant: grant.tenant_name,
        sources: sources
            .iter()
            .map(|s| SourceRow {
                name: s.name.to_string(),
                validation: s.settings.validation.as_str(),
                threshold: threshold(&s.settings),
                has_mapping: s.settings.mapping.is_some(),
                updated_at: s.updated_at.to_rfc3339(),
            })
            .collect(),
        user,
    })
}

/// A mapped record of the preview.
pub struct PreviewRecord {
    pub record: String,
    pub external_id: String,
    pub op: String,
    pub attributes: String,
}

pub struct PreviewError {
    pub record: String,
    pub field: String,
    pub message: String,
}

/// What a dry run of the sample gave.
pub struct Preview {
    pub mode: &'static str,
    pub received: usize,
    pub accepted: usize,
    pub records: Vec<PreviewRecord>,
    pub errors: Vec<PreviewError>,
    pub warnings: Vec<String>,
    /// The file as a whole could not be read (a missing column, bad bytes).
    pub failed: Option<String>,
}

#[derive(Template)]
#[template(path = "sources/show.html")]
struct Show {
    user: ConsoleUser,
    tenant: String,
    name: String,
    configured: bool,
    validation: &'static str,
    threshold_percent: u8,
    threshold_floor: u64,
    inactive_statuses: String,
    manager_by: &'static str,
    has_mapping: bool,
    /// The editor's text: the stored profile, or the draft being tried.
    profile: String,
    profile_errors: Vec<FieldError>,
    preview: Option<Preview>,
    can_edit: bool,
    can_preview: bool,
}

fn source_name(name: &str) -> Result<SourceName, ConsoleError> {
    SourceName::parse(name).map_err(|_| ConsoleError::NotFound("source"))
}

async fn settings_of(
    state: &ConsoleState,
    grant: &Grant,
    name: &SourceName,
) -> Result<(SourceSettings, bool), ConsoleError> {
    Ok(match state.directory().get_source(grant.tenant_id, name).await? {
        Some(Source { settings, .. }) => (settings, true),
        None => (SourceSettings::default(), false),
    })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A starting point for a source that has no profile: CSV columns named as
/// Roster's attributes.
const EXAMPLE_PROFILE: &str = r#"{
  "fields": {
    "externalId": {"column": "Employee ID"},
    "name.givenName": {"column": "First Name"},
    "name.familyName": {"column": "Last Name"},
    "emails": {"column": "Work Email", "transforms": ["lowercase"]},
    "department": {"column": "Department"},
    "manager": {"column": "Manager ID"}
  }
}"#;

#[allow(clippy::too_many_arguments)]
async fn show_page(
    state: &ConsoleState,
    user: ConsoleUser,
    grant: Grant,
    name: SourceName,
    draft: Option<String>,
    profile_errors: Vec<FieldError>,
    preview: Option<Preview>,
) -> Result<Response, ConsoleError> {
    let (settings, configured) = settings_of(state, &grant, &name).await?;
    let stored = settings.mapping.as_ref().map(pretty);
    let manager_by = match settings.manager_by {
        roster_store::ManagerBy::ExternalId => "external id",
        roster_store::ManagerBy::Email => "e-mail",
        roster_store::ManagerBy::EmployeeNumber => "employee number",
    };
    page(Show {
        tenant: grant.tenant_name.clone(),
        name: name.to_string(),
        configured,
        validation: settings.validation.as_str(),
        threshold_percent: settings.deletion_threshold_percent,
        threshold_floor: settings.deletion_threshold_floor,
        inactive_statuses: settings.inactive_statuses.as_deref().map(|s| s.join(", ")).unwrap_or_default(),
        manager_by,
        has_mapping: stored.is_some(),
        profile: draft.or(stored).unwrap_or_else(|| EXAMPLE_PROFILE.to_owned()),
        profile_errors,
        preview,
        can_edit: grant.role >= Role::Admin,
        can_preview: grant.role >= Role::Admin && state.ingest().is_some(),
        user,
    })
}

/// `GET /console/t/{tenant}/sources/{name}`: an unconfigured name shows
/// the defaults a feed of it would get.
pub async fn show(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let grant = user.grant(&tenant, Role::Viewer)?.clone();
    let name = source_name(&name)?;
    show_page(&state, user, grant, name, None, Vec::new(), None).await
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    validation: String,
    #[serde(default)]
    threshold_percent: String,
    #[serde(default)]
    threshold_floor: String,
}

/// `POST /console/t/{tenant}/sources/{name}/settings`: validation and the
/// deletion threshold; the mapping and the rest stay as they are.
pub async fn save_settings(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, name)): Path<(String, String)>,
    Form(form): Form<SettingsForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    let name = source_name(&name)?;
    let (mut settings, _) = settings_of(&state, &grant, &name).await?;
    settings.validation = match form.validation.as_str() {
        "partial" => Validation::Partial,
        "strict" => Validation::Strict,
        other => {
            return Err(ConsoleError::BadRequest(format!("validation: `{other}` is not partial or strict")));
        }
    };
    settings.deletion_threshold_percent =
        form.threshold_percent.trim().parse::<u8>().ok().filter(|p| *p <= 100).ok_or_else(|| {
            ConsoleError::BadRequest("deletion threshold: a percentage from 0 to 100".into())
        })?;
    settings.deletion_threshold_floor = form
        .threshold_floor
        .trim()
        .parse::<u64>()
        .map_err(|_| ConsoleError::BadRequest("deletion threshold: a whole number of people".into()))?;
    state.directory().put_source(grant.tenant_id, &name, settings, state.now()).await?;
    audit(&state, &user, &grant, "source.updated", Some(name.to_string())).await;
    Ok(back_to(&grant, &name))
}

/// The draft as a profile, or what is wrong with it (paths, no values).
fn parse_profile(text: &str) -> Result<(Value, MappingProfile), Vec<FieldError>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        vec![FieldError::new("mapping", format!("is not JSON (line {}, column {})", e.line(), e.column()))]
    })?;
    if serde_json::to_vec(&value).map_or(usize::MAX, |v| v.len()) > MAX_MAPPING_BYTES {
        return Err(vec![FieldError::new("mapping", format!("is larger than {MAX_MAPPING_BYTES} bytes"))]);
    }
    let profile: MappingProfile = serde_json::from_value(value.clone()).map_err(|e| {
        vec![FieldError::new(
            "mapping",
            format!("is not a mapping profile: {}", roster_server::problem::redact_quoted(&e.to_string())),
        )]
    })?;
    profile.validate()?;
    Ok((value, profile))
}

/// `POST /console/t/{tenant}/sources/{name}/preview` (multipart: `csrf`,
/// `profile`, `mode`, then the `sample` file): the preview under the
/// draft, shown beside the editor, which keeps the draft.
pub async fn preview(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, name)): Path<(String, String)>,
    req: Request,
) -> Result<Response, ConsoleError> {
    let mut form = FormStream::new(req)?;
    let (mut csrf, mut draft, mut mode, mut sample) = (None, None, FeedMode::Delta, None);
    while let Some(field) = form.next().await? {
        match field.name() {
            Some("csrf") => csrf = Some(multipart::text(field).await?),
            Some("profile") => draft = Some(multipart::text(field).await?),
            Some("mode") => {
                let m = multipart::text(field).await?;
                mode = FeedMode::parse(&m)
                    .ok_or_else(|| ConsoleError::BadRequest(format!("mode: `{m}` is not delta or full")))?;
            }
            Some("sample") => sample = Some(multipart::bytes(field, MAX_SAMPLE, "sample").await?),
            _ => {}
        }
    }
    let grant = super::form_grant(&user, &tenant, csrf.as_deref(), Role::Admin)?;
    let name = source_name(&name)?;
    let ingest = state.ingest().ok_or(ConsoleError::Unavailable("this node takes no uploads"))?;
    let draft = draft.unwrap_or_default();
    let sample = sample
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConsoleError::BadRequest("sample: choose a CSV file to preview".into()))?;
    let profile = match parse_profile(&draft) {
        Ok((_, profile)) => profile,
        Err(errors) => return show_page(&state, user, grant, name, Some(draft), errors, None).await,
    };
    let sub = Submission {
        tenant: grant.tenant_id,
        source: name.clone(),
        format: "csv",
        dry_run: true,
        request_id: None,
    };
    let preview = match ingest.preview_csv(&sub, mode, sample, profile).await {
        Ok(receipt) => Preview {
            mode: receipt.mode.as_str(),
            received: receipt.received,
            accepted: receipt.accepted,
            records: receipt.preview.unwrap_or_default().iter().take(SHOWN).map(preview_record).collect(),
            errors: preview_errors(&receipt.rejected),
            warnings: receipt.warnings,
            failed: None,
        },
        Err(IngestError::Strict { received, rejected, .. }) => Preview {
            mode: mode.as_str(),
            received,
            accepted: 0,
            records: Vec::new(),
            errors: preview_errors(&rejected),
            warnings: Vec::new(),
            failed: Some(format!(
                "the source validates strictly: {} invalid record(s) would reject the whole feed",
                rejected.len()
            )),
        },
        Err(e @ (IngestError::Format(_) | IngestError::TooManyRecords { .. })) => Preview {
            mode: mode.as_str(),
            received: 0,
            accepted: 0,
            records: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            failed: Some(e.to_string()),
        },
        Err(other) => return Err(ConsoleError::Internal(other.to_string())),
    };
    // The sample is people's data, read back to the person who sent it.
    audit(&state, &user, &grant, "mapping.previewed", Some(name.to_string())).await;
    show_page(&state, user, grant, name, Some(draft), Vec::new(), Some(preview)).await
}

fn preview_record(v: &Value) -> PreviewRecord {
    let index = v.get("index").and_then(Value::as_u64).unwrap_or_default();
    let op = v.get("op").and_then(Value::as_str).unwrap_or_default().to_owned();
    let (external_id, attributes) = match v.get("person") {
        Some(Value::Object(person)) => {
            let id = person.get("externalId").and_then(Value::as_str).unwrap_or_default().to_owned();
            let mut rest = person.clone();
            rest.remove("externalId");
            (id, Value::Object(rest).to_string())
        }
        _ => (v.get("externalId").and_then(Value::as_str).unwrap_or_default().to_owned(), String::new()),
    };
    // The header is row 1: record N is on row N + 1 (blank lines aside).
    PreviewRecord { record: format!("record {}", index + 1), external_id, op, attributes }
}

fn preview_errors(rejected: &[roster_core::RecordError]) -> Vec<PreviewError> {
    rejected
        .iter()
        .flat_map(|r| {
            let record = match r.row {
                Some(row) => format!("row {row}"),
                None => format!("record {}", r.index + 1),
            };
            r.errors.iter().map(move |e| PreviewError {
                record: record.clone(),
                field: e.path.clone(),
                message: e.message.clone(),
            })
        })
        .collect()
}

#[derive(Deserialize)]
pub struct MappingForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    profile: String,
}

/// `POST /console/t/{tenant}/sources/{name}/mapping`: stores the profile
/// (checked first, as the API checks it); the other settings stay.
pub async fn save_mapping(
    State(state): State<ConsoleState>,
    Extension(user): Extension<ConsoleUser>,
    Path((tenant, name)): Path<(String, String)>,
    Form(form): Form<MappingForm>,
) -> Result<Response, ConsoleError> {
    let grant = super::form_grant(&user, &tenant, form.csrf.as_deref(), Role::Admin)?;
    let name = source_name(&name)?;
    let value = match parse_profile(&form.profile) {
        Ok((value, _)) => value,
        Err(errors) => {
            let mut res = show_page(&state, user, grant, name, Some(form.profile), errors, None).await?;
            *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(res);
        }
    };
    let (mut settings, _) = settings_of(&state, &grant, &name).await?;
    settings.mapping = Some(value);
    state.directory().put_source(grant.tenant_id, &name, settings, state.now()).await?;
    audit(&state, &user, &grant, "mapping.updated", Some(name.to_string())).await;
    Ok(back_to(&grant, &name))
}

fn back_to(grant: &Grant, name: &SourceName) -> Response {
    let to = grant.path(&format!("sources/{name}"));
    (StatusCode::SEE_OTHER, [(LOCATION, to)]).into_response()
}
