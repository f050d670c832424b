//! Bulk import over a bidirectional stream.

use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::import_customers_response::Outcome;
use involve_tests::fixtures;
use involve_tests::{Caller, TestApp, on_every_backend};

on_every_backend!(
    good_rows_commit_and_bad_rows_are_reported,
    rerunning_the_same_rows_changes_nothing,
    changed_rows_update_and_keep_tenure_history,
    a_partner_imports_only_into_its_own_organisation,
    chunks_that_touch_the_same_customer_apply_in_stream_order,
    full_chunks_that_update_the_same_customers_apply_in_stream_order,
);

fn row(reference: &str, given: &str, tenure: &str) -> pb::ImportCustomersRequest {
    pb::ImportCustomersRequest {
        customer: Some(pb::Customer {
            external_reference: reference.into(),
            ..fixtures::customer(given, "Imported", tenure)
        }),
    }
}

async fn import(
    app: &TestApp,
    caller: &Caller,
    rows: Vec<pb::ImportCustomersRequest>,
) -> Vec<pb::ImportCustomersResponse> {
    import_stream(app, caller, tokio_stream::iter(rows)).await
}

/// Every answer to an import of the rows `stream` sends.
async fn import_stream(
    app: &TestApp,
    caller: &Caller,
    stream: impl tokio_stream::Stream<Item = pb::ImportCustomersRequest> + Send + 'static,
) -> Vec<pb::ImportCustomersResponse> {
    let mut client = app.profiles().await;
    let mut answers = client.import_customers(caller.request(stream)).await.unwrap().into_inner();
    let mut all = Vec::new();
    while let Some(answer) = answers.message().await.unwrap() {
        all.push(answer);
    }
    all
}

/// The customer `name` as `caller` reads it back.
async fn read(app: &TestApp, caller: &Caller, name: &str) -> pb::Customer {
    let request = caller.request(pb::GetCustomerRequest { name: name.into() });
    app.profiles().await.get_customer(request).await.unwrap().into_inner()
}

fn outcomes(answers: &[pb::ImportCustomersResponse]) -> Vec<Outcome> {
    answers.iter().map(|answer| Outcome::try_from(answer.outcome).unwrap()).collect()
}

async fn good_rows_commit_and_bad_rows_are_reported(app: TestApp) {
    let partner = app.partner("riverside").await;
    let mut bad_email = row("R-2", "Bad", "leaseholder");
    bad_email.customer.as_mut().unwrap().contact.as_mut().unwrap().email = "nope".into();
    let rows = vec![
        row("R-1", "Good", "leaseholder"),
        bad_email,
        row("", "NoReference", "leaseholder"),
        row("R-4", "BadTenure", "castle"),
        pb::ImportCustomersRequest { customer: None },
        row("R-6", "AlsoGood", "council-tenant"),
    ];
    let answers = import(&app, &partner, rows).await;
    assert_eq!(answers.iter().map(|a| a.row).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        outcomes(&answers),
        [
            Outcome::Created,
            Outcome::Failed,
            Outcome::Failed,
            Outcome::Failed,
            Outcome::Failed,
            Outcome::Created
        ]
    );
    assert_eq!(answers[1].violations[0].field, "customer.contact.email");
    assert_eq!(answers[2].violations[0].field, "customer.external_reference");
    assert_eq!(answers[3].violations[0].field, "customer.tenure");
    assert_eq!(answers[3].violations[0].reason, "UNKNOWN_CODE");
    assert!(answers[1].customer.is_empty());

    let mut client = app.profiles().await;
    let stored = client.list_customers(partner.request(pb::ListCustomersRequest::default())).await.unwrap();
    let mut references: Vec<String> =
        stored.into_inner().customers.into_iter().map(|customer| customer.external_reference).collect();
    references.sort();
    assert_eq!(references, ["R-1", "R-6"]);
}

async fn rerunning_the_same_rows_changes_nothing(app: TestApp) {
    let partner = app.partner("riverside").await;
    // More rows than one batch on either database (512 on SQLite, 2,048 on
    // PostgreSQL), so several transactions are involved.
    let rows: Vec<_> =
        (0..2_500).map(|i| row(&format!("R-{i}"), &format!("Person{i}"), "leaseholder")).collect();
    let first = import(&app, &partner, rows.clone()).await;
    assert_eq!(first.len(), 2_500);
    assert!(outcomes(&first).iter().all(|outcome| *outcome == Outcome::Created));
    let second = import(&app, &partner, rows).await;
    assert!(outcomes(&second).iter().all(|outcome| *outcome == Outcome::Unchanged));
    let names = |answers: &[pb::ImportCustomersResponse]| {
        answers.iter().map(|a| a.customer.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(&first), names(&second), "re-runs match the same customers");
    // Not one of them was rewritten: every etag is still the first version.
    let mut client = app.profiles().await;
    let mut page_token = String::new();
    let mut seen = 0;
    loop {
        let page = client
            .list_customers(partner.request(pb::ListCustomersRequest {
                page_size: 500,
                page_token,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        for customer in &page.customers {
            assert_eq!(customer.etag, "\"1\"", "{} was rewritten", customer.external_reference);
            assert_eq!(customer.create_time, customer.update_time);
        }
        seen += page.customers.len();
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, 2_500);
}

async fn changed_rows_update_and_keep_tenure_history(app: TestApp) {
    let partner = app.partner("riverside").await;
    let mut client = app.profiles().await;
    // A customer whose tenancy began years ago, so today's import can end it.
    let created = client
        .create_customer(partner.request(pb::CreateCustomerRequest {
            customer: row("R-1", "Ann", "leaseholder").customer,
            tenure_start_date: Some(contracts::google::r#type::Date { year: 2015, month: 4, day: 1 }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let mut renamed = row("R-1", "Annie", "shared-owner");
    renamed.customer.as_mut().unwrap().title = "Ms".into();
    let answers = import(&app, &partner, vec![renamed]).await;
    assert_eq!(outcomes(&answers), [Outcome::Updated]);
    assert_eq!(answers[0].customer, created.name);
    let customer = read(&app, &partner, &created.name).await;
    assert_eq!((customer.given_name.as_str(), customer.title.as_str()), ("Annie", "Ms"));
    assert_eq!(customer.etag, "\"2\"");
    assert_eq!(customer.tenure, "shared-owner");
    let history: Vec<(&str, bool, &str)> = customer
        .tenure_history
        .iter()
        .map(|period| (period.tenure.as_str(), period.end_date.is_some(), period.reason.as_str()))
        .collect();
    assert_eq!(
        history,
        [("leaseholder", true, ""), ("shared-owner", false, "import")],
        "history is kept, not rewritten"
    );
    let first = &customer.tenure_history[0];
    assert_eq!(first.start_date, Some(contracts::google::r#type::Date { year: 2015, month: 4, day: 1 }));
}

async fn a_partner_imports_only_into_its_own_organisation(app: TestApp) {
    let partner = app.partner("riverside").await;
    let mut foreign = row("H-1", "Foreign", "leaseholder");
    foreign.customer.as_mut().unwrap().landlord_organisation = "organisations/hillside".into();
    let answers = import(&app, &partner, vec![foreign, row("R-1", "Own", "leaseholder")]).await;
    assert_eq!(outcomes(&answers), [Outcome::Failed, Outcome::Created]);
    assert_eq!(answers[0].violations[0].reason, "OUTSIDE_SCOPE");
    let mut client = app.profiles().await;
    let hillside = client
        .list_customers(app.partner("hillside").await.request(pb::ListCustomersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(hillside.customers.is_empty());
}

/// Rows sent apart arrive as chunks of one row, and PostgreSQL writes two chunks at
/// once: a chunk that touches a customer an earlier chunk still being written
/// touches must wait for it, or the later change could land first and be
/// overwritten by the earlier one. Every answer comes back in row order.
async fn chunks_that_touch_the_same_customer_apply_in_stream_order(app: TestApp) {
    use tokio_stream::StreamExt as _;
    let partner = app.partner("riverside").await;
    let rows = vec![
        row("R-1", "Ann", "leaseholder"),
        row("R-2", "Bob", "leaseholder"),
        row("R-1", "Annie", "leaseholder"),
        row("R-1", "Anna", "leaseholder"),
        row("R-2", "Bobby", "leaseholder"),
    ];
    // Further apart than the importer waits for a chunk to fill (20 ms).
    let stream = tokio_stream::iter(rows).throttle(std::time::Duration::from_millis(60));
    let all = import_stream(&app, &partner, stream).await;
    assert_eq!(all.iter().map(|answer| answer.row).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(
        outcomes(&all),
        [Outcome::Created, Outcome::Created, Outcome::Updated, Outcome::Updated, Outcome::Updated]
    );
    for (answer, given, etag) in [(&all[3], "Anna", "\"3\""), (&all[4], "Bobby", "\"2\"")] {
        let customer = read(&app, &partner, &answer.customer).await;
        assert_eq!((customer.given_name.as_str(), customer.etag.as_str()), (given, etag));
    }
}

/// Full chunks sent at once, so two are written side by side on PostgreSQL, each
/// updating the same 2,048 stored customers: run together, each would lock rows
/// the other needs and wait for the other's commit (a deadlock, or the older
/// change landing last). The later chunk must wait for the earlier one.
async fn full_chunks_that_update_the_same_customers_apply_in_stream_order(app: TestApp) {
    const CUSTOMERS: usize = 2_048;
    let partner = app.partner("riverside").await;
    let round = |given: &str| -> Vec<pb::ImportCustomersRequest> {
        (0..CUSTOMERS).map(|n| row(&format!("R-{n}"), given, "leaseholder")).collect()
    };
    let created = import(&app, &partner, round("Ann")).await;
    assert!(outcomes(&created).iter().all(|outcome| *outcome == Outcome::Created));

    let mut rows = round("Bob");
    rows.extend(round("Cy"));
    let answers = import(&app, &partner, rows).await;
    assert_eq!(answers.len(), 2 * CUSTOMERS);
    assert!(answers.iter().zip(1..).all(|(answer, row)| answer.row == row), "answers in row order");
    assert!(outcomes(&answers).iter().all(|outcome| *outcome == Outcome::Updated));
    for answer in [&answers[0], &answers[CUSTOMERS - 1]] {
        let customer = read(&app, &partner, &answer.customer).await;
        assert_eq!((customer.given_name.as_str(), customer.etag.as_str()), ("Cy", "\"3\""));
    }
}
