//! Signing in through a real OpenID provider: npm `oidc-provider` (OpenID
//! certified), started by the test from `tests/oidc/` (`npm ci` there
//! first: the test command does it). Without node or the package the tests
//! say so and pass, unless `ROSTER_REQUIRE_OIDC` is set, when they fail.

mod common;

use common::oidc::*;
use common::*;
use roster_store::prelude::*;

/// Signs `who` (a test person of provider.mjs) in as a browser would;
/// returns the session cookie's whole `Set-Cookie`.
async fn sign_in(b: &mut Browser, c: &Console, idp: &Idp, who: &str) -> String {
    let res = b.get(&format!("{}/console/login", c.base)).await;
    assert_eq!(res.status(), 303);
    let login = set_cookie(&res, "__Host-roster_login").expect("the sign-in's cookie");
    assert!(login.contains("HttpOnly") && login.contains("Secure") && login.contains("SameSite=Lax"));
    let to_idp = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(to_idp.starts_with(&format!("{}/auth?", idp.issuer)), "{to_idp}");
    let url = reqwest::Url::parse(&to_idp).unwrap();
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["response_type"], "code");
    assert!(q.contains_key("state") && q.contains_key("nonce") && q.contains_key("code_challenge"));
    // The test person is chosen the way a person types their name.
    let callback =
        b.follow_until(format!("{to_idp}&login_hint={who}"), &format!("{}/console/callback", c.base)).await;
    let res = b.get(&callback).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(res.headers()["location"], "/console/");
    assert!(
        !b.jar[&c.base.trim_start_matches("http://").to_owned()].contains_key("__Host-roster_login"),
        "the sign-in cookie is cleared"
    );
    set_cookie(&res, "__Host-roster_session").expect("a session cookie")
}

#[tokio::test]
async fn signing_in_through_a_real_openid_provider_opens_the_overview() {
    let Some((c, idp)) = setup().await else { return };
    let mut b = Browser::new();
    let res = b.get(&format!("{}/console/", c.base)).await;
    assert_eq!(res.status(), 303, "not signed in yet");
    assert_eq!(res.headers()["location"], "/console/login");
    let session = sign_in(&mut b, &c, &idp, "admin").await;
    // __Host-: Secure, Path=/, no Domain; and never readable by script.
    assert!(session.starts_with("__Host-roster_session="));
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(session.contains(flag), "{flag} in {session}");
    }
    assert!(!session.to_ascii_lowercase().contains("domain="));
    let res = b.get(&format!("{}/console/", c.base)).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("ada.admin@example.com"), "signed in as the provider's person");
    assert!(html.contains("acme") && html.contains("(admin)"), "the group's tenant and role");
    assert!(html.contains("Review leavers"), "the halted snapshot waits for a decision");

    // The admin approves the halted snapshot; the audit log names them.
    let review = b.get(&format!("{}/console/t/acme/feeds/{}/review", c.base, public_feed(c.halted))).await;
    let csrf = csrf_of(&review.text().await.unwrap());
    let approve = format!("{}/console/t/acme/feeds/{}/approve", c.base, public_feed(c.halted));
    let res = b.post_form(&approve, &c.base, &[("csrf", &csrf), ("confirm", "yes")]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(c.directory.get_feed(c.acme, c.halted).await.unwrap().unwrap().status.as_str(), "completed");
    let audit = c.directory.list_audit(c.acme, 0, 100).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "feed.approved" && e.actor == "console:user-admin"));
}

#[tokio::test]
async fn a_callback_this_browser_did_not_start_is_refused() {
    let Some((c, _idp)) = setup().await else { return };
    let mut b = Browser::new();
    let res = b.get(&format!("{}/console/login", c.base)).await;
    let to_idp = res.headers()["location"].to_str().unwrap().to_owned();
    let callback =
        b.follow_until(format!("{to_idp}&login_hint=admin"), &format!("{}/console/callback", c.base)).await;
    // Another state than the one this browser's sign-in holds.
    let mut forged = reqwest::Url::parse(&callback).unwrap();
    let code: String = forged.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    forged.query_pairs_mut().clear().append_pair("code", &code).append_pair("state", "attackers-state");
    let res = b.get(forged.as_str()).await;
    assert_eq!(res.status(), 401);
    assert!(set_cookie(&res, "__Host-roster_session").is_none());
    // Another browser (no sign-in cookie) with the genuine callback.
    let res = Browser::new().get(&callback).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("did not start a sign-in"));
    // The provider said no.
    let res = b.get(&format!("{}/console/callback?error=access_denied&state=x", c.base)).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn signing_in_again_replaces_the_session_the_browser_brought() {
    let Some((c, idp)) = setup().await else { return };
    let mut b = Browser::new();
    let first = cookie_value(&sign_in(&mut b, &c, &idp, "viewer").await);
    // The same browser signs in again, its live session's cookie sent along.
    let second = cookie_value(&sign_in(&mut b, &c, &idp, "admin").await);
    assert_ne!(first, second, "a new session secret at every sign-in");
    let mut old = Browser::new();
    old.jar
        .entry(c.base.trim_start_matches("http://").to_owned())
        .or_default()
        .insert("__Host-roster_session".into(), first);
    let res = old.get(&format!("{}/console/", c.base)).await;
    assert_eq!(res.status(), 303, "the session the browser brought was ended");
    // A made-up cookie is no session either.
    let mut planted = Browser::new();
    planted
        .jar
        .entry(c.base.trim_start_matches("http://").to_owned())
        .or_default()
        .insert("__Host-roster_session".into(), "planted".into());
    assert_eq!(planted.get(&format!("{}/console/", c.base)).await.status(), 303);
}

#[tokio::test]
async fn signing_out_ends_the_session_and_goes_to_the_providers_end_session() {
    let Some((c, idp)) = setup().await else { return };
    let mut b = Browser::new();
    sign_in(&mut b, &c, &idp, "viewer").await;
    let page = b.get(&format!("{}/console/", c.base)).await.text().await.unwrap();
    let csrf = csrf_of(&page);
    let kept = b.cookie_header(&c.base);

    // Without the token, sign-out is refused (a cross-site form cannot end it).
    let res = b.post_form(&format!("{}/console/logout", c.base), &c.base, &[]).await;
    assert_eq!(res.status(), 403);

    let res = b.post_form(&format!("{}/console/logout", c.base), &c.base, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(&format!("{}/session/end?", idp.issuer)), "{to}");
    assert!(to.contains("post_logout_redirect_uri="));
    assert!(
        set_cookie(&res, "__Host-roster_session").unwrap().contains("Max-Age=0"),
        "the cookie is cleared"
    );

    // The old cookie, replayed, opens nothing.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/console/", c.base))
        .header("cookie", kept)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/login");
}
