//! Files sent through the console: the mapping editor's dry-run preview of
//! a sample CSV (what it maps, what it rejects, and that nothing is stored
//! or saved), saving a profile, a source's settings, and uploads of CSV
//! and JSON feeds — streamed CSV within the upload limit — as the API
//! would take them.

mod common;

use common::alb::*;
use common::*;
use futures_util::StreamExt;
use roster_core::SourceName;
use roster_queue::Queue;
use roster_store::prelude::*;
use serde_json::json;

async fn send(
    c: &Console,
    p: &Person,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> reqwest::Response {
    let (content_type, body) = multipart(fields, file.map(|(name, bytes)| (name, "sample.csv", bytes)));
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}{path}", c.base))
        .header("x-amzn-oidc-data", &p.data)
        .header("cookie", &p.cookie)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn as_refs<'a>(f: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    f.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn queued(c: &Console) -> u64 {
    c.queue.stats().await.unwrap().visible
}

const PROFILE: &str = r#"{"fields": {
  "externalId": {"column": "Employee ID"},
  "name.givenName": {"column": "First"},
  "hireDate": {"column": "Start", "dateFormat": "MM/DD/YYYY"}
}}"#;

#[tokio::test]
async fn a_mapping_preview_shows_mapped_rows_and_row_errors_and_stores_nothing_until_saved() {
    let (c, keys) = console().await;
    let (admin, html) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    let (viewer, _) = person(&c, &keys, "user-viewer", &["roster-acme-viewers"]).await;
    let csrf = csrf_of(&html);
    let people_before = c.directory.list_people(c.acme, 1000, None).await.unwrap().items.len();
    let sample =
        b"Employee ID,First,Start,Unused\nN1,Nia,03/15/2024,x\nN2,Noor,2024-15-03,y\n,Nobody,01/01/2024,z\n";
    let path = "/console/t/acme/sources/workday/preview";
    let form = [("csrf", csrf.as_str()), ("profile", PROFILE), ("mode", "delta")];

    let res = send(&c, &viewer, path, &form, Some(("sample", sample))).await;
    assert_eq!(res.status(), 403, "previews are for admins (a sample holds people's data)");

    let res = send(&c, &admin, path, &form, Some(("sample", sample))).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let preview = &html[html.find("id=\"preview\"").expect("a preview section")..];
    assert!(preview.contains("<td>N1</td>") && preview.contains("Nia"), "the mapped record: {preview}");
    assert!(preview.contains("2024-03-15"), "the date as mapped");
    assert!(
        preview.contains("row 3") && preview.contains("hireDate"),
        "row 3's date is rejected, by row and field"
    );
    assert!(preview.contains("row 4") && preview.contains("externalId"), "row 4 has no id");
    assert!(!preview.contains("2024-15-03"), "a rejected value is never shown");
    assert!(preview.contains("Unused"), "the unused column is a warning");
    assert!(preview.contains("uses the draft profile"), "not the usual 'no mapping profile' warning");
    assert!(html.contains("Employee ID"), "the editor keeps the draft");
    // Nothing stored: no feed, no person, no message, no profile.
    let feeds = c.directory.list_feeds(c.acme, 100, None).await.unwrap();
    assert!(feeds.items.iter().all(|f| f.source.as_str() != "workday"), "a preview makes no feed");
    assert_eq!(c.directory.list_people(c.acme, 1000, None).await.unwrap().items.len(), people_before);
    assert_eq!(queued(&c).await, 0);
    let workday = SourceName::parse("workday").unwrap();
    assert!(c.directory.get_source(c.acme, &workday).await.unwrap().is_none(), "the draft is not saved");

    // A broken draft is explained, by path.
    let bad = [
        ("csrf", csrf.as_str()),
        ("profile", r#"{"fields": {"hireDate": {"column": "Start", "dateFormat": "QQ"}}}"#),
        ("mode", "delta"),
    ];
    let res = send(&c, &admin, path, &bad, Some(("sample", sample))).await;
    let html = res.text().await.unwrap();
    assert!(html.contains("problem(s)") && html.contains("fields.hireDate"), "{html}");

    // Save: the profile is stored, and audited.
    let save = format!("{}/console/t/acme/sources/workday/mapping", c.base);
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&save)
        .header("x-amzn-oidc-data", &admin.data)
        .header("cookie", &admin.cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str()), ("profile", "{not json")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "an invalid profile is not saved");
    assert!(c.directory.get_source(c.acme, &workday).await.unwrap().is_none());
    let res = post(
        &c,
        &admin,
        "/console/t/acme/sources/workday/mapping",
        &[("sec-fetch-site", "same-origin".into())],
        &[("csrf", &csrf), ("profile", PROFILE)],
    )
    .await;
    assert_eq!(res.status(), 303);
    let stored = c.directory.get_source(c.acme, &workday).await.unwrap().expect("saved");
    assert_eq!(stored.settings.mapping.unwrap()["fields"]["hireDate"]["dateFormat"], json!("MM/DD/YYYY"));
    let log = c.directory.list_audit(c.acme, 0, 500).await.unwrap();
    for action in ["mapping.previewed", "mapping.updated"] {
        assert!(log.iter().any(|e| e.action == action && e.actor == "console:user-admin"), "{action}");
    }
    let (status, html) = open(&c, &viewer, "/console/t/acme/sources/workday").await;
    assert_eq!(status, 200, "viewers read the settings");
    assert!(html.contains("MM/DD/YYYY") && !html.contains("Save profile"), "read-only for a viewer");
    let res = post(
        &c,
        &viewer,
        "/console/t/acme/sources/workday/mapping",
        &[("sec-fetch-site", "same-origin".into())],
        &[("csrf", &csrf), ("profile", PROFILE)],
    )
    .await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn a_sources_settings_are_changed_by_an_admin_and_checked() {
    let (c, keys) = console().await;
    let (admin, html) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    let csrf = csrf_of(&html);
    let same = [("sec-fetch-site", "same-origin".to_owned())];
    let path = "/console/t/acme/sources/hris/settings";
    let res = post(
        &c,
        &admin,
        path,
        &same,
        &[("csrf", &csrf), ("validation", "strict"), ("threshold_percent", "120"), ("threshold_floor", "5")],
    )
    .await;
    assert_eq!(res.status(), 400, "a percentage over 100 is refused");
    let res = post(
        &c,
        &admin,
        path,
        &same,
        &[("csrf", &csrf), ("validation", "strict"), ("threshold_percent", "25"), ("threshold_floor", "5")],
    )
    .await;
    assert_eq!(res.status(), 303);
    let hris = c.directory.get_source(c.acme, &SourceName::parse("hris").unwrap()).await.unwrap().unwrap();
    assert_eq!(hris.settings.validation, roster_store::Validation::Strict);
    assert_eq!((hris.settings.deletion_threshold_percent, hris.settings.deletion_threshold_floor), (25, 5));
    let (_, list) = open(&c, &admin, "/console/t/acme/sources").await;
    assert!(list.contains("/console/t/acme/sources/hris\"") && list.contains("25% or 5 people"));
}

#[tokio::test]
async fn an_admin_uploads_csv_and_json_feeds_that_are_queued_like_the_apis() {
    let (c, keys) = console().await;
    let (admin, html) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    let (viewer, _) = person(&c, &keys, "user-viewer", &["roster-acme-viewers"]).await;
    let csrf = csrf_of(&html);
    let csv = b"externalId,name.givenName,department\nU1,Uma,Sales\nU2,Ugo,Legal\n,Nobody,Sales\n";
    let fields = |format: &'static str, mode: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("source", "admin-upload".to_owned()),
            ("format", format.into()),
            ("mode", mode.into()),
        ]
    };

    let res =
        send(&c, &viewer, "/console/t/acme/upload", &as_refs(&fields("csv", "delta")), Some(("file", csv)))
            .await;
    assert_eq!(res.status(), 403, "uploads are for admins");
    assert_eq!(queued(&c).await, 0);
    let no_token = [("source", "admin-upload"), ("format", "csv"), ("mode", "delta")];
    let res = send(&c, &admin, "/console/t/acme/upload", &no_token, Some(("file", csv))).await;
    assert_eq!(res.status(), 403, "no CSRF token, no upload");

    let res =
        send(&c, &admin, "/console/t/acme/upload", &as_refs(&fields("csv", "delta")), Some(("file", csv)))
            .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with("/console/t/acme/feeds/feed_"), "to the new feed's page: {to}");
    assert_eq!(queued(&c).await, 2, "the two valid rows are queued");
    let (_, page) = open(&c, &admin, &to).await;
    assert!(page.contains("admin-upload") && page.contains("row 4"), "the feed, with its rejected row 4");

    let json_feed =
        serde_json::to_vec(&json!({"records": [{"externalId": "U3", "department": "Ops"}]})).unwrap();
    let res = send(
        &c,
        &admin,
        "/console/t/acme/upload",
        &as_refs(&fields("json", "delta")),
        Some(("file", &json_feed)),
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(queued(&c).await, 3);

    // A streamed CSV past the upload limit is refused, saying so.
    let mut big = b"externalId,department\n".to_vec();
    let mut i = 0;
    while big.len() as u64 <= UPLOAD_LIMIT {
        big.extend_from_slice(format!("B{i},Department number {i}\n").as_bytes());
        i += 1;
    }
    let res =
        send(&c, &admin, "/console/t/acme/upload", &as_refs(&fields("csv", "delta")), Some(("file", &big)))
            .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("MiB an upload may have"));
    // A JSON file past the body limit too.
    let res =
        send(&c, &admin, "/console/t/acme/upload", &as_refs(&fields("json", "delta")), Some(("file", &big)))
            .await;
    assert_eq!(res.status(), 400);
    let log = c.directory.list_audit(c.acme, 0, 500).await.unwrap();
    assert_eq!(
        log.iter().filter(|e| e.action == "feed.uploaded" && e.actor == "console:user-admin").count(),
        2
    );
}

#[tokio::test]
async fn an_upload_takes_its_place_in_the_budgets_it_shares_with_the_api() {
    let (c, keys) = console().await;
    let (admin, html) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    let csrf = csrf_of(&html);
    let csv = b"externalId,department\nQ1,Sales\n";
    let json_feed =
        serde_json::to_vec(&json!({"records": [{"externalId": "Q2", "department": "Ops"}]})).unwrap();
    let fields = |format: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("source", "admin-upload".to_owned()),
            ("format", format.into()),
            ("mode", "delta".into()),
        ]
    };

    // The tenant's one streaming upload is taken (by an API upload, say):
    // a streamed CSV through the console is refused at once, nothing queued.
    let api_upload = c.budgets.uploads.try_take(c.acme, 1).expect("the tenant's streaming slot");
    let res = send(&c, &admin, "/console/t/acme/upload", &as_refs(&fields("csv")), Some(("file", csv))).await;
    assert_eq!(res.status(), 429);
    let page = res.text().await.unwrap();
    assert!(page.contains("here and through the API") && page.contains("nothing was accepted"), "{page}");
    assert_eq!(queued(&c).await, 0);
    // Another tenant's share is its own.
    assert!(c.budgets.uploads.try_take(c.globex, 1).is_ok());
    drop(api_upload);
    let res = send(&c, &admin, "/console/t/acme/upload", &as_refs(&fields("csv")), Some(("file", csv))).await;
    assert_eq!(res.status(), 303, "the slot is free again");
    assert_eq!(queued(&c).await, 1);
    assert_eq!(c.budgets.uploads.in_use(), 0, "and given back when the upload is answered");

    // A file read whole reserves its bytes of the tenant's bodies.
    let held =
        c.budgets.bodies.try_take(c.acme, 2 * BODY_LIMIT as u64 - 16).expect("most of the tenant's bodies");
    let res =
        send(&c, &admin, "/console/t/acme/upload", &as_refs(&fields("json")), Some(("file", &json_feed)))
            .await;
    assert_eq!(res.status(), 429);
    assert_eq!(queued(&c).await, 1, "nothing more queued");
    drop(held);
    let res =
        send(&c, &admin, "/console/t/acme/upload", &as_refs(&fields("json")), Some(("file", &json_feed)))
            .await;
    assert_eq!(res.status(), 303);
    assert_eq!(queued(&c).await, 2);
    assert_eq!(c.budgets.bodies.in_use(), 0);
}

#[tokio::test]
async fn an_upload_that_stops_sending_is_cut_off_after_the_idle_limit_saying_so() {
    let (c, keys) = console().await;
    let (admin, html) = person(&c, &keys, "user-admin", &["roster-acme-admins"]).await;
    let csrf = csrf_of(&html);
    let fields = [("csrf", csrf.as_str()), ("source", "admin-upload"), ("format", "csv"), ("mode", "delta")];
    let (content_type, body) = multipart(&fields, Some(("file", "roster.csv", b"externalId\nS1\nS2\n")));
    // The form and the first rows, then nothing for three idle limits.
    let (head, tail) = body.split_at(body.len() - 40);
    let (head, tail) = (bytes::Bytes::copy_from_slice(head), bytes::Bytes::copy_from_slice(tail));
    let stalled = futures_util::stream::iter([Ok::<_, std::io::Error>(head)]).chain(
        futures_util::stream::once(async move {
            tokio::time::sleep(UPLOAD_IDLE * 3).await;
            Ok(tail)
        }),
    );
    let res = reqwest::Client::new()
        .post(format!("{}/console/t/acme/upload", c.base))
        .header("x-amzn-oidc-data", &admin.data)
        .header("cookie", &admin.cookie)
        .header("sec-fetch-site", "same-origin")
        .header("content-type", content_type)
        .body(reqwest::Body::wrap_stream(stalled))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("stopped sending for 1 s"));
}
