//! The panic hook logs where a panic happened, never its message: the
//! message can quote request data and forge log lines (security review A7).
//! Its own process: the hook and the subscriber are process-wide.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_panic_logs_its_location_only() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt().json().with_writer(move || writer.clone()).init();
    roster_server::panic::install_hook();

    let result = std::panic::catch_unwind(|| {
        let cursor = "a\u{e9}\n{\"level\":\"INFO\",\"message\":\"FORGED audit line\"}\nx";
        panic!("end byte index 2 is not a char boundary; it is inside 'é' of `{cursor}`");
    });
    assert!(result.is_err());
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(log.lines().count(), 1, "one line: {log}");
    assert!(log.contains("a thread panicked") && log.contains("panic_hook.rs:"), "{log}");
    assert!(!log.contains("FORGED") && !log.contains("char boundary"), "{log}");
}
