//! Reference data is data: listed, extended by operators, checked on use.

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{TestApp, assert_status, on_every_backend, violated_fields};
use tonic::Code;

on_every_backend!(reference_sets_are_listed_and_extended_by_operators);

async fn reference_sets_are_listed_and_extended_by_operators(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let mut codes = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_reference_values(partner.request(pb::ListReferenceValuesRequest {
                parent: "referenceSets/tenures".into(),
                page_size: 3,
                page_token: token,
            }))
            .await
            .unwrap()
            .into_inner();
        codes.extend(page.values.into_iter().map(|value| value.code));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(codes.len(), 8);
    assert!(codes.contains(&"temporary-accommodation".to_owned()));

    let area = pb::CreateReferenceValueRequest {
        parent: "referenceSets/areas".into(),
        value: Some(pb::ReferenceValue {
            code: "riverside-east".into(),
            display_name: "Riverside East".into(),
            ..Default::default()
        }),
    };
    let err = client.create_reference_value(partner.request(area.clone())).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let created =
        client.create_reference_value(app.operator().await.request(area.clone())).await.unwrap().into_inner();
    assert_eq!(created.name, "referenceSets/areas/values/riverside-east");
    let err = client.create_reference_value(app.operator().await.request(area)).await.unwrap_err();
    assert_status(&err, Code::AlreadyExists, "REFERENCE_VALUE_EXISTS");

    // The new area is usable at once.
    let customer =
        pb::Customer { area: "riverside-east".into(), ..fixtures::customer("Area", "User", "leaseholder") };
    client.create_customer(partner.request(create(customer))).await.unwrap();

    let reserved = pb::CreateReferenceValueRequest {
        parent: "referenceSets/ethnicities".into(),
        value: Some(pb::ReferenceValue {
            code: "prefer-not-to-say".into(),
            display_name: "x".into(),
            ..Default::default()
        }),
    };
    let err = client.create_reference_value(app.operator().await.request(reserved)).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["value.code"]);
    let err = client
        .list_reference_values(partner.request(pb::ListReferenceValuesRequest {
            parent: "referenceSets/shoes".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["parent"]);
}
