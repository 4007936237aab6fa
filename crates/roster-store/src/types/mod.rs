//! The values the port passes, one module per concern; all re-exported from
//! the crate root (`roster_store::Feed`, ...).

pub mod alarm;
pub mod audit;
pub mod console_session;
pub mod credential;
pub mod endpoint;
pub mod feed;
pub mod filter;
pub mod idempotency;
pub mod lease;
pub mod outbox;
pub mod page;
pub mod person;
pub mod retention;
pub mod source;
pub mod tenant;

pub use alarm::*;
pub use audit::*;
pub use console_session::*;
pub use credential::*;
pub use endpoint::*;
pub use feed::*;
pub use filter::*;
pub use idempotency::*;
pub use lease::*;
pub use outbox::*;
pub use page::*;
pub use person::*;
pub use retention::*;
pub use source::*;
pub use tenant::*;
