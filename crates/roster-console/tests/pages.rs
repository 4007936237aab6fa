//! The console's tenant pages over the real router, signed in as an ALB
//! signs people in: people (search, a person's page), a dead letter's
//! payload and purge, API keys, the audit log — each checked for what the
//! person sees, what their role allows, and that another tenant's data
//! stays out of reach.

mod common;

use common::alb::*;
use common::*;
use roster_core::Clock;
use roster_store::prelude::*;
use roster_store::{NewApiKey, NewAuditEntry, Scope};
use serde_json::json;

async fn audited(c: &Console, tenant: roster_core::TenantId, action: &str, actor: &str) -> bool {
    let log = c.directory.list_audit(tenant, 0, 500).await.unwrap();
    log.iter().any(|e| e.action == action && e.actor == actor)
}

#[tokio::test]
async fn people_are_found_by_name_email_id_and_department_and_a_persons_page_tells_their_story() {
    let (c, keys) = console().await;
    roster_store::conformance::apply_records(
        &*c.directory,
        c.acme,
        vec![
            json!({"externalId": "M1", "name": {"givenName": "Mia", "familyName": "Wong"}, "department": "Board"}),
            json!({"externalId": "M2", "name": {"givenName": "Raj", "familyName": "Patel"}, "manager": "M1"}),
            json!({"externalId": "A1", "name": {"givenName": "Ann", "familyName": "Lee"}, "title": "Rep",
                   "department": "Sales", "manager": "M2", "emails": [{"value": "Ann.Lee@acme.example"}]}),
        ],
    )
    .await;
    // Ann moves to Legal and gets a new title: a second version.
    roster_store::conformance::apply_records(
        &*c.directory,
        c.acme,
        vec![
            json!({"externalId": "A1", "name": {"givenName": "Ann", "familyName": "Lee"}, "title": "Counsel",
                     "department": "Legal", "manager": "M2", "emails": [{"value": "Ann.Lee@acme.example"}]}),
        ],
    )
    .await;
    roster_store::conformance::apply_records(
        &*c.directory,
        c.globex,
        vec![json!({"externalId": "G1", "name": {"givenName": "Ann", "familyName": "Other"}})],
    )
    .await;
    let (viewer, _) = person(&c, &keys, "user-viewer", &["roster-acme-viewers"]).await;

    let found = |html: &str, id: &str| html.contains(&format!("/console/t/acme/people/{id}\""));
    let (status, html) = open(&c, &viewer, "/console/t/acme/people?q=ann&by=name").await;
    assert_eq!(status, 200);
    assert!(found(&html, "A1") && !found(&html, "M1"), "{html}");
    assert!(!html.contains("G1") && !html.contains("Other"), "globex's Ann is not acme's");
    let (_, html) = open(&c, &viewer, "/console/t/acme/people?q=ANN.LEE%40ACME.EXAMPLE&by=email").await;
    assert!(found(&html, "A1"), "e-mail in any case");
    let (_, html) = open(&c, &viewer, "/console/t/acme/people?q=M2&by=id").await;
    assert!(found(&html, "M2") && !found(&html, "A1"), "an external id is one person");
    let (_, html) = open(&c, &viewer, "/console/t/acme/people?q=Board&by=department").await;
    assert!(found(&html, "M1") && !found(&html, "A1"));
    let (_, html) = open(&c, &viewer, "/console/t/acme/people?q=nobody&by=name").await;
    assert!(html.contains("Nobody matches"));
    let (status, _) = open(&c, &viewer, "/console/t/acme/people?by=shoe-size").await;
    assert_eq!(status, 400);

    let (status, html) = open(&c, &viewer, "/console/t/acme/people/A1").await;
    assert_eq!(status, 200);
    assert!(html.contains("Ann Lee") && html.contains("status-active"), "name and status");
    // The manager chain, nearest first, each linked.
    let raj = html.find("/console/t/acme/people/M2\">Raj Patel").expect("Ann's manager");
    let mia = html.find("/console/t/acme/people/M1\">Mia Wong").expect("her manager's manager");
    assert!(raj < mia, "nearest manager first");
    // The timeline: version 2 first, department Sales → Legal.
    let v2 = html.find("Version 2").unwrap();
    let v1 = html.find("Version 1").unwrap();
    assert!(v2 < v1, "newest version first");
    let second = &html[v2..v1];
    assert!(second.contains("<del>Sales</del>") && second.contains("<ins>Legal</ins>"), "{second}");
    assert!(second.contains("<del>Rep</del>") && second.contains("<ins>Counsel</ins>"));
    assert!(!second.contains("emails"), "only what changed");
    assert!(html[v1..].contains("person.joined"), "the first version's event");
    assert!(html.contains("person.moved"), "the lifecycle events");
    assert!(audited(&c, c.acme, "person.read", "console:user-viewer").await, "reading a person is audited");

    let (status, _) = open(&c, &viewer, "/console/t/acme/people/G1").await;
    assert_eq!(status, 404, "another tenant's person does not exist here");
    let (status, _) = open(&c, &viewer, "/console/t/globex/people").await;
    assert_eq!(status, 404, "nor does a tenant the person has no role in");
}

#[tokio::test]
async fn an_admin_reads_a_dead_letters_payload_and_purges_with_confirmation_a_viewer_does_neither() {
    let (c, keys) = console().await;
    let ours = dead_letter(&c, c.acme, "m-acme").await;
    let theirs = dead_letter(&c, c.globex, "m-globex").await;
    let (viewer, _) = person(&c, &keys, "user-viewer", &["roster-acme-viewers"]).await;
    let (admin, _) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;

    let one = format!("/console/t/acme/dlq/{ours}");
    let (status, _) = open(&c, &viewer, &one).await;
    assert_eq!(status, 403, "the payload is for admins");
    let (status, html) = open(&c, &admin, &one).await;
    assert_eq!(status, 200);
    assert!(html.contains("the message cannot be decoded"), "why it failed");
    assert!(html.contains("{not a change"), "the payload as sent: {html}");
    assert!(audited(&c, c.acme, "dlq.read", "console:user-admin").await);
    let (status, _) = open(&c, &admin, &format!("/console/t/acme/dlq/{theirs}")).await;
    assert_eq!(status, 404, "globex's dead letter does not exist for acme");

    let (_, list) = open(&c, &admin, "/console/t/acme/dlq").await;
    assert!(list.contains("Purge"));
    let csrf = csrf_of(&list);
    let purge = "/console/t/acme/dlq/purge";
    let res = post(&c, &viewer, purge, &same_origin(), &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(res.status(), 403, "a viewer cannot purge (and the token is not theirs)");
    let res = post(&c, &admin, purge, &same_origin(), &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 400, "no confirmation, no purge");
    let left = |tenant: roster_core::TenantId| {
        let q = c.queue.clone();
        async move {
            use roster_queue::{DeadLetterFilter, Queue};
            let filter = DeadLetterFilter { tenant: Some(tenant.to_string()), after: None, limit: 10 };
            q.list_dead_letters(&filter).await.unwrap().len()
        }
    };
    assert_eq!(left(c.acme).await, 1);
    let res = post(&c, &admin, purge, &same_origin(), &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!((left(c.acme).await, left(c.globex).await), (0, 1), "ours are gone, theirs stay");
    let log = c.directory.list_audit(c.acme, 0, 500).await.unwrap();
    assert!(log.iter().any(|e| e.action == "dlq.purged" && e.target.as_deref() == Some("all (1)")));
}

#[tokio::test]
async fn an_admin_creates_a_key_whose_secret_is_shown_once_and_revokes_it() {
    let (c, keys) = console().await;
    let (admin, _) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    let (viewer, _) = person(&c, &keys, "user-viewer", &["roster-acme-viewers"]).await;
    let (status, _) = open(&c, &viewer, "/console/t/acme/keys").await;
    assert_eq!(status, 403, "keys are for admins");
    let (_, people) = open(&c, &viewer, "/console/t/acme/people").await;
    assert!(
        people.contains("/console/t/acme/people\"") && !people.contains("/console/t/acme/keys\""),
        "a viewer's navigation has no admin pages"
    );

    let (status, html) = open(&c, &admin, "/console/t/acme/keys").await;
    assert_eq!(status, 200);
    assert!(html.contains("/console/t/acme/audit\""), "an admin's navigation has them");
    let csrf = csrf_of(&html);
    let create = "/console/t/acme/keys";
    let res = post(
        &c,
        &admin,
        create,
        &same_origin(),
        &[("csrf", &csrf), ("name", "bad name!"), ("ingest", "yes")],
    )
    .await;
    assert_eq!(res.status(), 400, "a key name is checked");
    let res = post(&c, &admin, create, &same_origin(), &[("csrf", &csrf), ("name", "workday-prod")]).await;
    assert_eq!(res.status(), 400, "at least one scope");
    let res = post(
        &c,
        &admin,
        create,
        &same_origin(),
        &[("csrf", &csrf), ("name", "workday-prod"), ("ingest", "yes"), ("days", "30")],
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store", "the secret's page is never cached");
    let html = res.text().await.unwrap();
    let secret = &secret_of(&html);
    // The secret is a working key of acme's, with the scopes ticked.
    let hash = roster_engine::hash_api_key(secret);
    let key =
        c.directory.find_api_key(&hash, roster_core::SystemClock.now()).await.unwrap().expect("a live key");
    assert_eq!((key.tenant_id, key.name.as_str()), (c.acme, "workday-prod"));
    assert_eq!(key.scopes, [Scope::Ingest]);
    let expires = key.expires_at.unwrap().0 - key.created_at.0;
    assert_eq!(expires, 30 * 86_400_000, "it expires when asked");
    let (_, list) = open(&c, &admin, "/console/t/acme/keys").await;
    assert!(list.contains("workday-prod") && !list.contains(secret), "listed, its secret never again");
    assert!(audited(&c, c.acme, "key.created", "console:user-admin").await);

    let id = roster_core::public_id::render(roster_core::public_id::Kind::ApiKey, &key.id);
    let revoke = format!("/console/t/acme/keys/{id}/revoke");
    let res = post(&c, &viewer, &revoke, &same_origin(), &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 403);
    let res = post(&c, &admin, &revoke, &same_origin(), &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    assert!(
        c.directory.find_api_key(&hash, roster_core::SystemClock.now()).await.unwrap().is_none(),
        "revoked"
    );
    assert!(audited(&c, c.acme, "key.revoked", "console:user-admin").await);
    // Another tenant's key is a missing one.
    let theirs = c
        .directory
        .create_api_key(
            NewApiKey {
                tenant_id: c.globex,
                name: "globex-admin".into(),
                prefix: "rk_test".into(),
                hash: [7; 32],
                scopes: vec![Scope::Admin],
                expires_at: None,
            },
            roster_core::Timestamp(0),
        )
        .await
        .unwrap();
    let theirs = roster_core::public_id::render(roster_core::public_id::Kind::ApiKey, &theirs.id);
    let res = post(
        &c,
        &admin,
        &format!("/console/t/acme/keys/{theirs}/revoke"),
        &same_origin(),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_audit_log_shows_who_did_what_newest_first_and_filters_by_actor_and_action() {
    let (c, keys) = console().await;
    let (admin, _) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    let (viewer, _) = person(&c, &keys, "user-viewer", &["roster-acme-viewers"]).await;
    for (actor, action) in
        [("key_1", "key.created"), ("console:ann", "feed.approved"), ("key_1", "dlq.purged")]
    {
        c.directory
            .append_audit(NewAuditEntry {
                at: roster_core::Timestamp(0),
                tenant_id: c.acme,
                actor: actor.into(),
                action,
                target: None,
                request_id: None,
                client_request_id: None,
            })
            .await
            .unwrap();
    }
    let (status, _) = open(&c, &viewer, "/console/t/acme/audit").await;
    assert_eq!(status, 403, "the log is for admins");
    let (status, html) = open(&c, &admin, "/console/t/acme/audit").await;
    assert_eq!(status, 200);
    let purged = html.find(">dlq.purged<").unwrap();
    let created = html.find(">key.created<").unwrap();
    assert!(purged < created, "newest first");
    let (_, html) = open(&c, &admin, "/console/t/acme/audit?actor=key_1").await;
    assert!(
        html.contains(">dlq.purged<") && html.contains(">key.created<") && !html.contains(">feed.approved<")
    );
    let (_, html) = open(&c, &admin, "/console/t/acme/audit?action=feed.approved").await;
    assert!(html.contains("console:ann") && !html.contains(">key.created<"));
    let (status, _) = open(&c, &admin, "/console/t/acme/audit?before=yesterday").await;
    assert_eq!(status, 400);
    assert!(audited(&c, c.acme, "audit.read", "console:user-admin").await, "reading the log is audited");
}

#[tokio::test]
async fn a_snapshot_review_is_searchable_and_a_feeds_page_lists_its_dead_letters() {
    let (c, keys) = console().await;
    let (viewer, _) = person(&c, &keys, "user-viewer", &["roster-acme-viewers"]).await;
    let review = format!("/console/t/acme/feeds/{}/review", public_feed(c.halted));
    let (_, html) = open(&c, &viewer, &review).await;
    let rows = |html: &str| html.matches("<tr><td><a href=\"/console/t/acme/people/E").count();
    assert_eq!(rows(&html), 10, "the ten people the snapshot left out");
    let (_, html) = open(&c, &viewer, &format!("{review}?q=e15")).await;
    assert_eq!(rows(&html), 1, "by external id, any case");
    assert!(html.contains("/console/t/acme/people/E15\">E15</a>"), "each leaver links to their page");
    let (_, html) = open(&c, &viewer, &format!("{review}?q=SALES")).await;
    assert_eq!(rows(&html), 10, "by department");
    let (_, html) = open(&c, &viewer, &format!("{review}?q=nobody-here")).await;
    assert!(html.contains("Nobody in the list matches."));

    // One of the snapshot's records dead-lettered, and one of no feed.
    let message = roster_core::ChangeMessage {
        message_id: roster_core::MessageId::new(),
        tenant_id: c.acme,
        feed_id: c.halted,
        source: roster_core::SourceName::parse("hris").unwrap(),
        index: 4,
        accepted_at: roster_core::Timestamp(0),
        last_modified: None,
        change: roster_core::Change::Deactivate {
            external_id: roster_core::ExternalId::parse("E3").unwrap(),
        },
        request_id: None,
        probe: false,
    };
    let ours = dead_letter_of(&c, c.acme, "m-feed", message.to_bytes()).await;
    let other = dead_letter(&c, c.acme, "m-other").await;
    let feed_page = format!("/console/t/acme/feeds/{}", public_feed(c.halted));
    let (status, html) = open(&c, &viewer, &feed_page).await;
    assert_eq!(status, 200);
    let section = &html[html.find("<h2>Dead letters</h2>").unwrap()..];
    assert!(section.contains(&ours) && !section.contains(&other), "only this feed's: {section}");
    assert!(section.contains("<td class=\"num\">5</td>"), "record 5 (index 4)");
    assert!(!section.contains(&format!("/dlq/{ours}")), "a viewer gets no link to the payload");
}
