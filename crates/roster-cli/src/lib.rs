//! The `roster` binary's library half: the command line's layer of the
//! settings and the commands. The composition root is `roster_app`, which
//! the Lambda functions share; integration tests start the same
//! [`roster_app::start`] the binary does.

pub mod bench;
pub mod client;
pub mod commands;
pub mod config;
pub mod output;
