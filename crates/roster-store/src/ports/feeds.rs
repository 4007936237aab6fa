use async_trait::async_trait;
use roster_core::{ExternalId, FeedId, TenantId, Timestamp};

use crate::{Feed, FeedFilter, FeedSeal, Leaver, NewFeed, Page, StoreError};

/// Feeds: one per submission, from its acceptance at ingest to its final
/// status, and the operator's decision on a halted full snapshot.
///
/// A feed's status follows from its counts by
/// [`policy::status_of`](crate::policy::status_of) and a snapshot is judged
/// by [`policy::judge_snapshot`](crate::policy::judge_snapshot): adapters
/// count and write, they do not decide.
#[async_trait]
pub trait FeedStore: Send + Sync {
    /// Records a feed at ingest, before its messages are queued. It takes the
    /// next position in the order feeds are accepted (`Feed::position`,
    /// increasing across the store: feed order is what later decisions go
    /// by, not the order changes happen to be applied).
    async fn create_feed(&self, feed: NewFeed) -> Result<Feed, StoreError>;
    /// Records the external ids a full snapshot lists (called before the
    /// records are queued, in as many calls as the upload needs). People of
    /// the source not listed are the snapshot's leavers.
    async fn add_snapshot_members(
        &self,
        tenant: TenantId,
        feed: FeedId,
        ids: Vec<ExternalId>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Gives a streamed feed its final counts; from now on it completes (and
    /// a full snapshot reconciles) once all its records are processed.
    /// `Conflict` if the feed is unknown, sealed already, or was failed
    /// meanwhile (the client must resend it).
    async fn seal_feed(
        &self,
        tenant: TenantId,
        feed: FeedId,
        seal: FeedSeal,
        now: Timestamp,
    ) -> Result<Feed, StoreError>;
    /// An operator's decision on a halted snapshot: approve deactivates the
    /// absent people (judged by feed order: nobody a newer feed listed),
    /// reject deactivates nobody. `Conflict` if not halted — including a
    /// snapshot `superseded` by a newer one of its source.
    async fn decide_snapshot(
        &self,
        tenant: TenantId,
        feed: FeedId,
        approve: bool,
        now: Timestamp,
    ) -> Result<Feed, StoreError>;
    /// Marks a feed whose messages could not be queued.
    async fn fail_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError>;
    /// Records that a feed still being received is alive (a streamed upload
    /// making progress), so the stall sweep leaves it. `Conflict` once the
    /// feed is no longer `receiving` (e.g. the sweep failed it).
    async fn touch_feed(&self, tenant: TenantId, feed: FeedId, now: Timestamp) -> Result<(), StoreError>;
    async fn get_feed(&self, tenant: TenantId, feed: FeedId) -> Result<Option<Feed>, StoreError>;
    /// The tenant's feeds, newest first. `limit` is clamped to
    /// [`MAX_PAGE`](crate::limits::MAX_PAGE); pass back only a `next` this
    /// store issued.
    async fn list_feeds(
        &self,
        tenant: TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Feed>, StoreError> {
        self.find_feeds(tenant, &FeedFilter::default(), limit, cursor).await
    }
    /// [`list_feeds`](FeedStore::list_feeds) narrowed to the feeds `filter`
    /// matches; pass a cursor with the filter it was issued under.
    async fn find_feeds(
        &self,
        tenant: TenantId,
        filter: &FeedFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Feed>, StoreError>;
    /// A full snapshot's leavers, in external id order: once it completed,
    /// the people its reconciliation deactivated (with when); while it is
    /// halted, the active people of its source it did not list and no newer
    /// feed has spoken of — those an approval would deactivate, as of now.
    /// Empty for a snapshot that deactivated nobody or is still open, was
    /// rejected or superseded. `cursor` is the `next` of the previous page.
    /// `NotFound` for another tenant's feed; `Invalid` for a delta feed.
    async fn feed_leavers(
        &self,
        tenant: TenantId,
        feed: FeedId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Leaver>, StoreError>;
}
