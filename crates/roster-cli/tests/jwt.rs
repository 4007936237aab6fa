//! OAuth2 client-credentials JWTs beside API keys, over the real server.
//!
//! Most tests are their own issuer: they sign tokens with an RSA key (a
//! test-only key under `tests/fixtures/`) and a P-256 key made per run, and
//! serve the JWKS from a listener that counts its fetches. The last one takes
//! its tokens from moto's Cognito (`scripts/test` starts moto and sets
//! `ROSTER_TEST_SQS_ENDPOINT`; without it, that test says so and passes
//! unless `ROSTER_REQUIRE_SQS` is set).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use roster_server::auth::jwt::{DEFAULT_MAX_LIFETIME_SECS, JwtIssuerConfig, default_scope_map};
use serde_json::{Value, json};
use support::{TestApp, person, spawn_app, spawn_app_with};

const AUDIENCE: &str = "roster-api";

/// A token issuer of the test's own: two signing keys and a JWKS endpoint.
struct Issuer {
    /// `http://127.0.0.1:PORT`; the JWKS is at the default place beneath it.
    url: String,
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

fn rsa_key() -> RsaKeyPair {
    let pem = include_str!("fixtures/jwt-signing-key.test.pem");
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    RsaKeyPair::from_pkcs8(&STANDARD.decode(body).unwrap()).unwrap()
}

fn ec_key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_jwk(key: &RsaKeyPair, kid: &str) -> Value {
    let public: RsaPublicKeyComponents<Vec<u8>> = key.public().into();
    json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(&public.n), "e": b64(&public.e)})
}

fn ec_jwk(key: &EcdsaKeyPair, kid: &str) -> Value {
    let point = key.public_key().as_ref();
    json!({"kty": "EC", "kid": kid, "crv": "P-256", "use": "sig", "x": b64(&point[1..33]), "y": b64(&point[33..])})
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

impl Issuer {
    async fn start() -> Issuer {
        let (rsa, ec) = (rsa_key(), ec_key());
        let jwks = Arc::new(Mutex::new(json!({"keys": [rsa_jwk(&rsa, "rsa-1"), ec_jwk(&ec, "ec-1")]})));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (Arc::clone(&jwks), Arc::clone(&fetches));
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().unwrap().clone();
                async move { axum::Json(body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Issuer { url, rsa, ec, jwks, fetches }
    }

    /// `[[jwt_issuers]]` for this issuer: client `client-acme` acts for
    /// tenant `acme`, `client-beta` for `beta`, `client-ghost` for a tenant
    /// that does not exist.
    fn config(&self) -> JwtIssuerConfig {
        JwtIssuerConfig {
            issuer: self.url.clone(),
            jwks_url: None,
            audiences: vec![AUDIENCE.into()],
            clients: BTreeMap::from([
                ("client-acme".into(), "acme".into()),
                ("client-beta".into(), "beta".into()),
                ("client-ghost".into(), "ghost".into()),
            ]),
            scope_map: default_scope_map(),
            leeway_secs: 60,
            required_token_use: None,
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
            jwks_refetch_secs: 60,
            client_credentials_only: true,
        }
    }

    /// Claims of a good token of `client` with `scope`, valid for an hour.
    fn claims(&self, client: &str, scope: &str) -> Value {
        json!({
            "iss": self.url, "aud": AUDIENCE, "client_id": client, "scope": scope,
            "iat": now(), "exp": now() + 3600, "jti": roster_core::TenantId::new().as_uuid().to_string(),
        })
    }

    /// Signs with the RSA key (RS256) under `kid`.
    fn rs256(&self, kid: &str, claims: &Value) -> String {
        self.rs256_with_header(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), claims)
    }

    /// Signs with the RSA key (RS256) under a header of the test's choosing.
    fn rs256_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = signing_input(header, claims);
        let mut sig = vec![0; self.rsa.public().modulus_len()];
        self.rsa.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig).unwrap();
        format!("{input}.{}", b64(&sig))
    }

    /// Signs with the P-256 key (ES256) under `kid`.
    fn es256(&self, kid: &str, claims: &Value) -> String {
        let input = signing_input(&json!({"alg": "ES256", "typ": "JWT", "kid": kid}), claims);
        let sig = self.ec.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }

    fn good(&self, client: &str, scope: &str) -> String {
        self.rs256("rsa-1", &self.claims(client, scope))
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()))
}

/// The app with the issuer configured, and tenant `beta` beside `acme`.
async fn app_with(issuer: &Issuer, adjust: impl FnOnce(&mut JwtIssuerConfig)) -> TestApp {
    let mut config = issuer.config();
    adjust(&mut config);
    let app = spawn_app_with(|s| s.jwt_issuers = vec![config]).await;
    app.new_tenant("beta").await;
    app
}

/// The status and problem detail of a request made with `token`.
async fn answer(app: &TestApp, token: &str, path: &str) -> (u16, String) {
    let res = app.get_as(token, path).await;
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["detail"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn an_ingest_token_pushes_a_feed_but_cannot_read_and_a_read_token_can() {
    let issuer = Issuer::start().await;
    let app = app_with(&issuer, |_| {}).await;

    let ingest = issuer.good("client-acme", "roster/ingest");
    let res = app.post_feed_as(&ingest, &json!({"mode": "delta", "records": [person("E1", "R&D")]})).await;
    assert_eq!(res.status(), 202);
    let feed_id = res.json::<Value>().await.unwrap()["feedId"].as_str().unwrap().to_owned();
    assert_eq!(
        answer(&app, &ingest, "/v1/people").await,
        (403, "this credential lacks the `read` scope".into())
    );

    // ES256 this time; the same client, the read scope.
    let read = issuer.es256("ec-1", &issuer.claims("client-acme", "roster/read other:scope"));
    let feed = app.wait_feed(&feed_id).await;
    assert_eq!(feed["counts"]["applied"], 1, "{feed}");
    let res = app.get_as(&read, "/v1/people/E1").await;
    assert_eq!(res.status(), 200, "the token's tenant is acme, whose feed it is");
    assert_eq!(res.json::<Value>().await.unwrap()["externalId"], "E1");
    assert_eq!(answer(&app, &read, "/v1/people").await.0, 200);
    let res = app.post_feed_as(&read, &json!({"mode": "delta", "records": [person("E2", "R&D")]})).await;
    assert_eq!(res.status(), 403, "read does not include ingest");

    // API keys keep working beside the issuer; the JWKS was fetched once.
    assert_eq!(answer(&app, &app.key, "/v1/people").await.0, 200);
    assert_eq!(issuer.fetches(), 1);
}

#[tokio::test]
async fn forged_expired_and_misdirected_tokens_are_refused_with_401() {
    let issuer = Issuer::start().await;
    let app = app_with(&issuer, |_| {}).await;
    let good = issuer.claims("client-acme", "roster/read");
    let with = |patch: Value| {
        let mut claims = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };

    // `alg: none`, unsigned.
    let none = format!("{}.", signing_input(&json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"}), &good));
    // HS256 with the RSA public key, as the JWKS publishes it, for the HMAC
    // secret: the classic algorithm confusion.
    let public_jwk = rsa_jwk(&issuer.rsa, "rsa-1").to_string();
    let input = signing_input(&json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}), &good);
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public_jwk.as_bytes()),
        input.as_bytes(),
    );
    let hs256 = format!("{input}.{}", b64(mac.as_ref()));
    // A good token whose claims were changed after signing.
    let signed = issuer.good("client-acme", "roster/read");
    let mut parts: Vec<&str> = signed.split('.').collect();
    let admin_claims = b64(with(json!({"scope": "roster/admin"})).to_string().as_bytes());
    parts[1] = &admin_claims;
    let tampered = parts.join(".");
    // Signed by the EC key but claiming the RSA key's id.
    let wrong_key = issuer.es256("rsa-1", &good);

    let cases = [
        ("alg none", none, "token signing algorithm not accepted (RS256, RS384, RS512 or ES256 only)"),
        (
            "HS256 with the public key",
            hs256,
            "token signing algorithm not accepted (RS256, RS384, RS512 or ES256 only)",
        ),
        ("tampered claims", tampered, "invalid token signature"),
        ("a key of another type", wrong_key, "the signing key does not fit the token's algorithm"),
        ("expired", issuer.rs256("rsa-1", &with(json!({"exp": now() - 120}))), "token expired"),
        ("not yet valid", issuer.rs256("rsa-1", &with(json!({"nbf": now() + 600}))), "token not yet valid"),
        ("no expiry", issuer.rs256("rsa-1", &with(json!({"exp": null}))), "token has no expiry (exp)"),
        (
            "another issuer",
            issuer.rs256("rsa-1", &with(json!({"iss": "https://cognito-idp.us-east-1.amazonaws.com/x"}))),
            "token issuer not accepted",
        ),
        (
            "another audience",
            issuer.rs256("rsa-1", &with(json!({"aud": "other-api"}))),
            "token audience not accepted",
        ),
        (
            "an unmapped client",
            issuer.rs256("rsa-1", &with(json!({"client_id": "client-unknown"}))),
            "token client is not mapped to a tenant",
        ),
        (
            "a client of a tenant that does not exist",
            issuer.rs256("rsa-1", &with(json!({"client_id": "client-ghost"}))),
            "the tenant of the token's client does not exist",
        ),
        ("garbage", "eyJhbGciOi.eyJpc3Mi.c2ln".to_owned(), "malformed bearer token"),
        (
            "a critical header extension (RFC 7515 4.1.11)",
            issuer.rs256_with_header(
                &json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1", "crit": ["x-unknown"], "x-unknown": 1}),
                &good,
            ),
            "token header names critical extensions (crit), which are not supported",
        ),
        (
            "an ID token (token_use id)",
            issuer.rs256("rsa-1", &with(json!({"token_use": "id"}))),
            "token_use not accepted",
        ),
        (
            "a lifetime of two days",
            issuer.rs256("rsa-1", &with(json!({"exp": now() + 2 * 86_400}))),
            "token lifetime longer than accepted",
        ),
        (
            "a user's token, not the client's own",
            issuer.rs256("rsa-1", &with(json!({"username": "alice", "sub": "user-1"}))),
            "the token was issued to a user, not to the client itself (client credentials only)",
        ),
        (
            "issued in the future",
            issuer.rs256("rsa-1", &with(json!({"iat": now() + 600}))),
            "token not yet valid",
        ),
    ];
    for (case, token, detail) in &cases {
        let res = app.get_as(token, "/v1/people").await;
        assert_eq!(res.status(), 401, "{case}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer", "{case}");
        let body = res.text().await.unwrap();
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["detail"], *detail, "{case}");
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !body.contains(token.as_str()) && (signature.is_empty() || !body.contains(signature)),
            "{case}"
        );
    }
    // The good token itself passes, so each refusal above was for its reason.
    assert_eq!(answer(&app, &issuer.good("client-acme", "roster/read"), "/v1/people").await.0, 200);
    assert_eq!(issuer.fetches(), 1, "none of these fetched the JWKS again");
}

#[tokio::test]
async fn an_unknown_key_refetches_the_jwks_once_then_a_rotated_key_is_picked_up() {
    let issuer = Issuer::start().await;
    let app = app_with(&issuer, |c| c.jwks_refetch_secs = 1).await;
    let claims = issuer.claims("client-acme", "roster/read");
    let past_the_interval = || tokio::time::sleep(Duration::from_millis(1100));

    assert_eq!(answer(&app, &issuer.rs256("rsa-1", &claims), "/v1/people").await.0, 200);
    assert_eq!(issuer.fetches(), 1);

    past_the_interval().await;
    let unknown = (401, "unknown signing key".to_owned());
    assert_eq!(answer(&app, &issuer.rs256("rsa-2", &claims), "/v1/people").await, unknown);
    assert_eq!(issuer.fetches(), 2, "an unknown kid refetches the JWKS");
    for kid in ["rsa-3", "rsa-4", "rsa-2"] {
        assert_eq!(answer(&app, &issuer.rs256(kid, &claims), "/v1/people").await, unknown);
    }
    assert_eq!(issuer.fetches(), 2, "but not again within jwks_refetch_secs");

    // The issuer rotates: the same key pair published under a new kid.
    issuer.jwks.lock().unwrap()["keys"].as_array_mut().unwrap().push(rsa_jwk(&issuer.rsa, "rsa-2"));
    past_the_interval().await;
    assert_eq!(answer(&app, &issuer.rs256("rsa-2", &claims), "/v1/people").await.0, 200);
    assert_eq!(issuer.fetches(), 3);
}

#[tokio::test]
async fn a_token_of_another_tenants_client_cannot_see_the_feed() {
    let issuer = Issuer::start().await;
    let app = app_with(&issuer, |_| {}).await;
    let feed = app.push(json!([person("E1", "R&D")])).await;
    let feed_id = feed["feedId"].as_str().unwrap();
    app.wait_feed(feed_id).await;

    let beta = issuer.good("client-beta", "roster/read roster/admin");
    assert_eq!(answer(&app, &beta, &format!("/v1/feeds/{feed_id}")).await.0, 404);
    assert_eq!(answer(&app, &beta, "/v1/people/E1").await.0, 404);
    let res = app.get_as(&beta, "/v1/people").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["items"], json!([]), "beta's directory is empty");
    let acme = issuer.good("client-acme", "roster/read");
    assert_eq!(answer(&app, &acme, &format!("/v1/feeds/{feed_id}")).await.0, 200);
}

#[tokio::test]
async fn without_an_issuer_a_jwt_is_refused() {
    let issuer = Issuer::start().await;
    let app = spawn_app().await;
    let (status, detail) = answer(&app, &issuer.good("client-acme", "roster/read"), "/v1/people").await;
    assert_eq!(
        (status, detail.as_str()),
        (401, "bearer tokens (JWTs) are not accepted: no issuer is configured")
    );
    assert_eq!(issuer.fetches(), 0);
}

// --- moto's Cognito ---

fn cognito() -> Option<(aws_sdk_cognitoidentityprovider::Client, String)> {
    let Ok(endpoint) = std::env::var("ROSTER_TEST_SQS_ENDPOINT") else {
        assert!(
            std::env::var_os("ROSTER_REQUIRE_SQS").is_none(),
            "ROSTER_REQUIRE_SQS is set but ROSTER_TEST_SQS_ENDPOINT is not"
        );
        eprintln!("ROSTER_TEST_SQS_ENDPOINT not set: the Cognito JWT test is not run (scripts/test runs it)");
        return None;
    };
    use aws_sdk_cognitoidentityprovider::config::{BehaviorVersion, Credentials, Region};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_cognitoidentityprovider::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(&endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("emulator", "emulator", None, None, "emulator"))
        .build();
    Some((aws_sdk_cognitoidentityprovider::Client::from_conf(config), endpoint))
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A user pool, an app client and a user on moto; their access and id tokens
/// (moto issues tokens through AdminInitiateAuth, not the client-credentials
/// grant of the `/oauth2/token` endpoint, but signs them with the pool's
/// RS256 key and names the app client in `client_id` as Cognito does).
async fn cognito_tokens(
    client: &aws_sdk_cognitoidentityprovider::Client,
) -> (String, String, String, String) {
    use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ExplicitAuthFlowsType, MessageActionType};
    let pool = client
        .create_user_pool()
        .pool_name(format!("roster-{}", roster_core::TenantId::new().as_uuid().simple()));
    let pool_id = pool.send().await.unwrap().user_pool.unwrap().id.unwrap();
    let app_client = client
        .create_user_pool_client()
        .user_pool_id(&pool_id)
        .client_name("roster-m2m")
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
        .send()
        .await
        .unwrap();
    let client_id = app_client.user_pool_client.unwrap().client_id.unwrap();
    let password = "Roster-test-Passw0rd!";
    client
        .admin_create_user()
        .user_pool_id(&pool_id)
        .username("hr-integration")
        .temporary_password("Roster-temp-Passw0rd!")
        .message_action(MessageActionType::Suppress)
        .send()
        .await
        .unwrap();
    client
        .admin_set_user_password()
        .user_pool_id(&pool_id)
        .username("hr-integration")
        .password(password)
        .permanent(true)
        .send()
        .await
        .unwrap();
    let auth = client
        .admin_initiate_auth()
        .user_pool_id(&pool_id)
        .client_id(&client_id)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", "hr-integration")
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .unwrap();
    let result = auth.authentication_result.unwrap();
    (pool_id, client_id, result.access_token.unwrap(), result.id_token.unwrap())
}

#[tokio::test]
async fn tokens_of_a_cognito_user_pool_on_moto_are_verified_against_its_jwks() {
    let Some((client, endpoint)) = cognito() else { return };
    let (pool_id, client_id, access, id) = cognito_tokens(&client).await;
    let claims = claims_of(&access);
    let iss = claims["iss"].as_str().unwrap().to_owned();
    assert!(iss.ends_with(&format!("/{pool_id}")), "{iss}");
    assert_eq!(
        (claims["client_id"].as_str(), claims["token_use"].as_str()),
        (Some(&*client_id), Some("access"))
    );
    assert!(claims.get("aud").is_none(), "a Cognito access token has no aud");

    let config = |audience: &str, client_credentials_only: bool| JwtIssuerConfig {
        issuer: iss.clone(),
        // Cognito's is `<issuer>/.well-known/jwks.json`; moto serves the
        // pool's under its own endpoint.
        jwks_url: Some(format!("{endpoint}/{pool_id}/.well-known/jwks.json")),
        audiences: vec![audience.to_owned()],
        clients: BTreeMap::from([(client_id.clone(), "acme".to_owned())]),
        // moto's access tokens carry only this scope (real machine-to-machine
        // clients get the resource server's, e.g. `roster/read`).
        scope_map: BTreeMap::from([("aws.cognito.signin.user.admin".to_owned(), "read".to_owned())]),
        leeway_secs: 60,
        required_token_use: Some("access".to_owned()),
        max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
        jwks_refetch_secs: 60,
        client_credentials_only,
    };

    // moto signs a user in (USER_PASSWORD_AUTH): by default a user's token
    // is not the tenant's machine principal.
    assert!(claims.get("username").is_some(), "a Cognito user's access token names the user");
    let strict = spawn_app_with(|s| s.jwt_issuers = vec![config(&client_id, true)]).await;
    assert_eq!(
        answer(&strict, &access, "/v1/people").await,
        (
            401,
            "the token was issued to a user, not to the client itself (client credentials only)".to_owned()
        )
    );

    let app = spawn_app_with(|s| s.jwt_issuers = vec![config(&client_id, false)]).await;
    let feed = app.push(json!([person("E1", "R&D")])).await;
    app.wait_feed(feed["feedId"].as_str().unwrap()).await;
    let res = app.get_as(&access, "/v1/people").await;
    assert_eq!(res.status(), 200, "moto's RS256 token, verified with its JWKS");
    let people = res.json::<Value>().await.unwrap();
    assert_eq!(people["items"].as_array().map(Vec::len), Some(1), "the client is acme's: {people}");
    let res = app.post_feed_as(&access, &json!({"mode": "delta", "records": [person("E2", "R&D")]})).await;
    assert_eq!(res.status(), 403, "the token's scope maps to read only");
    assert_eq!(
        answer(&app, &id, "/v1/people").await,
        (401, "token_use not accepted".to_owned()),
        "an id token is not an access token"
    );

    // The same token, once the configuration no longer lists its client.
    let app = spawn_app_with(|s| s.jwt_issuers = vec![config("another-app-client", false)]).await;
    assert_eq!(answer(&app, &access, "/v1/people").await, (401, "token audience not accepted".to_owned()));
}

#[tokio::test]
async fn a_clients_rate_budget_follows_it_across_fresh_tokens() {
    let issuer = Issuer::start().await;
    let config = issuer.config();
    let app = spawn_app_with(|s| {
        s.jwt_issuers = vec![config];
        s.rate_limit_per_sec = 0.1;
        s.rate_limit_burst = 2.0;
    })
    .await;
    app.new_tenant("beta").await;
    // Each token is new (its own jti): asking for another does not buy more.
    for _ in 0..2 {
        assert_eq!(answer(&app, &issuer.good("client-acme", "roster/read"), "/v1/people").await.0, 200);
    }
    let (status, detail) = answer(&app, &issuer.good("client-acme", "roster/read"), "/v1/people").await;
    assert_eq!(status, 429, "{detail}");
    assert_eq!(answer(&app, &issuer.good("client-beta", "roster/read"), "/v1/people").await.0, 200);
}

#[tokio::test]
async fn a_clients_first_use_of_the_day_is_audited_once_like_an_api_keys() {
    let issuer = Issuer::start().await;
    let app = app_with(&issuer, |_| {}).await;
    for (i, request_id) in ["jwt-first", "jwt-second", "jwt-third"].into_iter().enumerate() {
        // A fresh token each time: the client is the credential, not the token.
        let token = issuer.good("client-acme", "roster/read");
        let res = app
            .http
            .get(app.url("/v1/people"))
            .bearer_auth(token)
            .header("x-request-id", request_id)
            .send()
            .await;
        assert_eq!(res.unwrap().status(), 200, "request {i}");
    }
    assert_eq!(answer(&app, &issuer.good("client-beta", "roster/read"), "/v1/people").await.0, 200);

    let log = app.get_json("/v1/audit").await;
    let by_tokens: Vec<(&str, &str, &str, &str)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].as_str().unwrap().starts_with("jwt:") && e["action"] == "key.used")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
                e["clientRequestId"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by_tokens,
        [("key.used", "jwt:client-acme", "jwt:client-acme", "jwt-first")],
        "the first use today, once; beta's client is in beta's log, not acme's: {log}"
    );
}

#[tokio::test]
async fn a_key_minted_with_a_token_expires_within_ninety_days() {
    let issuer = Issuer::start().await;
    let app = app_with(&issuer, |_| {}).await;
    let admin = issuer.good("client-acme", "roster/admin");
    let create = |body: Value| {
        let (app, admin) = (&app, admin.clone());
        async move { app.http.post(app.url("/v1/keys")).bearer_auth(admin).json(&body).send().await.unwrap() }
    };
    let res = create(json!({"name": "test-key", "scopes": ["ingest"]})).await;
    assert_eq!(res.status(), 201);
    let key: Value = res.json().await.unwrap();
    let expires = (key["expiresAt"].as_str().and_then(roster_core::Timestamp::parse_rfc3339))
        .or_else(|| key["expiresAt"].as_i64().map(roster_core::Timestamp))
        .unwrap_or_else(|| panic!("an expiry: {key}"));
    let days = (expires.millis() - now() as i64 * 1000) as f64 / 86_400_000.0;
    assert!((89.9..=90.1).contains(&days), "no expiry asked: 90 days ({days})");

    let in_a_year = roster_core::Timestamp((now() as i64 + 365 * 86_400) * 1000).to_rfc3339();
    let res = create(json!({"name": "test-key", "scopes": ["ingest"], "expiresAt": in_a_year})).await;
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("within 90 days"), "{problem}");

    // An API key's admin may still mint a key that does not expire.
    let res = app
        .http
        .post(app.url("/v1/keys"))
        .bearer_auth(&app.key)
        .json(&json!({"name": "test-key", "scopes": ["read"]}))
        .send();
    let key: Value = res.await.unwrap().json().await.unwrap();
    assert!(key["expiresAt"].is_null(), "{key}");
}

#[tokio::test]
async fn an_issuer_granting_the_tenant_admin_lets_its_last_admin_key_be_revoked() {
    let issuer = Issuer::start().await;
    // Only ingest and read from this issuer: no admin credential besides the key.
    let read_only = app_with(&issuer, |c| {
        c.scope_map = [("roster/read".to_owned(), "read".to_owned())].into_iter().collect();
    })
    .await;
    let keys: Value = read_only.get_json("/v1/keys").await;
    let path = format!("/v1/keys/{}", keys["items"][0]["id"].as_str().unwrap());
    let res = read_only.http.delete(read_only.url(&path)).bearer_auth(&read_only.key).send().await.unwrap();
    assert_eq!(res.status(), 409, "the last admin key stays");

    // The default scope map grants `roster/admin`: a token can still manage the tenant.
    let app = app_with(&issuer, |_| {}).await;
    let keys: Value = app.get_json("/v1/keys").await;
    let path = format!("/v1/keys/{}", keys["items"][0]["id"].as_str().unwrap());
    let res = app.http.delete(app.url(&path)).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(res.status(), 200, "an issuer can grant admin: revoked");
    let admin = issuer.good("client-acme", "roster/admin");
    assert_eq!(answer(&app, &admin, "/v1/keys").await.0, 200, "the tenant is still managed with a token");
}
