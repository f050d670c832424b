//! The ASB store's promises, on SQLite and PostgreSQL alike: reports filed into
//! the right cases, references in order, retries answered as the first call was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use asb::domain::case::{Channel, Party, PartyRole, Person};
use asb::domain::trigger::TriggerRule;
use asb::store::{Filed, NewParty, NewReport, Store, WriteError};
use chrono::{DateTime, TimeZone as _, Utc};
use involve_asb as asb;
use involve_core::Code;
use persistence::Actor;
use persistence::idempotency::RequestIdentity;
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use test_support::{Backend, TestDatabase, on_every_backend};

on_every_backend!(
    the_service_starts_with_its_reference_data,
    a_report_about_the_same_people_joins_their_case_and_others_open_their_own,
    a_report_after_closure_opens_a_case_linked_to_the_last,
    a_retried_report_is_filed_once,
    community_triggers_are_kept_as_reports_arrive_and_counted_again_when_the_rule_changes,
);

async fn store(backend: Backend) -> Option<(Store, TestDatabase)> {
    let database = TestDatabase::new(backend).await?;
    let store = Store::new(database.connect(asb::SERVICE_NAME).await);
    store.migrate().await.unwrap();
    Some((store, database))
}

fn actor() -> Actor {
    Actor {
        organisation: "organisations/riverside".into(),
        role: "NEIGHBOURHOOD_OFFICER".into(),
        method: "involve.asb.v1.AsbCases/ReportIncident".into(),
        ..Default::default()
    }
}

fn customer(n: u8) -> Person {
    Person::Customer(format!("customers/00000000-0000-7000-8000-0000000000{n:02}"))
}

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 10, 0, 0).unwrap()
}

fn report(day: u32, area: &str, parties: &[(PartyRole, Person)]) -> NewReport {
    NewReport {
        landlord: "organisations/riverside".into(),
        channel: Channel::Phone,
        receive_time: at(day),
        incident_time: None,
        description: "loud music every night".into(),
        area: Code::trusted(area),
        uprn: None,
        location_description: None,
        categories: vec![Code::trusted("noise")],
        hate_motivation: None,
        parties: parties
            .iter()
            .map(|(role, person)| NewParty {
                party: Party { role: *role, person: person.clone() },
                customer_landlord: Some("organisations/riverside".into()),
                details: serde_json::json!({}),
            })
            .collect(),
    }
}

async fn the_service_starts_with_its_reference_data(backend: Backend) {
    use asb::store::entities::{bank_holidays, categories, intervention_types};
    let Some((store, _database)) = store(backend).await else { return };
    let db = store.connection();
    assert_eq!(categories::Entity::find().count(db).await.unwrap(), 14);
    assert_eq!(bank_holidays::Entity::find().count(db).await.unwrap(), 24);
    assert_eq!(intervention_types::Entity::find().count(db).await.unwrap(), 15);
    let hate = categories::Entity::find_by_id("hate-incident").one(db).await.unwrap().unwrap();
    assert_eq!((hate.first_response_secs, hate.needs_motivation), (Some(86_400), true));
    // Migrating again changes nothing.
    store.migrate().await.unwrap();
    assert_eq!(categories::Entity::find().count(db).await.unwrap(), 14);
}

async fn a_report_about_the_same_people_joins_their_case_and_others_open_their_own(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let neighbours = [(PartyRole::Complainant, customer(1)), (PartyRole::AllegedPerpetrator, customer(2))];
    let first = store.file_report(&actor(), None, &report(2, "north", &neighbours)).await.unwrap();
    assert!(first.opened);
    let again = store.file_report(&actor(), None, &report(5, "north", &neighbours)).await.unwrap();
    assert_eq!((again.case, again.opened), (first.case, false));
    // Another household on the same estate: a case of its own.
    let other = [(PartyRole::Complainant, customer(3)), (PartyRole::AllegedPerpetrator, customer(4))];
    let separate = store.file_report(&actor(), None, &report(6, "north", &other)).await.unwrap();
    assert!(separate.opened);
    assert_ne!(separate.case, first.case);

    let joined = store.case(first.case).await.unwrap().unwrap();
    assert_eq!(joined.reference, "ASB-2026-000001");
    assert_eq!(joined.version, 2, "the joining report moved the case's etag on");
    assert_eq!(joined.receive_time, at(2), "the standards count from the first report");
    assert_eq!(store.case(separate.case).await.unwrap().unwrap().reference, "ASB-2026-000002");
    assert_eq!(store.case_reports(first.case).await.unwrap().len(), 2);
    assert_eq!(store.case_parties(first.case).await.unwrap().len(), 2, "each person once per role");
}

async fn a_report_after_closure_opens_a_case_linked_to_the_last(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let neighbours = [(PartyRole::Victim, customer(1)), (PartyRole::AllegedPerpetrator, customer(2))];
    let first = store.file_report(&actor(), None, &report(2, "north", &neighbours)).await.unwrap();
    // Closed (as CloseCase will, once the service has it).
    use asb::store::entities::cases;
    use sea_orm::{ActiveValue::Set, ColumnTrait as _, QueryFilter as _};
    cases::Entity::update_many()
        .set(cases::ActiveModel {
            state: Set("closed".into()),
            close_time: Set(Some(at(10))),
            ..Default::default()
        })
        .filter(cases::Column::Id.eq(first.case.uuid()))
        .exec(store.connection())
        .await
        .unwrap();
    let repeat = store.file_report(&actor(), None, &report(20, "north", &neighbours)).await.unwrap();
    assert_eq!((repeat.opened, repeat.repeat_of), (true, Some(first.case)));
    assert_eq!(store.case(repeat.case).await.unwrap().unwrap().repeat_of, Some(first.case.uuid()));
}

async fn a_retried_report_is_filed_once(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let people = [(PartyRole::Complainant, customer(1))];
    let identity = RequestIdentity::new("7f0c0a52-2b1e-4a39-9e0b-000000000001".into(), b"report one");
    let first: Filed =
        store.file_report(&actor(), Some(&identity), &report(2, "north", &people)).await.unwrap();
    let again = store.file_report(&actor(), Some(&identity), &report(2, "north", &people)).await.unwrap();
    assert_eq!((again.case, again.report), (first.case, first.report));
    assert_eq!(store.case_reports(first.case).await.unwrap().len(), 1);
    let different = RequestIdentity::new(identity.request_id.clone(), b"another report");
    let err = store.file_report(&actor(), Some(&different), &report(3, "north", &people)).await.unwrap_err();
    assert!(matches!(err, WriteError::RequestIdReused(_)), "{err:?}");
}

async fn community_triggers_are_kept_as_reports_arrive_and_counted_again_when_the_rule_changes(
    backend: Backend,
) {
    let Some((store, _database)) = store(backend).await else { return };
    let file = |day, parties: Vec<(PartyRole, Person)>| {
        let store = &store;
        async move { store.file_report(&actor(), None, &report(day, "north", &parties)).await.unwrap() }
    };
    let stranger = Person::External("k smith e1 1aa".into());
    // Filed before the first count: kept by nothing yet, found by the count.
    let first =
        file(2, vec![(PartyRole::Complainant, customer(1)), (PartyRole::AllegedPerpetrator, customer(2))])
            .await;
    file(3, vec![(PartyRole::Victim, stranger.clone()), (PartyRole::AllegedPerpetrator, customer(2))]).await;
    assert!(store.raised_triggers().await.unwrap().is_empty());
    store.keep_triggers(TriggerRule::default()).await.unwrap();
    assert!(store.raised_triggers().await.unwrap().is_empty(), "one report each");

    file(5, vec![(PartyRole::Complainant, customer(1)), (PartyRole::AllegedPerpetrator, customer(2))]).await;
    assert!(store.raised_triggers().await.unwrap().is_empty(), "two reports are not three");
    // The third, about someone else: another case, and the threshold reached.
    let third = file(
        8,
        vec![
            (PartyRole::Complainant, customer(1)),
            (PartyRole::AllegedPerpetrator, customer(6)),
            (PartyRole::Witness, Person::Unknown),
        ],
    )
    .await;
    assert_ne!(third.case, first.case);
    let raised = store.raised_triggers().await.unwrap();
    assert_eq!(raised.len(), 1, "{raised:?}");
    let mut both = vec![first.case, third.case];
    both.sort();
    assert_eq!(
        (
            &raised[0].complainant,
            raised[0].trigger.first,
            raised[0].trigger.reached,
            raised[0].trigger.reports
        ),
        (&customer(1), at(2), at(8), 3)
    );
    assert_eq!((raised[0].owning_case, &raised[0].cases), (third.case, &both));
    // A fourth moves ownership to its case; the threshold stays reached when it was.
    let fourth =
        file(9, vec![(PartyRole::Complainant, customer(1)), (PartyRole::AllegedPerpetrator, customer(7))])
            .await;
    let raised = store.raised_triggers().await.unwrap();
    assert_eq!((raised.len(), raised[0].owning_case, raised[0].trigger.reached), (1, fourth.case, at(8)));

    // Two reports in six months: counted again at start-up, the stranger (a victim twice) included.
    file(10, vec![(PartyRole::Victim, stranger.clone()), (PartyRole::AllegedPerpetrator, customer(2))]).await;
    let two = TriggerRule { reports: 2, months: 6 };
    store.keep_triggers(two).await.unwrap();
    let raised = store.raised_triggers().await.unwrap();
    let people: Vec<(&Person, DateTime<Utc>)> =
        raised.iter().map(|raised| (&raised.complainant, raised.trigger.reached)).collect();
    assert_eq!(people, [(&customer(1), at(5)), (&stranger, at(10))]);
    // The same rule again counts nothing again.
    store.keep_triggers(two).await.unwrap();
    assert_eq!(store.raised_triggers().await.unwrap(), raised);

    // A threshold of no reports is one report, and is kept as reports arrive like any other.
    store.keep_triggers(TriggerRule { reports: 0, months: 6 }).await.unwrap();
    let newcomer = customer(9);
    file(11, vec![(PartyRole::Complainant, newcomer.clone()), (PartyRole::AllegedPerpetrator, customer(2))])
        .await;
    let raised = store.raised_triggers().await.unwrap();
    assert!(raised.iter().any(|raised| raised.complainant == newcomer), "{raised:?}");
}
