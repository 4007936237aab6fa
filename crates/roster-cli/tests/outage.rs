//! The database goes away under a running node: a TCP proxy of the test's
//! own sits between `roster serve` and PostgreSQL, and the test cuts it
//! (every open connection dropped, new ones closed at once). Ingest then
//! answers `503` with `Retry-After`, `/readyz` names the directory, nothing
//! of the refused request is stored or queued; once the proxy is restored
//! the node takes feeds again without a restart.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Executor;
use tokio::net::{TcpListener, UnixStream};
use tokio::task::JoinHandle;

mod process;
use process::{BIN, Process as Server, free_port, last_line_of, start};
const METRICS_TOKEN: &str = "outage-metrics-token-0123456789";

/// Forwards TCP connections to the server's unix socket until cut.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(socket: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (o, l) = (open.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if !o.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let socket = socket.clone();
                l.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = UnixStream::connect(&socket).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy { port, open, links }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_answers_503_while_the_database_is_unreachable_and_stores_nothing_half() {
    let Ok(admin) = std::env::var("ROSTER_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("ROSTER_REQUIRE_POSTGRES").is_none(),
            "ROSTER_REQUIRE_POSTGRES is set but ROSTER_TEST_POSTGRES_URL is not"
        );
        eprintln!("ROSTER_TEST_POSTGRES_URL not set: the outage test did not run (scripts/test runs it)");
        return;
    };
    // The test server listens on a unix socket only: `host=<dir>&port=<n>`.
    let query = admin.split_once('?').map_or("", |(_, q)| q);
    let param =
        |k: &str| query.split('&').find_map(|kv| kv.strip_prefix(&format!("{k}=")).map(str::to_owned));
    let socket = format!(
        "{}/.s.PGSQL.{}",
        param("host").expect("a socket dir"),
        param("port").unwrap_or("5432".into())
    );
    let name = format!("outage_{}", std::process::id());
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(&admin).await.unwrap();
    pool.execute(format!("DROP DATABASE IF EXISTS {name}").as_str()).await.unwrap();
    pool.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    pool.close().await;
    let proxy = Proxy::start(socket).await;
    let url = format!("postgres://postgres@127.0.0.1:{}/{name}?sslmode=disable", proxy.port);

    let dir = tempfile::tempdir().unwrap();
    let key = last_line_of(
        Command::new(BIN)
            .args(["tenants", "create", "acme"])
            .env("ROSTER_STORE", "postgres")
            .env("ROSTER_DATABASE_URL", &url)
            .env("ROSTER_DATA_DIR", dir.path())
            .output()
            .unwrap(),
    );

    let port = free_port();
    let _server: Server = start(
        Command::new(BIN)
            .args(["serve", "--store", "postgres", "--workers", "0"])
            .env("ROSTER_DATABASE_URL", &url)
            .env("ROSTER_DATA_DIR", dir.path())
            .env("ROSTER_LISTEN", format!("127.0.0.1:{port}"))
            .env("ROSTER_METRICS_TOKEN", METRICS_TOKEN)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        port,
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let push = |ids: &'static str| {
        let records: Vec<Value> = (0..10).map(|i| json!({"externalId": format!("{ids}{i}")})).collect();
        http.post(format!("{base}/integrations/hr-feed"))
            .bearer_auth(&key)
            .json(&json!({"records": records}))
            .send()
    };
    let queued = async || -> Value {
        let r: Value = http
            .get(format!("{base}/readyz"))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["queue"]["visible"].clone()
    };
    assert_eq!(push("A").await.unwrap().status(), 202);
    assert_eq!(queued().await, 10);

    proxy.cut();
    let res = push("B").await.unwrap();
    assert_eq!(res.status(), 503, "{}", res.text().await.unwrap());
    assert!(res.headers().contains_key("retry-after"), "{:?}", res.headers());
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    // Past the readiness cache's second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let problem: Value = ready.json().await.unwrap();
    assert_eq!(problem["dependency"], "directory", "{problem}");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    let res = loop {
        let res = push("C").await.unwrap();
        if res.status() == 202 || Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(res.status(), 202, "the node takes feeds again once the database is back");
    // Nothing of the refused request: neither its messages nor its feed.
    assert_eq!(queued().await, 20, "only the two accepted requests' messages are queued");
    let feeds: Value = http
        .get(format!("{base}/v1/feeds?limit=100"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let feeds = feeds["items"].as_array().unwrap();
    assert_eq!(feeds.len(), 2, "{feeds:?}");
    assert!(feeds.iter().all(|f| f["status"] == "accepted"), "{feeds:?}");
}
