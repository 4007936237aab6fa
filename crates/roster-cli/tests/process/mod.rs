//! Process-level test helpers: `roster` run as its users run it, as child
//! processes (the in-process harness is `support`).
#![allow(dead_code)]

use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_roster");

/// A child process, killed (`SIGKILL`) and reaped when dropped, so a
/// failing test leaves no server behind.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts connections on `port`; panics after `secs`.
pub fn wait_for_port(port: u16, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port} after {secs} s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spawns `cmd` (a `roster serve` or `worker` told to listen on `port`) and
/// waits for its listener.
pub fn start(cmd: &mut Command, port: u16) -> Process {
    let process = Process(cmd.spawn().unwrap());
    wait_for_port(port, 30);
    process
}

/// The last line of a command's output that succeeded: where `tenants
/// create` and `operators create` print the secret.
pub fn last_line_of(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned()
}
