//! Scale-out: two profiles instances behind two gateways, separate processes
//! over one PostgreSQL. One instance is killed while partners write; clients
//! retry `UNAVAILABLE` with the same `request_id`, as the README tells them
//! to, and every write lands exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve_tests::fixtures::{self, create};
use involve_tests::processes::{self, Distributed};
use involve_tests::{Backend, Caller, issue_credential};
use platform::Role;
use tonic::Code;

const WRITERS: usize = 4;
const WRITES_EACH: usize = 25;
/// Attempts of one write before the test gives up on it (bounded, not timed).
const ATTEMPTS: usize = 100;

/// Creates a customer, retrying UNAVAILABLE with the same request id; returns
/// its resource name and how many attempts were refused.
async fn create_exactly_once(
    client: &mut CustomerProfilesClient<tonic::transport::Channel>,
    caller: &Caller,
    family: &str,
) -> (String, usize) {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut refused = 0;
    for _ in 0..ATTEMPTS {
        let request = pb::CreateCustomerRequest {
            request_id: request_id.clone(),
            ..create(fixtures::customer("Writer", family, "leaseholder"))
        };
        match client.create_customer(caller.request(request)).await {
            Ok(created) => return (created.into_inner().name, refused),
            Err(status) if status.code() == Code::Unavailable => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{family}: a write failed for good: {status:?}"),
        }
    }
    panic!("{family}: still UNAVAILABLE after {ATTEMPTS} attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_during_writes_loses_and_duplicates_none() {
    let Some(mut suite) = Distributed::spawn(Backend::Postgres).await else { return };
    let issued = issue_credential(
        processes::channel(&suite.gateway).await,
        &suite.operator,
        "riverside",
        Role::PartnerIntegration,
        &[],
        0,
    )
    .await;
    let partner = Caller { organisation: "organisations/riverside".into(), token: issued.secret };
    let gateways =
        [processes::channel(&suite.gateway).await, processes::channel(&suite.second_gateway).await];

    let written = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let mut client = CustomerProfilesClient::new(gateways[writer % 2].clone());
        let partner = partner.clone();
        let written = Arc::clone(&written);
        writers.push(tokio::spawn(async move {
            let mut created = Vec::new();
            let mut refused = 0;
            for write in 0..WRITES_EACH {
                let (name, refusals) =
                    create_exactly_once(&mut client, &partner, &format!("W{writer}N{write}")).await;
                created.push(name);
                refused += refusals;
                written.fetch_add(1, Ordering::Relaxed);
            }
            (created, refused)
        }));
    }
    // Kill one instance once the writes are under way.
    for _ in 0..2_000 {
        if written.load(Ordering::Relaxed) >= WRITERS * WRITES_EACH / 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let written_before_the_kill = written.load(Ordering::Relaxed);
    suite.profiles[0].kill().await;
    assert!(
        written_before_the_kill < WRITERS * WRITES_EACH,
        "the instance died while writes were still to come"
    );

    let mut created = BTreeSet::new();
    let mut refused = 0;
    for writer in writers {
        let (names, refusals) = writer.await.unwrap();
        refused += refusals;
        for name in names {
            assert!(created.insert(name.clone()), "{name} was answered twice");
        }
    }
    assert_eq!(created.len(), WRITERS * WRITES_EACH);

    // What the surviving instance holds: each write once, nothing more.
    let mut client = CustomerProfilesClient::new(gateways[0].clone());
    let mut stored = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListCustomersRequest { page_size: 500, page_token, ..Default::default() };
        let page = client.list_customers(partner.request(request)).await.unwrap().into_inner();
        stored.extend(page.customers);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let stored_names: BTreeSet<String> = stored.iter().map(|customer| customer.name.clone()).collect();
    assert_eq!(stored.len(), WRITERS * WRITES_EACH, "no write lost or duplicated");
    assert_eq!(stored_names, created);
    let families: BTreeSet<&str> = stored.iter().map(|customer| customer.family_name.as_str()).collect();
    assert_eq!(families.len(), WRITERS * WRITES_EACH, "each family written once");
    tracing::info!(refused, "attempts refused UNAVAILABLE and retried");
}
