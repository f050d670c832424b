//! The customer lifecycle: create, read, update, tenure change, delete.

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{TestApp, assert_status, on_every_backend};
use tonic::Code;

on_every_backend!(
    create_then_get_returns_what_was_stored,
    create_with_the_same_request_id_creates_once,
    concurrent_retries_with_one_request_id_all_get_the_first_answer,
    a_request_id_reused_for_another_request_is_refused,
    a_purpose_is_a_code_not_free_text,
    update_replaces_only_masked_fields_and_moves_the_etag,
    stale_etag_is_aborted,
    change_tenure_keeps_history,
    delete_hides_the_customer,
    delete_returns_the_deleted_customer,
    duplicate_external_reference_already_exists,
    validate_only_writes_nothing,
);

async fn create_then_get_returns_what_was_stored(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let mut customer = fixtures::customer("Ada", "Lovelace", "housing-association-tenant");
    customer.equality = Some(fixtures::equality("white-british"));
    customer.communication_needs = Some(pb::CommunicationNeeds {
        preferred_language: "pl".into(),
        large_print: true,
        ..Default::default()
    });
    customer.household = Some(pb::Household { adults: 2, children: 1, members: vec![] });
    customer.preferred_contact_channel = pb::ContactChannel::Email.into();
    customer.contact_consent = Some(pb::ContactConsent { consented: true, decision_time: None });
    let sent = customer.clone();
    let created = client.create_customer(partner.request(create(customer))).await.unwrap().into_inner();

    // What was stored is what was sent, field by field, plus what the service adds.
    let pb::Customer {
        name,
        landlord_organisation,
        tenure_history,
        state,
        create_time,
        update_time,
        delete_time,
        etag,
        contact_consent,
        property,
        ..
    } = created.clone();
    let mut expected = sent.clone();
    expected.name = name;
    expected.landlord_organisation = landlord_organisation;
    expected.tenure_history = tenure_history;
    expected.state = state;
    expected.create_time = create_time;
    expected.update_time = update_time;
    expected.delete_time = delete_time;
    expected.etag = etag;
    expected.contact_consent = contact_consent;
    expected.property = property.clone();
    // Unanswered equality questions come back "not collected"; no interests, empty.
    let not_collected = pb::EqualityAnswer {
        response: pb::equality_answer::Response::NotCollected.into(),
        value: String::new(),
    };
    let equality = expected.equality.as_mut().unwrap();
    for answer in [
        &mut equality.disability,
        &mut equality.sex,
        &mut equality.gender_identity,
        &mut equality.age_band,
        &mut equality.sexual_orientation,
        &mut equality.caring_responsibilities,
    ] {
        assert!(answer.is_none(), "the fixture leaves this one unanswered");
        *answer = Some(not_collected.clone());
    }
    expected.involvement_interests = Some(pb::InvolvementInterests::default());
    assert_eq!(created, expected, "every field sent comes back as sent");
    // The property comes back canonical (the postcode spaced and upper case).
    assert_eq!(property.unwrap().postcode, sent.property.unwrap().postcode.to_uppercase());

    assert!(created.name.starts_with("customers/"));
    assert_eq!(created.landlord_organisation, "organisations/riverside", "a partner's customers are its own");
    assert_eq!(created.etag, "\"1\"");
    assert_eq!(created.tenure_history.len(), 1);
    assert!(created.contact_consent.as_ref().unwrap().decision_time.is_some());

    let fetched = client
        .get_customer(partner.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);
    let equality = fetched.equality.unwrap();
    assert_eq!(equality.ethnicity.unwrap().value, "white-british");
    assert!(!equality.withheld);
    assert_eq!(fetched.property.unwrap().postcode, "EX1 1AA");
    assert_eq!(fetched.communication_needs.unwrap().preferred_language, "pl");
}

async fn create_with_the_same_request_id_creates_once(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = pb::CreateCustomerRequest {
        customer: Some(fixtures::customer("Grace", "Hopper", "leaseholder")),
        request_id: request_id.clone(),
        ..Default::default()
    };
    let first = client.create_customer(partner.request(request.clone())).await.unwrap().into_inner();
    let retry = client.create_customer(partner.request(request)).await.unwrap().into_inner();
    assert_eq!(first.name, retry.name);
    let listed = client
        .list_customers(partner.request(pb::ListCustomersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.customers.len(), 1);

    // The same id from another organisation is another request.
    let other = app.partner("hillside").await;
    let request = pb::CreateCustomerRequest {
        customer: Some(fixtures::customer("Grace", "Hopper", "leaseholder")),
        request_id,
        ..Default::default()
    };
    let theirs = client.create_customer(other.request(request)).await.unwrap().into_inner();
    assert_ne!(theirs.name, first.name);
}

async fn update_replaces_only_masked_fields_and_moves_the_etag(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let created = client
        .create_customer(partner.request(create(fixtures::customer("Alan", "Turing", "council-tenant"))))
        .await
        .unwrap()
        .into_inner();
    let change = pb::Customer {
        name: created.name.clone(),
        etag: created.etag.clone(),
        title: "Dr".into(),
        given_name: "Ignored".into(),
        ..Default::default()
    };
    let updated = client
        .update_customer(partner.request(pb::UpdateCustomerRequest {
            customer: Some(change),
            update_mask: Some(prost_types::FieldMask { paths: vec!["title".into()] }),
            validate_only: false,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.title, "Dr");
    assert_eq!(updated.given_name, "Alan", "fields outside the mask stay");
    assert_eq!(updated.etag, "\"2\"");
    assert_eq!(updated.contact, created.contact);

    // Tenure moves only through ChangeTenure.
    let err = client
        .update_customer(partner.request(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: created.name.clone(),
                tenure: "leaseholder".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["tenure".into()] }),
            validate_only: false,
        }))
        .await
        .unwrap_err();
    assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(involve_tests::violated_fields(&err), ["update_mask.paths[0]"]);
}

async fn stale_etag_is_aborted(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let created = client
        .create_customer(partner.request(create(fixtures::customer("Mary", "Seacole", "council-tenant"))))
        .await
        .unwrap()
        .into_inner();
    let edit = |title: &str| pb::UpdateCustomerRequest {
        customer: Some(pb::Customer {
            name: created.name.clone(),
            etag: created.etag.clone(),
            title: title.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["title".into()] }),
        validate_only: false,
    };
    client.update_customer(partner.request(edit("Mrs"))).await.unwrap();
    let err = client.update_customer(partner.request(edit("Ms"))).await.unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let stale_delete = pb::DeleteCustomerRequest { name: created.name.clone(), etag: created.etag.clone() };
    let err = client.delete_customer(partner.request(stale_delete)).await.unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let current = client
        .get_customer(partner.request(pb::GetCustomerRequest { name: created.name }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(current.title, "Mrs", "the losing write changed nothing");
}

async fn change_tenure_keeps_history(app: TestApp) {
    let mut client = app.profiles().await;
    let officer = app.operator().await;
    let created = client
        .create_customer(officer.request(pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                landlord_organisation: "organisations/council".into(),
                ..fixtures::customer("Nye", "Bevan", "council-tenant")
            }),
            tenure_start_date: Some(contracts::google::r#type::Date { year: 2015, month: 4, day: 1 }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let changed = client
        .change_tenure(officer.request(pb::ChangeTenureRequest {
            name: created.name.clone(),
            tenure: "leaseholder".into(),
            landlord_organisation: "organisations/council".into(),
            effective_date: Some(contracts::google::r#type::Date { year: 2024, month: 6, day: 1 }),
            reason: "right to buy".into(),
            etag: created.etag.clone(),
            request_id: String::new(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.tenure, "leaseholder");
    assert_eq!(changed.tenure_history.len(), 2);
    let first = &changed.tenure_history[0];
    assert_eq!(first.tenure, "council-tenant");
    assert_eq!(first.end_date, Some(contracts::google::r#type::Date { year: 2024, month: 5, day: 31 }));
    assert_eq!(changed.tenure_history[1].reason, "right to buy");

    // History cannot be rewritten from before the current period.
    let err = client
        .change_tenure(officer.request(pb::ChangeTenureRequest {
            name: created.name.clone(),
            tenure: "private-tenant".into(),
            effective_date: Some(contracts::google::r#type::Date { year: 2020, month: 1, day: 1 }),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "TENURE_DATE_BEFORE_CURRENT");
}

async fn delete_hides_the_customer(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let created = client
        .create_customer(partner.request(create(fixtures::customer("Octavia", "Hill", "council-tenant"))))
        .await
        .unwrap()
        .into_inner();
    client
        .delete_customer(
            partner.request(pb::DeleteCustomerRequest { name: created.name.clone(), etag: created.etag }),
        )
        .await
        .unwrap();
    let err = client
        .get_customer(partner.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "NOT_FOUND");
    let listed = client.list_customers(partner.request(pb::ListCustomersRequest::default())).await.unwrap();
    assert!(listed.into_inner().customers.is_empty());
    // Still held for subject access until erased.
    let export = client
        .export_customer_data(partner.request(pb::ExportCustomerDataRequest { name: created.name }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.customer.unwrap().state, i32::from(pb::customer::State::Deleted));
}

async fn delete_returns_the_deleted_customer(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let created = client
        .create_customer(partner.request(create(fixtures::customer("Octavia", "Hill", "council-tenant"))))
        .await
        .unwrap()
        .into_inner();
    let deleted =
        client
            .delete_customer(partner.request(pb::DeleteCustomerRequest {
                name: created.name.clone(),
                etag: created.etag.clone(),
            }))
            .await
            .unwrap()
            .into_inner();
    // AIP-164: the resource itself, in its deleted state, not an empty answer.
    assert_eq!(deleted.name, created.name);
    assert_eq!(deleted.given_name, "Octavia");
    assert_eq!(deleted.family_name, "Hill");
    assert_eq!(deleted.state, i32::from(pb::customer::State::Deleted));
    let delete_time = deleted.delete_time.expect("a deleted customer has its delete_time");
    assert_eq!(deleted.update_time, Some(delete_time), "the delete is the customer's last change");
    assert_eq!(deleted.create_time, created.create_time);
    assert_ne!(deleted.etag, created.etag, "the delete is a change, so the etag moves on");
    assert_eq!(deleted.tenure_history, created.tenure_history);

    // What came back is what is held: the subject-access export shows the same.
    let export = client
        .export_customer_data(partner.request(pb::ExportCustomerDataRequest { name: created.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.customer.as_ref(), Some(&deleted));

    // And its etag is current: erasure accepts it, a second delete finds nothing.
    let err =
        client
            .delete_customer(partner.request(pb::DeleteCustomerRequest {
                name: created.name.clone(),
                etag: deleted.etag.clone(),
            }))
            .await
            .unwrap_err();
    assert_status(&err, Code::NotFound, "NOT_FOUND");
    client
        .erase_customer(partner.request(pb::EraseCustomerRequest {
            name: created.name,
            reason: "erasure request ER-1".into(),
            etag: deleted.etag,
        }))
        .await
        .unwrap();
}

async fn duplicate_external_reference_already_exists(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let with_reference = |given: &str| pb::Customer {
        external_reference: "RS-0001".into(),
        ..fixtures::customer(given, "Owen", "housing-association-tenant")
    };
    client.create_customer(partner.request(create(with_reference("Robert")))).await.unwrap();
    let err = client.create_customer(partner.request(create(with_reference("Anne")))).await.unwrap_err();
    assert_status(&err, Code::AlreadyExists, "EXTERNAL_REFERENCE_TAKEN");
    // Another landlord's references are its own.
    client
        .create_customer(app.partner("hillside").await.request(create(with_reference("Anne"))))
        .await
        .unwrap();
}

async fn validate_only_writes_nothing(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let request = pb::CreateCustomerRequest {
        customer: Some(fixtures::customer("Eleanor", "Rathbone", "leaseholder")),
        validate_only: true,
        ..Default::default()
    };
    let preview = client.create_customer(partner.request(request)).await.unwrap().into_inner();
    assert!(preview.name.is_empty());
    let listed = client.list_customers(partner.request(pb::ListCustomersRequest::default())).await.unwrap();
    assert!(listed.into_inner().customers.is_empty());
}

async fn concurrent_retries_with_one_request_id_all_get_the_first_answer(app: TestApp) {
    let partner = app.partner("riverside").await;
    let request = pb::CreateCustomerRequest {
        customer: Some(pb::Customer {
            external_reference: "RS-RETRY-1".into(),
            ..fixtures::customer("Retry", "Storm", "leaseholder")
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    // A client retrying after timeouts: sixteen copies of one request at once.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (mut client, request) = (app.profiles().await, partner.request(request.clone()));
        calls.spawn(async move { client.create_customer(request).await });
    }
    let mut names = Vec::new();
    while let Some(result) = calls.join_next().await {
        names.push(result.unwrap().expect("every copy gets the customer").into_inner().name);
    }
    names.dedup();
    assert_eq!(names.len(), 1, "one customer for sixteen copies: {names:?}");
    let listed = app
        .profiles()
        .await
        .list_customers(partner.request(pb::ListCustomersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.customers.len(), 1);

    // The same holds for tenure changes.
    let change = pb::ChangeTenureRequest {
        name: names[0].clone(),
        tenure: "council-tenant".into(),
        landlord_organisation: "organisations/riverside".into(),
        effective_date: Some({
            use chrono::Datelike as _;
            let tomorrow = chrono::Utc::now().date_naive() + chrono::Days::new(1);
            contracts::google::r#type::Date {
                year: tomorrow.year(),
                month: i32::try_from(tomorrow.month()).unwrap(),
                day: i32::try_from(tomorrow.day()).unwrap(),
            }
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (mut client, request) = (app.profiles().await, partner.request(change.clone()));
        calls.spawn(async move { client.change_tenure(request).await });
    }
    while let Some(result) = calls.join_next().await {
        let customer = result.unwrap().expect("every copy gets the changed customer").into_inner();
        assert_eq!(customer.tenure, "council-tenant");
    }
    let customer = app
        .profiles()
        .await
        .get_customer(partner.request(pb::GetCustomerRequest { name: names[0].clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(customer.tenure_history.len(), 2, "changed once: {:?}", customer.tenure_history);
}

async fn a_request_id_reused_for_another_request_is_refused(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let first = pb::CreateCustomerRequest {
        customer: Some(fixtures::customer("First", "Person", "leaseholder")),
        request_id: request_id.clone(),
        ..Default::default()
    };
    client.create_customer(partner.request(first.clone())).await.unwrap();
    for other in [
        pb::CreateCustomerRequest {
            customer: Some(fixtures::customer("Second", "Person", "leaseholder")),
            ..first.clone()
        },
        pb::CreateCustomerRequest {
            customer: Some(pb::Customer {
                title: "Dr".into(),
                ..fixtures::customer("First", "Person", "leaseholder")
            }),
            ..first.clone()
        },
    ] {
        let err = client.create_customer(partner.request(other)).await.unwrap_err();
        assert_status(&err, Code::FailedPrecondition, "REQUEST_ID_REUSED");
    }
    // The request id written differently is the same id; validate_only does not count.
    let same = pb::CreateCustomerRequest { request_id: request_id.to_uppercase(), ..first };
    client.create_customer(partner.request(same)).await.expect("an exact retry is still answered");
    let listed = client.list_customers(partner.request(pb::ListCustomersRequest::default())).await.unwrap();
    assert_eq!(listed.into_inner().customers.len(), 1);
}

async fn a_purpose_is_a_code_not_free_text(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let created = client
        .create_customer(partner.request(create(pb::Customer {
            equality: Some(fixtures::equality("white-british")),
            ..fixtures::customer("Purpose", "Stated", "leaseholder")
        })))
        .await
        .unwrap()
        .into_inner();
    let mut free_text = partner.request(pb::GetCustomerRequest { name: created.name.clone() });
    free_text.metadata_mut().insert("x-involve-purpose", "checking on Mrs Smith".parse().unwrap());
    let err = client.get_customer(free_text).await.unwrap_err();
    assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(involve_tests::violated_fields(&err), ["x-involve-purpose"]);
    assert!(!err.message().contains("Smith"));

    let mut coded = partner.request(pb::GetCustomerRequest { name: created.name.clone() });
    coded.metadata_mut().insert("x-involve-purpose", "tenancy-management".parse().unwrap());
    client.get_customer(coded).await.unwrap();
    let export = client
        .export_customer_data(partner.request(pb::ExportCustomerDataRequest { name: created.name }))
        .await
        .unwrap()
        .into_inner();
    let purposes: Vec<&str> = export.audit_events.iter().map(|event| event.purpose.as_str()).collect();
    assert_eq!(purposes, ["not-stated", "tenancy-management", "not-stated"]);
}
