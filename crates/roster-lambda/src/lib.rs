//! The serverless shape's three functions, each a thin host over the same
//! composition root ([`roster_app`]), engine and router as `roster serve`:
//!
//! - [`http`]: API Gateway (HTTP API, payload 2.0) → the axum router;
//! - [`sqs`]: an SQS FIFO batch → the consumer's rules → a partial batch
//!   response (`ReportBatchItemFailures`);
//! - [`schedule`]: an EventBridge tick → one leased pass of each
//!   once-per-cluster job.
//!
//! What a function builds at its cold start ([`init`]: settings from
//! `ROSTER_*`, the database pool, the AWS clients) lives for its execution
//! environment; each event only drives it.

pub mod http;
pub mod init;
pub mod schedule;
pub mod sqs;
