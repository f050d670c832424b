//! The profiles service on its own: served in-process on port 0 and called over
//! its gRPC contract as one principal, without the gateway, on both databases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve_profiles as profiles;
use platform::{Principal, Role};
use test_support::{Backend, ServiceUnderTest, on_every_backend};

on_every_backend!(
    a_partner_creates_and_reads_its_customer,
    another_landlord_finds_nothing,
    equality_groups_are_counted_for_the_asb_identity_alone_and_protected
);

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

/// A set as published: label, total, and `(value, count)` per value shown.
type PublishedSet<'a> = (&'a str, i64, Vec<(&'a str, i64)>);

fn service(name: &str) -> Principal {
    let subject = format!("services/{name}");
    Principal { organisation: subject.clone(), role: Role::Service, subject, areas: None }
}

/// Eight customers with an ethnicity recorded: seven `white-british`, one `other`.
async fn customers_with_ethnicity(store: &profiles::Store) -> Vec<String> {
    let owner = partner("riverside");
    let actor = persistence::Actor { organisation: owner.organisation.clone(), ..Default::default() };
    let mut names = Vec::new();
    for (index, ethnicity) in ["white-british"; 7].into_iter().chain(["other"]).enumerate() {
        let mut details = profiles::domain::CustomerDetails {
            given_name: format!("Person{index}"),
            family_name: "Neighbour".into(),
            ..Default::default()
        };
        details.equality.ethnicity =
            profiles::domain::EqualityAnswer::Answered(profiles::domain::Code::trusted(ethnicity));
        let new = profiles::store::NewCustomer {
            landlord: Some("organisations/riverside".parse().unwrap()),
            tenure: profiles::domain::Code::trusted("leaseholder"),
            tenure_start: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            details,
        };
        let created = store
            .create_customer(&profiles::domain::access::customer_scope(&owner), &actor, None, new)
            .await
            .unwrap();
        names.push(created.id.name());
    }
    names
}

fn count_request(
    sets: Vec<pb::CustomerSet>,
    role: contracts::involve::common::v1::Role,
) -> pb::CountEqualityGroupsRequest {
    pb::CountEqualityGroupsRequest {
        characteristic: pb::Characteristic::Ethnicity.into(),
        sets,
        requested_for: Some(pb::RequestedFor {
            organisation: "organisations/council".into(),
            subject: "organisations/council/credentials/manager".into(),
            role: role.into(),
        }),
    }
}

async fn equality_groups_are_counted_for_the_asb_identity_alone_and_protected(backend: Backend) {
    use contracts::involve::common::v1::Role as Wire;
    let Some(asb) = ServiceUnderTest::start(&profiles::MODULE, backend, service("asb")).await else {
        return;
    };
    let store = profiles::Store::new(asb.database.connect(profiles::SERVICE_NAME).await);
    let names = customers_with_ethnicity(&store).await;
    let everyone = pb::CustomerSet { label: "complainants".into(), customers: names.clone() };
    // Named twice, and a name of nobody: each customer counts once, nobody not at all.
    let mut repeated = names[..3].to_vec();
    repeated.push(names[0].clone());
    repeated.push("customers/00000000-0000-7000-8000-000000000000".into());
    let three = pb::CustomerSet { label: "victims".into(), customers: repeated };

    let mut client = CustomerProfilesClient::new(asb.channel().await);
    let counted = client
        .count_equality_groups(count_request(vec![everyone.clone(), three], Wire::Manager))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counted.rounding_base, 5);
    let published: Vec<PublishedSet<'_>> = counted
        .sets
        .iter()
        .map(|set| {
            let values = set.values.iter().map(|value| (value.value.as_str(), value.count)).collect();
            (set.label.as_str(), set.total, values)
        })
        .collect();
    // Eight round to 10 and seven to 5 (never above the set of 8 rounded down);
    // the one `other` is too few to show. Three round to 5, but no value may
    // exceed the set of 3 rounded down (0): "all of them" is never told.
    assert_eq!(published, [("complainants", 10, vec![("white-british", 5)]), ("victims", 5, vec![])]);

    // For someone who may not read performance figures: refused.
    let err = client
        .count_equality_groups(count_request(vec![everyone.clone()], Wire::ExternalPartner))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");

    // Another service of the suite is refused whoever it acts for.
    let Some(other) = ServiceUnderTest::start(&profiles::MODULE, backend, service("caller")).await else {
        return;
    };
    let err = CustomerProfilesClient::new(other.channel().await)
        .count_equality_groups(count_request(vec![everyone], Wire::Manager))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
}
