//! A Lambda Runtime API server of the test's own, speaking the protocol the
//! functions' runtime client speaks (AWS, "Using the Lambda runtime API for
//! custom runtimes": `GET /2018-06-01/runtime/invocation/next`, `POST
//! .../invocation/{id}/response`, `.../invocation/{id}/error`,
//! `/init/error`), so the built binaries run here as they run in Lambda.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, Notify, mpsc};

#[derive(Default)]
struct Answers {
    /// Request id → `Ok(response)` or `Err(error document)`.
    done: HashMap<String, Result<Value, Value>>,
    init_error: Option<Value>,
    /// When the function first asked for an event: its init was over.
    first_poll: Option<Instant>,
}

#[derive(Clone)]
struct Shared {
    events: Arc<Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    answers: Arc<Mutex<Answers>>,
    answered: Arc<Notify>,
}

/// One function's Runtime API endpoint and the function's process.
pub struct Runtime {
    pub addr: SocketAddr,
    send: mpsc::UnboundedSender<(String, Value)>,
    shared: Shared,
    next_id: std::sync::atomic::AtomicU64,
    child: Option<Child>,
    started: Instant,
    pub name: String,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Runtime {
    /// Serves a Runtime API and starts the function `binary` against it
    /// with `env` (and the variables Lambda itself sets).
    pub async fn start(name: &str, binary: &str, env: &[(String, String)]) -> Self {
        let (send, recv) = mpsc::unbounded_channel();
        let shared = Shared {
            events: Arc::new(Mutex::new(recv)),
            answers: Arc::default(),
            answered: Arc::new(Notify::new()),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let log = std::env::temp_dir().join(format!("roster-{name}-{}.log", std::process::id()));
        let started = Instant::now();
        let child = Command::new(binary)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(std::fs::File::create(log.with_extension("out")).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        Self {
            addr,
            send,
            shared,
            next_id: Default::default(),
            child: Some(child),
            started,
            name: name.to_owned(),
        }
    }

    /// The function's stderr (its JSON log lines) and stdout (EMF lines).
    pub fn logs(&self) -> (String, String) {
        let log = std::env::temp_dir().join(format!("roster-{}-{}.log", self.name, std::process::id()));
        (
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(log.with_extension("out")).unwrap_or_default(),
        )
    }

    /// Hands the function one event and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Result<Value, Value> {
        let id = format!("req-{}", self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        self.send.send((id.clone(), event)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let waiting = self.shared.answered.notified();
            {
                let mut answers = self.shared.answers.lock().await;
                if let Some(answer) = answers.done.remove(&id) {
                    return answer;
                }
                if let Some(e) = &answers.init_error {
                    panic!("{} failed to initialise: {e}\n{}", self.name, self.logs().0);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{} did not answer {id}:\n{}", self.name, self.logs().0);
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), waiting).await;
        }
    }

    /// From the process's start to its first request for an event: the
    /// cold start (settings, pool, migrations, AWS clients).
    pub async fn init_time(&self) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(at) = self.shared.answers.lock().await.first_poll {
                return at - self.started;
            }
            assert!(Instant::now() < deadline, "{} never polled:\n{}", self.name, self.logs().0);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

async fn next(State(s): State<Shared>) -> impl IntoResponse {
    s.answers.lock().await.first_poll.get_or_insert_with(Instant::now);
    let Some((id, event)) = s.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), Bytes::new());
    };
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", HeaderValue::from_str(&id).unwrap());
    let deadline = std::time::SystemTime::now() + Duration::from_secs(30);
    let ms = deadline.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    headers.insert("lambda-runtime-deadline-ms", HeaderValue::from_str(&ms.to_string()).unwrap());
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:roster"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-5759e988-bd862e3fe1be46a994272793"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, headers, Bytes::from(event.to_string()))
}

async fn answer(s: &Shared, id: String, body: Bytes, ok: bool) -> StatusCode {
    let value: Value =
        serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into()));
    s.answers.lock().await.done.insert(id, if ok { Ok(value) } else { Err(value) });
    s.answered.notify_waiters();
    StatusCode::ACCEPTED
}

async fn response(State(s): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&s, id, body, true).await
}

async fn error(State(s): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    answer(&s, id, body, false).await
}

async fn init_error(State(s): State<Shared>, body: Bytes) -> StatusCode {
    let value: Value =
        serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into()));
    s.answers.lock().await.init_error = Some(value);
    s.answered.notify_waiters();
    StatusCode::ACCEPTED
}
