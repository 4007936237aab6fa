pub mod alarms;
pub mod dlq;
pub mod feeds;
pub mod people;
pub mod push;
pub mod serve;
pub mod sources;
pub mod tenants;
