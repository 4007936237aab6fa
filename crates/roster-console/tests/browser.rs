//! The console in a real headless browser: Debian's Chromium, driven by
//! `playwright-core` (`tests/browser/console.mjs`; never a browser of its
//! own), signs a person in through a real OpenID provider, approves a halted
//! snapshot, redrives a dead letter, opens a person's page, previews and
//! saves a mapping profile and uploads a feed; then the
//! directory and queue are checked for what the clicks did. Screenshots of
//! each page are written under the target directory
//! (`target/tmp/console-screenshots/`).
//!
//! Needs `chromium` (`ROSTER_CHROMIUM`, default `/usr/bin/chromium`), node,
//! and `npm ci` in `tests/browser/` and `tests/oidc/` (the test command does
//! all three). Without them the test says so and passes, unless
//! `ROSTER_REQUIRE_BROWSER` is set, when it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::oidc::*;
use common::*;
use roster_queue::{DeadLetterFilter, Queue};
use roster_store::prelude::*;
use serde_json::{Value, json};

/// The browser and the driver, or why they cannot run here.
fn browser() -> Result<(PathBuf, PathBuf), String> {
    let chromium =
        PathBuf::from(std::env::var("ROSTER_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if !chromium.exists() {
        return Err(format!("no browser at {} (apt-get install chromium)", chromium.display()));
    }
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !driver.join("node_modules/playwright-core").exists() {
        return Err(format!("no playwright-core in {} (run `npm ci` there)", driver.display()));
    }
    Ok((chromium, driver))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_approves_a_snapshot_redrives_a_dead_letter_and_reads_a_persons_history() {
    let required = std::env::var_os("ROSTER_REQUIRE_BROWSER").is_some();
    let (chromium, driver) = match browser() {
        Ok(found) => found,
        Err(why) => {
            assert!(!required, "ROSTER_REQUIRE_BROWSER is set but {why}");
            eprintln!("skipped: {why}");
            return;
        }
    };
    let Some((c, _idp)) = setup_with(true).await else {
        assert!(!required, "ROSTER_REQUIRE_BROWSER is set but the OpenID provider cannot run");
        return;
    };
    dead_letter(&c, c.acme, "m-acme").await;
    for version in
        [json!({"title": "Rep", "department": "Sales"}), json!({"title": "Counsel", "department": "Legal"})]
    {
        let mut record = json!({"externalId": "A1", "name": {"givenName": "Ann", "familyName": "Lee"}});
        record.as_object_mut().unwrap().extend(version.as_object().unwrap().clone());
        roster_store::conformance::apply_records(&*c.directory, c.acme, vec![record]).await;
    }
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);

    // The driver runs while this runtime's other thread serves the console.
    let (base, feed, shots_dir) = (c.base.clone(), public_feed(c.halted), shots.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("console.mjs")
            .current_dir(driver)
            .env("BASE", base)
            .env("SHOTS", shots_dir)
            .env("CHROMIUM", chromium)
            .env("FEED", feed)
            .env("PERSON", "Ann Lee")
            .output()
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value =
        stdout.lines().rev().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_else(|| {
            panic!("no report from the driver: {stdout}\n{}", String::from_utf8_lossy(&out.stderr))
        });
    assert_eq!(report["ok"], true, "the browser run failed (screenshots in {}): {report}", shots.display());
    eprintln!("screenshots: {}", shots.display());

    // What the clicks did.
    let feed = c.directory.get_feed(c.acme, c.halted).await.unwrap().unwrap();
    assert_ne!(feed.status.as_str(), "halted", "the snapshot was approved");
    let left = DeadLetterFilter { tenant: Some(c.acme.to_string()), after: None, limit: 10 };
    assert!(c.queue.list_dead_letters(&left).await.unwrap().is_empty(), "the dead letter was redriven");
    let log = c.directory.list_audit(c.acme, 0, 500).await.unwrap();
    for action in [
        "feed.approved",
        "dlq.redriven",
        "person.read",
        "mapping.previewed",
        "mapping.updated",
        "feed.uploaded",
    ] {
        assert!(
            log.iter().any(|e| e.action == action && e.actor == "console:user-admin"),
            "{action} is audited as the person who signed in"
        );
    }
    let workday = roster_core::SourceName::parse("workday").unwrap();
    let saved = c.directory.get_source(c.acme, &workday).await.unwrap().and_then(|s| s.settings.mapping);
    assert_eq!(saved.unwrap()["fields"]["hireDate"]["dateFormat"], "MM/DD/YYYY", "the profile was saved");
    let uploaded = c.directory.list_feeds(c.acme, 100, None).await.unwrap();
    let upload = uploaded.items.iter().find(|f| f.source == workday).expect("the uploaded feed");
    assert_eq!(
        (upload.counts.received, upload.counts.accepted),
        (2, 2),
        "both rows, mapped by the saved profile"
    );
    let names = [
        "01-overview",
        "02-snapshot-review",
        "03-snapshot-approved",
        "04-dead-letters",
        "05-person",
        "06-mapping-preview",
        "07-upload",
    ];
    for name in names {
        let png = std::fs::read(shots.join(format!("{name}.png"))).unwrap_or_default();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{name}.png is a real screenshot");
    }
}
