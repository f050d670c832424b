//! Profile maps: counts by tenure x area x characteristic, and completeness,
//! scoped to the caller and protected wherever the caller could not read the
//! records behind them.

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{Caller, TestApp, assert_status, on_every_backend};
use sea_orm::{ConnectionTrait as _, Statement};
use tonic::Code;

on_every_backend!(
    profile_map_counts_and_measures_completeness,
    officers_get_protected_aggregates_of_their_own_patch_only,
    partners_map_their_own_customers_or_the_partnership_never_another_landlord,
);

/// Creates `count` customers of `caller` in `area` with `ethnicity`.
async fn seed(app: &TestApp, caller: &Caller, area: &str, ethnicity: &str, count: usize) {
    let mut client = app.profiles().await;
    for index in 0..count {
        let customer = pb::Customer {
            area: area.into(),
            equality: Some(fixtures::equality(ethnicity)),
            ..fixtures::customer(&format!("P{index}"), "Mapped", "housing-association-tenant")
        };
        client.create_customer(caller.request(create(customer))).await.unwrap();
    }
}

async fn map(
    app: &TestApp,
    caller: &Caller,
    request: pb::GetProfileMapRequest,
) -> Result<pb::ProfileMap, tonic::Status> {
    app.profiles().await.get_profile_map(caller.request(request)).await.map(tonic::Response::into_inner)
}

fn ethnicity(landlord: &str) -> pb::GetProfileMapRequest {
    pb::GetProfileMapRequest {
        characteristic: pb::Characteristic::Ethnicity.into(),
        landlord_organisation: landlord.into(),
    }
}

fn count_of(map: &pb::ProfileMap, area: &str, value: &str) -> Option<i64> {
    map.cells.iter().find(|cell| cell.area == area && cell.value == value).map(|cell| cell.count)
}

/// Every figure a protected map publishes.
fn every_figure(map: &pb::ProfileMap) -> Vec<i64> {
    let mut figures: Vec<i64> = map.cells.iter().map(|cell| cell.count).collect();
    figures.push(map.total_customers);
    for field in &map.completeness {
        figures.extend([field.recorded, field.total]);
    }
    figures
}

#[track_caller]
fn assert_protected(map: &pb::ProfileMap) {
    assert_eq!(map.rounding_base, 5);
    let figures = every_figure(map);
    assert!(figures.iter().all(|figure| figure % 5 == 0), "every figure is rounded: {figures:?}");
    assert!(map.cells.iter().all(|cell| cell.count > 0), "no cell says that somebody exists");
}

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

    // Tenant participation officers read every answer, so they get exact counts.
    let exact = map(&app, &app.participation_officer().await, ethnicity("")).await.unwrap();
    assert_eq!(exact.rounding_base, 0);
    assert_eq!(exact.total_customers, 7, "partnership-wide");
    let cell = |map: &pb::ProfileMap, tenure: &str, value: &str| {
        map.cells.iter().find(|cell| cell.tenure == tenure && cell.value == value).map(|cell| cell.count)
    };
    assert_eq!(cell(&exact, "housing-association-tenant", "white-british"), Some(5));
    assert_eq!(cell(&exact, "housing-association-tenant", "black-african"), Some(1));
    assert_eq!(cell(&exact, "leaseholder", "not-collected"), Some(1));
    let completeness = |map: &pb::ProfileMap, field: &str| {
        let found = map.completeness.iter().find(|f| f.field == field).unwrap();
        (found.recorded, found.total)
    };
    assert_eq!(completeness(&exact, "contact.email"), (6, 7));
    assert_eq!(completeness(&exact, "equality.religion"), (6, 7), "prefer not to say counts as recorded");
    assert_eq!(completeness(&exact, "equality.ethnicity"), (6, 7));

    // The partner's own customers, exactly: it holds every one of these answers.
    let own = map(&app, &partner, ethnicity("organisations/riverside")).await.unwrap();
    assert_eq!(own.rounding_base, 0);
    assert_eq!(own.total_customers, 6);
    assert_eq!(cell(&own, "housing-association-tenant", "black-african"), Some(1));
    assert!(own.cells.iter().all(|cell| cell.tenure == "housing-association-tenant"));
}

async fn officers_get_protected_aggregates_of_their_own_patch_only(app: TestApp) {
    app.add_areas(&["east", "west"]).await;
    let riverside = app.partner("riverside").await;
    let hillside = app.partner("hillside").await;
    seed(&app, &riverside, "east", "white-british", 4).await;
    seed(&app, &hillside, "east", "black-african", 1).await;
    seed(&app, &riverside, "west", "asian-indian", 9).await;
    let officer = app.officer("council", "east").await;

    // Equality breakdowns of their own patch, only as protected aggregates.
    let by_ethnicity = map(&app, &officer, ethnicity("")).await.unwrap();
    assert_protected(&by_ethnicity);
    assert!(by_ethnicity.cells.iter().all(|cell| cell.area == "east"), "{:?}", by_ethnicity.cells);
    assert_eq!(count_of(&by_ethnicity, "east", "white-british"), Some(5), "4 rounds to 5");
    assert_eq!(count_of(&by_ethnicity, "east", "black-african"), None, "a single person is never shown");
    assert_eq!(by_ethnicity.total_customers, 5, "5 customers in east");

    // Differencing gets nowhere: the map without a characteristic, a landlord
    // filter and the completeness figures are rounded as well.
    let plain = map(&app, &officer, pb::GetProfileMapRequest::default()).await.unwrap();
    assert_protected(&plain);
    assert_eq!(count_of(&plain, "east", ""), Some(5));
    let one_landlord = map(&app, &officer, ethnicity("organisations/hillside")).await.unwrap();
    assert_protected(&one_landlord);
    assert!(one_landlord.cells.is_empty(), "hillside's one customer in east is not shown");
    assert_eq!(one_landlord.total_customers, 0);
    let recorded = by_ethnicity.completeness.iter().find(|f| f.field == "equality.ethnicity").unwrap();
    assert_eq!((recorded.recorded, recorded.total), (5, 5));

    // Aggregate reads of equality data are audited as such.
    let db = app.profiles_database().await;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT resource, role FROM audit_events WHERE special_category = TRUE AND resource LIKE 'profileMap%'",
        ))
        .await
        .unwrap();
    let audited: Vec<(String, String)> =
        rows.iter().map(|row| (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap())).collect();
    assert!(
        audited
            .iter()
            .any(|(resource, role)| role == "NEIGHBOURHOOD_OFFICER" && resource.contains("ETHNICITY")),
        "{audited:?}"
    );
}

async fn partners_map_their_own_customers_or_the_partnership_never_another_landlord(app: TestApp) {
    app.add_areas(&["east"]).await;
    let riverside = app.partner("riverside").await;
    let hillside = app.partner("hillside").await;
    seed(&app, &riverside, "east", "white-british", 11).await;
    seed(&app, &hillside, "east", "black-african", 1).await;

    let refused = map(&app, &hillside, ethnicity("organisations/riverside")).await.unwrap_err();
    assert_status(&refused, Code::PermissionDenied, "OUTSIDE_SCOPE");

    // Riverside knows its own 11 exactly; the partnership-wide figures are rounded,
    // so subtracting them from its own leaves hillside's one customer hidden.
    let own = map(&app, &riverside, ethnicity("organisations/riverside")).await.unwrap();
    assert_eq!(own.total_customers, 11);
    assert_eq!(count_of(&own, "east", "white-british"), Some(11));
    let wide = map(&app, &riverside, ethnicity("")).await.unwrap();
    assert_protected(&wide);
    assert_eq!(wide.total_customers, 10, "12 rounds to 10: no more than riverside's own count");
    assert_eq!(count_of(&wide, "east", "white-british"), Some(10));
    assert_eq!(count_of(&wide, "east", "black-african"), None);
    let plain = map(&app, &riverside, pb::GetProfileMapRequest::default()).await.unwrap();
    assert_eq!(count_of(&plain, "east", ""), Some(10));
}
