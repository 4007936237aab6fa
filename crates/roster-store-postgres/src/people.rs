//! PeopleReader: not yet on PostgreSQL (issue 16). Nothing reaches these methods:
//! the composition root does not offer this adapter yet, and the
//! conformance test enables only the finished concerns.

use async_trait::async_trait;
use roster_core::{ExternalId, TenantId};
use roster_store::{HistoryEntry, Page, PeopleFilter, PeopleReader, PersonRecord, StoreError};

use crate::conn::PgDirectory;

#[async_trait]
impl PeopleReader for PgDirectory {
    async fn get_person(
        &self,
        _tenant: TenantId,
        _id: &ExternalId,
    ) -> Result<Option<PersonRecord>, StoreError> {
        unimplemented!("PeopleReader::get_person is not yet on PostgreSQL")
    }

    async fn find_people(
        &self,
        _tenant: TenantId,
        _filter: &PeopleFilter,
        _limit: usize,
        _cursor: Option<&str>,
    ) -> Result<Page<PersonRecord>, StoreError> {
        unimplemented!("PeopleReader::find_people is not yet on PostgreSQL")
    }

    async fn person_history(
        &self,
        _tenant: TenantId,
        _id: &ExternalId,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        unimplemented!("PeopleReader::person_history is not yet on PostgreSQL")
    }
}
