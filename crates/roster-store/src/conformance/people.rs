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

/// Filters narrow the listing before the page is cut: paging a filter
/// returns every match once, and only matches.
pub async fn people_are_filtered_by_status_source_department_email_and_change(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let other = tenant(d, "globex").await;
    let f = feed(d, t, 30).await;
    let mut batch = Vec::new();
    for i in 0..30 {
        let dept = if i % 3 == 0 { "Sales" } else { "Engineering" };
        let mut m = msg(
            t,
            f,
            json!({
                "externalId": format!("E{i:02}"),
                "department": dept,
                "active": i % 5 != 0,
                "emails": [{"value": format!("Person{i}@Example.com"), "type": "work"}]
            }),
        );
        if i >= 20 {
            m.source = SourceName::parse("workday").unwrap();
        }
        batch.push(m);
    }
    d.apply_batch(&batch, T0).await.unwrap();
    // The same address at another tenant is not found here.
    let g = feed(d, other, 1).await;
    d.apply_batch(
        &[msg(other, g, json!({"externalId": "X1", "emails": [{"value": "person1@example.com"}]}))],
        T0,
    )
    .await
    .unwrap();
    // E03 changes later.
    let f2 = feed(d, t, 1).await;
    d.apply_batch(&[msg(t, f2, json!({"externalId": "E03", "department": "Legal", "emails": []}))], T1)
        .await
        .unwrap();

    async fn all(d: &impl Directory, t: TenantId, filter: &PeopleFilter) -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = d.find_people(t, filter, 4, cursor.as_deref()).await.unwrap();
            assert!(page.items.len() <= 4);
            seen.extend(page.items.iter().map(|p| p.person.external_id.as_str().to_owned()));
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        seen
    }
    let ids = |v: &[usize]| v.iter().map(|i| format!("E{i:02}")).collect::<Vec<_>>();

    let sales = PeopleFilter { department: Some("Sales".into()), ..Default::default() };
    assert_eq!(all(d, t, &sales).await, ids(&[0, 6, 9, 12, 15, 18, 21, 24, 27]), "E03 moved to Legal");
    let inactive = PeopleFilter { status: Some(Status::Inactive), ..Default::default() };
    assert_eq!(all(d, t, &inactive).await, ids(&[0, 5, 10, 15, 20, 25]));
    let workday_active = PeopleFilter {
        status: Some(Status::Active),
        source: Some(SourceName::parse("workday").unwrap()),
        ..Default::default()
    };
    assert_eq!(all(d, t, &workday_active).await, ids(&[21, 22, 23, 24, 26, 27, 28, 29]));
    let email = PeopleFilter { email: Some("PERSON7@example.COM".into()), ..Default::default() };
    assert_eq!(all(d, t, &email).await, ids(&[7]), "e-mail matches whatever the case");
    let gone = PeopleFilter { email: Some("person3@example.com".into()), ..Default::default() };
    assert!(all(d, t, &gone).await.is_empty(), "E03's address was removed");
    let changed = PeopleFilter { updated_since: Some(T1), ..Default::default() };
    assert_eq!(all(d, t, &changed).await, ids(&[3]));
    let none = PeopleFilter {
        department: Some("Sales".into()),
        status: Some(Status::Pending),
        ..Default::default()
    };
    assert!(all(d, t, &none).await.is_empty());
    // No filter is the plain listing.
    assert_eq!(all(d, t, &PeopleFilter::default()).await.len(), 30);
}

/// The console's people search: part of a name, in any case, matches the
/// given, family, formatted or display name, and "given family".
pub async fn people_are_found_by_part_of_their_name(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 4).await;
    for rec in [
        json!({"externalId": "E1", "name": {"givenName": "Ann", "familyName": "Lee"}}),
        json!({"externalId": "E2", "displayName": "Annika Berg"}),
        json!({"externalId": "E3", "name": {"formatted": "Dr. Joan Leeson"}}),
        json!({"externalId": "E4", "name": {"givenName": "Bob"}, "emails": [{"value": "ann@acme.example"}]}),
    ] {
        apply(d, &msg(t, f, rec)).await;
    }
    let by = |name: &str| {
        let filter = PeopleFilter { name: Some(name.into()), ..Default::default() };
        async move {
            let page = d.find_people(t, &filter, 10, None).await.unwrap();
            page.items.iter().map(|p| p.person.external_id.as_str().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(by("ANN").await, ["E1", "E2"], "given and display names, any case; not the e-mail");
    assert_eq!(by("lee").await, ["E1", "E3"], "family and formatted names");
    assert_eq!(by("ann lee").await, ["E1"], "given then family");
    assert!(by("zed").await.is_empty());
    // Another tenant's people are not found.
    let other = tenant(d, "globex").await;
    let page = d
        .find_people(other, &PeopleFilter { name: Some("ann".into()), ..Default::default() }, 10, None)
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

/// Ingest's manager lookup: people by any e-mail address (lower-cased) or
/// employee number, and the managers stored for people.
pub async fn people_are_found_by_email_or_employee_number_and_their_managers_read(d: &impl Directory) {
    let t = tenant(d, "acme").await;
    let f = feed(d, t, 4).await;
    for rec in [
        json!({"externalId": "M1", "employeeNumber": "0042",
               "emails": [{"value": "Mia.Wong@Acme.example"}, {"value": "mia@home.example"}]}),
        json!({"externalId": "E1", "emails": [{"value": "ann@acme.example"}], "manager": "M1"}),
        // Two people sharing an address: both come back.
        json!({"externalId": "E2", "emails": [{"value": "shared@acme.example"}]}),
        json!({"externalId": "E3", "emails": [{"value": "shared@acme.example"}]}),
    ] {
        apply(d, &msg(t, f, rec)).await;
    }
    let by = |key, values: &[&str]| {
        let values = values.iter().map(|v| v.to_string()).collect();
        async move {
            let mut found: Vec<(String, String)> = d
                .people_by_key(t, key, values)
                .await
                .unwrap()
                .into_iter()
                .map(|(v, id)| (v, id.to_string()))
                .collect();
            found.sort();
            found
        }
    };
    let pair = |v: &str, id: &str| (v.to_owned(), id.to_owned());
    assert_eq!(
        by(crate::PersonKey::Email, &["mia.wong@acme.example", "mia@home.example", "nobody@acme.example"])
            .await,
        [pair("mia.wong@acme.example", "M1"), pair("mia@home.example", "M1")],
        "any address, compared in lower case"
    );
    assert_eq!(
        by(crate::PersonKey::Email, &["shared@acme.example"]).await,
        [pair("shared@acme.example", "E2"), pair("shared@acme.example", "E3")]
    );
    assert_eq!(by(crate::PersonKey::EmployeeNumber, &["0042", "42"]).await, [pair("0042", "M1")]);
    assert!(by(crate::PersonKey::Email, &[]).await.is_empty());
    let other = tenant(d, "globex").await;
    assert!(
        d.people_by_key(other, crate::PersonKey::EmployeeNumber, vec!["0042".into()])
            .await
            .unwrap()
            .is_empty()
    );

    let managers = d.managers_of(t, vec![eid("E1"), eid("E2"), eid("NOBODY")]).await.unwrap();
    assert_eq!(managers, [(eid("E1"), eid("M1"))], "only those with a stored manager");
    assert!(d.managers_of(other, vec![eid("E1")]).await.unwrap().is_empty(), "scoped by tenant");
}
