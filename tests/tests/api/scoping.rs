//! One landlord never sees or touches another's customers; officers see their
//! areas; equality data goes only to roles that need it.

use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::import_customers_response::Outcome;
use involve_tests::fixtures::{self, create};
use involve_tests::{Caller, TestApp, assert_status, on_every_backend};
use platform::Role;
use tonic::Code;

on_every_backend!(
    another_landlord_cannot_reach_a_customer_by_any_rpc,
    an_officer_cannot_reach_a_customer_outside_its_areas_by_any_rpc,
    officers_see_their_areas_across_tenures,
    equality_is_withheld_from_officers_and_reads_are_audited,
    an_import_never_overwrites_a_customer_outside_the_callers_scope,
    an_import_does_not_bring_back_a_deleted_customer,
    exports_show_other_organisations_events_without_credentials_or_purposes,
    inspectors_see_protected_aggregates_only_and_external_partners_no_profiles,
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
    assert_unreachable(&app, &intruder, &name).await;
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

/// Asserts that `caller` can neither read nor change `name` through any of the
/// single-customer RPCs, each answering NOT_FOUND as for a customer that is not there.
async fn assert_unreachable(app: &TestApp, caller: &Caller, name: &str) {
    let mut client = app.profiles().await;
    let name = name.to_owned();
    not_found(client.get_customer(caller.request(pb::GetCustomerRequest { name: name.clone() })).await);
    let update = pb::UpdateCustomerRequest {
        customer: Some(pb::Customer { name: name.clone(), title: "Hacked".into(), ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["title".into()] }),
        validate_only: false,
    };
    not_found(client.update_customer(caller.request(update)).await);
    let delete = pb::DeleteCustomerRequest { name: name.clone(), etag: String::new() };
    not_found(client.delete_customer(caller.request(delete)).await);
    let change = pb::ChangeTenureRequest {
        name,
        tenure: "leaseholder".into(),
        effective_date: Some(contracts::google::r#type::Date { year: 2026, month: 1, day: 1 }),
        ..Default::default()
    };
    not_found(client.change_tenure(caller.request(change)).await);
}

#[track_caller]
fn not_found<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) {
    let err = result.unwrap_err();
    assert_status(&err, Code::NotFound, "NOT_FOUND");
}

async fn officers_see_their_areas_across_tenures(app: TestApp) {
    let mut client = app.profiles().await;
    app.add_areas(&["north", "south"]).await;
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

async fn import(
    app: &TestApp,
    caller: &Caller,
    rows: Vec<pb::Customer>,
) -> Result<Vec<pb::ImportCustomersResponse>, tonic::Status> {
    let mut client = app.profiles().await;
    let stream = tokio_stream::iter(
        rows.into_iter().map(|customer| pb::ImportCustomersRequest { customer: Some(customer) }),
    );
    let mut answers = client.import_customers(caller.request(stream)).await?.into_inner();
    let mut all = Vec::new();
    while let Some(answer) = answers.message().await? {
        all.push(answer);
    }
    Ok(all)
}

fn west_customer() -> pb::Customer {
    pb::Customer {
        external_reference: "RS-WEST-1".into(),
        area: "west".into(),
        ..fixtures::customer("Westley", "Resident", "housing-association-tenant")
    }
}

async fn an_officer_cannot_reach_a_customer_outside_its_areas_by_any_rpc(app: TestApp) {
    app.add_areas(&["east", "west"]).await;
    let mut client = app.profiles().await;
    let owner = app.partner("riverside").await;
    let officer = app.officer("council", "east").await;
    let created = client.create_customer(owner.request(create(west_customer()))).await.unwrap().into_inner();
    let name = created.name.clone();

    assert_unreachable(&app, &officer, &name).await;
    // Officers do not handle data-protection requests at all.
    let err = client
        .export_customer_data(officer.request(pb::ExportCustomerDataRequest { name: name.clone() }))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let err = client
        .erase_customer(officer.request(pb::EraseCustomerRequest {
            name: name.clone(),
            reason: "x".into(),
            etag: String::new(),
        }))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    // Creating outside its areas, or with no area, is refused.
    for area in ["west", ""] {
        let err = client
            .create_customer(officer.request(create(pb::Customer {
                area: area.into(),
                landlord_organisation: "organisations/riverside".into(),
                ..fixtures::customer("Planted", "Record", "housing-association-tenant")
            })))
            .await
            .unwrap_err();
        assert_status(&err, Code::PermissionDenied, "OUTSIDE_SCOPE");
    }
    // Moving a customer of its own area into another is refused too.
    let east = client
        .create_customer(officer.request(create(pb::Customer {
            area: "east".into(),
            landlord_organisation: "organisations/riverside".into(),
            ..fixtures::customer("Easton", "Resident", "housing-association-tenant")
        })))
        .await
        .unwrap()
        .into_inner();
    let err = client
        .update_customer(officer.request(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: east.name.clone(),
                area: "west".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["area".into()] }),
            validate_only: false,
        }))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "OUTSIDE_SCOPE");
    // Lists and maps hold only its areas.
    let listed = client
        .list_customers(
            officer.request(pb::ListCustomersRequest { area: "west".into(), ..Default::default() }),
        )
        .await
        .unwrap()
        .into_inner();
    assert!(listed.customers.is_empty());
    let map = client
        .get_profile_map(officer.request(pb::GetProfileMapRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(map.cells.iter().all(|cell| cell.area == "east"), "{:?}", map.cells);
    // Officers do not import (the stream is refused before any row is read).
    let err = import(&app, &officer, vec![west_customer()]).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");

    let untouched =
        client.get_customer(owner.request(pb::GetCustomerRequest { name })).await.unwrap().into_inner();
    assert_eq!(untouched, created, "nothing the officer did changed the record");
}

async fn an_import_never_overwrites_a_customer_outside_the_callers_scope(app: TestApp) {
    app.add_areas(&["east", "west"]).await;
    let mut client = app.profiles().await;
    let owner = app.partner("riverside").await;
    let created = client.create_customer(owner.request(create(west_customer()))).await.unwrap().into_inner();

    // The officer of finding 3: refused outright now.
    let officer = app.officer("council", "east").await;
    let hijack = pb::Customer {
        area: "east".into(),
        landlord_organisation: "organisations/riverside".into(),
        ..fixtures::customer("Hijacked", "Name", "housing-association-tenant")
    };
    let hijack = pb::Customer { external_reference: "RS-WEST-1".into(), ..hijack };
    let err = import(&app, &officer, vec![hijack.clone()]).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");

    // A riverside credential limited to east may import, but not over a west customer:
    // the row fails as CreateCustomer with that reference would, and says no more.
    let limited = app.caller("riverside", Role::PartnerIntegration, &["east"]).await;
    let answers = import(&app, &limited, vec![hijack]).await.unwrap();
    assert_eq!(Outcome::try_from(answers[0].outcome).unwrap(), Outcome::Failed);
    assert!(answers[0].customer.is_empty(), "the matched customer is not named");
    assert_eq!(answers[0].violations[0].field, "customer.external_reference");
    let err = client
        .create_customer(limited.request(create(pb::Customer {
            external_reference: "RS-WEST-1".into(),
            area: "east".into(),
            ..fixtures::customer("Other", "Person", "housing-association-tenant")
        })))
        .await
        .unwrap_err();
    assert_status(&err, Code::AlreadyExists, "EXTERNAL_REFERENCE_TAKEN");

    let untouched = client
        .get_customer(owner.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap();
    assert_eq!(untouched.into_inner(), created);
}

async fn an_import_does_not_bring_back_a_deleted_customer(app: TestApp) {
    let mut client = app.profiles().await;
    let owner = app.partner("riverside").await;
    let customer = pb::Customer {
        external_reference: "RS-GONE".into(),
        ..fixtures::customer("Gone", "Away", "leaseholder")
    };
    let created = client.create_customer(owner.request(create(customer.clone()))).await.unwrap().into_inner();
    client
        .delete_customer(
            owner.request(pb::DeleteCustomerRequest { name: created.name.clone(), etag: String::new() }),
        )
        .await
        .unwrap();

    for caller in [owner.clone(), app.operator().await] {
        let row =
            pb::Customer { landlord_organisation: "organisations/riverside".into(), ..customer.clone() };
        let answers = import(&app, &caller, vec![row]).await.unwrap();
        assert_eq!(Outcome::try_from(answers[0].outcome).unwrap(), Outcome::Failed);
        assert_eq!(answers[0].violations[0].field, "customer.external_reference");
        assert!(answers[0].violations[0].description.contains("deleted"), "{:?}", answers[0].violations);
    }
    not_found(
        client.get_customer(owner.request(pb::GetCustomerRequest { name: created.name.clone() })).await,
    );
    // Still held for subject access until erased.
    let export = client
        .export_customer_data(owner.request(pb::ExportCustomerDataRequest { name: created.name }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.customer.unwrap().given_name, "Gone");
}

async fn exports_show_other_organisations_events_without_credentials_or_purposes(app: TestApp) {
    let mut client = app.profiles().await;
    let owner = app.partner("riverside").await;
    let created = client
        .create_customer(owner.request(create(pb::Customer {
            equality: Some(fixtures::equality("white-british")),
            ..fixtures::customer("Seen", "ByOthers", "leaseholder")
        })))
        .await
        .unwrap()
        .into_inner();
    let officer = app.participation_officer().await;
    let mut read = officer.request(pb::GetCustomerRequest { name: created.name.clone() });
    read.metadata_mut().insert("x-involve-purpose", "customer-involvement".parse().unwrap());
    client.get_customer(read).await.unwrap();
    let mut own_read = owner.request(pb::GetCustomerRequest { name: created.name.clone() });
    own_read.metadata_mut().insert("x-involve-purpose", "tenancy-management".parse().unwrap());
    client.get_customer(own_read).await.unwrap();

    let export = client
        .export_customer_data(owner.request(pb::ExportCustomerDataRequest { name: created.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    let theirs: Vec<_> =
        export.audit_events.iter().filter(|event| event.organisation == "organisations/council").collect();
    assert!(!theirs.is_empty(), "the council's read is on record: {:?}", export.audit_events);
    for event in theirs {
        assert_eq!(event.role, "TENANT_PARTICIPATION_OFFICER");
        assert!(event.subject.is_empty(), "another organisation's credential is not shown: {event:?}");
        assert!(event.purpose.is_empty(), "nor the purpose it stated: {event:?}");
    }
    let own: Vec<_> =
        export.audit_events.iter().filter(|event| event.organisation == owner.organisation).collect();
    assert!(own.iter().all(|event| event.subject.starts_with("organisations/riverside/credentials/")));
    assert!(own.iter().any(|event| event.purpose == "tenancy-management"), "{own:?}");
}

async fn inspectors_see_protected_aggregates_only_and_external_partners_no_profiles(app: TestApp) {
    let mut client = app.profiles().await;
    let owner = app.partner("riverside").await;
    let created = client
        .create_customer(owner.request(create(fixtures::customer("Private", "Record", "leaseholder"))))
        .await
        .unwrap()
        .into_inner();

    // A tenant inspector: performance and aggregates, never a record.
    let inspector = app.caller("council", Role::TenantInspector, &[]).await;
    let err = client
        .get_customer(inspector.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let err =
        client.list_customers(inspector.request(pb::ListCustomersRequest::default())).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let map = client
        .get_profile_map(inspector.request(pb::GetProfileMapRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(map.rounding_base, 5, "protected aggregates only");

    // The police: nothing of the profiles service at all (only shared cases, elsewhere).
    let police = app.caller("police", Role::ExternalPartner, &[]).await;
    let err = client
        .get_customer(police.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let err = client.get_profile_map(police.request(pb::GetProfileMapRequest::default())).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");

    // The new roles follow the organisation-kind table: an agency holds nothing else.
    let mut admin = app.admin().await;
    let err = admin
        .issue_credential(app.operator().await.request(
            contracts::involve::gateway::v1::IssueCredentialRequest {
                parent: "organisations/police".into(),
                credential: Some(contracts::involve::gateway::v1::Credential {
                    role: platform::roles::to_proto(Role::NeighbourhoodOfficer).into(),
                    display_name: "not for the police".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "ROLE_NOT_ALLOWED_FOR_ORGANISATION_KIND");
}
