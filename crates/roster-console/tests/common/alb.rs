//! ALB mode's test identity: keys served as the regional key endpoint, the
//! `x-amzn-oidc-data` header signed as a load balancer signs it, and a
//! console started in ALB mode with helpers to act as a signed-in person.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use super::*;

pub const ARN: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/roster/50dc6c495c0c9188";
pub const KID: &str = "0b8e5f4a-1c2d-4e3f-8a9b-0c1d2e3f4a5b";
pub const OTHER_KID: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";

pub struct Keys {
    pub key: EcdsaKeyPair,
    pub other: EcdsaKeyPair,
    pub fetches: Arc<AtomicUsize>,
    pub url: String,
}

pub fn keypair() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
}

/// The PEM the key endpoint serves: a P-256 SubjectPublicKeyInfo.
pub fn pem(key: &EcdsaKeyPair) -> String {
    let mut der = hex_prefix();
    der.extend_from_slice(key.public_key().as_ref());
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
}

pub fn hex_prefix() -> Vec<u8> {
    vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ]
}

/// Serves `/<kid>` → PEM for both test keys, counting fetches.
pub async fn key_endpoint() -> Keys {
    let (key, other) = (keypair(), keypair());
    let pems = Arc::new([(KID.to_owned(), pem(&key)), (OTHER_KID.to_owned(), pem(&other))]);
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let app = axum::Router::new().route(
        "/{kid}",
        axum::routing::get(move |axum::extract::Path(kid): axum::extract::Path<String>| {
            let (pems, counted) = (pems.clone(), counted.clone());
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                match pems.iter().find(|(k, _)| *k == kid) {
                    Some((_, pem)) => (axum::http::StatusCode::OK, pem.clone()),
                    None => (axum::http::StatusCode::NOT_FOUND, String::new()),
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    Keys { key, other, fetches, url }
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn header(kid: &str, signer: &str, exp: i64) -> Value {
    json!({"typ": "JWT", "kid": kid, "alg": "ES256", "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool",
           "client": "roster-alb-client", "signer": signer, "exp": exp})
}

pub fn claims(sub: &str, groups: &[&str], exp: i64) -> Value {
    json!({"sub": sub, "email": format!("{sub}@example.com"), "email_verified": "true",
           "groups": groups, "exp": exp, "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool"})
}

/// A token as the ALB makes it: each part base64url WITH padding, the
/// signature over the first two parts as they are sent.
pub fn token(key: &EcdsaKeyPair, header: &Value, claims: &Value) -> String {
    let signed = format!("{}.{}", URL_SAFE.encode(header.to_string()), URL_SAFE.encode(claims.to_string()));
    let sig = key.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE.encode(sig.as_ref()))
}

pub fn admin_token(keys: &Keys) -> String {
    let exp = now() + 120;
    token(&keys.key, &header(KID, ARN, exp), &claims("user-admin", &["roster-acme-admins"], exp))
}

pub fn settings(keys: &Keys, base: &str) -> Value {
    json!({
        "public_url": base,
        "groups_claim": "groups",
        "roles": roles(),
        "alb": {"signer_arn": ARN, "region": "eu-west-1", "key_url": keys.url}
    })
}

pub async fn console() -> (Console, Keys) {
    let keys = key_endpoint().await;
    let (l, base) = listener().await;
    let c = start(l, settings(&keys, &base)).await;
    (c, keys)
}

pub async fn get(c: &Console, path: &str, data: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", c.base));
    if let Some(d) = data {
        req = req.header("x-amzn-oidc-data", d);
    }
    req.send().await.unwrap()
}

/// A signed-in browser in ALB mode: its session cookie and the ALB header.
pub struct Person {
    pub data: String,
    pub cookie: String,
}

pub async fn person(c: &Console, keys: &Keys, sub: &str, groups: &[&str]) -> (Person, String) {
    let path = format!("/console/t/acme/feeds/{}/review", public_feed(c.halted));
    person_at(c, keys, sub, groups, &path).await
}

/// [`person`], signed in on the page at `path` (which must answer 200).
pub async fn person_at(c: &Console, keys: &Keys, sub: &str, groups: &[&str], path: &str) -> (Person, String) {
    let exp = now() + 300;
    let data = token(&keys.key, &header(KID, ARN, exp), &claims(sub, groups, exp));
    let res = get(c, path, Some(&data)).await;
    assert_eq!(res.status(), 200);
    let cookie = format!(
        "__Host-roster_session={}",
        cookie_value(&set_cookie(&res, "__Host-roster_session").unwrap())
    );
    let html = res.text().await.unwrap();
    (Person { data, cookie }, html)
}

pub async fn post(
    c: &Console,
    p: &Person,
    path: &str,
    headers: &[(&str, String)],
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{path}", c.base))
        .header("x-amzn-oidc-data", &p.data)
        .header("cookie", &p.cookie)
        .form(form);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    req.send().await.unwrap()
}

/// The header of a form a browser sends from the console's own page.
pub fn same_origin() -> Vec<(&'static str, String)> {
    vec![("sec-fetch-site", "same-origin".to_owned())]
}

/// GETs `path` as the person; the status and the page.
pub async fn open(c: &Console, p: &Person, path: &str) -> (u16, String) {
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", c.base))
        .header("x-amzn-oidc-data", &p.data)
        .header("cookie", &p.cookie)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}
