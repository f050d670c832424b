//! Bad input gets INVALID_ARGUMENT naming every bad field, and writes nothing.

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{TestApp, assert_status, on_every_backend, violated_fields};
use tonic::Code;

on_every_backend!(
    every_bad_field_is_named_and_nothing_is_written,
    missing_required_parts_are_named,
    unknown_enum_values_are_refused,
    names_etags_and_request_ids_must_be_well_formed,
    equality_needs_a_lawful_basis_and_a_permitted_role,
);

async fn every_bad_field_is_named_and_nothing_is_written(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let customer = pb::Customer {
        given_name: "x".repeat(101),
        contact: Some(pb::ContactDetails {
            email: "not-an-email".into(),
            phone: "call me".into(),
            mobile: String::new(),
        }),
        property: Some(pb::Property {
            uprn: "12345678901234".into(),
            postcode: "NOT A POSTCODE".into(),
            ..Default::default()
        }),
        date_of_birth: Some(contracts::google::r#type::Date { year: 2023, month: 2, day: 30 }),
        area: "nowhere".into(),
        accessibility_needs: vec!["Not A Code".into()],
        ..fixtures::customer("Ada", "Lovelace", "martian")
    };
    let err = client.create_customer(partner.request(create(customer))).await.unwrap_err();
    assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    let fields = violated_fields(&err);
    for expected in [
        "customer.given_name",
        "customer.contact.email",
        "customer.contact.phone",
        "customer.property.uprn",
        "customer.property.postcode",
        "customer.date_of_birth",
        "customer.accessibility_needs[0]",
        "customer.tenure",
        "customer.area",
    ] {
        assert!(fields.contains(&expected.to_owned()), "{expected} not named in {fields:?}");
    }
    let listed = client
        .list_customers(app.operator().await.request(pb::ListCustomersRequest::default()))
        .await
        .unwrap();
    assert!(listed.into_inner().customers.is_empty(), "a refused create writes nothing");
}

async fn missing_required_parts_are_named(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let err =
        client.create_customer(partner.request(pb::CreateCustomerRequest::default())).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["customer"]);
    let customer = pb::Customer { tenure: "leaseholder".into(), ..Default::default() };
    let err = client.create_customer(partner.request(create(customer))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["customer.given_name", "customer.family_name"]);
    let err = client.get_customer(partner.request(pb::GetCustomerRequest::default())).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["name"]);
    let err = client
        .erase_customer(partner.request(pb::EraseCustomerRequest {
            name: format!("customers/{}", uuid::Uuid::new_v4()),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["reason"]);
}

async fn unknown_enum_values_are_refused(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let customer = pb::Customer {
        preferred_contact_channel: 42,
        ..fixtures::customer("Ada", "Lovelace", "leaseholder")
    };
    let err = client.create_customer(partner.request(create(customer))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["customer.preferred_contact_channel"]);
    let err = client
        .get_profile_map(
            partner.request(pb::GetProfileMapRequest { characteristic: 77, ..Default::default() }),
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["characteristic"]);
}

async fn names_etags_and_request_ids_must_be_well_formed(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let err = client
        .get_customer(partner.request(pb::GetCustomerRequest { name: "customers/not-a-uuid".into() }))
        .await
        .unwrap_err();
    assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    let err = client
        .get_customer(
            partner.request(pb::GetCustomerRequest { name: format!("customers/{}", uuid::Uuid::new_v4()) }),
        )
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "NOT_FOUND");
    let err = client
        .delete_customer(partner.request(pb::DeleteCustomerRequest {
            name: format!("customers/{}", uuid::Uuid::new_v4()),
            etag: "W/\"1\"".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["etag"]);
    let request = pb::CreateCustomerRequest {
        customer: Some(fixtures::customer("Ada", "Lovelace", "leaseholder")),
        request_id: "retry-1".into(),
        ..Default::default()
    };
    let err = client.create_customer(partner.request(request)).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["request_id"]);
}

async fn equality_needs_a_lawful_basis_and_a_permitted_role(app: TestApp) {
    let mut client = app.profiles().await;
    let mut equality = fixtures::equality("white-british");
    equality.lawful_basis = 0;
    let customer =
        pb::Customer { equality: Some(equality), ..fixtures::customer("Ada", "Lovelace", "leaseholder") };
    let err =
        client.create_customer(app.partner("riverside").await.request(create(customer))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["customer.equality.lawful_basis"]);

    let customer = pb::Customer {
        equality: Some(fixtures::equality("white-british")),
        landlord_organisation: "organisations/riverside".into(),
        area: String::new(),
        ..fixtures::customer("Ada", "Lovelace", "leaseholder")
    };
    let officer = app.officer("council", "").await;
    let err = client.create_customer(officer.request(create(customer))).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "EQUALITY_NOT_PERMITTED");
}
