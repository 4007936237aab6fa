//! What a panic leaves in the log: one fixed line with where it happened.
//! The default hook prints the panic's message, which can quote request
//! data (a cursor, a header, a record) and, having line breaks, forge log
//! lines; so the message is never printed. (No input should panic at all;
//! this is the backstop, beside the router's panic-catching layer.)

use std::sync::Once;

/// Replaces the process's panic hook (once; later calls do nothing).
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            let location = location.as_deref().unwrap_or("unknown");
            if tracing::dispatcher::has_been_set() {
                tracing::error!(
                    location,
                    "a thread panicked (its message is not logged: it may hold request data)"
                );
            } else {
                eprintln!(
                    "a thread panicked at {location} (its message is not printed: it may hold request data)"
                );
            }
        }));
    });
}
