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
);

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
