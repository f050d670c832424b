//! The profiles service on its own: served in-process on port 0 and called over
//! its gRPC contract as one principal, without the gateway, on both databases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve_profiles as profiles;
use platform::{Principal, Role};
use test_support::{Backend, ServiceUnderTest, on_every_backend};

on_every_backend!(a_partner_creates_and_reads_its_customer, another_landlord_finds_nothing);

fn partner(organisation: &str) -> Principal {
    Principal {
        organisation: format!("organisations/{organisation}"),
        role: Role::PartnerIntegration,
        subject: format!("organisations/{organisation}/credentials/test"),
        areas: None,
    }
}

fn customer() -> pb::Customer {
    pb::Customer {
        given_name: "Ada".into(),
        family_name: "Lovelace".into(),
        tenure: "leaseholder".into(),
        external_reference: "RS-1".into(),
        ..Default::default()
    }
}

async fn a_partner_creates_and_reads_its_customer(backend: Backend) {
    let Some(service) = ServiceUnderTest::start(&profiles::MODULE, backend, partner("riverside")).await
    else {
        return;
    };
    let mut client = CustomerProfilesClient::new(service.channel().await);
    let request = pb::CreateCustomerRequest { customer: Some(customer()), ..Default::default() };
    let created = client.create_customer(request).await.unwrap().into_inner();
    assert_eq!(created.landlord_organisation, "organisations/riverside");
    let read = client.get_customer(pb::GetCustomerRequest { name: created.name.clone() }).await.unwrap();
    assert_eq!(read.into_inner(), created);
}

async fn another_landlord_finds_nothing(backend: Backend) {
    let Some(intruder) = ServiceUnderTest::start(&profiles::MODULE, backend, partner("hillside")).await
    else {
        return;
    };
    // A riverside customer in the same database, written by riverside's store.
    let store = profiles::Store::new(intruder.database.connect(profiles::SERVICE_NAME).await);
    let owner = partner("riverside");
    let actor = persistence::Actor { organisation: owner.organisation.clone(), ..Default::default() };
    let new = profiles::store::NewCustomer {
        landlord: Some("organisations/riverside".parse().unwrap()),
        tenure: profiles::domain::Code::trusted("leaseholder"),
        tenure_start: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        details: profiles::domain::CustomerDetails {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            ..Default::default()
        },
    };
    let created = store
        .create_customer(&profiles::domain::access::customer_scope(&owner), &actor, None, new)
        .await
        .unwrap();

    let mut client = CustomerProfilesClient::new(intruder.channel().await);
    let err = client.get_customer(pb::GetCustomerRequest { name: created.id.name() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    let listed = client.list_customers(pb::ListCustomersRequest::default()).await.unwrap().into_inner();
    assert!(listed.customers.is_empty());
}
