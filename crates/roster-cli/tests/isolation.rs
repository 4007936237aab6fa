//! Tenant isolation, endpoint by endpoint: with its own valid admin key,
//! tenant B can neither read, change, redrive nor learn of tenant A's data —
//! a 404 exactly as for something that does not exist — and lists show B
//! only its own. Plus the scope matrix: each key does only what its scopes say.

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use support::{TestApp, person, spawn_app};

/// What tenant A owns after set-up.
struct Owned {
    feed: String,
    halted: String,
    dead_letter: String,
}

async fn send(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// A's CSV profile for its `workday` source.
fn a_mapping() -> Value {
    json!({"fields": {"externalId": {"column": "A Employee Number"}, "title": {"column": "A Job Title"}}})
}

async fn setup(app: &TestApp) -> Owned {
    let feed = app.push(json!([person("A1", "Sales"), person("A2", "Sales")])).await;
    let feed = feed["feedId"].as_str().unwrap().to_owned();
    app.wait_feed(&feed).await;
    let res = app.put_json("/v1/sources/workday", &json!({"validation": "strict"})).await;
    assert_eq!(res.status(), 200);
    let res = app.put_json("/v1/sources/workday/mapping", &a_mapping()).await;
    assert_eq!(res.status(), 200);
    // An empty full snapshot halts: nobody is deactivated until decided.
    let res = app.post_feed(&json!({"mode": "full", "records": []})).await;
    assert_eq!(res.status(), 202);
    let halted = res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_feed(&halted).await["status"], "halted");
    // A message no consumer can decode: A's dead letter.
    let queue = roster_app::Adapters::open(&app.settings).await.unwrap().queue;
    let poison = roster_queue::OutgoingMessage {
        id: "poison-a".into(),
        group_id: "g".into(),
        tenant: app.tenant_id.to_string(),
        body: b"{}".to_vec(),
        delay: Duration::ZERO,
    };
    queue.send_batch(vec![poison]).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead_letter = loop {
        let items = app.get_json("/v1/dlq").await["items"].as_array().unwrap().clone();
        if let Some(d) = items.first() {
            break d["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "the poison message was not dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    Owned { feed, halted, dead_letter }
}

#[tokio::test]
async fn another_tenant_learns_nothing_of_a_tenants_data_on_any_endpoint() {
    let app = spawn_app().await;
    let a = setup(&app).await;
    let b = app.new_tenant("globex").await;

    // Each of A's resources, addressed by B: 404, as if absent.
    for (method, path) in [
        (Method::GET, format!("/v1/feeds/{}", a.feed)),
        (Method::POST, format!("/v1/feeds/{}/approve", a.halted)),
        (Method::POST, format!("/v1/feeds/{}/reject", a.halted)),
        (Method::GET, "/v1/people/A1".to_owned()),
        (Method::GET, "/v1/people/A1?history=true".to_owned()),
        (Method::GET, format!("/v1/dlq/{}", a.dead_letter)),
        (Method::POST, format!("/v1/dlq/{}/redrive", a.dead_letter)),
        (Method::GET, "/v1/sources/workday/mapping".to_owned()),
    ] {
        let res = send(&app, &b, method.clone(), &path, None).await;
        assert_eq!(res.status(), 404, "{method} {path} as another tenant");
        let body = res.text().await.unwrap();
        assert!(!body.contains("A1") && !body.contains(&a.feed), "{method} {path} leaks: {body}");
    }

    // B's listings hold none of A's data.
    for path in ["/v1/feeds", "/v1/people", "/v1/events", "/v1/dlq", "/v1/sources", "/v1/audit", "/v1/keys"] {
        let res = send(&app, &b, Method::GET, path, None).await;
        assert_eq!(res.status(), 200, "{path}");
        let body = res.text().await.unwrap();
        for secret in ["A1", "A2", a.feed.as_str(), a.halted.as_str(), a.dead_letter.as_str(), "workday"] {
            assert!(!body.contains(secret), "{path} shows B something of A's ({secret}): {body}");
        }
    }
    // B's source of the same name is B's own: A's strict setting is not visible.
    let b_source: Value =
        send(&app, &b, Method::GET, "/v1/sources/workday", None).await.json().await.unwrap();
    assert_eq!(
        (b_source["validation"].as_str(), b_source["configured"].as_bool()),
        (Some("partial"), Some(false))
    );

    // B's bulk actions do not reach A's data.
    let res = send(&app, &b, Method::POST, "/v1/dlq/redrive", None).await;
    assert_eq!(res.json::<Value>().await.unwrap()["redriven"], 0);
    let res = send(&app, &b, Method::DELETE, "/v1/dlq", None).await;
    assert_eq!(res.json::<Value>().await.unwrap()["purged"], 0);
    let res =
        send(&app, &b, Method::PUT, "/v1/sources/workday", Some(json!({"validation": "partial"}))).await;
    assert_eq!(res.status(), 200);
    // B's PUT of a mapping of the same source name writes B's own profile;
    // its answer shows nothing of A's.
    let b_profile = json!({"fields": {"externalId": {"column": "B Id"}}});
    let res = send(&app, &b, Method::PUT, "/v1/sources/workday/mapping", Some(b_profile.clone())).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(
        !body.contains("A Employee Number") && !body.contains("A Job Title"),
        "leaks A's profile: {body}"
    );
    let res = send(&app, &b, Method::GET, "/v1/sources/workday/mapping", None).await;
    let body = res.text().await.unwrap();
    assert!(body.contains("B Id") && !body.contains("A Employee Number"), "B reads its own: {body}");

    // And A's data is as it was.
    assert_eq!(app.get_json("/v1/dlq").await["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get_json(&format!("/v1/feeds/{}", a.halted)).await["status"], "halted");
    assert_eq!(app.get_json("/v1/sources/workday").await["validation"], "strict");
    let a_profile = app.get_json("/v1/sources/workday/mapping").await.to_string();
    assert!(
        a_profile.contains("A Employee Number") && !a_profile.contains("B Id"),
        "A's mapping is untouched by B's PUT: {a_profile}"
    );
    assert_eq!(app.get_json("/v1/people/A1").await["status"], "active");

    // The same Idempotency-Key in two tenants is two keys.
    let post = |key: String, idem: &'static str| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/integrations/hr-feed"))
                .bearer_auth(key)
                .header("Idempotency-Key", idem)
                .json(&json!({"records": [person("X1", "Ops")]}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(post(app.key.clone(), "shared-1").await.status(), 202);
    let res = post(b.clone(), "shared-1").await;
    assert_eq!(res.status(), 202);
    assert!(res.headers().get("idempotent-replayed").is_none(), "not a replay of A's answer");
}

#[tokio::test]
async fn each_key_does_only_what_its_scopes_allow() {
    let app = spawn_app().await;
    let key = |scopes: Value| {
        let app = &app;
        async move {
            let res = send(
                app,
                &app.key,
                Method::POST,
                "/v1/keys",
                Some(json!({"name": "test-key", "scopes": scopes})),
            )
            .await;
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned()
        }
    };
    let ingest = key(json!(["ingest"])).await;
    let read = key(json!(["read"])).await;
    let feed = json!({"records": [person("E1", "Sales")]});
    let cases: [(Method, &str, Option<Value>, u16, u16); 8] = [
        // (method, path, body, ingest key, read key)
        (Method::POST, "/integrations/hr-feed", Some(feed), 202, 403),
        (Method::GET, "/v1/people", None, 403, 200),
        (Method::GET, "/v1/feeds", None, 403, 200),
        (Method::GET, "/v1/events", None, 403, 200),
        (Method::PUT, "/v1/sources/hr", Some(json!({})), 403, 403),
        (Method::DELETE, "/v1/dlq", None, 403, 403),
        (Method::GET, "/v1/audit", None, 403, 403),
        (Method::POST, "/v1/endpoints/nope/rotate-secret", None, 403, 403),
    ];
    for (method, path, body, want_ingest, want_read) in cases {
        let got = send(&app, &ingest, method.clone(), path, body.clone()).await.status().as_u16();
        assert_eq!(got, want_ingest, "ingest key: {method} {path}");
        let got = send(&app, &read, method.clone(), path, body).await.status().as_u16();
        assert_eq!(got, want_read, "read key: {method} {path}");
    }
    // No key at all: 401 everywhere but the health checks.
    for path in ["/v1/people", "/v1/feeds", "/v1/keys", "/v1/audit", "/v1/alarms"] {
        assert_eq!(app.http.get(app.url(path)).send().await.unwrap().status(), 401, "{path}");
    }
}
