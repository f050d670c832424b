//! Keyset pages with opaque tokens bound to their query.

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{Caller, TestApp, on_every_backend, violated_fields};

on_every_backend!(
    pages_walk_every_customer_once,
    tokens_belong_to_their_query,
    filters_and_search_narrow_the_list
);

async fn seed(app: &TestApp, partner: &Caller, count: usize) -> Vec<String> {
    let mut client = app.profiles().await;
    let mut names = Vec::new();
    for index in 0..count {
        let tenure = if index % 2 == 0 { "council-tenant" } else { "leaseholder" };
        let customer = fixtures::customer(&format!("Person{index}"), &format!("Family{index}"), tenure);
        names
            .push(client.create_customer(partner.request(create(customer))).await.unwrap().into_inner().name);
    }
    names
}

async fn pages_walk_every_customer_once(app: TestApp) {
    let partner = app.partner("riverside").await;
    let created = seed(&app, &partner, 7).await;
    let mut client = app.profiles().await;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_customers(partner.request(pb::ListCustomersRequest {
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(page.customers.len() <= 3);
        seen.extend(page.customers.into_iter().map(|customer| customer.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, created, "every customer once, in creation order");

    let err = client
        .list_customers(partner.request(pb::ListCustomersRequest { page_size: -1, ..Default::default() }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["page_size"]);
}

async fn tokens_belong_to_their_query(app: TestApp) {
    let partner = app.partner("riverside").await;
    seed(&app, &partner, 4).await;
    let mut client = app.profiles().await;
    let first = client
        .list_customers(partner.request(pb::ListCustomersRequest {
            page_size: 1,
            tenure: "council-tenant".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.next_page_token.is_empty());

    // The same token with another filter is refused...
    let err = client
        .list_customers(partner.request(pb::ListCustomersRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            tenure: "leaseholder".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["page_token"]);
    // ...as is one from another caller, a tampered one, and garbage.
    let err = client
        .list_customers(app.partner("hillside").await.request(pb::ListCustomersRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            tenure: "council-tenant".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["page_token"]);
    let mut tampered = first.next_page_token.clone().into_bytes();
    tampered[2] = if tampered[2] == b'A' { b'B' } else { b'A' };
    for token in [String::from_utf8(tampered).unwrap(), "%%%".to_owned()] {
        let err = client
            .list_customers(partner.request(pb::ListCustomersRequest {
                page_size: 1,
                page_token: token,
                tenure: "council-tenant".into(),
                ..Default::default()
            }))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&err), ["page_token"]);
    }
}

async fn filters_and_search_narrow_the_list(app: TestApp) {
    let partner = app.partner("riverside").await;
    seed(&app, &partner, 4).await;
    let mut client = app.profiles().await;
    let list = |request: pb::ListCustomersRequest| {
        let mut client = client.clone();
        let partner = partner.clone();
        async move { client.list_customers(partner.request(request)).await.unwrap().into_inner().customers }
    };
    let leaseholders =
        list(pb::ListCustomersRequest { tenure: "leaseholder".into(), ..Default::default() }).await;
    assert_eq!(leaseholders.len(), 2);
    assert!(leaseholders.iter().all(|customer| customer.tenure == "leaseholder"));
    let found = list(pb::ListCustomersRequest { search: "family3".into(), ..Default::default() }).await;
    assert_eq!(found.iter().map(|c| c.family_name.as_str()).collect::<Vec<_>>(), ["Family3"]);
    // Other postcodes, one sharing the search's first characters but not its prefix.
    for (given, postcode) in [("Near", "EX12 3AB"), ("Far", "ZZ1 1AA")] {
        let mut customer = fixtures::customer(given, "Elsewhere", "leaseholder");
        customer.property.as_mut().unwrap().postcode = postcode.into();
        app.profiles().await.create_customer(partner.request(create(customer))).await.unwrap();
    }
    let by_postcode = list(pb::ListCustomersRequest { search: "ex1 1".into(), ..Default::default() }).await;
    assert_eq!(by_postcode.len(), 4, "the four EX1 1AA customers only");
    assert!(by_postcode.iter().all(|c| c.property.as_ref().unwrap().postcode == "EX1 1AA"));
    let near = list(pb::ListCustomersRequest { search: "ex12".into(), ..Default::default() }).await;
    assert_eq!(near.iter().map(|c| c.given_name.as_str()).collect::<Vec<_>>(), ["Near"]);
    let err = client
        .list_customers(
            partner.request(pb::ListCustomersRequest { search: "50%".into(), ..Default::default() }),
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["search"]);
}
