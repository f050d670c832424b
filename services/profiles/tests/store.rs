//! The profiles store's conformance suite: the same promises checked on SQLite and
//! on PostgreSQL, straight against the store (scoped lookups, compare-and-set on
//! the version, idempotent creates keyed by request id and digest).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::NaiveDate;
use contracts::involve::profiles::v1 as pb;
use involve_profiles as profiles;
use persistence::idempotency::RequestIdentity;
use persistence::{Actor, Scope};
use profiles::domain::tenure::TenureChange;
use profiles::domain::{
    Code, CommunicationNeeds, ContactChannel, ContactDetails, Customer, CustomerDetails, EqualityAnswer,
    EqualityInformation, Household, HouseholdMember, InvolvementInterests, LawfulBasis, Property,
};
use profiles::error::ProfileError;
use profiles::store::{
    CommitTurn, CustomerFilter, ImportBatch, ImportOutcome, ImportRow, NewCustomer, Store,
};
use test_support::{Backend, TestDatabase, on_every_backend};

on_every_backend!(
    lookups_are_scoped_to_landlord_and_area,
    a_write_based_on_an_old_version_is_refused,
    a_request_id_replays_its_first_answer_and_refuses_another_request,
    each_database_names_the_unique_key_that_refused_a_write,
    an_import_stores_every_character_as_given,
    an_import_chunk_commits_only_after_the_chunk_before_it,
    an_import_chunk_after_a_failed_one_writes_nothing,
    two_imports_of_one_new_reference_at_once_both_succeed,
    reads_return_what_the_writes_returned_with_every_period,
    a_page_of_stored_encodings_says_what_the_columns_say_after_every_write,
    a_page_with_a_customer_without_a_current_encoding_is_read_from_the_columns,
    customers_stored_without_an_encoding_are_given_one_and_keep_their_etag,
);

async fn store(backend: Backend) -> Option<(Store, TestDatabase)> {
    let database = TestDatabase::new(backend).await?;
    let store = Store::new(database.connect(profiles::SERVICE_NAME).await);
    store.migrate().await.unwrap();
    Some((store, database))
}

fn actor(organisation: &str) -> Actor {
    Actor {
        organisation: format!("organisations/{organisation}"),
        role: "PARTNER_INTEGRATION".into(),
        method: "involve.profiles.v1.CustomerProfiles/CreateCustomer".into(),
        ..Default::default()
    }
}

fn new_customer(landlord: &str, area: Option<&str>, given_name: &str) -> NewCustomer {
    NewCustomer {
        landlord: Some(format!("organisations/{landlord}").parse().unwrap()),
        tenure: Code::trusted("leaseholder"),
        tenure_start: NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        details: CustomerDetails {
            given_name: given_name.into(),
            family_name: "Stored".into(),
            area: area.map(Code::trusted),
            ..Default::default()
        },
    }
}

async fn lookups_are_scoped_to_landlord_and_area(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let everyone = Scope::partnership();
    let created = store
        .create_customer(&everyone, &actor("riverside"), None, new_customer("riverside", Some("east"), "A"))
        .await
        .unwrap();
    for (scope, visible) in [
        (Scope::organisation("organisations/riverside"), true),
        (Scope::organisation("organisations/hillside"), false),
        (Scope::partnership().with_areas(vec!["east".into()]), true),
        (Scope::partnership().with_areas(vec!["west".into()]), false),
        (Scope::organisation("organisations/riverside").with_areas(vec!["west".into()]), false),
    ] {
        match store.get_customer(&scope, created.id).await {
            Ok(found) => assert!(visible, "{scope:?} should not see it: {found:?}"),
            Err(ProfileError::NotFound { .. }) => assert!(!visible, "{scope:?} should see it"),
            Err(other) => panic!("{other:?}"),
        }
        // The read of the stored encoding is scoped the same way.
        match store.get_encoded(&scope, created.id).await {
            Ok(found) => assert!(visible && found.is_some(), "{scope:?}: {found:?}"),
            Err(ProfileError::NotFound { .. }) => assert!(!visible, "{scope:?} should see it"),
            Err(other) => panic!("{other:?}"),
        }
    }
}

async fn a_write_based_on_an_old_version_is_refused(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let scope = Scope::partnership();
    let created = store
        .create_customer(&scope, &actor("riverside"), None, new_customer("riverside", None, "B"))
        .await
        .unwrap();
    let mut details = created.details.clone();
    details.title = Some("Dr".into());
    let updated = store
        .update_customer(&scope, &actor("riverside"), created.id, created.version, details.clone(), true)
        .await
        .unwrap();
    assert_eq!(updated.version, created.version + 1);
    // A second writer still holding the first version loses.
    details.title = Some("Prof".into());
    let err =
        store.update_customer(&scope, &actor("riverside"), created.id, created.version, details, true).await;
    assert!(matches!(err, Err(ProfileError::Store(persistence::StoreError::Stale))), "{err:?}");
    let err = store.delete_customer(&scope, &actor("riverside"), created.id, Some(created.version)).await;
    assert!(matches!(err, Err(ProfileError::Store(persistence::StoreError::Stale))), "{err:?}");
}

async fn a_request_id_replays_its_first_answer_and_refuses_another_request(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let scope = Scope::partnership();
    let request = RequestIdentity::new(uuid::Uuid::new_v4().to_string(), b"the request as sent");
    let first = store
        .create_customer(&scope, &actor("riverside"), Some(&request), new_customer("riverside", None, "C"))
        .await
        .unwrap();
    let again = store
        .create_customer(&scope, &actor("riverside"), Some(&request), new_customer("riverside", None, "C"))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    // Another organisation's identical id is another request.
    let theirs = store
        .create_customer(&scope, &actor("hillside"), Some(&request), new_customer("hillside", None, "C"))
        .await
        .unwrap();
    assert_ne!(theirs.id, first.id);
    // The same id with other content is refused, not answered with the first.
    let other = RequestIdentity { digest: RequestIdentity::new(String::new(), b"another").digest, ..request };
    let err = store
        .create_customer(&scope, &actor("riverside"), Some(&other), new_customer("riverside", None, "D"))
        .await;
    assert!(matches!(err, Err(ProfileError::RequestIdReused(_))), "{err:?}");
}

/// The constraint constants are what both databases report: a taken external
/// reference is told apart from a twin's claimed request id.
async fn each_database_names_the_unique_key_that_refused_a_write(backend: Backend) {
    use persistence::idempotency::{self, IdempotencyKey, RequestIdentity};
    use profiles::store::entities::customers;
    use sea_orm::TransactionTrait as _;

    let Some((store, _database)) = store(backend).await else { return };
    let scope = Scope::partnership();
    let mut first = new_customer("riverside", None, "A");
    first.details.external_reference = Some("T-1".into());
    store.create_customer(&scope, &actor("riverside"), None, first.clone()).await.unwrap();
    let err = store.create_customer(&scope, &actor("riverside"), None, first).await.unwrap_err();
    assert!(matches!(err, ProfileError::ExternalReferenceTaken { .. }), "{err:?}");
    // An update onto a reference the landlord already uses is told apart the same way.
    let second = store
        .create_customer(&scope, &actor("riverside"), None, new_customer("riverside", None, "B"))
        .await
        .unwrap();
    let mut details = second.details.clone();
    details.external_reference = Some("T-1".into());
    let err = store
        .update_customer(&scope, &actor("riverside"), second.id, second.version, details, false)
        .await
        .unwrap_err();
    assert!(matches!(err, ProfileError::ExternalReferenceTaken { .. }), "{err:?}");

    let actor = actor("riverside");
    let identity = RequestIdentity::new("r-1".into(), b"request");
    let key = IdempotencyKey::for_request(&actor, Some(&identity)).unwrap();
    let db = store.connection();
    idempotency::claim(db, key, "customers/x").await.unwrap();
    let txn = db.begin().await.unwrap();
    let err = idempotency::claim(&txn, key, "customers/y").await.unwrap_err();
    assert!(idempotency::lost_to_a_twin(&err), "{err:?}");
    assert!(!err.violates(&customers::LANDLORD_REFERENCE), "{err:?}");
}

/// On PostgreSQL an import's rows go in by `COPY` as escaped text: backslashes,
/// quotes, COPY's own markers (`\N`, `\.`) and non-ASCII text must come back
/// exactly, and a re-run must find them unchanged.
async fn an_import_stores_every_character_as_given(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let scope = Scope::partnership();
    let awkward = r#"O'Brien \ "Quoted" \N \. C:\temp Zoë 🏠"#;
    let details = CustomerDetails {
        external_reference: Some(r"REF\1".into()),
        given_name: awkward.into(),
        family_name: r"Back\slash".into(),
        date_of_birth: NaiveDate::from_ymd_opt(1961, 2, 3),
        property: Property { address_lines: vec![awkward.into(), r"\N".into()], ..Default::default() },
        ..Default::default()
    };
    let row = ImportRow {
        row: 1,
        landlord: "organisations/riverside".parse().unwrap(),
        tenure: Code::trusted("leaseholder"),
        details: details.clone(),
    };
    let outcomes = committed(
        store.import_batch(&scope, &actor("riverside"), false, vec![row.clone()], CommitTurn::now()).await,
    );
    let [(1, ImportOutcome::Created(id))] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    let stored = store.get_customer(&scope, *id).await.unwrap();
    assert_eq!(stored.details, details);
    let again =
        committed(store.import_batch(&scope, &actor("riverside"), false, vec![row], CommitTurn::now()).await);
    assert_eq!(again, vec![(1, ImportOutcome::Unchanged(*id))]);
}

fn committed(batch: Result<ImportBatch, persistence::StoreError>) -> Vec<(i64, ImportOutcome)> {
    match batch {
        Ok(ImportBatch::Committed(outcomes)) => outcomes,
        other => panic!("expected a committed batch, got {other:?}"),
    }
}

fn import_row(row: i64, reference: &str) -> ImportRow {
    ImportRow {
        row,
        landlord: "organisations/riverside".parse().unwrap(),
        tenure: Code::trusted("leaseholder"),
        details: CustomerDetails {
            external_reference: Some(reference.into()),
            given_name: reference.into(),
            family_name: "Imported".into(),
            ..Default::default()
        },
    }
}

/// One row imported by a partner of riverside, committed in `turn`.
async fn import_one(
    store: &Store,
    row: ImportRow,
    turn: CommitTurn,
) -> Result<ImportBatch, persistence::StoreError> {
    store.import_batch(&Scope::partnership(), &actor("riverside"), false, vec![row], turn).await
}

async fn given_names(store: &Store) -> Vec<String> {
    let everyone =
        store.list_customers(&Scope::partnership(), &CustomerFilter::default(), None, 50).await.unwrap();
    everyone.into_iter().map(|customer| customer.details.given_name).collect()
}

/// Two chunks of one import are in hand at once but commit in stream order: the
/// later one, ready first, waits until the earlier one has committed (on SQLite
/// before it takes the write lock, on PostgreSQL before its commit).
async fn an_import_chunk_commits_only_after_the_chunk_before_it(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let store = std::sync::Arc::new(store);
    let (earlier_committed, turn) = CommitTurn::next();
    let later = tokio::spawn({
        let store = std::sync::Arc::clone(&store);
        async move { import_one(&store, import_row(2, "later"), turn).await }
    });
    // However far the later chunk got, it has not committed.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!later.is_finished(), "the later chunk ended before its turn");
    assert_eq!(given_names(&store).await, Vec::<String>::new());

    let earlier = committed(import_one(&store, import_row(1, "earlier"), CommitTurn::now()).await);
    assert!(matches!(earlier.as_slice(), [(1, ImportOutcome::Created(_))]), "{earlier:?}");
    earlier_committed.fire();
    let later = committed(later.await.unwrap());
    assert!(matches!(later.as_slice(), [(2, ImportOutcome::Created(_))]), "{later:?}");
    let mut names = given_names(&store).await;
    names.sort();
    assert_eq!(names, ["earlier", "later"]);
}

/// When a chunk fails, the chunk written beside it rolls back: an import that
/// ends in an error has written exactly the chunks it answered.
async fn an_import_chunk_after_a_failed_one_writes_nothing(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let (earlier_failed, turn) = CommitTurn::next();
    drop(earlier_failed);
    let later = import_one(&store, import_row(2, "later"), turn).await;
    assert!(matches!(later, Ok(ImportBatch::Withdrawn)), "{later:?}");
    assert_eq!(given_names(&store).await, Vec::<String>::new());
    // Nothing of it lingers: the same row imports afresh.
    let again = committed(import_one(&store, import_row(2, "later"), CommitTurn::now()).await);
    assert!(matches!(again.as_slice(), [(2, ImportOutcome::Created(_))]), "{again:?}");
}

/// Two partners' systems importing the same new reference at the same moment: both
/// match no stored customer, so the later insert meets the unique key; its chunk is
/// retried against the rows as they now are and updates the customer the other
/// created. Neither fails, and there is one customer. Several rounds, so that some
/// of them overlap on any machine.
async fn two_imports_of_one_new_reference_at_once_both_succeed(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    for round in 0..8 {
        let reference = format!("shared-{round}");
        let mut first = import_row(1, &reference);
        first.details.given_name = "First".into();
        let mut second = import_row(1, &reference);
        second.details.given_name = "Second".into();
        let (a, b) = tokio::join!(
            import_one(&store, first, CommitTurn::now()),
            import_one(&store, second, CommitTurn::now())
        );
        let mut outcomes: Vec<ImportOutcome> =
            committed(a).into_iter().chain(committed(b)).map(|(_, outcome)| outcome).collect();
        outcomes.sort_by_key(|outcome| !matches!(outcome, ImportOutcome::Created(_)));
        let [ImportOutcome::Created(created), ImportOutcome::Updated(updated)] = outcomes.as_slice() else {
            panic!("round {round}: expected one created and one updated, got {outcomes:?}")
        };
        assert_eq!(created, updated, "round {round}: both rows are the one customer");
        let stored = store.get_customer(&Scope::partnership(), *created).await.unwrap();
        assert_eq!(stored.version, 2, "round {round}: created, then updated once");
    }
    let names = given_names(&store).await;
    assert_eq!(names.len(), 8, "one customer per reference: {names:?}");
}

/// Every part of a customer set to something other than its default, so a read
/// that dropped or mixed up a column would show.
fn full_details(given_name: &str) -> CustomerDetails {
    let code = Code::trusted;
    CustomerDetails {
        external_reference: Some(format!("ref-{given_name}")),
        title: Some("Dr".into()),
        given_name: given_name.into(),
        family_name: "Complete".into(),
        preferred_name: Some(format!("{given_name} C")),
        date_of_birth: NaiveDate::from_ymd_opt(1970, 2, 3),
        contact: ContactDetails {
            email: Some("full@example.org".into()),
            phone: Some("020 7946 0000".into()),
            mobile: Some("07700 900000".into()),
        },
        preferred_contact_channel: Some(ContactChannel::TextMessage),
        communication_needs: CommunicationNeeds {
            preferred_language: Some(code("cy")),
            interpreter: true,
            large_print: true,
            ..Default::default()
        },
        accessibility_needs: vec![code("step-free"), code("hearing-loop")],
        household: Household {
            adults: 2,
            children: 1,
            members: vec![HouseholdMember {
                display_name: "Sam".into(),
                relationship: Some(code("partner")),
                date_of_birth: NaiveDate::from_ymd_opt(1972, 4, 5),
            }],
        },
        property: Property {
            uprn: Some("100023336956".into()),
            address_lines: vec!["Flat 2".into(), "1 High Street".into()],
            town: Some("Exampleton".into()),
            postcode: Some("EX1 1AB".into()),
        },
        area: Some(code("east")),
        vulnerabilities: vec![code("hoarding")],
        involvement_interests: InvolvementInterests {
            topics: vec![code("repairs")],
            methods: vec![code("surveys")],
        },
        contact_consent: true,
        equality: EqualityInformation {
            lawful_basis: Some(LawfulBasis::ExplicitConsent),
            ethnicity: EqualityAnswer::Answered(code("white-british")),
            disability: EqualityAnswer::PreferNotToSay,
            sex: EqualityAnswer::Answered(code("female")),
            gender_identity: EqualityAnswer::NotCollected,
            age_band: EqualityAnswer::Answered(code("45-54")),
            religion: EqualityAnswer::Answered(code("none")),
            sexual_orientation: EqualityAnswer::PreferNotToSay,
            caring_responsibilities: EqualityAnswer::Answered(code("yes")),
        },
    }
}

/// Reads join each customer with its tenure periods and fold the rows back into
/// customers; on SQLite they decode rows by column index, on PostgreSQL through
/// sea-orm's models. Either way a page and a lookup return exactly what the writes
/// returned: every column, and every period of a customer between neighbours
/// with one period each.
async fn reads_return_what_the_writes_returned_with_every_period(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let scope = Scope::partnership();
    let actor = actor("riverside");
    let mut written: Vec<Customer> = Vec::new();
    for given_name in ["First", "Middle", "Last"] {
        let mut customer = new_customer("riverside", Some("east"), given_name);
        customer.details = full_details(given_name);
        written.push(store.create_customer(&scope, &actor, None, customer).await.unwrap());
    }
    // The middle customer moves twice: three periods, the last with no landlord.
    for (tenure, landlord, year) in
        [("council-tenant", Some("organisations/council"), 2022), ("owner-occupier", None, 2024)]
    {
        let middle = &written[1];
        let changed = store
            .change_tenure(
                &scope,
                &actor,
                middle.id,
                Some(middle.version),
                TenureChange {
                    tenure: Code::trusted(tenure),
                    landlord: landlord.map(|name| name.parse().unwrap()),
                    effective_date: NaiveDate::from_ymd_opt(year, 1, 1).unwrap(),
                    reason: Some(format!("moved in {year}")),
                },
                None,
            )
            .await
            .unwrap();
        written[1] = changed;
    }
    // Oldest first, whichever path returned the customer: checked against the
    // dates themselves, since a write may answer through the same read path.
    let starts = |customer: &Customer| -> Vec<i32> {
        customer.tenure_history.iter().map(|period| chrono::Datelike::year(&period.start_date)).collect()
    };
    assert_eq!(starts(&written[1]), [2020, 2022, 2024], "{:?}", written[1].tenure_history);

    let page = store.list_customers(&scope, &Default::default(), None, 10).await.unwrap();
    assert_eq!(page, written, "a page reads back what was written");
    assert_eq!(starts(&page[1]), [2020, 2022, 2024]);
    for customer in &written {
        let found = store.get_customer(&scope, customer.id).await.unwrap();
        assert_eq!(&found, customer);
        assert_eq!(starts(&found), starts(customer));
    }
}

/// `customer` moves to a council tenancy from May 2023: a second tenure period.
async fn move_to_the_council(store: &Store, customer: &Customer) -> Customer {
    let change = TenureChange {
        tenure: Code::trusted("council-tenant"),
        landlord: Some("organisations/council".parse().unwrap()),
        effective_date: NaiveDate::from_ymd_opt(2023, 5, 1).unwrap(),
        reason: Some("moved".into()),
    };
    store
        .change_tenure(
            &Scope::partnership(),
            &actor("riverside"),
            customer.id,
            Some(customer.version),
            change,
            None,
        )
        .await
        .unwrap()
}

/// Decodes a customer sent as the pieces of its encoding.
fn joined(pieces: &[&[u8]]) -> pb::Customer {
    use prost::Message as _;
    pb::Customer::decode(pieces.concat().as_slice()).unwrap()
}

/// A page of stored encodings must be, customer for customer, what the page read
/// from the columns converts to, with equality answers shown and withheld, after
/// every kind of write: create, update, tenure change, import (new and updated,
/// with a tenure change), delete and erasure.
async fn a_page_of_stored_encodings_says_what_the_columns_say_after_every_write(backend: Backend) {
    let Some((store, _database)) = store(backend).await else { return };
    let scope = Scope::partnership();
    let actor = actor("riverside");
    let mut ids = Vec::new();
    for given_name in ["First", "Second", "Third", "Fourth", "Fifth"] {
        let mut customer = new_customer("riverside", Some("east"), given_name);
        customer.details = full_details(given_name);
        if given_name == "Fifth" {
            customer.details.equality = EqualityInformation::default();
        }
        ids.push(store.create_customer(&scope, &actor, None, customer).await.unwrap());
    }
    // Update: new name and answers.
    let mut details = ids[1].details.clone();
    details.given_name = "Renamed".into();
    details.equality.sex = EqualityAnswer::PreferNotToSay;
    let updated =
        store.update_customer(&scope, &actor, ids[1].id, ids[1].version, details, true).await.unwrap();
    // Tenure change.
    let moved = move_to_the_council(&store, &ids[2]).await;
    // Import: the first customer updated with another tenure, and a new one.
    let mut changed = import_row(1, "ref-First");
    changed.tenure = Code::trusted("shared-owner");
    changed.details = CustomerDetails { given_name: "Imported First".into(), ..ids[0].details.clone() };
    let outcomes = committed(
        store
            .import_batch(&scope, &actor, true, vec![changed, import_row(2, "ref-New")], CommitTurn::now())
            .await,
    );
    assert!(matches!(outcomes[0], (1, ImportOutcome::Updated(_))), "{outcomes:?}");
    // Deleted and erased customers leave the page.
    let deleted = store.delete_customer(&scope, &actor, ids[3].id, None).await.unwrap();
    let (kept, _) = store.export_customer(&scope, &actor, ids[3].id).await.unwrap();
    assert_eq!(deleted, kept, "a delete answers with the customer as stored");
    store.erase_customer(&scope, &actor, ids[4].id, "asked".into(), None).await.unwrap();

    let columns = store.list_customers(&scope, &CustomerFilter::default(), None, 50).await.unwrap();
    let encoded = store
        .list_encoded(&scope, &CustomerFilter::default(), None, 50)
        .await
        .unwrap()
        .expect("every customer written by this build has a current encoding");
    assert_eq!(columns.len(), 4, "{columns:?}");
    assert_eq!(columns[1], updated, "an update answers with the customer as stored");
    assert_eq!(columns[2], moved, "a tenure change answers with the customer as stored");
    assert_eq!(encoded.len(), columns.len());
    let withheld = profiles::encoding::withheld_equality();
    for (stored, read) in encoded.iter().zip(&columns) {
        assert_eq!(stored.id, read.id);
        assert_eq!(stored.equality_recorded, read.details.equality.any_recorded());
        assert_eq!(
            joined(&[&stored.body, &stored.equality]),
            profiles::encoding::message(read.clone(), true)
        );
        assert_eq!(joined(&[&stored.body, withheld]), profiles::encoding::message(read.clone(), false));
    }
    // `GetCustomer`'s read of one encoding: the page's bytes, and the message the
    // columns convert to once decoded, whether the answers are shown or withheld.
    for (stored, read) in encoded.iter().zip(&columns) {
        let single = store.get_encoded(&scope, read.id).await.unwrap().expect("a current encoding");
        assert_eq!((&single.body, &single.equality), (&stored.body, &stored.equality));
        assert_eq!(single.equality_recorded, stored.equality_recorded);
        for shown in [true, false] {
            let decoded = profiles::encoding::decode(&single, shown).unwrap();
            assert_eq!(decoded, profiles::encoding::message(read.clone(), shown));
        }
    }
    for gone in [ids[3].id, ids[4].id] {
        let read = store.get_encoded(&scope, gone).await;
        assert!(matches!(read, Err(ProfileError::NotFound { .. })), "deleted or erased: {read:?}");
    }
    let names: Vec<&str> = columns.iter().map(|customer| customer.details.given_name.as_str()).collect();
    assert_eq!(names, ["Imported First", "Renamed", "Third", "ref-New"]);
    assert_eq!(columns[0].tenure_history.len(), 2, "the import's tenure change is in the encoding too");
    assert_eq!(columns[2].tenure_history.len(), 2);
}

/// Rows written before encodings were kept (or by a build with another format)
/// have none of the current format: such a page is read from the columns.
async fn a_page_with_a_customer_without_a_current_encoding_is_read_from_the_columns(backend: Backend) {
    use sea_orm::ConnectionTrait as _;
    let Some((store, _database)) = store(backend).await else { return };
    let scope = Scope::partnership();
    let mut created = Vec::new();
    for given_name in ["Old", "New"] {
        created.push(
            store
                .create_customer(
                    &scope,
                    &actor("riverside"),
                    None,
                    new_customer("riverside", None, given_name),
                )
                .await
                .unwrap(),
        );
    }
    let everyone = CustomerFilter::default();
    assert!(store.list_encoded(&scope, &everyone, None, 50).await.unwrap().is_some());
    store
        .connection()
        .execute_unprepared("UPDATE customers SET encoding_format = NULL WHERE given_name = 'Old'")
        .await
        .unwrap();
    assert!(store.list_encoded(&scope, &everyone, None, 50).await.unwrap().is_none());
    // One customer alone: none for the old row (`GetCustomer` reads its columns).
    assert!(store.get_encoded(&scope, created[0].id).await.unwrap().is_none());
    assert!(store.get_encoded(&scope, created[1].id).await.unwrap().is_some());
    let set_format = |format: i32| format!("UPDATE customers SET encoding_format = {format}");
    let current = profiles::encoding::FORMAT;
    store.connection().execute_unprepared(&set_format(current + 1)).await.unwrap();
    assert!(store.list_encoded(&scope, &everyone, None, 50).await.unwrap().is_none(), "another format");
    assert!(store.get_encoded(&scope, created[1].id).await.unwrap().is_none(), "another format");
    store.connection().execute_unprepared(&set_format(current)).await.unwrap();
    assert_eq!(
        store.list_encoded(&scope, &everyone, None, 50).await.unwrap().map(|page| page.len()),
        Some(2)
    );
}

/// Rows from before encodings were kept get theirs after start-up: the same bytes
/// a write would have stored, the customer and its etag untouched.
async fn customers_stored_without_an_encoding_are_given_one_and_keep_their_etag(backend: Backend) {
    use sea_orm::ConnectionTrait as _;
    let Some((store, _database)) = store(backend).await else { return };
    let scope = Scope::partnership();
    let actor = actor("riverside");
    let mut written = Vec::new();
    for given_name in ["One", "Two", "Three"] {
        let mut customer = new_customer("riverside", Some("east"), given_name);
        customer.details = full_details(given_name);
        written.push(store.create_customer(&scope, &actor, None, customer).await.unwrap());
    }
    let moved = move_to_the_council(&store, &written[1]).await;
    let everyone = CustomerFilter::default();
    let as_written = store.list_encoded(&scope, &everyone, None, 50).await.unwrap().unwrap();
    store
        .connection()
        .execute_unprepared(
            "UPDATE customers SET encoded = NULL, encoded_equality = NULL, encoding_format = NULL",
        )
        .await
        .unwrap();
    assert!(store.list_encoded(&scope, &everyone, None, 50).await.unwrap().is_none());

    assert_eq!(store.encode_stale_customers().await.unwrap(), 3);
    let encoded =
        store.list_encoded(&scope, &everyone, None, 50).await.unwrap().expect("every customer encoded");
    let bytes = |page: &[profiles::store::EncodedCustomer]| -> Vec<(Vec<u8>, Vec<u8>, bool)> {
        page.iter()
            .map(|customer| (customer.body.to_vec(), customer.equality.to_vec(), customer.equality_recorded))
            .collect()
    };
    assert_eq!(bytes(&encoded), bytes(&as_written), "the same bytes the writes stored");
    assert_eq!(
        store.get_customer(&scope, moved.id).await.unwrap(),
        moved,
        "the customer and its etag unchanged"
    );
    assert_eq!(store.encode_stale_customers().await.unwrap(), 0, "nothing left to encode");
}
