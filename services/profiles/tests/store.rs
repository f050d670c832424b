//! The profiles store's conformance suite: the same promises checked on SQLite and
//! on PostgreSQL, straight against the store (scoped lookups, compare-and-set on
//! the version, idempotent creates keyed by request id and digest).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::NaiveDate;
use involve_profiles as profiles;
use persistence::idempotency::RequestIdentity;
use persistence::{Actor, Scope};
use profiles::domain::{Code, CustomerDetails, Property};
use profiles::error::ProfileError;
use profiles::store::{ImportOutcome, ImportRow, NewCustomer, Store};
use test_support::{Backend, TestDatabase, on_every_backend};

on_every_backend!(
    lookups_are_scoped_to_landlord_and_area,
    a_write_based_on_an_old_version_is_refused,
    a_request_id_replays_its_first_answer_and_refuses_another_request,
    each_database_names_the_unique_key_that_refused_a_write,
    an_import_stores_every_character_as_given,
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
    let outcomes = store.import_batch(&scope, &actor("riverside"), false, vec![row.clone()]).await.unwrap();
    let [(1, ImportOutcome::Created(id))] = outcomes.as_slice() else { panic!("{outcomes:?}") };
    let stored = store.get_customer(&scope, *id).await.unwrap();
    assert_eq!(stored.details, details);
    let again = store.import_batch(&scope, &actor("riverside"), false, vec![row]).await.unwrap();
    assert_eq!(again, vec![(1, ImportOutcome::Unchanged(*id))]);
}
