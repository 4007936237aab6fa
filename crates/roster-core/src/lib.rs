//! Roster's domain model. Everything here is pure: parsing, validation and the
//! decisions that turn a change into lifecycle events. No I/O, no async, no
//! knowledge of HTTP, SQLite or AWS.
//!
//! Architecture invariant: this crate depends on nothing that touches the
//! network, the file system or a database.

pub mod address;
pub mod alarm;
pub mod change;
pub mod clock;
pub mod ids;
pub mod lifecycle;
pub mod mapping;
pub mod person;
pub mod public_id;
pub mod secret;
pub mod validate;

pub use change::{Change, ChangeMessage, FeedMode};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use ids::{ExternalId, FeedId, KeyName, MessageId, SourceName, TenantId};
pub use lifecycle::{Decision, EventType, LifecycleEvent, Status};
pub use mapping::MappingProfile;
pub use person::Person;
pub use validate::{FieldError, RecordError};
