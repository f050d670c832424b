//! Profile maps: counts by tenure x area x characteristic, and completeness.

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{TestApp, on_every_backend};

on_every_backend!(profile_map_counts_and_measures_completeness);

async fn profile_map_counts_and_measures_completeness(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    for index in 0..6 {
        let ethnicity = if index < 5 { "white-british" } else { "black-african" };
        let mut customer = fixtures::customer(&format!("P{index}"), "Map", "housing-association-tenant");
        customer.equality = Some(fixtures::equality(ethnicity));
        if index == 0 {
            customer.contact = None;
        }
        client.create_customer(partner.request(create(customer))).await.unwrap();
    }
    client
        .create_customer(app.partner("hillside").await.request(create(fixtures::customer(
            "Q",
            "Other",
            "leaseholder",
        ))))
        .await
        .unwrap();

    let request = pb::GetProfileMapRequest {
        characteristic: pb::Characteristic::Ethnicity.into(),
        ..Default::default()
    };
    let map = client
        .get_profile_map(app.participation_officer().await.request(request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(map.total_customers, 7, "partnership-wide");
    let cell = |map: &pb::ProfileMap, tenure: &str, value: &str| {
        map.cells.iter().find(|cell| cell.tenure == tenure && cell.value == value).cloned().unwrap()
    };
    assert_eq!(cell(&map, "housing-association-tenant", "white-british").count, 5);
    assert_eq!(cell(&map, "housing-association-tenant", "black-african").count, 1);
    assert_eq!(cell(&map, "leaseholder", "not-collected").count, 1);
    let email = map.completeness.iter().find(|field| field.field == "contact.email").unwrap();
    assert_eq!((email.recorded, email.total), (6, 7));
    let religion = map.completeness.iter().find(|field| field.field == "equality.religion").unwrap();
    assert_eq!(religion.recorded, 6, "prefer not to say counts as recorded");

    // Partners see the same map with small cells suppressed.
    let partner_view = client.get_profile_map(partner.request(request)).await.unwrap().into_inner();
    let small = cell(&partner_view, "housing-association-tenant", "black-african");
    assert!(small.suppressed);
    assert_eq!(small.count, 0);
    assert_eq!(cell(&partner_view, "housing-association-tenant", "white-british").count, 5);

    let one_landlord = client
        .get_profile_map(partner.request(pb::GetProfileMapRequest {
            landlord_organisation: "organisations/riverside".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one_landlord.total_customers, 6);
    assert_eq!(one_landlord.cells.len(), 1);
}
