//! Sources keep their settings.

use super::*;

pub async fn sources_keep_their_settings(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let name = SourceName::parse("workday").unwrap();
    assert!(d.get_source(t, &name).await.unwrap().is_none());
    let settings = SourceSettings {
        deletion_threshold_percent: 5,
        mapping: Some(json!({"fields": {"externalId": {"column": "ID"}}})),
        ..SourceSettings::default()
    };
    let s = d.put_source(t, &name, settings.clone(), T0).await.unwrap();
    assert_eq!(s.settings, settings);
    assert_eq!(d.get_source(t, &name).await.unwrap().unwrap().settings, settings);
    assert_eq!(d.list_sources(t).await.unwrap().len(), 1);
    let other = tenant(d, "globex").await;
    assert!(d.get_source(other, &name).await.unwrap().is_none());
    assert!(d.list_sources(other).await.unwrap().is_empty());
}

pub async fn a_deleted_source_falls_back_to_the_defaults(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let other = tenant(d, "globex").await;
    let name = SourceName::parse("bamboohr").unwrap();
    let settings = SourceSettings { deletion_threshold_percent: 7, ..SourceSettings::default() };
    d.put_source(t, &name, settings.clone(), T0).await.unwrap();
    d.put_source(other, &name, settings.clone(), T0).await.unwrap();
    assert!(matches!(
        d.delete_source(t, &SourceName::parse("nope").unwrap()).await,
        Err(StoreError::NotFound)
    ));
    let gone = d.delete_source(t, &name).await.unwrap();
    assert_eq!(gone.settings, settings, "answers what it removed");
    assert!(d.get_source(t, &name).await.unwrap().is_none());
    assert!(matches!(d.delete_source(t, &name).await, Err(StoreError::NotFound)), "once");
    assert!(
        d.get_source(other, &name).await.unwrap().is_some(),
        "another tenant's source of that name stays"
    );
    // Set up again from scratch.
    d.put_source(t, &name, SourceSettings::default(), T1).await.unwrap();
    assert_eq!(d.get_source(t, &name).await.unwrap().unwrap().settings, SourceSettings::default());
}
