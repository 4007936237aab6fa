//! Sources: a tenant's integration channels and their settings.

use roster_core::{SourceName, TenantId, Timestamp};
use serde::Serialize;

/// How a source treats a feed with invalid records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    /// Valid records go on; invalid ones are reported (the default).
    #[default]
    Partial,
    /// Any invalid record rejects the whole feed; nothing is queued.
    Strict,
}

impl Validation {
    pub fn as_str(self) -> &'static str {
        match self {
            Validation::Partial => "partial",
            Validation::Strict => "strict",
        }
    }
}

/// How a source's records name a person's manager (`managerBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ManagerBy {
    /// By the manager's external id, as stored (the default).
    #[default]
    ExternalId,
    /// By one of the manager's e-mail addresses (any case).
    Email,
    /// By the manager's employee number.
    EmployeeNumber,
}

impl ManagerBy {
    /// The attribute ingest looks the manager up by; `None`: the value is
    /// the external id itself.
    pub fn key(self) -> Option<crate::PersonKey> {
        match self {
            ManagerBy::ExternalId => None,
            ManagerBy::Email => Some(crate::PersonKey::Email),
            ManagerBy::EmployeeNumber => Some(crate::PersonKey::EmployeeNumber),
        }
    }

    pub fn is_external_id(&self) -> bool {
        *self == ManagerBy::ExternalId
    }
}

/// A source's settings, as an operator sets them.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceSettings {
    #[serde(default)]
    pub validation: Validation,
    /// The CSV mapping profile (`roster_core::mapping::MappingProfile`,
    /// kept as JSON here: the store does not interpret it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<serde_json::Value>,
    /// A full snapshot may deactivate at most this percentage of the
    /// source's active people without an operator's approval...
    #[serde(default = "default_threshold_percent")]
    pub deletion_threshold_percent: u8,
    /// ...or this many people, whichever is more.
    #[serde(default = "default_threshold_floor")]
    pub deletion_threshold_floor: u64,
    /// The `employmentStatus` values (any case) that make a person of this
    /// source inactive when a record does not say `active` itself; absent:
    /// `roster_core::validate::INACTIVE_STATUSES`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_statuses: Option<Vec<String>>,
    /// What the records' `manager` holds: the manager's external id (the
    /// default), e-mail address or employee number. Ingest resolves the
    /// latter two to the external id, from the same feed or the directory.
    #[serde(default, skip_serializing_if = "ManagerBy::is_external_id")]
    pub manager_by: ManagerBy,
}

fn default_threshold_percent() -> u8 {
    20
}

fn default_threshold_floor() -> u64 {
    5
}

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            validation: Validation::default(),
            mapping: None,
            deletion_threshold_percent: default_threshold_percent(),
            deletion_threshold_floor: default_threshold_floor(),
            inactive_statuses: None,
            manager_by: ManagerBy::default(),
        }
    }
}

impl SourceSettings {
    /// Most leavers a snapshot may cause without approval, given how many
    /// active people the source has.
    pub fn allowed_leavers(&self, active: u64) -> u64 {
        (active * u64::from(self.deletion_threshold_percent.min(100)) / 100)
            .max(self.deletion_threshold_floor)
    }
}

/// One of a tenant's integration channels.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub name: SourceName,
    #[serde(serialize_with = "roster_core::public_id::ser::tenant")]
    pub tenant_id: TenantId,
    #[serde(flatten)]
    pub settings: SourceSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
