//! ChangeApplier: not yet on PostgreSQL (issue 16). Nothing reaches these methods:
//! the composition root does not offer this adapter yet, and the
//! conformance test enables only the finished concerns.

use async_trait::async_trait;
use roster_core::{ChangeMessage, Timestamp};
use roster_store::{ApplyOutcome, ChangeApplier, StoreError};

use crate::conn::PgDirectory;

#[async_trait]
impl ChangeApplier for PgDirectory {
    async fn apply_batch(
        &self,
        _messages: &[ChangeMessage],
        _now: Timestamp,
    ) -> Result<Vec<ApplyOutcome>, StoreError> {
        unimplemented!("ChangeApplier::apply_batch is not yet on PostgreSQL")
    }

    async fn record_failure(&self, _message: &ChangeMessage, _now: Timestamp) -> Result<(), StoreError> {
        unimplemented!("ChangeApplier::record_failure is not yet on PostgreSQL")
    }
}
