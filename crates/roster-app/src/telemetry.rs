//! Logging set-up: JSON lines when stderr is not a terminal (services,
//! CI), human-readable otherwise; level from `RUST_LOG`, else the given one
//! (`serve --log-level`). JSON lines carry the fields of the spans they are
//! in (`request_id`, `tenant`, `feed_id`, `message_id`), so one id finds
//! every line of a record's path.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(default_level: &str) -> anyhow::Result<()> {
    let filter = match EnvFilter::try_from_default_env() {
        Ok(filter) => filter,
        Err(_) => EnvFilter::try_new(default_level)
            .map_err(|e| anyhow::anyhow!("invalid log level `{default_level}`: {e}"))?,
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if std::io::stderr().is_terminal() {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(true).try_init()
    };
    Ok(())
}
