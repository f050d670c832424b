//! One landlord never sees or touches another's customers; officers see their
//! areas; equality data goes only to roles that need it.

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{TestApp, assert_status, on_every_backend};
use tonic::Code;

on_every_backend!(
    another_landlord_cannot_reach_a_customer_by_any_rpc,
    officers_see_their_areas_across_tenures,
    equality_is_withheld_from_officers_and_reads_are_audited,
);

async fn another_landlord_cannot_reach_a_customer_by_any_rpc(app: TestApp) {
    let mut client = app.profiles().await;
    let owner = app.partner("riverside").await;
    let intruder = app.partner("hillside").await;
    let created = client
        .create_customer(owner.request(create(pb::Customer {
            external_reference: "RS-7".into(),
            ..fixtures::customer("Private", "Person", "housing-association-tenant")
        })))
        .await
        .unwrap()
        .into_inner();
    let name = created.name.clone();
    not_found(client.get_customer(intruder.request(pb::GetCustomerRequest { name: name.clone() })).await);
    not_found(
        client
            .update_customer(intruder.request(pb::UpdateCustomerRequest {
                customer: Some(pb::Customer {
                    name: name.clone(),
                    title: "Hacked".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["title".into()] }),
                validate_only: false,
            }))
            .await,
    );
    not_found(
        client
            .delete_customer(
                intruder.request(pb::DeleteCustomerRequest { name: name.clone(), etag: String::new() }),
            )
            .await,
    );
    not_found(
        client
            .change_tenure(intruder.request(pb::ChangeTenureRequest {
                name: name.clone(),
                tenure: "leaseholder".into(),
                effective_date: Some(contracts::google::r#type::Date { year: 2026, month: 1, day: 1 }),
                ..Default::default()
            }))
            .await,
    );
    not_found(
        client
            .export_customer_data(intruder.request(pb::ExportCustomerDataRequest { name: name.clone() }))
            .await,
    );
    not_found(
        client
            .erase_customer(intruder.request(pb::EraseCustomerRequest {
                name: name.clone(),
                reason: "x".into(),
                etag: String::new(),
            }))
            .await,
    );
    let listed = client
        .list_customers(intruder.request(pb::ListCustomersRequest {
            landlord_organisation: "organisations/riverside".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.customers.is_empty());
    // Creating into another landlord is refused outright.
    let err = client
        .create_customer(intruder.request(create(pb::Customer {
            landlord_organisation: "organisations/riverside".into(),
            ..fixtures::customer("Planted", "Record", "leaseholder")
        })))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "OUTSIDE_SCOPE");

    let untouched =
        client.get_customer(owner.request(pb::GetCustomerRequest { name })).await.unwrap().into_inner();
    assert_eq!(untouched, created, "nothing the intruder did changed the record");
}

#[track_caller]
fn not_found<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) {
    let err = result.unwrap_err();
    assert_status(&err, Code::NotFound, "NOT_FOUND");
}

async fn officers_see_their_areas_across_tenures(app: TestApp) {
    let mut client = app.profiles().await;
    let operator = app.operator().await;
    for area in ["north", "south"] {
        client
            .create_reference_value(operator.request(pb::CreateReferenceValueRequest {
                parent: "referenceSets/areas".into(),
                value: Some(pb::ReferenceValue {
                    code: area.into(),
                    display_name: area.into(),
                    ..Default::default()
                }),
            }))
            .await
            .unwrap();
    }
    for (landlord, area, tenure) in [
        ("riverside", "north", "housing-association-tenant"),
        ("hillside", "north", "leaseholder"),
        ("riverside", "south", "housing-association-tenant"),
    ] {
        let customer = pb::Customer { area: area.into(), ..fixtures::customer("Resident", landlord, tenure) };
        client.create_customer(app.partner(landlord).await.request(create(customer))).await.unwrap();
    }
    let officer = app.officer("council", "north").await;
    let seen = client
        .list_customers(officer.request(pb::ListCustomersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.customers.len(), 2);
    assert!(seen.customers.iter().all(|customer| customer.area == "north"));
}

async fn equality_is_withheld_from_officers_and_reads_are_audited(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let customer = pb::Customer {
        equality: Some(fixtures::equality("asian-indian")),
        ..fixtures::customer("Asha", "Patel", "leaseholder")
    };
    let created = client.create_customer(partner.request(create(customer))).await.unwrap().into_inner();
    let officer = app.officer("council", "").await;
    let seen = client
        .get_customer(officer.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    let equality = seen.equality.clone().unwrap();
    assert!(equality.withheld);
    assert!(equality.ethnicity.is_none());

    // An officer's full replace keeps what it cannot see.
    client
        .update_customer(officer.request(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer { name: created.name.clone(), ..seen.clone() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["*".into()] }),
            validate_only: false,
        }))
        .await
        .unwrap();
    let participation = app.participation_officer().await;
    let read = client
        .get_customer(participation.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.equality.unwrap().ethnicity.unwrap().value, "asian-indian");

    let export = client
        .export_customer_data(partner.request(pb::ExportCustomerDataRequest { name: created.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    let special: Vec<(String, String)> = export
        .audit_events
        .iter()
        .filter(|event| event.special_category)
        .map(|event| (event.role.clone(), event.method.rsplit('/').next().unwrap_or_default().to_owned()))
        .collect();
    assert!(special.contains(&("TENANT_PARTICIPATION_OFFICER".into(), "GetCustomer".into())), "{special:?}");
    assert!(
        !special.iter().any(|(role, method)| role == "NEIGHBOURHOOD_OFFICER" && method == "GetCustomer"),
        "no audit row claims the officer read equality data: {special:?}"
    );
    assert!(special.contains(&("PARTNER_INTEGRATION".into(), "ExportCustomerData".into())));
}
