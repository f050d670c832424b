//! Subject access and erasure.

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{Backend, TestApp, assert_status, on_every_backend};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement};
use tonic::Code;

on_every_backend!(export_holds_everything_with_its_audit_trail, erasure_leaves_no_personal_data_in_any_table);

async fn export_holds_everything_with_its_audit_trail(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let created = client
        .create_customer(partner.request(create(pb::Customer {
            equality: Some(fixtures::equality("white-irish")),
            ..fixtures::customer("Kathleen", "Lynn", "leaseholder")
        })))
        .await
        .unwrap()
        .into_inner();
    client
        .get_customer(partner.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap();
    let export = client
        .export_customer_data(partner.request(pb::ExportCustomerDataRequest { name: created.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    let customer = export.customer.unwrap();
    assert_eq!(customer.equality.unwrap().ethnicity.unwrap().value, "white-irish");
    let methods: Vec<String> = export
        .audit_events
        .iter()
        .map(|e| e.method.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(methods, ["CreateCustomer", "GetCustomer", "ExportCustomerData"]);
    assert!(
        export
            .audit_events
            .iter()
            .all(|e| e.resource == created.name && e.organisation == partner.organisation)
    );

    // Officers do not handle data-protection requests.
    let err = client
        .export_customer_data(
            app.participation_officer().await.request(pb::ExportCustomerDataRequest { name: created.name }),
        )
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
}

/// Every value in every table of a service's database (reference data aside: its
/// codes, such as ethnicity categories, are nobody's personal data), as text.
/// A value that cannot be read as text fails the test rather than going unsearched.
async fn every_stored_value(db: &DatabaseConnection, backend: Backend, schema: &str) -> Vec<String> {
    let list_columns = match backend {
        Backend::Sqlite => "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                            WHERE m.type = 'table'"
            .to_owned(),
        Backend::Postgres => format!(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = '{schema}'"
        ),
    };
    let columns =
        db.query_all_raw(Statement::from_string(db.get_database_backend(), list_columns)).await.unwrap();
    assert!(!columns.is_empty(), "the {schema} database has tables");
    let mut values = Vec::new();
    for row in columns {
        let table: String = row.try_get_by_index(0).unwrap();
        let column: String = row.try_get_by_index(1).unwrap();
        if table == "reference_values" {
            continue;
        }
        // SQLite keeps UUIDs as 16-byte blobs: those are read as hex.
        let sql = match backend {
            Backend::Sqlite => format!(
                "SELECT CASE WHEN typeof(\"{column}\") = 'blob' THEN hex(\"{column}\") \
                 ELSE CAST(\"{column}\" AS TEXT) END FROM \"{table}\""
            ),
            Backend::Postgres => format!("SELECT CAST(\"{column}\" AS TEXT) FROM \"{table}\""),
        };
        for value_row in
            db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap()
        {
            let value: Option<String> = value_row
                .try_get_by_index(0)
                .unwrap_or_else(|err| panic!("{table}.{column} cannot be read as text: {err}"));
            values.extend(value.map(|value| value.to_lowercase()));
        }
    }
    values
}

/// Every personal value of the erased customer, none shared with the bystander.
/// The last two are reference codes (also stored, as reference data, for everyone),
/// so only the first ones are looked for in the raw database files.
const PERSONAL: [&str; 13] = [
    "zebedee",
    "quasimodo",
    "quasimodo@example.org",
    "erase-me-123",
    "1961-07-19",
    "7 zebedee lane",
    "01632 960 417",
    "07700 900 461",
    "zz9 9zz",
    "100090000417",
    "erasetown",
    "black-caribbean",
    "hoarding",
];
const FREE_TEXT: usize = PERSONAL.len() - 2;

fn erased_customer() -> pb::Customer {
    let marker = "Zebedee";
    pb::Customer {
        external_reference: "ERASE-ME-123".into(),
        preferred_name: format!("{marker}Preferred"),
        date_of_birth: Some(contracts::google::r#type::Date { year: 1961, month: 7, day: 19 }),
        equality: Some(fixtures::equality("black-caribbean")),
        contact: Some(pb::ContactDetails {
            email: "quasimodo@example.org".into(),
            phone: "01632 960 417".into(),
            mobile: "07700 900 461".into(),
        }),
        property: Some(pb::Property {
            uprn: "100090000417".into(),
            address_lines: vec![format!("7 {marker} Lane")],
            town: "Erasetown".into(),
            postcode: "ZZ9 9ZZ".into(),
        }),
        household: Some(pb::Household {
            adults: 2,
            children: 0,
            members: vec![pb::HouseholdMember {
                display_name: format!("{marker}Partner"),
                relationship: "partner".into(),
                date_of_birth: None,
            }],
        }),
        vulnerabilities: vec!["hoarding".into()],
        ..fixtures::customer(marker, "Quasimodo", "council-tenant")
    }
}

/// Which of `PERSONAL` occur in `values`.
fn personal_in(values: &[String]) -> Vec<&'static str> {
    PERSONAL.into_iter().filter(|needle| values.iter().any(|value| value.contains(needle))).collect()
}

/// The raw bytes of the SQLite files a service writes (database and WAL), lowercased.
fn sqlite_bytes(app: &TestApp, service: &str) -> String {
    let base = app.settings.data_dir.join(format!("{service}.db"));
    let mut bytes = std::fs::read(&base).unwrap();
    if let Ok(wal) = std::fs::read(base.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    String::from_utf8_lossy(&bytes).to_lowercase()
}

async fn erasure_leaves_no_personal_data_in_any_table(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let request = pb::CreateCustomerRequest {
        customer: Some(erased_customer()),
        tenure_start_date: Some(contracts::google::r#type::Date { year: 2010, month: 9, day: 1 }),
        ..Default::default()
    };
    let created = client.create_customer(partner.request(request)).await.unwrap().into_inner();
    let created = client
        .change_tenure(partner.request(pb::ChangeTenureRequest {
            name: created.name.clone(),
            tenure: "leaseholder".into(),
            landlord_organisation: "organisations/riverside".into(),
            effective_date: Some(contracts::google::r#type::Date { year: 2026, month: 1, day: 2 }),
            reason: "Zebedee bought the flat".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    // Personal data cannot be smuggled into the audit log as a stated purpose.
    let mut smuggled = partner.request(pb::GetCustomerRequest { name: created.name.clone() });
    smuggled.metadata_mut().insert("x-involve-purpose", "visit to zebedee quasimodo".parse().unwrap());
    let err = client.get_customer(smuggled).await.unwrap_err();
    assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    // A bystander whose data must survive, sharing none of the erased values.
    client
        .create_customer(partner.request(create(fixtures::customer("Keep", "Me", "leaseholder"))))
        .await
        .unwrap();

    let profiles = app.profiles_database().await;
    let before = every_stored_value(&profiles, app.backend, "profiles").await;
    assert_eq!(personal_in(&before), PERSONAL, "every value is stored before the erasure");
    if app.backend == Backend::Sqlite {
        let bytes = sqlite_bytes(&app, "profiles");
        assert!(bytes.contains("quasimodo@example.org"), "the raw files hold the data before");
    }

    let erasure = client
        .erase_customer(partner.request(pb::EraseCustomerRequest {
            name: created.name.clone(),
            reason: "subject request SAR-2026-114".into(),
            etag: created.etag.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(erasure.customer, created.name);

    let after = every_stored_value(&profiles, app.backend, "profiles").await;
    assert_eq!(personal_in(&after), Vec::<&str>::new(), "no personal value survives in any table");
    assert!(after.iter().any(|value| value.contains("keep.me@example.org")), "other customers are untouched");
    // The gateway's audit of every call holds none either. Its writer batches:
    // flush it rather than race its window.
    app.flush_audit().await;
    let gateway = app.gateway_database().await;
    let audited = every_stored_value(&gateway, app.backend, "gateway").await;
    assert!(audited.iter().any(|value| value.contains(&created.name)), "the gateway audited the calls");
    assert_eq!(personal_in(&audited), Vec::<&str>::new());
    if app.backend == Backend::Sqlite {
        // secure_delete zeroes erased cells, and the WAL is truncated after an erasure.
        for service in ["profiles", "gateway"] {
            let bytes = sqlite_bytes(&app, service);
            let found =
                PERSONAL[..FREE_TEXT].iter().filter(|needle| bytes.contains(*needle)).collect::<Vec<_>>();
            assert!(found.is_empty(), "{found:?} survived in the raw bytes of {service}.db or its WAL");
        }
    }

    let err = client
        .get_customer(partner.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "NOT_FOUND");
    let err = client
        .export_customer_data(partner.request(pb::ExportCustomerDataRequest { name: created.name.clone() }))
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "NOT_FOUND");
    // The erasure itself is on record, without personal data.
    assert!(after.iter().any(|value| value.contains("sar-2026-114")));
}
