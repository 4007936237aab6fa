//! The `roster` binary's library half: configuration, the composition root
//! that wires adapters to the engine and the server, and the commands.
//! Integration tests start the same [`app::start`] the binary does.

pub mod app;
pub mod bench;
pub mod client;
pub mod commands;
pub mod config;
pub mod logging;
pub mod output;
