//! ALB mode over the real router: the `x-amzn-oidc-data` header as an AWS
//! load balancer sends it (ES256, base64url with padding, `signer`, `kid`),
//! signed by test keys that the test serves as the regional key endpoint.
//! Also the CSRF refusals, roles and tenant isolation, which do not depend
//! on how the person signed in.

mod common;

use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use common::alb::*;
use common::*;
use roster_store::prelude::*;
use serde_json::json;

#[tokio::test]
async fn a_valid_header_signs_the_person_in_and_its_key_is_fetched_once() {
    let (c, keys) = console().await;
    let data = admin_token(&keys);
    assert!(data.contains('='), "the test token carries base64 padding, as the ALB's does: {data}");
    let res = get(&c, "/console/", Some(&data)).await;
    assert_eq!(res.status(), 200);
    let session = set_cookie(&res, "__Host-roster_session").expect("a session for the CSRF token");
    let html = res.text().await.unwrap();
    assert!(html.contains("user-admin@example.com"), "the person's name is shown");
    assert!(html.contains("acme") && html.contains("(admin)"), "their tenant and role");
    assert!(!html.contains("globex"), "no other tenant");
    assert!(session.contains("Secure") && session.contains("HttpOnly") && session.contains("SameSite=Lax"));

    assert_eq!(get(&c, "/console/", Some(&data)).await.status(), 200);
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 1, "the key is cached by kid");
}

#[tokio::test]
async fn a_missing_forged_expired_or_foreign_header_is_refused() {
    let (c, keys) = console().await;
    let exp = now() + 120;
    let refused = |res: reqwest::Response| async move {
        let status = res.status();
        (status, res.text().await.unwrap())
    };

    let (s, body) = refused(get(&c, "/console/", None).await).await;
    assert_eq!(s, 401, "absent");
    assert!(body.contains("x-amzn-oidc-data"), "the page says what is missing: {body}");

    // The unsigned identity headers alone open nothing.
    let res = reqwest::Client::new()
        .get(format!("{}/console/", c.base))
        .header("x-amzn-oidc-identity", "user-admin")
        .header("x-amzn-oidc-accesstoken", "eyJhbGciOiJub25lIn0.e30.")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "x-amzn-oidc-identity is never trusted");

    // Tampered: another subject in the payload, the admin's signature kept.
    let good = admin_token(&keys);
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims = URL_SAFE.encode(claims("user-mallory", &["roster-acme-admins"], exp).to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    let (s, body) = refused(get(&c, "/console/", Some(&forged)).await).await;
    assert_eq!(s, 401);
    assert!(body.contains("signature does not verify"), "{body}");

    // Signed by the ALB's other key, but the header names this kid.
    let other =
        token(&keys.other, &header(KID, ARN, exp), &claims("user-admin", &["roster-acme-admins"], exp));
    assert_eq!(get(&c, "/console/", Some(&other)).await.status(), 401, "wrong key");

    let expired = token(
        &keys.key,
        &header(KID, ARN, now() - 600),
        &claims("user-admin", &["roster-acme-admins"], now() - 600),
    );
    let (s, body) = refused(get(&c, "/console/", Some(&expired)).await).await;
    assert_eq!(s, 401);
    assert!(body.contains("expired"), "{body}");

    // A genuine token of another load balancer (its own key, its own ARN).
    let foreign_arn = "arn:aws:elasticloadbalancing:eu-west-1:999999999999:loadbalancer/app/other/1111";
    let before = keys.fetches.load(Ordering::SeqCst);
    let foreign = token(&keys.other, &header(OTHER_KID, foreign_arn, exp), &claims("user-admin", &[], exp));
    let (s, body) = refused(get(&c, "/console/", Some(&foreign)).await).await;
    assert_eq!(s, 401);
    assert!(body.contains("another load balancer"), "{body}");
    assert_eq!(keys.fetches.load(Ordering::SeqCst), before, "a foreign signer's kid is never fetched");

    let none_alg = token(
        &keys.key,
        &json!({"alg": "none", "kid": KID, "signer": ARN, "exp": exp}),
        &claims("u", &[], exp),
    );
    assert_eq!(get(&c, "/console/", Some(&none_alg)).await.status(), 401, "alg none");
}

#[tokio::test]
async fn the_signature_covers_the_parts_exactly_as_received_padding_included() {
    let (c, keys) = console().await;
    let exp = now() + 120;
    // Claims whose JSON length needs padding in base64.
    let mut cl = claims("user-admin", &["roster-acme-admins"], exp);
    for extra in 0..3 {
        cl["pad"] = json!("x".repeat(extra));
        let t = token(&keys.key, &header(KID, ARN, exp), &cl);
        assert_eq!(get(&c, "/console/", Some(&t)).await.status(), 200, "padded token #{extra}");
    }
    // The same token with its padding stripped: other bytes than were signed.
    let t = token(&keys.key, &header(KID, ARN, exp), &cl);
    let stripped: String = t.split('.').map(|p| p.trim_end_matches('=')).collect::<Vec<_>>().join(".");
    assert_ne!(stripped, t, "the test token had padding to strip");
    assert_eq!(get(&c, "/console/", Some(&stripped)).await.status(), 401);
}

#[tokio::test]
async fn without_alb_mode_the_header_is_ignored() {
    let keys = key_endpoint().await;
    let (l, base) = listener().await;
    let c = start(
        l,
        json!({
            "issuer": "http://127.0.0.1:9/",
            "client_id": "roster-console",
            "redirect_url": format!("{base}/console/callback"),
            "roles": roles()
        }),
    )
    .await;
    let res = get(&c, "/console/", Some(&admin_token(&keys))).await;
    assert_eq!(res.status(), 303, "not signed in: off to the sign-in");
    assert_eq!(res.headers()["location"], "/console/login");
    assert_eq!(keys.fetches.load(Ordering::SeqCst), 0, "the header was not even looked at");
}

#[tokio::test]
async fn a_decision_needs_the_sessions_token_and_the_consoles_own_origin() {
    let (c, keys) = console().await;
    let (admin, html) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    assert!(html.contains("Approve") && html.contains("E10"), "the review lists the leavers and the buttons");
    let csrf = csrf_of(&html);
    let approve = format!("/console/t/acme/feeds/{}/approve", public_feed(c.halted));
    let same_origin = ("sec-fetch-site", "same-origin".to_owned());
    let sibling =
        c.base.rsplit_once(':').map(|(h, p)| format!("{h}:{}", p.parse::<u16>().unwrap() + 1)).unwrap();

    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        ("no token", vec![same_origin.clone()], vec![("confirm", "yes")]),
        (
            "another session's token",
            vec![same_origin.clone()],
            vec![("csrf", "not-this-sessions"), ("confirm", "yes")],
        ),
        (
            "cross-site",
            vec![("sec-fetch-site", "cross-site".into()), ("origin", "https://evil.example".into())],
            vec![("csrf", &csrf), ("confirm", "yes")],
        ),
        // A sibling port of the same host is same-site, not same-origin.
        (
            "sibling port, fetch metadata",
            vec![("sec-fetch-site", "same-site".into()), ("origin", sibling.clone())],
            vec![("csrf", &csrf), ("confirm", "yes")],
        ),
        (
            "sibling port, Origin only",
            vec![("origin", sibling.clone())],
            vec![("csrf", &csrf), ("confirm", "yes")],
        ),
        ("no Origin, no fetch metadata", vec![], vec![("csrf", &csrf), ("confirm", "yes")]),
    ];
    for (case, headers, form) in cases {
        let res = post(&c, &admin, &approve, &headers, &form).await;
        assert_eq!(res.status(), 403, "{case}");
        let feed = c.directory.get_feed(c.acme, c.halted).await.unwrap().unwrap();
        assert_eq!(feed.status.as_str(), "halted", "{case}: nothing decided");
    }

    // Unconfirmed: refused, nothing decided.
    let res = post(&c, &admin, &approve, &[("origin", c.base.clone())], &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 400);

    // Right origin (Origin alone, as a browser without fetch metadata sends), right token.
    let res =
        post(&c, &admin, &approve, &[("origin", c.base.clone())], &[("csrf", &csrf), ("confirm", "yes")])
            .await;
    assert_eq!(res.status(), 303);
    let feed = c.directory.get_feed(c.acme, c.halted).await.unwrap().unwrap();
    assert_eq!(feed.status.as_str(), "completed");
    assert_eq!(feed.counts.leavers, 10);
    let audit = c.directory.list_audit(c.acme, 0, 100).await.unwrap();
    let approved = audit.iter().find(|e| e.action == "feed.approved").expect("the approval is audited");
    assert_eq!(approved.actor, "console:user-admin");
    assert_eq!(approved.target.as_deref(), Some(public_feed(c.halted).as_str()));
    assert!(audit.iter().any(|e| e.action == "feed.leavers_listed" && e.actor == "console:user-admin"));
}

#[tokio::test]
async fn a_viewer_reviews_but_cannot_approve_and_other_tenants_do_not_exist() {
    let (c, keys) = console().await;
    let (viewer, html) = person(&c, &keys, "user-viewer", &["roster-acme-viewers"]).await;
    assert!(html.contains("E10"), "a viewer sees the leavers");
    assert!(!html.contains("name=\"confirm\""), "and no decision form");
    let csrf = csrf_of(&html);
    for action in ["approve", "reject"] {
        let path = format!("/console/t/acme/feeds/{}/{action}", public_feed(c.halted));
        let res = post(
            &c,
            &viewer,
            &path,
            &[("sec-fetch-site", "same-origin".into())],
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
        assert_eq!(res.status(), 403, "{action}");
        assert!(res.text().await.unwrap().contains("admin role"));
    }
    assert_eq!(c.directory.get_feed(c.acme, c.halted).await.unwrap().unwrap().status.as_str(), "halted");

    // globex's feed, under acme's name or its own: not found.
    let get_with = |path: String| {
        let (c, v) = (&c, &viewer);
        async move {
            reqwest::Client::new()
                .get(format!("{}{path}", c.base))
                .header("x-amzn-oidc-data", &v.data)
                .header("cookie", &v.cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get_with(format!("/console/t/acme/feeds/{}", public_feed(c.globex_feed))).await, 404);
    assert_eq!(get_with(format!("/console/t/globex/feeds/{}", public_feed(c.globex_feed))).await, 404);
    assert_eq!(get_with("/console/t/globex/feeds".into()).await, 404);
    assert_eq!(get_with("/console/t/acme/feeds?status=halted".into()).await, 200);
}

#[tokio::test]
async fn dead_letters_are_listed_to_a_viewer_and_redriven_by_an_admin_of_their_tenant_only() {
    use roster_queue::{DeadLetterFilter, Queue};
    let (c, keys) = console().await;
    let ours = dead_letter(&c, c.acme, "m-acme").await;
    let theirs = dead_letter(&c, c.globex, "m-globex").await;
    let left = |tenant: roster_core::TenantId| {
        let q = c.queue.clone();
        async move {
            let filter = DeadLetterFilter { tenant: Some(tenant.to_string()), after: None, limit: 10 };
            q.list_dead_letters(&filter).await.unwrap().len()
        }
    };
    let page_of = |p: &Person| {
        let (c, data, cookie) = (&c, p.data.clone(), p.cookie.clone());
        async move {
            let res = reqwest::Client::new()
                .get(format!("{}/console/t/acme/dlq", c.base))
                .header("x-amzn-oidc-data", data)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.text().await.unwrap()
        }
    };

    let (viewer, _) = person(&c, &keys, "user-viewer", &["roster-acme-viewers"]).await;
    let html = page_of(&viewer).await;
    assert!(html.contains(&ours) && html.contains("the message cannot be decoded"), "{html}");
    assert!(!html.contains(&theirs), "another tenant's dead letter is not listed");
    assert!(!html.contains("Redrive all"), "a viewer gets no redrive buttons");
    let csrf = csrf_of(&html);
    let same_origin = [("sec-fetch-site", "same-origin".to_owned())];
    let one = format!("/console/t/acme/dlq/{ours}/redrive");
    let res = post(&c, &viewer, &one, &same_origin, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 403, "a viewer cannot redrive");
    assert_eq!(left(c.acme).await, 1);

    let (admin, _) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    let html = page_of(&admin).await;
    assert!(html.contains("Redrive all"));
    let csrf = csrf_of(&html);
    let res = post(&c, &admin, &one, &[], &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 403, "no same-origin proof: refused");
    let foreign = format!("/console/t/acme/dlq/{theirs}/redrive");
    let res = post(&c, &admin, &foreign, &same_origin, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 404, "globex's dead letter does not exist for acme");
    assert_eq!(left(c.globex).await, 1);
    let res = post(&c, &admin, &one, &same_origin, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/t/acme/dlq");
    assert_eq!((left(c.acme).await, left(c.globex).await), (0, 1), "ours is back in the queue, theirs stays");
    let audit = c.directory.list_audit(c.acme, 0, 100).await.unwrap();
    assert!(
        audit.iter().any(|e| e.action == "dlq.redriven" && e.actor == "console:user-admin"),
        "the redrive is audited with the person's identity"
    );

    // Redrive-all wants its confirmation box.
    dead_letter(&c, c.acme, "m-acme-2").await;
    let all = "/console/t/acme/dlq/redrive";
    let res = post(&c, &admin, all, &same_origin, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 400);
    let res = post(&c, &admin, all, &same_origin, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!((left(c.acme).await, left(c.globex).await), (0, 1));
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let (c, keys) = console().await;
    for (path, data) in
        [("/console/", Some(admin_token(&keys))), ("/console/", None), ("/console/assets/console.css", None)]
    {
        let res = get(&c, path, data.as_deref()).await;
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("referrer-policy"));
    }
    let css = get(&c, "/console/assets/console.css", None).await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
}
