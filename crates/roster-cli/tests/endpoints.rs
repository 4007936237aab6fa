//! Webhook endpoints over the real server, as a tenant's receiving system
//! sees them: a joiner arrives signed per Standard Webhooks (checked here
//! with an HMAC of our own), a 500 is retried with the same `webhook-id`, an
//! endpoint that always fails gets a dead letter that `/metrics` and the
//! listing show and a redrive delivers once fixed, another tenant's
//! endpoint never hears of it, a restart mid-backlog still delivers, the
//! URL is checked (internal addresses refused unless allowed), a rotated
//! secret keeps signing beside the new one for its grace period, and
//! `roster endpoints add|ls|rm|rotate-secret` work.

mod support;

use std::collections::VecDeque;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use roster_app::Settings;
use roster_core::secret::Secret;
use serde_json::{Value, json};
use support::{TestApp, person, spawn_app, spawn_app_with};

const BIN: &str = env!("CARGO_BIN_EXE_roster");
const METRICS_TOKEN: &str = "prom-scrape-token-0123456789";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Call {
    id: String,
    timestamp: String,
    signature: String,
    body: Bytes,
}

impl Call {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Receiver {
    calls: Mutex<Vec<Call>>,
    /// Statuses to answer first; then `otherwise`.
    script: Mutex<VecDeque<u16>>,
    otherwise: Mutex<u16>,
    /// How long to take before answering.
    delay: Mutex<Duration>,
}

/// A receiving system on a free port.
struct Hook {
    url: String,
    state: Arc<Receiver>,
}

impl Hook {
    async fn start() -> Self {
        let state = Arc::new(Receiver { otherwise: Mutex::new(200), ..Default::default() });
        let app = Router::new()
            .route(
                "/hook",
                post(|State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes| async move {
                    let h =
                        |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    let call = Call {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body,
                    };
                    let delay = *r.delay.lock().unwrap();
                    tokio::time::sleep(delay).await;
                    r.calls.lock().unwrap().push(call);
                    let status = r.script.lock().unwrap().pop_front().unwrap_or(*r.otherwise.lock().unwrap());
                    StatusCode::from_u16(status).unwrap()
                }),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    fn answer(&self, statuses: &[u16]) {
        self.state.script.lock().unwrap().extend(statuses);
    }

    fn otherwise(&self, status: u16) {
        *self.state.otherwise.lock().unwrap() = status;
    }

    async fn wait_calls(&self, n: usize) -> Vec<Call> {
        wait_until(&format!("{n} call(s) to the endpoint"), async || self.calls().len() >= n).await;
        self.calls()
    }
}

async fn wait_until<F: AsyncFnMut() -> bool>(what: &str, mut done: F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(Instant::now() < deadline, "still waiting after 30 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Quick retries, plain-http and private endpoints allowed (the receiver is
/// on 127.0.0.1).
fn outbox(s: &mut Settings) {
    s.outbox.allow_insecure_endpoints = true;
    s.outbox.allow_private_endpoints = true;
    s.outbox.poll_interval_ms = 25;
    s.outbox.retry_base_ms = 50;
    s.outbox.retry_cap_ms = 100;
    s.outbox.max_attempts = 3;
    s.outbox.timeout_secs = 5;
    s.metrics_token = Some(Secret::new(METRICS_TOKEN));
}

/// The person events: what the cases about delivering a person's changes
/// subscribe to, so that each feed's own `feed.completed` (which an endpoint
/// without `eventTypes` also gets, as the first case shows) does not count.
const PERSON_EVENTS: [&str; 5] =
    ["person.joined", "person.moved", "person.updated", "person.left", "person.rehired"];

/// Registers an endpoint as `key`'s tenant; returns (id, secret).
async fn register(app: &TestApp, key: &str, body: Value) -> (String, String) {
    let res = app.http.post(app.url("/v1/endpoints")).bearer_auth(key).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let created: Value = res.json().await.unwrap();
    (created["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
}

/// Pushes one joiner and waits until it is applied.
async fn join(app: &TestApp, key: &str, id: &str) {
    let res = app.post_feed_as(key, &json!({"mode": "delta", "records": [person(id, "Sales")]})).await;
    assert_eq!(res.status(), 202);
    let feed: Value = res.json().await.unwrap();
    let path = format!("/v1/feeds/{}", feed["feedId"].as_str().unwrap());
    wait_until("the feed to complete", async || {
        app.get_as(key, &path).await.json::<Value>().await.unwrap()["status"] == "completed"
    })
    .await;
}

/// The Standard Webhooks check a receiver makes, written from the spec with
/// `ring` (not Roster's code): HMAC-SHA256 over `id.timestamp.body` keyed by
/// the base64 after `whsec_`.
fn verify(secret: &str, call: &Call) {
    let expected = signature_of(secret, call);
    assert!(call.signature.split(' ').any(|s| s == expected), "{} != {expected}", call.signature);
    let ts: u64 = call.timestamp.parse().expect("unix seconds");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(ts) < 300, "a fresh timestamp");
}

/// The `v1,<base64>` signature `secret` makes of the call (as [`verify`]).
fn signature_of(secret: &str, call: &Call) -> String {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").expect("a whsec_ secret")).unwrap();
    assert!(key.len() >= 24, "at least 24 random bytes");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut signed = format!("{}.{}.", call.id, call.timestamp).into_bytes();
    signed.extend_from_slice(&call.body);
    format!("v1,{}", STANDARD.encode(ring::hmac::sign(&key, &signed).as_ref()))
}

async fn metrics(app: &TestApp) -> String {
    let res = app.get_as(METRICS_TOKEN, "/metrics").await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// The value of one sample of `/metrics`, by its name and labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

#[tokio::test]
async fn a_joiner_reaches_the_endpoint_signed_and_older_events_are_not_sent() {
    let hook = Hook::start().await;
    let app = spawn_app_with(outbox).await;
    join(&app, &app.key, "OLD1").await;

    let (id, secret) =
        register(&app, &app.key, json!({"url": hook.url, "description": "onboarding", "eventTypes": null}))
            .await;
    let listed = app.get_json("/v1/endpoints").await;
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert!(!listed.to_string().contains(&secret[6..]), "the secret is shown once only");
    let audit = app.get_json("/v1/audit").await.to_string();
    assert!(audit.contains("endpoint.created") && !audit.contains(&secret[6..]), "{audit}");

    join(&app, &app.key, "NEW1").await;
    // The joiner, then its feed's end: an endpoint without `eventTypes`
    // gets feed events too.
    let calls = hook.wait_calls(2).await;
    verify(&secret, &calls[0]);
    let events = app.events().await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["person.joined", "feed.completed", "person.joined", "feed.completed"]);
    let sent = calls[0].json();
    assert_eq!(sent, events[2], "the body is the event as /v1/events shows it");
    assert_eq!(sent["type"], "person.joined");
    assert_eq!(sent["payload"]["person"]["externalId"], "NEW1");
    assert_eq!(calls[0].id, events[2]["id"].as_str().unwrap(), "webhook-id is the event id");
    assert_eq!(calls[1].json(), events[3]);
    verify(&secret, &calls[1]);
    assert!(calls[0].id.starts_with("evt_"), "an event id has its type prefix: {}", calls[0].id);
    assert!(sent["feedId"].as_str().unwrap().starts_with("feed_"), "{sent}");
    assert!(support::is_time(&sent["occurredAt"]), "{sent}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.calls().len(), 2, "the events from before the endpoint existed are not sent");
    let m = metrics(&app).await;
    let tenant = app.tenant_id;
    assert_eq!(sample(&m, &format!("roster_outbox_backlog{{tenant=\"{tenant}\"}}")), Some(0.0), "{m}");
    assert!(sample(&m, &format!("roster_events_delivered_total{{tenant=\"{tenant}\"}}")) >= Some(1.0), "{m}");
}

#[tokio::test]
async fn a_500_is_retried_and_the_event_delivered_once_with_the_same_id() {
    let hook = Hook::start().await;
    hook.answer(&[500]);
    let app = spawn_app_with(outbox).await;
    let (_, secret) = register(&app, &app.key, json!({"url": hook.url, "eventTypes": PERSON_EVENTS})).await;
    join(&app, &app.key, "E1").await;
    let calls = hook.wait_calls(2).await;
    assert_eq!(calls[0].id, calls[1].id, "the retry has the same webhook-id");
    assert_eq!(calls[0].body, calls[1].body);
    verify(&secret, &calls[1]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.calls().len(), 2, "delivered once: no call after the 200");
    let m = metrics(&app).await;
    let failed = format!("roster_event_deliveries_failed_total{{tenant=\"{}\"}}", app.tenant_id);
    assert!(sample(&m, &failed) >= Some(1.0), "{m}");
}

#[tokio::test]
async fn a_failing_endpoint_dead_letters_the_event_and_a_redrive_delivers_it_once_fixed() {
    let hook = Hook::start().await;
    hook.otherwise(500);
    let app = spawn_app_with(|s| {
        outbox(s);
        // Slow enough retries for the backlog to be seen while they run.
        s.outbox.retry_base_ms = 400;
        s.outbox.retry_cap_ms = 400;
        s.alarm_interval_secs = 1;
    })
    .await;
    let (id, _) = register(&app, &app.key, json!({"url": hook.url, "eventTypes": PERSON_EVENTS})).await;
    join(&app, &app.key, "E1").await;
    let tenant = app.tenant_id;
    let backlog = format!("roster_outbox_backlog{{tenant=\"{tenant}\"}}");
    wait_until("the backlog to show the event", async || sample(&metrics(&app).await, &backlog) == Some(1.0))
        .await;

    let path = format!("/v1/endpoints/{id}/dead-letters");
    wait_until("a dead letter", async || !app.get_json(&path).await["items"].as_array().unwrap().is_empty())
        .await;
    let dead = app.get_json(&path).await["items"][0].clone();
    let event = app.events().await[0].clone();
    assert_eq!((dead["event"]["id"].clone(), dead["attempts"].clone()), (event["id"].clone(), json!(3)));
    assert_eq!((dead["lastStatus"].clone(), dead["state"].clone()), (json!(500), json!("dead")));
    assert!(!dead.to_string().contains("E1"), "no personal data in a dead letter: {dead}");
    assert_eq!(hook.calls().len(), 3);
    let m = metrics(&app).await;
    assert_eq!(sample(&m, &format!("roster_event_dead_letters{{tenant=\"{tenant}\"}}")), Some(1.0), "{m}");
    assert_eq!(sample(&m, &backlog), Some(0.0), "the cursor moved on");
    assert!(sample(&m, &format!("roster_events_dead_lettered_total{{tenant=\"{tenant}\"}}")) >= Some(1.0));
    let op = app.operator_key("ops").await;
    let alarm = async || {
        let all: Value = app.get_as(&op, "/v1/alarms").await.json().await.unwrap();
        all["items"].as_array().unwrap().iter().find(|a| a["name"] == "event_dead_letters").unwrap()["state"]
            .clone()
    };
    wait_until("the event dead letters alarm", async || alarm().await == "ALARM").await;

    hook.otherwise(200);
    let res = app.post_empty(&format!("/v1/endpoints/{id}/dead-letters/redrive")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["redriven"], 1);
    let calls = hook.wait_calls(4).await;
    assert_eq!(calls[3].id, event["id"].as_str().unwrap());
    wait_until("the dead letter to go", async || {
        app.get_json(&path).await["items"].as_array().unwrap().is_empty()
    })
    .await;
    let audit = app.get_json("/v1/audit").await.to_string();
    assert!(audit.contains("endpoint.redriven"), "{audit}");
    wait_until("the alarm to clear", async || alarm().await == "OK").await;
}

#[tokio::test]
async fn another_tenants_endpoint_never_receives_nor_sees_the_event() {
    let (ours, theirs) = (Hook::start().await, Hook::start().await);
    let app = spawn_app_with(outbox).await;
    let b = app.new_tenant("globex").await;
    let (a_id, _) = register(&app, &app.key, json!({"url": ours.url})).await;
    let (b_id, _) = register(&app, &b, json!({"url": theirs.url})).await;
    join(&app, &app.key, "A1").await;
    ours.wait_calls(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(theirs.calls().is_empty(), "B's endpoint got A's event");

    let listed: Value = app.get_as(&b, "/v1/endpoints").await.json().await.unwrap();
    let ids: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [b_id.as_str()]);
    let dl = app.get_as(&b, &format!("/v1/endpoints/{a_id}/dead-letters")).await;
    assert_eq!(dl.status(), 404);
    let redrive =
        app.http.post(app.url(&format!("/v1/endpoints/{a_id}/dead-letters/redrive"))).bearer_auth(&b);
    assert_eq!(redrive.send().await.unwrap().status(), 404);
    let rm = app.http.delete(app.url(&format!("/v1/endpoints/{a_id}"))).bearer_auth(&b).send().await.unwrap();
    assert_eq!(rm.status(), 404);
    assert!(app.get_json("/v1/endpoints").await["items"][0]["disabledAt"].is_null(), "still active");
}

#[tokio::test]
async fn a_restart_mid_backlog_still_delivers_in_order() {
    let hook = Hook::start().await;
    hook.otherwise(503);
    let mut app = spawn_app_with(|s| {
        outbox(s);
        s.outbox.max_attempts = 1000;
    })
    .await;
    register(&app, &app.key, json!({"url": hook.url, "eventTypes": PERSON_EVENTS})).await;
    join(&app, &app.key, "R1").await;
    join(&app, &app.key, "R2").await;
    hook.wait_calls(2).await;
    app.stop().await;
    let before = hook.calls().len();
    hook.otherwise(200);
    app.restart().await;
    let calls = hook.wait_calls(before + 2).await;
    let events = app.person_events().await;
    let after: Vec<&str> = calls[before..].iter().map(|c| c.id.as_str()).collect();
    assert_eq!(after, [events[0]["id"].as_str().unwrap(), events[1]["id"].as_str().unwrap()]);
}

#[tokio::test]
async fn endpoint_urls_are_checked_and_need_an_admin_key() {
    let app = spawn_app().await;
    let res = app.http.post(app.url("/v1/endpoints")).bearer_auth(&app.key);
    let res = res.json(&json!({"url": "http://hooks.example.com/x"})).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().starts_with("`url`: must be https"), "{problem}");
    for (body, field) in [
        (json!({"url": "not a url"}), "`url`"),
        (json!({"url": "https://x.example/", "eventTypes": ["person.fired"]}), "`eventTypes`"),
    ] {
        let res =
            app.http.post(app.url("/v1/endpoints")).bearer_auth(&app.key).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 400);
        let detail = res.json::<Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
        assert!(detail.starts_with(field), "{detail}");
    }

    let res = app
        .http
        .post(app.url("/v1/keys"))
        .bearer_auth(&app.key)
        .json(&json!({"name": "test-key", "scopes": ["read"]}));
    let reader =
        res.send().await.unwrap().json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();
    let body = json!({"url": "https://hooks.example.com/x"});
    let res = app.http.post(app.url("/v1/endpoints")).bearer_auth(&reader).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.get_as(&reader, "/v1/endpoints").await.status(), 403);
}

/// Internal addresses, which a tenant could use to reach into the
/// operator's network.
const INTERNAL_URLS: [&str; 4] = [
    "https://127.0.0.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://localhost/hook",
];

#[tokio::test]
async fn internal_addresses_are_refused_by_default() {
    let app = spawn_app().await;
    for url in INTERNAL_URLS {
        let res = app.http.post(app.url("/v1/endpoints")).bearer_auth(&app.key);
        let res = res.json(&json!({ "url": url })).send().await.unwrap();
        assert_eq!(res.status(), 400, "{url}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let detail = res.json::<Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
        assert!(detail.starts_with("`url`: ") && detail.contains("not a public address"), "{url}: {detail}");
        assert!(detail.contains("allow_private_endpoints"), "{detail}");
    }
    let listed = app.get_json("/v1/endpoints").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");
}

#[tokio::test]
async fn internal_addresses_are_accepted_when_private_endpoints_are_allowed() {
    let app = spawn_app_with(|s| s.outbox.allow_private_endpoints = true).await;
    for url in INTERNAL_URLS {
        register(&app, &app.key, json!({ "url": url })).await;
    }
    // Plain http is still its own setting.
    let res = app.http.post(app.url("/v1/endpoints")).bearer_auth(&app.key);
    let res = res.json(&json!({"url": "http://127.0.0.1/hook"})).send().await.unwrap();
    assert_eq!(res.status(), 400);
}

/// `roster` as a user runs it (off the runtime's thread: the server it asks
/// runs on that thread).
async fn roster(app: &TestApp, args: &[&str]) -> String {
    let out = roster_run(app, args).await;
    assert!(out.status.success(), "roster endpoints {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn roster_run(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = vec!["endpoints".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend(["--server".into(), app.base.clone(), "--key".into(), app.key.clone()]);
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&all).output().unwrap()).await.unwrap()
}

/// `roster endpoints ...`: its stdout if it succeeded.
async fn roster_ok(app: &TestApp, args: &[&str]) -> Option<String> {
    let out = roster_run(app, args).await;
    out.status.success().then(|| String::from_utf8(out.stdout).unwrap())
}

#[tokio::test]
async fn the_cli_adds_lists_and_removes_endpoints() {
    let app = spawn_app().await;
    let out = roster(
        &app,
        &[
            "add",
            "https://hooks.example.com/roster",
            "--description",
            "HRIS",
            "--event-types",
            "person.joined,person.left",
        ],
    )
    .await;
    let secret = out.lines().last().unwrap();
    assert!(secret.starts_with("whsec_"), "{out}");
    let id = app.get_json("/v1/endpoints").await["items"][0]["id"].as_str().unwrap().to_owned();
    assert!(out.contains(&id), "{out}");

    let ls = roster(&app, &["ls"]).await;
    assert!(ls.contains(&id) && ls.contains("active") && ls.contains("person.joined,person.left"), "{ls}");
    assert!(!ls.contains(&secret[6..]), "ls never shows the secret");

    let rm = roster(&app, &["rm", &id]).await;
    assert!(rm.contains("disabled"), "{rm}");
    let ls = roster(&app, &["ls"]).await;
    assert!(ls.contains("disabled"), "{ls}");
    let dl = roster(&app, &["dead-letters", &id]).await;
    assert!(dl.starts_with("EVENT"), "{dl}");

    let up = roster(
        &app,
        &["update", &id, "--enable", "--url", "https://hooks2.example.com/r", "--event-types", "all"],
    )
    .await;
    assert!(up.contains("active") && up.contains("https://hooks2.example.com/r"), "{up}");
    let show = roster(&app, &["show", &id]).await;
    assert!(show.contains("active") && show.contains("event types  all") && show.contains("HRIS"), "{show}");
    let json: Value = serde_json::from_str(&roster(&app, &["show", &id, "--json"]).await).unwrap();
    assert_eq!(json["url"], "https://hooks2.example.com/r");
    let out = roster_run(&app, &["update", &id, "--url", "http://hooks.example.com/x"]).await;
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("`url`"), "{out:?}");
}

#[tokio::test]
async fn a_slow_endpoint_does_not_delay_another() {
    let (slow, fast) = (Hook::start().await, Hook::start().await);
    *slow.state.delay.lock().unwrap() = Duration::from_secs(4);
    let app = spawn_app_with(outbox).await;
    register(&app, &app.key, json!({"url": slow.url})).await;
    register(&app, &app.key, json!({"url": fast.url})).await;
    join(&app, &app.key, "S1").await;
    let started = Instant::now();
    fast.wait_calls(1).await;
    // The slow endpoint is still on S1: the fast one's next event must not wait for it.
    join(&app, &app.key, "S2").await;
    fast.wait_calls(2).await;
    assert!(started.elapsed() < Duration::from_secs(3), "the fast endpoint waited for the slow one");
    assert!(slow.calls().is_empty(), "the slow one is still answering");
    slow.wait_calls(1).await;
}

#[tokio::test]
async fn a_tenant_has_at_most_so_many_active_endpoints() {
    let app = spawn_app().await;
    let body = json!({"url": "https://hooks.example.com/x"});
    let mut last = String::new();
    for _ in 0..20 {
        last = register(&app, &app.key, body.clone()).await.0;
    }
    let res = app.http.post(app.url("/v1/endpoints")).bearer_auth(&app.key).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 409);
    let res = app
        .http
        .delete(app.url(&format!("/v1/endpoints/{last}")))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    register(&app, &app.key, body).await;
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_and_only_the_owner_may_rotate() {
    let hook = Hook::start().await;
    let app = spawn_app_with(outbox).await;
    let (id, old) = register(&app, &app.key, json!({"url": hook.url, "eventTypes": PERSON_EVENTS})).await;

    // Another tenant's key: a 404, and nothing changes.
    let b = app.new_tenant("globex").await;
    let rotate = |key: &str, body: Option<Value>| {
        let req = app.http.post(app.url(&format!("/v1/endpoints/{id}/rotate-secret"))).bearer_auth(key);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        async move { req.send().await.unwrap() }
    };
    assert_eq!(rotate(&b, None).await.status(), 404);
    for bad in [json!(-1), json!(604_801), json!("1h"), json!(1.5)] {
        let res = rotate(&app.key, Some(json!({ "previousValidForSecs": bad }))).await;
        assert_eq!(res.status(), 400, "{bad}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let detail = res.json::<Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
        assert!(detail.starts_with("`previousValidForSecs`"), "{bad}: {detail}");
    }
    join(&app, &app.key, "BEFORE").await;
    let calls = hook.wait_calls(1).await;
    assert_eq!(calls[0].signature, signature_of(&old, &calls[0]), "one signature, the old secret's");

    // The CLI rotates; the new secret is its last line, shown once.
    let out = roster(&app, &["rotate-secret", &id, "--previous-valid-for-secs", "3600"]).await;
    let new = out.lines().last().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old && out.contains(&id), "{out}");
    assert!(!app.get_json("/v1/endpoints").await.to_string().contains(&new[6..]), "not listed");
    let audit = app.get_json("/v1/audit").await.to_string();
    assert!(audit.contains("endpoint.secret_rotated"), "{audit}");
    assert!(!audit.contains(&new[6..]) && !audit.contains(&old[6..]), "no secret in the audit log");

    // The next event carries both: the new secret's signature first.
    join(&app, &app.key, "DURING").await;
    let calls = hook.wait_calls(2).await;
    let during = &calls[1];
    let parts: Vec<&str> = during.signature.split(' ').collect();
    assert_eq!(parts, [signature_of(&new, during), signature_of(&old, during)], "{}", during.signature);
    verify(&new, during);
    verify(&old, during);

    // No grace period: the secret rotated out stops signing at once.
    let res = rotate(&app.key, Some(json!({"previousValidForSecs": 0}))).await;
    assert_eq!(res.status(), 200);
    let rotated: Value = res.json().await.unwrap();
    assert!(rotated["previousSecretExpiresAt"].is_null(), "{rotated}");
    let newest = rotated["secret"].as_str().unwrap().to_owned();
    join(&app, &app.key, "AFTER").await;
    let calls = hook.wait_calls(3).await;
    assert_eq!(calls[2].signature, signature_of(&newest, &calls[2]), "the newest secret's only");
}

/// A request with `key` and a JSON body.
async fn send_json(app: &TestApp, method: reqwest::Method, path: &str, body: Value) -> reqwest::Response {
    app.http.request(method, app.url(path)).bearer_auth(&app.key).json(&body).send().await.unwrap()
}

#[tokio::test]
async fn an_endpoint_is_shown_changed_and_re_enabled_within_the_limits() {
    let (old, new) = (Hook::start().await, Hook::start().await);
    let app = spawn_app_with(outbox).await;
    let (id, secret) = register(&app, &app.key, json!({"url": old.url, "description": "first"})).await;
    let path = format!("/v1/endpoints/{id}");
    let shown = app.get_json(&path).await;
    assert_eq!((shown["id"].as_str(), shown["url"].as_str()), (Some(id.as_str()), Some(old.url.as_str())));
    assert!(!shown.to_string().contains(&secret[6..]), "never the secret: {shown}");

    // The same checks as at creation, each naming the field; nothing changes.
    for (body, field) in [
        (json!({"url": "ftp://hooks.example.com/x"}), "`url`: must be https"),
        (json!({"url": "not a url"}), "`url`"),
        (json!({"eventTypes": ["person.fired"]}), "`eventTypes`"),
    ] {
        let res = send_json(&app, reqwest::Method::PATCH, &path, body).await;
        assert_eq!(res.status(), 400);
        let detail = res.json::<Value>().await.unwrap()["detail"].as_str().unwrap().to_owned();
        assert!(detail.starts_with(field), "{detail}");
    }
    let res = send_json(&app, reqwest::Method::PATCH, &path, json!({"colour": "red"})).await;
    assert_eq!(res.status(), 400, "unknown fields are refused");
    assert_eq!(app.get_json(&path).await["url"], old.url.as_str());

    // A new URL, description and types: the next joiner goes to the new URL.
    let body = json!({"url": new.url, "description": null, "eventTypes": ["person.joined"]});
    let res = send_json(&app, reqwest::Method::PATCH, &path, body).await;
    assert_eq!(res.status(), 200);
    let changed: Value = res.json().await.unwrap();
    assert_eq!(changed["url"], new.url.as_str());
    assert!(changed.get("description").is_none() && changed["eventTypes"] == json!(["person.joined"]));
    join(&app, &app.key, "P1").await;
    let calls = new.wait_calls(1).await;
    verify(&secret, &calls[0]);
    assert!(old.calls().is_empty(), "the old URL hears nothing more");
    let audit = app.get_json("/v1/audit").await.to_string();
    assert!(audit.contains("endpoint.updated") && !audit.contains(&new.url), "names, not values: {audit}");

    // Disabled, it misses an event; re-enabled, it resumes with the next.
    let res = app.http.delete(app.url(&path)).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(res.status(), 200);
    join(&app, &app.key, "MISSED").await;
    let res = send_json(&app, reqwest::Method::PATCH, &path, json!({"enabled": true})).await;
    assert_eq!(res.status(), 200);
    assert!(res.json::<Value>().await.unwrap()["disabledAt"].is_null());
    join(&app, &app.key, "P2").await;
    let calls = new.wait_calls(2).await;
    assert_eq!(calls[1].json()["payload"]["person"]["externalId"], "P2");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(new.calls().len(), 2, "the event from while it was disabled is not sent");

    // The limit of active endpoints holds for a re-enable too.
    let res = send_json(&app, reqwest::Method::PATCH, &path, json!({"enabled": false})).await;
    assert_eq!(res.status(), 200);
    for _ in 0..20 {
        register(&app, &app.key, json!({"url": "https://hooks.example.com/x"})).await;
    }
    let res = send_json(&app, reqwest::Method::PATCH, &path, json!({"enabled": true})).await;
    assert_eq!(res.status(), 409);
    assert!(!app.get_json(&path).await["disabledAt"].is_null(), "still disabled");

    // Another tenant sees and changes nothing.
    let b = app.new_tenant("globex").await;
    assert_eq!(app.get_as(&b, &path).await.status(), 404);
    let res = app.http.patch(app.url(&path)).bearer_auth(&b).json(&json!({"enabled": true}));
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), 404, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn a_changed_url_is_refused_when_internal_as_at_creation() {
    let app = spawn_app().await;
    let (id, _) = register(&app, &app.key, json!({"url": "https://hooks.example.com/x"})).await;
    let path = format!("/v1/endpoints/{id}");
    for url in INTERNAL_URLS.into_iter().chain(["http://hooks.example.com/x"]) {
        let res = send_json(&app, reqwest::Method::PATCH, &path, json!({ "url": url })).await;
        assert_eq!(res.status(), 400, "{url}");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["param"], "url", "{problem}");
    }
    assert_eq!(app.get_json(&path).await["url"], "https://hooks.example.com/x");
}

#[tokio::test]
async fn a_test_event_is_sent_signed_now_and_its_answer_shown_but_not_stored() {
    let hook = Hook::start().await;
    let app = spawn_app_with(outbox).await;
    let (id, secret) =
        register(&app, &app.key, json!({"url": hook.url, "eventTypes": ["person.left"]})).await;
    let res = app.post_empty(&format!("/v1/endpoints/{id}/test")).await;
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["outcome"], "delivered", "{answer}");
    let calls = hook.calls();
    assert_eq!(calls.len(), 1, "sent at once, whatever its event types");
    verify(&secret, &calls[0]);
    let sent = calls[0].json();
    assert_eq!(sent["type"], "endpoint.test");
    assert_eq!(sent["payload"]["endpointId"], id.as_str());
    assert_eq!(calls[0].id, answer["eventId"].as_str().unwrap());
    assert!(calls[0].id.starts_with("evt_") && support::is_time(&sent["occurredAt"]), "{sent}");
    assert!(app.events().await.is_empty(), "not in the tenant's outbox");
    let attempts = app.get_json(&format!("/v1/endpoints/{id}/attempts")).await;
    assert_eq!(attempts["items"], json!([]), "nor in the attempt log");

    // A failing receiver: its status, not a retry.
    hook.otherwise(503);
    let answer: Value = app.post_empty(&format!("/v1/endpoints/{id}/test")).await.json().await.unwrap();
    assert_eq!((answer["outcome"].clone(), answer["status"].clone()), (json!("status"), json!(503)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.calls().len(), 2, "not retried");

    // The CLI says so, and fails.
    let out = roster_ok(&app, &["test", &id, "--json"]).await;
    assert!(out.is_none(), "a failed test exits non-zero");
    hook.otherwise(200);
    let out = roster_ok(&app, &["test", &id]).await.unwrap();
    assert!(out.contains("delivered"), "{out}");

    let res = app.http.delete(app.url(&format!("/v1/endpoints/{id}"))).bearer_auth(&app.key);
    assert_eq!(res.send().await.unwrap().status(), 200);
    assert_eq!(app.post_empty(&format!("/v1/endpoints/{id}/test")).await.status(), 409, "disabled");
}

#[tokio::test]
async fn every_attempt_is_logged_without_personal_data_and_filtered_by_event() {
    let hook = Hook::start().await;
    hook.answer(&[500, 500]);
    let app = spawn_app_with(outbox).await;
    let (id, _) = register(&app, &app.key, json!({"url": hook.url, "eventTypes": PERSON_EVENTS})).await;
    join(&app, &app.key, "ATT1").await;
    join(&app, &app.key, "ATT2").await;
    hook.wait_calls(4).await;
    let path = format!("/v1/endpoints/{id}/attempts");
    wait_until("four attempts logged", async || {
        app.get_json(&path).await["items"].as_array().unwrap().len() >= 4
    })
    .await;
    let events = app.person_events().await;
    let (first, second) = (events[0]["id"].as_str().unwrap(), events[1]["id"].as_str().unwrap());
    let all = app.get_json(&path).await;
    let items = all["items"].as_array().unwrap();
    let summary: Vec<(&str, u64, &str, Value)> = items
        .iter()
        .map(|a| {
            (
                a["event"]["id"].as_str().unwrap(),
                a["attempt"].as_u64().unwrap(),
                a["outcome"].as_str().unwrap(),
                a["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (second, 1, "delivered", Value::Null),
            (first, 3, "delivered", Value::Null),
            (first, 2, "status", json!(500)),
            (first, 1, "status", json!(500)),
        ],
        "newest first"
    );
    assert!(items.iter().all(|a| support::is_time(&a["at"]) && a["durationMs"].is_u64()), "{all}");
    let text = all.to_string();
    assert!(!text.contains("ATT1") && !text.contains("Sales") && !text.contains(&hook.url), "{text}");

    let only = app.get_json(&format!("{path}?eventId={second}")).await;
    assert_eq!(only["items"].as_array().unwrap().len(), 1, "{only}");
    let page = app.get_json(&format!("{path}?limit=3")).await;
    let next = page["next"].as_str().expect("a next page");
    let rest = app.get_json(&format!("{path}?limit=3&cursor={next}")).await;
    assert_eq!(rest["items"][0]["attempt"], 1, "{rest}");
    assert_eq!(rest["items"][0]["event"]["id"], first);
    let res = app.get_as(&app.key, &format!("{path}?event=x")).await;
    assert_eq!(res.status(), 400, "unknown parameters are refused");

    let out = roster(&app, &["attempts", &id, "--event", first]).await;
    assert!(out.starts_with("AT") && out.lines().count() == 4 && out.contains("500"), "{out}");
}

#[tokio::test]
async fn a_replay_sends_the_events_after_a_position_again_and_never_skips_ahead() {
    let hook = Hook::start().await;
    let app = spawn_app_with(outbox).await;
    let (id, secret) = register(&app, &app.key, json!({"url": hook.url, "eventTypes": PERSON_EVENTS})).await;
    for p in ["RP1", "RP2", "RP3"] {
        join(&app, &app.key, p).await;
    }
    let calls = hook.wait_calls(3).await;
    let events = app.person_events().await;
    // The endpoint passes over the feed events it does not want: its cursor
    // ends at the newest event of the outbox, the last feed's end.
    let head = app.events().await.last().unwrap()["seq"].clone();
    let path = format!("/v1/endpoints/{id}/replay");
    wait_until("the cursor at the last event", async || {
        app.get_json(&format!("/v1/endpoints/{id}")).await["cursor"] == head
    })
    .await;

    // After the first event, by its id: the second and third again, same ids.
    let res = send_json(&app, reqwest::Method::POST, &path, json!({"after": events[0]["id"]})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["cursor"], events[0]["seq"]);
    let again = hook.wait_calls(5).await;
    assert_eq!((again[3].id.as_str(), again[4].id.as_str()), (calls[1].id.as_str(), calls[2].id.as_str()));
    verify(&secret, &again[4]);
    let audit = app.get_json("/v1/audit").await.to_string();
    assert!(audit.contains("endpoint.replayed"), "{audit}");

    // By position, through the CLI: everything.
    wait_until("the cursor back at the head", async || {
        app.get_json(&format!("/v1/endpoints/{id}")).await["cursor"] == head
    })
    .await;
    let out = roster(&app, &["replay", &id, "--after", "0"]).await;
    assert!(out.contains("after position 0"), "{out}");
    let all = hook.wait_calls(8).await;
    let ids: Vec<&str> = all[5..].iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [calls[0].id.as_str(), calls[1].id.as_str(), calls[2].id.as_str()]);

    // Never past the cursor, never another tenant's event, never a bad value.
    wait_until("the cursor at the head again", async || {
        app.get_json(&format!("/v1/endpoints/{id}")).await["cursor"] == head
    })
    .await;
    let ahead = head.as_u64().unwrap() + 100;
    for bad in [json!(ahead), json!("evt_0190d9a4-0000-7000-8000-000000000000"), json!(-1), json!(true)] {
        let res = send_json(&app, reqwest::Method::POST, &path, json!({ "after": bad })).await;
        assert_eq!(res.status(), 400, "{bad}");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["param"], "after", "{problem}");
    }
    let b = app.new_tenant("globex").await;
    let res = app.http.post(app.url(&path)).bearer_auth(&b).json(&json!({"after": 0}));
    assert_eq!(res.send().await.unwrap().status(), 404);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.calls().len(), 8, "nothing more sent");
}

/// Pushes one record and waits until its feed is final.
async fn push(app: &TestApp, record: Value) {
    let res = app.post_feed_as(&app.key, &json!({"mode": "delta", "records": [record]})).await;
    assert_eq!(res.status(), 202);
    let feed: Value = res.json().await.unwrap();
    let path = format!("/v1/feeds/{}", feed["feedId"].as_str().unwrap());
    wait_until("the feed to complete", async || {
        app.get_as(&app.key, &path).await.json::<Value>().await.unwrap()["status"] == "completed"
    })
    .await;
}

#[tokio::test]
async fn a_mover_tells_the_receiver_where_they_moved_from_and_every_event_its_status() {
    let hook = Hook::start().await;
    let app = spawn_app_with(outbox).await;
    let (_, secret) = register(&app, &app.key, json!({"url": hook.url, "eventTypes": PERSON_EVENTS})).await;
    push(&app, person("MV1", "Sales")).await;
    push(&app, person("MV1", "Finance")).await;
    push(&app, json!({"op": "deactivate", "externalId": "MV1"})).await;
    let calls = hook.wait_calls(3).await;
    let bodies: Vec<Value> = calls.iter().map(Call::json).collect();
    verify(&secret, &calls[1]);
    let summary: Vec<(&Value, &Value)> =
        bodies.iter().map(|b| (&b["type"], &b["payload"]["status"])).collect();
    assert_eq!(
        summary,
        [
            (&json!("person.joined"), &json!("active")),
            (&json!("person.moved"), &json!("active")),
            (&json!("person.left"), &json!("inactive"))
        ]
    );
    assert_eq!(bodies[1]["payload"]["previousAttributes"], json!({"department": "Sales"}));
    assert_eq!(bodies[1]["payload"]["person"]["department"], "Finance");
    assert!(bodies[0]["payload"].get("previousAttributes").is_none(), "{}", bodies[0]);
}
