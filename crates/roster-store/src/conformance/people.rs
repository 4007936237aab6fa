//! Reading people: pages return everyone once.

use super::*;

pub async fn people_pages_return_everyone_once(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 25).await;
    let batch: Vec<ChangeMessage> =
        (0..25).map(|i| msg(t, f, json!({"externalId": format!("E{i:02}")}))).collect();
    d.apply_batch(&batch, T0).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = d.list_people(t, 10, cursor.as_deref()).await.unwrap();
        seen.extend(page.items.iter().map(|p| p.person.external_id.as_str().to_owned()));
        match page.next {
            Some(c) => {
                assert!(!c.contains('E'), "cursors carry no external id in clear: {c}");
                cursor = Some(c);
            }
            None => break,
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("E{i:02}")).collect();
    assert_eq!(seen, want);
    assert!(d.list_people(t, 10, Some("zz-not-hex")).await.is_err(), "a malformed cursor is an error");
}
