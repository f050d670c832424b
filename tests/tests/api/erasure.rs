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

/// Every text value in every table of the profiles database, but reference data
/// (its codes, such as ethnicity categories, are nobody's personal data).
async fn every_stored_value(db: &DatabaseConnection, backend: Backend) -> Vec<String> {
    let list_columns = match backend {
        Backend::Sqlite => "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                            WHERE m.type = 'table'"
            .to_owned(),
        Backend::Postgres => "SELECT table_name::text, column_name::text FROM information_schema.columns \
                              WHERE table_schema = 'profiles'"
            .to_owned(),
    };
    let columns =
        db.query_all_raw(Statement::from_string(db.get_database_backend(), list_columns)).await.unwrap();
    let mut values = Vec::new();
    for row in columns {
        let table: String = row.try_get_by_index(0).unwrap();
        let column: String = row.try_get_by_index(1).unwrap();
        if table == "reference_values" {
            continue;
        }
        let sql = format!("SELECT CAST(\"{column}\" AS TEXT) FROM \"{table}\"");
        for value_row in
            db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap()
        {
            if let Ok(Some(value)) = value_row.try_get_by_index::<Option<String>>(0) {
                values.push(value);
            }
        }
    }
    values
}

async fn erasure_leaves_no_personal_data_in_any_table(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let marker = "Zebedee";
    let mut customer = pb::Customer {
        external_reference: "ERASE-ME-123".into(),
        preferred_name: format!("{marker}Preferred"),
        date_of_birth: Some(contracts::google::r#type::Date { year: 1961, month: 7, day: 19 }),
        equality: Some(fixtures::equality("black-caribbean")),
        household: Some(pb::Household {
            adults: 2,
            children: 0,
            members: vec![pb::HouseholdMember {
                display_name: format!("{marker}Partner"),
                relationship: "partner".into(),
                date_of_birth: None,
            }],
        }),
        ..fixtures::customer(marker, "Quasimodo", "council-tenant")
    };
    customer.property.as_mut().unwrap().address_lines = vec![format!("7 {marker} Lane")];
    let request = pb::CreateCustomerRequest {
        customer: Some(customer),
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
            reason: format!("{marker} bought the flat"),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    // A bystander whose data must survive.
    client
        .create_customer(partner.request(create(fixtures::customer("Keep", "Me", "leaseholder"))))
        .await
        .unwrap();

    let db = app.profiles_database().await;
    let before = every_stored_value(&db, app.backend).await;
    let personal = [
        marker,
        "Quasimodo",
        "quasimodo@example.org",
        "ERASE-ME-123",
        "1961-07-19",
        "black-caribbean",
        "7 Zebedee Lane",
    ];
    for needle in personal {
        assert!(
            before.iter().any(|value| value.contains(needle)),
            "{needle} should be stored before erasure"
        );
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

    let after = every_stored_value(&db, app.backend).await;
    for needle in personal {
        let found: Vec<&String> = after.iter().filter(|value| value.contains(needle)).collect();
        assert!(found.is_empty(), "{needle} survived erasure in {found:?}");
    }
    assert!(after.iter().any(|value| value.contains("keep.me@example.org")), "other customers are untouched");

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
    assert!(after.iter().any(|value| value.contains("SAR-2026-114")));
}
