//! The console's admin and operator pages over the real router: a tenant's
//! webhook endpoints (add with the API's URL rules, the secret shown once,
//! rotate, redrive, disable) and the platform's tenants and log for
//! operators — what each role may do, and that another tenant's endpoint
//! is out of reach.

mod common;

use common::alb::*;
use common::*;
use roster_core::Clock;
use roster_store::prelude::*;
use roster_store::{AuditFilter, NewEndpoint};

#[tokio::test]
async fn an_admin_adds_a_webhook_by_the_apis_url_rules_and_rotates_redrives_and_disables_it() {
    let (c, keys) = console().await;
    let (admin, html) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    let (viewer, _) = person(&c, &keys, "user-viewer", &["roster-acme-viewers"]).await;
    let csrf = csrf_of(&html);
    let add = "/console/t/acme/endpoints";
    let (status, _) = open(&c, &viewer, add).await;
    assert_eq!(status, 403, "webhooks are for admins");

    for (url, why) in [
        ("http://hooks.example.com/roster", "must be https"),
        ("https://127.0.0.1/roster", "not a public address"),
        ("not a url", "absolute URL"),
    ] {
        let res = post(&c, &admin, add, &same_origin(), &[("csrf", &csrf), ("url", url)]).await;
        assert_eq!(res.status(), 400, "{url}");
        assert!(res.text().await.unwrap().contains(why), "{url}: {why}");
    }
    let res = post(
        &c,
        &admin,
        add,
        &same_origin(),
        &[("csrf", &csrf), ("url", "https://hooks.example.com/roster"), ("only", "yes")],
    )
    .await;
    assert_eq!(res.status(), 400, "only some types, but none ticked");
    let res = post(
        &c,
        &admin,
        add,
        &same_origin(),
        &[
            ("csrf", &csrf),
            ("url", "https://hooks.example.com/roster"),
            ("description", "HR bot"),
            ("only", "yes"),
            ("person.left", "yes"),
        ],
    )
    .await;
    assert_eq!(res.status(), 201);
    let secret = secret_of(&res.text().await.unwrap());
    assert!(secret.starts_with("whsec_"), "a Standard Webhooks secret");
    let endpoint = c.directory.list_endpoints(c.acme).await.unwrap().pop().unwrap();
    assert_eq!(endpoint.url, "https://hooks.example.com/roster");
    assert_eq!(endpoint.event_types, Some(vec![roster_core::lifecycle::EventType::Left]));
    let id = roster_core::public_id::render(roster_core::public_id::Kind::Endpoint, &endpoint.id);
    let (_, list) = open(&c, &admin, add).await;
    assert!(list.contains("HR bot") && !list.contains(&secret), "listed, its secret never again");

    let page = format!("/console/t/acme/endpoints/{id}");
    let (status, html) = open(&c, &admin, &page).await;
    assert_eq!(status, 200);
    assert!(html.contains("None: the endpoint took every event."));
    let res = post(&c, &admin, &format!("{page}/rotate"), &same_origin(), &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 200);
    let rotated = secret_of(&res.text().await.unwrap());
    assert!(rotated.starts_with("whsec_") && rotated != secret, "a new secret, shown once");
    let res = post(&c, &admin, &format!("{page}/redrive"), &same_origin(), &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let res = post(&c, &admin, &format!("{page}/disable"), &same_origin(), &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 400, "disabling wants its confirmation");
    let res =
        post(&c, &admin, &format!("{page}/disable"), &same_origin(), &[("csrf", &csrf), ("confirm", "yes")])
            .await;
    assert_eq!(res.status(), 303);
    let endpoint = c.directory.get_endpoint(c.acme, &endpoint.id).await.unwrap().unwrap();
    assert!(endpoint.disabled_at.is_some());
    let log = c.directory.list_audit(c.acme, 0, 500).await.unwrap();
    for action in ["endpoint.created", "endpoint.secret_rotated", "endpoint.redriven", "endpoint.disabled"] {
        assert!(log.iter().any(|e| e.action == action && e.actor == "console:user-admin"), "{action}");
    }

    // Another tenant's endpoint is a missing one.
    let theirs = c
        .directory
        .create_endpoint(
            NewEndpoint {
                tenant_id: c.globex,
                url: "https://globex.example.com/hook".into(),
                description: None,
                event_types: None,
                secret: roster_engine::credentials::generate_endpoint_secret(),
            },
            roster_core::SystemClock.now(),
        )
        .await
        .unwrap();
    let theirs = roster_core::public_id::render(roster_core::public_id::Kind::Endpoint, &theirs.id);
    let (status, _) = open(&c, &admin, &format!("/console/t/acme/endpoints/{theirs}")).await;
    assert_eq!(status, 404);
    let res = post(
        &c,
        &admin,
        &format!("/console/t/acme/endpoints/{theirs}/rotate"),
        &same_origin(),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn an_operator_lists_and_creates_tenants_and_reads_the_platform_log_a_tenant_admin_cannot() {
    let (c, keys) = console().await;
    let (operator, html) = person_at(&c, &keys, "user-operator", &["roster-operators"], "/console/").await;
    let (admin, _) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    let csrf = csrf_of(&html);
    for path in ["/console/platform/tenants", "/console/platform/log"] {
        let (status, _) = open(&c, &admin, path).await;
        assert_eq!(status, 403, "{path} is for operators");
    }
    // The overview's alarms: this node evaluates none, so it shows what the
    // cluster's evaluator recorded.
    let recorded = roster_store::AlarmRecord {
        rule: "dlq_depth".into(),
        state: roster_core::alarm::AlarmState::Alarm,
        since: roster_core::Timestamp(1_000),
        reason: "dlq_depth = 3 > 0".into(),
        notified_at: roster_core::Timestamp(1_000),
        version: 1,
    };
    c.directory.record_alarm_state(&recorded).await.unwrap();
    let (_, overview) = open(&c, &operator, "/console/").await;
    assert!(overview.contains("dlq_depth = 3 &#62; 0") && overview.contains("state-alarm"), "{overview}");

    let (status, html) = open(&c, &operator, "/console/platform/tenants").await;
    assert_eq!(status, 200);
    assert!(html.contains("<td>acme</td>") && html.contains("<td>globex</td>"));

    let create = "/console/platform/tenants";
    let res = post(&c, &operator, create, &same_origin(), &[("csrf", &csrf), ("name", "   ")]).await;
    assert_eq!(res.status(), 400, "a blank name is none");
    let res = post(&c, &operator, create, &same_origin(), &[("csrf", &csrf), ("name", "acme")]).await;
    assert_eq!(res.status(), 409, "the name is taken");
    let res =
        post(&c, &operator, create, &same_origin(), &[("csrf", &csrf), ("name", "Initech Europe/West")])
            .await;
    assert_eq!(res.status(), 201);
    let secret = secret_of(&res.text().await.unwrap());
    let initech = c.directory.tenant_by_name("Initech Europe/West").await.unwrap().expect("made");
    let key = c
        .directory
        .find_api_key(&roster_engine::hash_api_key(&secret), roster_core::SystemClock.now())
        .await
        .unwrap()
        .expect("the first admin key works");
    assert_eq!(key.tenant_id, initech.id);
    let res = post(&c, &admin, create, &same_origin(), &[("csrf", &csrf), ("name", "evil")]).await;
    assert_eq!(res.status(), 403, "a tenant admin makes no tenant");

    let (status, html) = open(&c, &operator, "/console/platform/log").await;
    assert_eq!(status, 200);
    assert!(html.contains("console:user-operator") && html.contains("tenant.created"));
    let filter =
        AuditFilter { actor: Some("console:user-operator".into()), action: Some("tenant.created".into()) };
    let logged = c.directory.recent_audit(roster_store::platform_log(), &filter, None, 10).await.unwrap();
    assert_eq!(logged.len(), 1, "one tenant made, in the platform log");
}
