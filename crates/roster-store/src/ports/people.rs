use async_trait::async_trait;
use roster_core::{ExternalId, TenantId};

use crate::{HistoryEntry, Page, PeopleFilter, PersonKey, PersonRecord, StoreError};

/// Reading people and their history (writes go through
/// [`ChangeApplier`](crate::ChangeApplier)).
#[async_trait]
pub trait PeopleReader: Send + Sync {
    async fn get_person(&self, tenant: TenantId, id: &ExternalId)
    -> Result<Option<PersonRecord>, StoreError>;
    /// People ordered by external id. `limit` is clamped to
    /// [`MAX_PAGE`](crate::limits::MAX_PAGE). The cursor is opaque and
    /// carries no personal data in clear; one this store did not issue is
    /// `Invalid`.
    async fn list_people(
        &self,
        tenant: TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<PersonRecord>, StoreError> {
        self.find_people(tenant, &PeopleFilter::default(), limit, cursor).await
    }
    /// [`list_people`](PeopleReader::list_people) narrowed to the people
    /// `filter` matches; pass a cursor with the filter it was issued under.
    async fn find_people(
        &self,
        tenant: TenantId,
        filter: &PeopleFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<PersonRecord>, StoreError>;
    /// For ingest's manager lookup: `(value, external id)` for each of the
    /// tenant's people whose `key` is one of `values` (for
    /// [`PersonKey::Email`] any of their addresses, lower-cased: give
    /// `values` lower-cased). A value several people share comes once per
    /// person; values nobody has are left out.
    async fn people_by_key(
        &self,
        tenant: TenantId,
        key: PersonKey,
        values: Vec<String>,
    ) -> Result<Vec<(String, ExternalId)>, StoreError>;
    /// The stored managers of these people, as `(person, manager)`; people
    /// without one, or not stored, are left out.
    async fn managers_of(
        &self,
        tenant: TenantId,
        ids: Vec<ExternalId>,
    ) -> Result<Vec<(ExternalId, ExternalId)>, StoreError>;
    /// Oldest version first.
    async fn person_history(
        &self,
        tenant: TenantId,
        id: &ExternalId,
    ) -> Result<Vec<HistoryEntry>, StoreError>;
}
