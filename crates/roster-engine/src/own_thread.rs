//! A thread of its own for a blocking job that lasts as long as a client
//! wants (a streamed upload reads the request body for up to hours). On
//! tokio's blocking pool such jobs would take the threads every SQLite call
//! of the process waits for — key lookups, the queue, the directory — so a
//! few hundred stalled uploads could starve every tenant. How many run at
//! once is bounded by the caller (the server's upload budget).

use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum ThreadError {
    #[error("could not start a thread ({0})")]
    Spawn(std::io::ErrorKind),
    /// The job panicked; the panic's message is not repeated (it may quote input).
    #[error("the thread stopped unexpectedly")]
    Panicked,
}

/// Runs `job` on a new thread named `name` and waits for its result
/// without holding an async worker.
pub async fn run<T: Send + 'static>(
    name: &str,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ThreadError> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            let _ = tx.send(result);
        })
        .map_err(|e| ThreadError::Spawn(e.kind()))?;
    match rx.await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) | Err(_) => Err(ThreadError::Panicked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_job_runs_off_the_blocking_pool_and_a_panic_is_an_error() {
        let name = run("roster-test", || std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert_eq!(name.as_deref(), Some("roster-test"));
        let panicked = run("roster-test", || -> u8 { panic!("boom") }).await;
        assert!(matches!(panicked, Err(ThreadError::Panicked)));
    }
}
