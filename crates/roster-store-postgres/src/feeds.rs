//! FeedStore: not yet on PostgreSQL (issue 16). Nothing reaches these methods:
//! the composition root does not offer this adapter yet, and the
//! conformance test enables only the finished concerns.

use async_trait::async_trait;
use roster_core::{ExternalId, FeedId, TenantId, Timestamp};
use roster_store::{Feed, FeedFilter, FeedSeal, FeedStore, NewFeed, Page, StoreError};

use crate::conn::PgDirectory;

#[async_trait]
impl FeedStore for PgDirectory {
    async fn create_feed(&self, _feed: NewFeed) -> Result<Feed, StoreError> {
        unimplemented!("FeedStore::create_feed is not yet on PostgreSQL")
    }

    async fn add_snapshot_members(
        &self,
        _tenant: TenantId,
        _feed: FeedId,
        _ids: Vec<ExternalId>,
        _now: Timestamp,
    ) -> Result<(), StoreError> {
        unimplemented!("FeedStore::add_snapshot_members is not yet on PostgreSQL")
    }

    async fn seal_feed(
        &self,
        _tenant: TenantId,
        _feed: FeedId,
        _seal: FeedSeal,
        _now: Timestamp,
    ) -> Result<Feed, StoreError> {
        unimplemented!("FeedStore::seal_feed is not yet on PostgreSQL")
    }

    async fn decide_snapshot(
        &self,
        _tenant: TenantId,
        _feed: FeedId,
        _approve: bool,
        _now: Timestamp,
    ) -> Result<Feed, StoreError> {
        unimplemented!("FeedStore::decide_snapshot is not yet on PostgreSQL")
    }

    async fn fail_feed(&self, _tenant: TenantId, _feed: FeedId, _now: Timestamp) -> Result<(), StoreError> {
        unimplemented!("FeedStore::fail_feed is not yet on PostgreSQL")
    }

    async fn touch_feed(&self, _tenant: TenantId, _feed: FeedId, _now: Timestamp) -> Result<(), StoreError> {
        unimplemented!("FeedStore::touch_feed is not yet on PostgreSQL")
    }

    async fn get_feed(&self, _tenant: TenantId, _feed: FeedId) -> Result<Option<Feed>, StoreError> {
        unimplemented!("FeedStore::get_feed is not yet on PostgreSQL")
    }

    async fn find_feeds(
        &self,
        _tenant: TenantId,
        _filter: &FeedFilter,
        _limit: usize,
        _cursor: Option<&str>,
    ) -> Result<Page<Feed>, StoreError> {
        unimplemented!("FeedStore::find_feeds is not yet on PostgreSQL")
    }
}
