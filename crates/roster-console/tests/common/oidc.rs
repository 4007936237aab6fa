//! The OpenID provider the console's sign-in tests start: npm
//! `oidc-provider` (OpenID certified) from `tests/oidc/` (`npm ci` there
//! first: the test command does it). Without node or the package the tests
//! say so and pass, unless `ROSTER_REQUIRE_OIDC` is set, when they fail.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::json;

use super::*;

pub const SECRET: &str = "test-client-secret";

pub struct Idp {
    child: Child,
    pub issuer: String,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the provider for a console at `base`; `None` when it cannot run
/// here and nothing requires it.
pub fn idp(base: &str) -> Option<Idp> {
    idp_with(base, false)
}

/// [`idp`], with `login_form`: the provider asks for the person's name on a
/// page (for a real browser) instead of taking `login_hint`.
pub fn idp_with(base: &str, login_form: bool) -> Option<Idp> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
    let required = std::env::var_os("ROSTER_REQUIRE_OIDC").is_some();
    if !dir.join("node_modules/oidc-provider").exists() {
        assert!(
            !required,
            "ROSTER_REQUIRE_OIDC is set but {} has no node_modules: run `npm ci` there",
            dir.display()
        );
        eprintln!("skipped: no oidc-provider in {} (run `npm ci` there)", dir.display());
        return None;
    }
    let spawned = Command::new("node")
        .arg("provider.mjs")
        .current_dir(&dir)
        .env("REDIRECT_URI", format!("{base}/console/callback"))
        .env("POST_LOGOUT_URI", format!("{base}/console/signed-out"))
        .env("CLIENT_SECRET", SECRET)
        .env("LOGIN_FORM", if login_form { "1" } else { "" })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            assert!(!required, "ROSTER_REQUIRE_OIDC is set but node could not start: {e}");
            eprintln!("skipped: node could not start: {e}");
            return None;
        }
    };
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("the provider said `{line}`"))
        .to_owned();
    // Keep reading: the provider's notices on a closed pipe would end it.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Some(Idp { child, issuer: format!("http://127.0.0.1:{port}") })
}

/// A console in OIDC mode whose provider is a fresh [`idp`].
pub async fn setup() -> Option<(Console, Idp)> {
    setup_with(false).await
}

pub async fn setup_with(login_form: bool) -> Option<(Console, Idp)> {
    let (l, base) = listener().await;
    let idp = idp_with(&base, login_form)?;
    let c = start(
        l,
        json!({
            "issuer": idp.issuer,
            "client_id": "roster-console",
            "client_secret": SECRET,
            "redirect_url": format!("{base}/console/callback"),
            "scopes": ["openid", "email", "groups"],
            "groups_claim": "groups",
            "roles": roles()
        }),
    )
    .await;
    Some((c, idp))
}
