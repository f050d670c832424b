//! Distributed mode: the gateway and two profiles instances as separate
//! processes, principals handed over signed.

use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve_tests::fixtures::{self, create};
use involve_tests::processes::{self, Distributed, SIGNING_SECRET};
use involve_tests::{Caller, assert_status, issue_credential};
use platform::{HandoffKey, Principal, Role};
use tonic::Code;
use tonic_types::StatusExt as _;

macro_rules! on_every_backend_distributed {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(suite) = involve_tests::processes::Distributed::spawn(involve_tests::Backend::Sqlite).await {
                        super::$scenario(suite).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(suite) = involve_tests::processes::Distributed::spawn(involve_tests::Backend::Postgres).await {
                        super::$scenario(suite).await;
                    }
                }
            }
        )*
    };
}

on_every_backend_distributed!(
    partners_are_served_and_scoped_through_the_gateway,
    a_direct_call_without_the_gateways_signature_is_refused,
    the_gateway_keeps_serving_when_an_instance_dies,
    credentials_changed_through_one_gateway_reach_the_other,
    a_signed_principal_cannot_be_replayed,
    the_gateway_refuses_requests_larger_than_it_may_buffer,
    pages_are_followed_across_instances,
);

/// The distributed suite with every hop over TLS: partners to the gateway, the
/// gateway to the profiles instances (`https://`, verified against the CA).
mod over_tls {
    use involve_tests::Backend;
    use involve_tests::processes::{Distributed, Options};

    async fn suite(backend: Backend) -> Option<Distributed> {
        Distributed::spawn_with(backend, Options { tls: true }).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        if let Some(suite) = suite(Backend::Sqlite).await {
            super::the_suite_serves_over_tls(suite).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if let Some(suite) = suite(Backend::Postgres).await {
            super::the_suite_serves_over_tls(suite).await;
        }
    }
}

async fn partner(suite: &Distributed, organisation: &str) -> Caller {
    let channel = processes::channel(&suite.gateway).await;
    let issued =
        issue_credential(channel, &suite.operator, organisation, Role::PartnerIntegration, &[], 0).await;
    Caller { organisation: format!("organisations/{organisation}"), token: issued.secret }
}

async fn partners_are_served_and_scoped_through_the_gateway(suite: Distributed) {
    let owner = partner(&suite, "riverside").await;
    let intruder = partner(&suite, "hillside").await;
    let mut client = CustomerProfilesClient::new(processes::channel(&suite.gateway).await);
    let created = client
        .create_customer(owner.request(create(fixtures::customer("Remote", "Resident", "leaseholder"))))
        .await
        .unwrap()
        .into_inner();
    let fetched = client
        .get_customer(owner.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);
    let err = client
        .get_customer(intruder.request(pb::GetCustomerRequest { name: created.name }))
        .await
        .unwrap_err();
    assert_status(&err, Code::NotFound, "NOT_FOUND");
    let err = client.list_customers(pb::ListCustomersRequest::default()).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_MISSING");
}

async fn a_direct_call_without_the_gateways_signature_is_refused(suite: Distributed) {
    let method = "involve.profiles.v1.CustomerProfiles/ListCustomers";
    let mut direct = CustomerProfilesClient::new(processes::channel(&suite.profiles[0]).await);
    let err = direct.list_customers(pb::ListCustomersRequest::default()).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "PRINCIPAL_MISSING");

    // A bearer credential means nothing to a service: only the gateway reads it.
    let owner = partner(&suite, "riverside").await;
    let err = direct.list_customers(owner.request(pb::ListCustomersRequest::default())).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "PRINCIPAL_MISSING");

    let principal = Principal {
        organisation: "organisations/riverside".into(),
        role: Role::Operator,
        subject: "forger".into(),
        areas: None,
    };
    let signed_request = |key: &HandoffKey| {
        let (payload, signature) = key.sign(&principal, method);
        let mut request = tonic::Request::new(pb::ListCustomersRequest::default());
        request.metadata_mut().insert("x-involve-principal", payload.parse().unwrap());
        request.metadata_mut().insert("x-involve-principal-signature", signature.parse().unwrap());
        request
    };
    let forged = signed_request(&HandoffKey::from_secret("not-the-shared-secret"));
    let err = direct.list_customers(forged).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "PRINCIPAL_MISSING");
    // Signed with the shared secret, the same call is accepted.
    direct.list_customers(signed_request(&HandoffKey::from_secret(SIGNING_SECRET))).await.unwrap();
}

async fn the_gateway_keeps_serving_when_an_instance_dies(mut suite: Distributed) {
    let owner = partner(&suite, "riverside").await;
    let mut client = CustomerProfilesClient::new(processes::channel(&suite.gateway).await);
    for _ in 0..4 {
        client.list_customers(owner.request(pb::ListCustomersRequest::default())).await.unwrap();
    }
    suite.profiles[0].kill().await;
    // UNAVAILABLE is the one code clients retry (AIP-194); allow the balancer one
    // such answer while it notices, then every call must succeed.
    let mut unavailable = 0;
    let mut succeeded = 0;
    for _ in 0..20 {
        match client.list_customers(owner.request(pb::ListCustomersRequest::default())).await {
            Ok(_) => succeeded += 1,
            Err(status) if status.code() == Code::Unavailable => unavailable += 1,
            Err(status) => panic!("unexpected {status:?}"),
        }
    }
    let log = std::fs::read_to_string(suite.directory().join("gateway.log")).unwrap_or_default();
    assert!(
        unavailable <= 2,
        "{unavailable} calls were refused after one instance died; gateway log:\n{log}"
    );
    assert!(succeeded >= 18);
    let created = client
        .create_customer(owner.request(create(fixtures::customer("Still", "Served", "leaseholder"))))
        .await;
    assert!(created.is_ok(), "{created:?}");
}

async fn credentials_changed_through_one_gateway_reach_the_other(suite: Distributed) {
    // Issued through the first gateway, usable through the second at once.
    let channel = processes::channel(&suite.gateway).await;
    let issued =
        issue_credential(channel.clone(), &suite.operator, "riverside", Role::PartnerIntegration, &[], 0)
            .await;
    let owner = Caller { organisation: "organisations/riverside".into(), token: issued.secret };
    let mut second = CustomerProfilesClient::new(processes::channel(&suite.second_gateway).await);
    second.list_customers(owner.request(pb::ListCustomersRequest::default())).await.unwrap();

    // Revoked through the first: the second refuses it once it has re-read the
    // credentials (every `credential_refresh_secs`, one second here).
    let name = issued.credential.unwrap().name;
    let mut admin = contracts::involve::gateway::v1::partner_admin_client::PartnerAdminClient::new(channel);
    admin
        .revoke_credential(
            suite.operator.request(contracts::involve::gateway::v1::RevokeCredentialRequest { name }),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let refused = loop {
        match second.list_customers(owner.request(pb::ListCustomersRequest::default())).await {
            Err(status) => break status,
            Ok(_) if started.elapsed() < std::time::Duration::from_secs(30) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Ok(_) => panic!("the second gateway still accepts a credential revoked 30 s ago"),
        }
    };
    assert_status(&refused, Code::Unauthenticated, "CREDENTIALS_REVOKED");
}

async fn a_signed_principal_cannot_be_replayed(suite: Distributed) {
    let method = "involve.profiles.v1.CustomerProfiles/ListCustomers";
    let principal = Principal {
        organisation: "organisations/riverside".into(),
        role: Role::PartnerIntegration,
        subject: "organisations/riverside/credentials/captured".into(),
        areas: None,
    };
    // Headers as the gateway sends them on one forwarded call, captured...
    let (payload, signature) = HandoffKey::from_secret(SIGNING_SECRET).sign(&principal, method);
    let captured = || {
        let mut request = tonic::Request::new(pb::ListCustomersRequest::default());
        request.metadata_mut().insert("x-involve-principal", payload.parse().unwrap());
        request.metadata_mut().insert("x-involve-principal-signature", signature.parse().unwrap());
        request
    };
    let mut direct = CustomerProfilesClient::new(processes::channel(&suite.profiles[0]).await);
    direct.list_customers(captured()).await.expect("the original call");
    // ...and replayed: refused.
    let err = direct.list_customers(captured()).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "PRINCIPAL_REPLAYED");

    // Calls through the gateway are each signed afresh, so none is refused.
    let owner = partner(&suite, "riverside").await;
    let mut client = CustomerProfilesClient::new(processes::channel(&suite.gateway).await);
    for _ in 0..6 {
        client.list_customers(owner.request(pb::ListCustomersRequest::default())).await.unwrap();
    }
}

async fn the_gateway_refuses_requests_larger_than_it_may_buffer(suite: Distributed) {
    let owner = partner(&suite, "riverside").await;
    let mut client = CustomerProfilesClient::new(processes::channel(&suite.gateway).await);
    // Larger than `server.max_message_bytes` (4 MiB by default).
    let huge = pb::Customer {
        given_name: "x".repeat(5 * 1024 * 1024),
        ..fixtures::customer("Too", "Large", "leaseholder")
    };
    let err = client.create_customer(owner.request(create(huge))).await.unwrap_err();
    assert_status(&err, Code::ResourceExhausted, "MESSAGE_TOO_LARGE");
    assert!(err.get_error_details().retry_info().is_none(), "retrying will not help");
    // The gateway is none the worse.
    client
        .create_customer(owner.request(create(fixtures::customer("Right", "Sized", "leaseholder"))))
        .await
        .unwrap();
}

/// Two profiles instances behind one gateway, with only the principal-signing
/// secret configured (the README's recipe): the gateway alternates instances,
/// so each page's token is checked by the other instance than issued it.
async fn pages_are_followed_across_instances(suite: Distributed) {
    let owner = partner(&suite, "riverside").await;
    let mut client = CustomerProfilesClient::new(processes::channel(&suite.gateway).await);
    let mut created = std::collections::BTreeSet::new();
    for index in 0..13 {
        let customer = client
            .create_customer(owner.request(create(fixtures::customer(
                &format!("Paged{index}"),
                "Resident",
                "leaseholder",
            ))))
            .await
            .unwrap()
            .into_inner();
        created.insert(customer.name);
    }
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_customers(owner.request(pb::ListCustomersRequest {
                page_size: 3,
                page_token: page_token.clone(),
                ..Default::default()
            }))
            .await
            .unwrap_or_else(|status| panic!("page {} refused: {status:?}", pages + 1))
            .into_inner();
        pages += 1;
        seen.extend(page.customers.into_iter().map(|customer| customer.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
        assert!(pages < 20, "paging does not end");
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), created.len(), "rows seen more than once: {seen:?}");
    assert_eq!(seen.into_iter().collect::<std::collections::BTreeSet<_>>(), created);
}

async fn the_suite_serves_over_tls(suite: Distributed) {
    assert!(suite.gateway.endpoint().starts_with("https://"));
    // The inner hop is mutual TLS: an instance lets in only a client with a
    // certificate from the deployment's CA (the gateway), whatever it signs.
    let pki = suite.pki.clone().unwrap();
    let direct = involve_tests::tls::connect_tls(&suite.profiles[0].endpoint(), pki.client()).await;
    if let Ok(channel) = direct {
        let answer =
            CustomerProfilesClient::new(channel).list_customers(pb::ListCustomersRequest::default()).await;
        // Refused at the transport, not let in to be refused for its missing principal.
        let status = answer.unwrap_err();
        assert_ne!(status.code(), Code::Unauthenticated, "a client without a certificate got in: {status:?}");
        assert!(status.get_error_details().error_info().is_none(), "answered by the service: {status:?}");
    }
    // Each hop a partner's call takes is TLS: the gateway's listener, then the
    // instances, which serve nothing else.
    partners_are_served_and_scoped_through_the_gateway(suite).await;
}

/// A start-up that fails on its database says which database, but never with
/// its password: not for an unreachable server, not for a URL it cannot parse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_start_up_prints_no_password() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    for (url, expected) in [
        (
            format!("postgres://involve:hunter2-db-password@127.0.0.1:{closed_port}/involve"),
            format!("postgres://involve:***@127.0.0.1:{closed_port}/involve"),
        ),
        (
            "postgres://involve:hunter2-db-password@127.0.0.1:notaport/involve".to_owned(),
            "postgres://involve:***@127.0.0.1:notaport/involve".to_owned(),
        ),
        (
            format!("postgres://involve@127.0.0.1:{closed_port}/involve?password=hunter2-db-password"),
            format!("postgres://involve@127.0.0.1:{closed_port}/involve?password=***"),
        ),
    ] {
        let config = dir.path().join("involve.toml");
        std::fs::write(&config, "[gateway.backends]\nprofiles = [\"http://127.0.0.1:1\"]\n").unwrap();
        for service in ["profiles", "gateway"] {
            let output = tokio::process::Command::new(processes::involve_binary())
                .args(["serve", service, "--data-dir"])
                .arg(dir.path())
                .arg("--config")
                .arg(&config)
                .env("INVOLVE__DATABASE__URL", &url)
                .env("INVOLVE__SECURITY__PRINCIPAL_SIGNING_SECRET", "signing-secret-0123456789")
                .env("INVOLVE__LISTEN", "127.0.0.1:0")
                .env("INVOLVE__TELEMETRY__LOG_FILTER", "debug")
                .env_remove("RUST_LOG")
                .kill_on_drop(true)
                .output()
                .await
                .unwrap();
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(!output.status.success(), "{service} started on {url}:\n{printed}");
            assert!(!printed.contains("hunter2"), "{service} printed the password:\n{printed}");
            assert!(!printed.contains("signing-secret"), "{service} printed the signing secret:\n{printed}");
            assert!(printed.contains(&expected), "{service} did not say which database:\n{printed}");
        }
    }
}
