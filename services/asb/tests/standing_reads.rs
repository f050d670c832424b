//! The queue's SQL pre-filter and the standards' read, on SQLite and PostgreSQL
//! alike: the open cases the store reads for a queue are exactly those
//! `QueueWindow::may_hold` lets through, at each bound to the second, with the
//! complainant's (and victims') contacts and nobody else's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use asb::domain::queue::{CaseClock, QueueWindow};
use asb::domain::standards::StandardSettings;
use asb::store::entities::{cases, contacts};
use asb::store::{CaseFilter, ListReach, Store};
use chrono::{DateTime, Duration, TimeZone as _, Utc};
use involve_asb as asb;
use sea_orm::{ActiveModelTrait as _, IntoActiveModel as _};
use test_support::{Backend, TestDatabase, on_every_backend};
use uuid::Uuid;

on_every_backend!(
    the_queue_reads_the_open_cases_that_may_owe_work_to_the_second,
    the_standards_read_every_case_of_the_period_with_its_complainant_contacts,
);

async fn store(backend: Backend) -> Option<(Store, TestDatabase)> {
    let database = TestDatabase::new(backend).await?;
    let store = Store::new(database.connect(asb::SERVICE_NAME).await);
    store.migrate().await.unwrap();
    Some((store, database))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 16, 9, 0, 0).unwrap()
}

/// A case as the queue and standards read it, and what was said to whom.
struct Seed {
    received: DateTime<Utc>,
    acknowledged: Option<DateTime<Utc>>,
    first_response_secs: Option<i64>,
    closed: Option<DateTime<Utc>>,
    contacts: Vec<(&'static str, DateTime<Utc>)>,
}

impl Seed {
    fn acknowledged(received: DateTime<Utc>) -> Self {
        Self {
            received,
            acknowledged: Some(received),
            first_response_secs: None,
            closed: None,
            contacts: Vec::new(),
        }
    }
}

async fn insert(store: &Store, seed: &Seed) -> Uuid {
    let id = Uuid::new_v4();
    let row = cases::Model {
        id,
        reference: format!("ASB-TEST-{}", id.simple()),
        landlord_organisation: "organisations/riverside".into(),
        area: "north".into(),
        state: if seed.closed.is_some() { "closed" } else { "open" }.into(),
        categories: "[\"noise\"]".into(),
        hate_motivation: None,
        priority: Some("routine".into()),
        route: Some("neighbourhood".into()),
        first_response_secs: seed.first_response_secs,
        risk: None,
        vulnerabilities: "[]".into(),
        priority_reason: None,
        triaged_by: None,
        triage_time: None,
        assigned_officer: Some("officers/ali".into()),
        team: Some("north-team".into()),
        repeat_of: None,
        mediation: None,
        action_plan: None,
        closure_reason: None,
        closure_outcome: None,
        close_time: seed.closed,
        satisfaction: None,
        signed_off: false,
        receive_time: seed.received,
        open_time: seed.received,
        acknowledge_time: seed.acknowledged,
        first_response_time: None,
        update_time: seed.received,
        version: 1,
    };
    row.into_active_model().reset_all().insert(store.connection()).await.unwrap();
    for (role, at) in &seed.contacts {
        contacts::Model {
            id: Uuid::new_v4(),
            case_id: id,
            party_role: (*role).into(),
            channel: "phone".into(),
            contact_time: *at,
            summary: None,
            author: "officers/ali".into(),
        }
        .into_active_model()
        .reset_all()
        .insert(store.connection())
        .await
        .unwrap();
    }
    id
}

fn clock(id: Uuid, seed: &Seed, trigger: bool) -> CaseClock {
    CaseClock {
        case: asb::domain::case::CaseId::from_uuid(id),
        received: seed.received,
        acknowledged: seed.acknowledged,
        first_response_within: seed.first_response_secs.map(Duration::seconds),
        first_responded: None,
        opened: seed.received,
        contacts: seed
            .contacts
            .iter()
            .filter(|(role, _)| matches!(*role, "complainant" | "victim"))
            .map(|(_, at)| *at)
            .collect(),
        review_due: None,
        trigger_reached: trigger.then(now),
    }
}

async fn the_queue_reads_the_open_cases_that_may_owe_work_to_the_second(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let window = QueueWindow::new(&StandardSettings::default(), now(), Duration::days(2));
    let second = Duration::seconds(1);
    let long_ago = now() - Duration::days(60);
    // Contacted at the quiet bound: nothing to do for a while yet.
    let lately = |seed: Seed| Seed { contacts: vec![("complainant", window.quiet_before)], ..seed };
    let seeds = [
        // Unacknowledged, received either side of the bound.
        lately(Seed { acknowledged: None, ..Seed::acknowledged(window.received_before - second) }),
        lately(Seed { acknowledged: None, ..Seed::acknowledged(window.received_before) }),
        // Waiting for a first response.
        lately(Seed { first_response_secs: Some(86_400), ..Seed::acknowledged(now() - Duration::hours(3)) }),
        // Quiet since either side of the bound.
        Seed {
            contacts: vec![("complainant", window.quiet_before - second)],
            ..Seed::acknowledged(long_ago)
        },
        Seed { contacts: vec![("victim", window.quiet_before)], ..Seed::acknowledged(long_ago) },
        // Only a witness heard from lately: the complainant is owed a contact.
        Seed {
            contacts: vec![("complainant", long_ago), ("witness", window.quiet_before)],
            ..Seed::acknowledged(long_ago)
        },
        // Opened after the bound, no contact yet.
        Seed::acknowledged(window.quiet_before),
        // Closed: never in a queue.
        Seed { closed: Some(now() - Duration::days(1)), ..Seed::acknowledged(long_ago) },
        // Nothing owed, but a community trigger is raised on it.
        lately(Seed::acknowledged(now() - Duration::days(1))),
    ];
    let mut ids = Vec::new();
    for seed in &seeds {
        ids.push(insert(&store, seed).await);
    }
    let triggered = ids[8];
    let filter = CaseFilter { open_only: true, team: Some("north-team".into()), ..CaseFilter::default() };
    let read = store.queue_cases(&ListReach::Areas(None), &filter, &window, &[triggered]).await.unwrap();
    let read_ids: BTreeSet<Uuid> = read.iter().map(|case| case.case.id).collect();
    let expected: BTreeSet<Uuid> = ids
        .iter()
        .zip(&seeds)
        .filter(|(id, seed)| seed.closed.is_none() && window.may_hold(&clock(**id, seed, **id == triggered)))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(read_ids, expected);
    let held: Vec<bool> = ids.iter().map(|id| read_ids.contains(id)).collect();
    assert_eq!(held, [true, false, true, true, false, true, false, false, true]);
    // The contacts read are the complainant's and victims', not the witness's.
    let quiet = read.iter().find(|case| case.case.id == ids[5]).unwrap();
    assert_eq!(quiet.contacts, [long_ago]);
    // Another team's queue reads none of them.
    let other = CaseFilter { team: Some("south-team".into()), ..filter };
    assert!(
        store.queue_cases(&ListReach::Areas(None), &other, &window, &[triggered]).await.unwrap().is_empty()
    );
}

async fn the_standards_read_every_case_of_the_period_with_its_complainant_contacts(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let from = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let second = Duration::seconds(1);
    let first = insert(
        &store,
        &Seed { contacts: vec![("complainant", from), ("witness", from)], ..Seed::acknowledged(from) },
    )
    .await;
    let last = insert(&store, &Seed { closed: Some(to), ..Seed::acknowledged(to - second) }).await;
    insert(&store, &Seed::acknowledged(from - second)).await;
    insert(&store, &Seed::acknowledged(to)).await;
    let filter = CaseFilter { received: Some((from, to)), ..CaseFilter::default() };
    let read = store.standard_cases(&ListReach::Areas(None), &filter).await.unwrap();
    let mut ids: Vec<Uuid> = read.iter().map(|case| case.row.id).collect();
    let mut expected = vec![first, last];
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
    let opening = read.iter().find(|case| case.row.id == first).unwrap();
    assert_eq!(opening.contacts, [from]);
    // Another landlord's own reach reads none of them.
    let reach = ListReach::Owner { organisation: "organisations/hillside".into(), areas: None };
    assert!(store.standard_cases(&reach, &filter).await.unwrap().is_empty());
}
