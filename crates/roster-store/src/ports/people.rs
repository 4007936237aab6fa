use async_trait::async_trait;
use roster_core::{ExternalId, TenantId};

use crate::{HistoryEntry, Page, PeopleFilter, PersonRecord, StoreError};

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
    /// Oldest version first.
    async fn person_history(
        &self,
        tenant: TenantId,
        id: &ExternalId,
    ) -> Result<Vec<HistoryEntry>, StoreError>;
}
