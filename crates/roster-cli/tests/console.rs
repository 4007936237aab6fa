//! `roster serve` and the admin console: off unless `[console]` is
//! configured, then mounted under `/console/` behind the server's edge.
//! (The console's own behaviour is tested in `crates/roster-console/tests`.)

mod support;

use support::*;

#[tokio::test]
async fn the_console_is_off_unless_configured() {
    let app = spawn_app().await;
    let res = app.http.get(format!("{}/console/", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_configured_console_is_served_under_console_beside_the_api() {
    let app = spawn_app_with(|s| {
        let console: roster_console::ConsoleSettings = toml::from_str(
            r#"
            public_url = "https://roster.example.com"
            [alb]
            signer_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/roster/1"
            region = "eu-west-1"
            "#,
        )
        .expect("a [console] section");
        s.console = Some(console);
    })
    .await;
    let res = app.http.get(format!("{}/console/", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 401, "ALB mode: no signed header, no page");
    assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(res.headers().contains_key("x-request-id"), "behind the server's edge layers");
    assert!(
        res.headers()["content-type"].to_str().unwrap().starts_with("text/html"),
        "the console's error page reaches the browser as a page, not wrapped in a JSON problem"
    );
    assert!(
        res.text().await.unwrap().contains("no signed identity from the load balancer (x-amzn-oidc-data)")
    );
    let css = app.http.get(format!("{}/console/assets/console.css", app.base)).send().await.unwrap();
    assert_eq!(css.status(), 200);
    let api = app.http.get(format!("{}/v1/feeds", app.base)).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(api.status(), 200, "the API is unchanged");
}
