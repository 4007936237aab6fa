//! The event sink ignores the environment's proxy: through a proxy, the
//! proxy resolves the target and the public-address check never runs
//! (security review A4). Its own process, because reqwest reads
//! `HTTP(S)_PROXY` once per process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use roster_core::secret::Secret;
use roster_notify::{DeliveryError, EventDelivery, EventSink, HttpEventSink, PrivateTargets};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A stand-in proxy: counts connections, answers a plain request `204` and a
/// `CONNECT` `200`, as a real proxy that reaches everything would.
async fn recorder() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let answer: &[u8] = if buf[..n].starts_with(b"CONNECT") {
                    b"HTTP/1.1 200 Connection established\r\n\r\n"
                } else {
                    b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
                };
                let _ = stream.write_all(answer).await;
            });
        }
    });
    (port, seen)
}

#[tokio::test]
async fn an_environment_proxy_is_not_used_so_internal_names_stay_unreachable() {
    let (port, seen) = recorder().await;
    let proxy = format!("http://127.0.0.1:{port}");
    // SAFETY: this file's only test, run before any client reads the
    // environment; nothing else in this process reads or writes it.
    unsafe {
        for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
            std::env::set_var(var, &proxy);
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
    }
    let sink = HttpEventSink::new(Duration::from_secs(5), PrivateTargets::Refused).unwrap();
    let secret = Secret::new("whsec_c2VjcmV0");
    for url in [
        "http://metadata.google.internal/computeMetadata/v1/instance/",
        "https://internal-admin.corp.example/api/users",
    ] {
        let delivery = EventDelivery {
            url,
            secret: &secret,
            previous_secret: None,
            id: "e1",
            timestamp: 1,
            body: b"{}",
        };
        let err = sink.deliver(&delivery).await.unwrap_err();
        assert!(matches!(err, DeliveryError::NotPublic(_) | DeliveryError::Unreachable(_)), "{url}: {err:?}");
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0, "nothing went through the proxy");
}
