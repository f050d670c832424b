//! The partner-facing edge: credentials, roles, rate limits, rotation,
//! revocation and the audit of every call.

use std::time::Duration;

use contracts::involve::gateway::v1 as gw;
use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{Caller, TestApp, assert_status, on_every_backend};
use platform::Role;
use tonic::Code;
use tonic_types::StatusExt as _;

on_every_backend!(
    every_authentication_failure_is_told_apart,
    partners_cannot_administer,
    rotation_keeps_the_old_secret_for_its_grace_period_only,
    revocation_takes_effect_at_once,
    rate_limits_trip_and_recover,
    every_call_is_audited_and_listed_for_operators,
    the_callers_trace_continues_into_the_services,
    failed_attempts_are_limited_per_address,
);

fn list() -> pb::ListCustomersRequest {
    pb::ListCustomersRequest::default()
}

fn with_authorization(value: &str) -> tonic::Request<pb::ListCustomersRequest> {
    let mut request = tonic::Request::new(list());
    request.metadata_mut().insert("authorization", value.parse().unwrap());
    request
}

async fn every_authentication_failure_is_told_apart(app: TestApp) {
    let mut client = app.profiles().await;
    let err = client.list_customers(list()).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_MISSING");
    for malformed in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-credential"] {
        let err = client.list_customers(with_authorization(malformed)).await.unwrap_err();
        assert_status(&err, Code::Unauthenticated, "CREDENTIALS_MALFORMED");
    }
    let partner = app.partner("riverside").await;
    // `inv_` + 32 hex digits + `_`, then a secret of the right shape that is not the one issued.
    let forged = format!("Bearer {}{}", &partner.token[..37], "A".repeat(43));
    let err = client.list_customers(with_authorization(&forged)).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_INVALID");
    let unknown = format!("Bearer inv_{}_{}", "0".repeat(32), "A".repeat(43));
    let err = client.list_customers(with_authorization(&unknown)).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_INVALID");

    // An expiring credential works, then stops.
    let mut admin = app.admin().await;
    let operator = app.operator().await;
    let expires = prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() + 2, nanos: 0 };
    let issued = admin
        .issue_credential(operator.request(gw::IssueCredentialRequest {
            parent: "organisations/council".into(),
            credential: Some(gw::Credential {
                role: contracts::involve::common::v1::Role::TenantParticipationOfficer.into(),
                expire_time: Some(expires),
                ..Default::default()
            }),
        }))
        .await
        .unwrap()
        .into_inner();
    let short_lived = Caller { organisation: "organisations/council".into(), token: issued.secret };
    client.list_customers(short_lived.request(list())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let err = client.list_customers(short_lived.request(list())).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_EXPIRED");

    // Health and reflection need no credential.
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel().await);
    health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
}

async fn partners_cannot_administer(app: TestApp) {
    let partner = app.partner("riverside").await;
    let mut admin = app.admin().await;
    let err =
        admin.list_organisations(partner.request(gw::ListOrganisationsRequest::default())).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let officer = app.officer("council", "").await;
    let err = admin
        .issue_credential(officer.request(gw::IssueCredentialRequest {
            parent: "organisations/council".into(),
            credential: Some(gw::Credential {
                role: contracts::involve::common::v1::Role::Operator.into(),
                ..Default::default()
            }),
        }))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
}

async fn rotation_keeps_the_old_secret_for_its_grace_period_only(app: TestApp) {
    let mut client = app.profiles().await;
    let mut admin = app.admin().await;
    let operator = app.operator().await;
    let issued = app.issue_credential("riverside", Role::PartnerIntegration, &[], 0).await;
    let name = issued.credential.unwrap().name;
    let old = Caller { organisation: "organisations/riverside".into(), token: issued.secret };
    client.list_customers(old.request(list())).await.unwrap();

    let rotated = admin
        .rotate_credential(operator.request(gw::RotateCredentialRequest {
            name: name.clone(),
            grace_period: Some(prost_types::Duration { seconds: 3_600, nanos: 0 }),
        }))
        .await
        .unwrap()
        .into_inner();
    let new = Caller { organisation: "organisations/riverside".into(), token: rotated.secret };
    client.list_customers(new.request(list())).await.unwrap();
    client.list_customers(old.request(list())).await.expect("the old secret works during the grace period");

    let again = admin
        .rotate_credential(operator.request(gw::RotateCredentialRequest { name, grace_period: None }))
        .await
        .unwrap()
        .into_inner();
    let newest = Caller { organisation: "organisations/riverside".into(), token: again.secret };
    client.list_customers(newest.request(list())).await.unwrap();
    for stale in [&old, &new] {
        let err = client.list_customers(stale.request(list())).await.unwrap_err();
        assert_status(&err, Code::Unauthenticated, "CREDENTIALS_INVALID");
    }
}

async fn revocation_takes_effect_at_once(app: TestApp) {
    let mut client = app.profiles().await;
    let mut admin = app.admin().await;
    let issued = app.issue_credential("riverside", Role::PartnerIntegration, &[], 0).await;
    let name = issued.credential.unwrap().name;
    let partner = Caller { organisation: "organisations/riverside".into(), token: issued.secret };
    client.list_customers(partner.request(list())).await.unwrap();
    let revoked = admin
        .revoke_credential(app.operator().await.request(gw::RevokeCredentialRequest { name: name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revoked.state, i32::from(gw::credential::State::Revoked));
    let err = client.list_customers(partner.request(list())).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_REVOKED");
    let listed = admin
        .list_credentials(app.operator().await.request(gw::ListCredentialsRequest {
            parent: "organisations/riverside".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(
        listed
            .credentials
            .iter()
            .any(|credential| credential.name == name && credential.revoke_time.is_some())
    );
}

async fn rate_limits_trip_and_recover(app: TestApp) {
    let mut client = app.profiles().await;
    // 60 a minute: bursts of ten, then one a second.
    let issued = app.issue_credential("riverside", Role::PartnerIntegration, &[], 60).await;
    let partner = Caller { organisation: "organisations/riverside".into(), token: issued.secret };
    for _ in 0..10 {
        client.list_customers(partner.request(list())).await.unwrap();
    }
    let err = client.list_customers(partner.request(list())).await.unwrap_err();
    assert_status(&err, Code::ResourceExhausted, "RATE_LIMITED");
    let retry = err.get_error_details().retry_info().and_then(|info| info.retry_delay).unwrap();
    assert!(retry <= Duration::from_secs(1), "{retry:?}");
    // Other credentials are unaffected.
    client.list_customers(app.partner("riverside").await.request(list())).await.unwrap();
    tokio::time::sleep(retry + Duration::from_millis(100)).await;
    client.list_customers(partner.request(list())).await.expect("the limit recovers");
}

async fn every_call_is_audited_and_listed_for_operators(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let created = client
        .create_customer(partner.request(create(pb::Customer {
            equality: Some(fixtures::equality("white-british")),
            ..fixtures::customer("Audit", "Me", "leaseholder")
        })))
        .await
        .unwrap()
        .into_inner();
    client
        .get_customer(partner.request(pb::GetCustomerRequest { name: created.name.clone() }))
        .await
        .unwrap();
    let missing = format!("customers/{}", uuid::Uuid::new_v4());
    client.get_customer(partner.request(pb::GetCustomerRequest { name: missing })).await.unwrap_err();
    client.list_customers(list()).await.unwrap_err();

    // The audit writer batches: give it a moment.
    let mut admin = app.admin().await;
    let operator = app.operator().await;
    let mut events = Vec::new();
    for _ in 0..50 {
        events = admin
            .list_audit_events(operator.request(gw::ListAuditEventsRequest {
                organisation: "organisations/riverside".into(),
                method: "involve.profiles.v1.CustomerProfiles/GetCustomer".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .audit_events;
        if events.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(events.len(), 2, "{events:?}");
    // Newest first: the miss, then the read of the customer.
    assert_eq!(events[0].status, "NOT_FOUND");
    assert_eq!(events[1].status, "OK");
    assert_eq!(events[1].resource, created.name);
    assert!(events[1].special_category, "a read of equality data is flagged");
    assert!(events[1].credential.starts_with("organisations/riverside/credentials/"));

    let unauthenticated = admin
        .list_audit_events(operator.request(gw::ListAuditEventsRequest {
            method: "involve.profiles.v1.CustomerProfiles/ListCustomers".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert!(
        unauthenticated.iter().any(|event| event.status == "UNAUTHENTICATED" && event.credential.is_empty())
    );

    // Pages are newest first and complete.
    let mut token = String::new();
    let mut seen = 0;
    loop {
        let page = admin
            .list_audit_events(operator.request(gw::ListAuditEventsRequest {
                page_size: 2,
                page_token: token,
                organisation: "organisations/riverside".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        seen += page.audit_events.len();
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert!(seen >= 3, "create, get, get at least: {seen}");
}

async fn the_callers_trace_continues_into_the_services(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = partner.request(create(fixtures::customer("Traced", "Call", "leaseholder")));
    request
        .metadata_mut()
        .insert("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01").parse().unwrap());
    let created = client.create_customer(request).await.unwrap().into_inner();

    // The service's own audit row carries the caller's trace id...
    let export = client
        .export_customer_data(partner.request(pb::ExportCustomerDataRequest { name: created.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    let create_event =
        export.audit_events.iter().find(|event| event.method.ends_with("/CreateCustomer")).unwrap();
    assert_eq!(create_event.trace_id, trace_id);
    // ...and a call without one gets a trace of its own.
    let export_event =
        export.audit_events.iter().find(|event| event.method.ends_with("/ExportCustomerData")).unwrap();
    assert_eq!(export_event.trace_id.len(), 32);
    assert_ne!(export_event.trace_id, trace_id);

    // So does the gateway's record of the call.
    let mut admin = app.admin().await;
    let operator = app.operator().await;
    let mut found = false;
    for _ in 0..50 {
        let events = admin
            .list_audit_events(operator.request(gw::ListAuditEventsRequest {
                method: "involve.profiles.v1.CustomerProfiles/CreateCustomer".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner()
            .audit_events;
        if events.iter().any(|event| event.trace_id == trace_id) {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "the gateway's audit row carries the caller's trace id");
}

async fn failed_attempts_are_limited_per_address(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    client.list_customers(partner.request(list())).await.unwrap();
    // Sixty failures a minute from one address: a burst of ten, then one a second.
    let forged = format!("Bearer {}{}", &partner.token[..37], "A".repeat(43));
    for _ in 0..10 {
        let err = client.list_customers(with_authorization(&forged)).await.unwrap_err();
        assert_status(&err, Code::Unauthenticated, "CREDENTIALS_INVALID");
    }
    let err = client.list_customers(with_authorization(&forged)).await.unwrap_err();
    assert_status(&err, Code::ResourceExhausted, "TOO_MANY_FAILED_ATTEMPTS");
    let retry = err.get_error_details().retry_info().and_then(|info| info.retry_delay).unwrap();
    assert!(retry <= Duration::from_secs(1), "{retry:?}");
    client.list_customers(partner.request(list())).await.expect("a secret verified before keeps working");
    tokio::time::sleep(retry + Duration::from_millis(100)).await;
    let err = client.list_customers(with_authorization(&forged)).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_INVALID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_limit_in_flight_are_refused_not_queued() {
    let app = TestApp::spawn_with(involve_tests::Backend::Sqlite, |settings| {
        settings.server.concurrency_limit = 2;
    })
    .await
    .unwrap();
    let partner = app.partner("riverside").await;
    // Two imports held open fill the gateway.
    let mut held = Vec::new();
    for _ in 0..2 {
        let (rows, receiver) = tokio::sync::mpsc::channel::<pb::ImportCustomersRequest>(1);
        let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
        let answers = app.profiles().await.import_customers(partner.request(stream)).await.unwrap();
        held.push((rows, answers.into_inner()));
    }
    let err = app.profiles().await.list_customers(partner.request(list())).await.unwrap_err();
    assert_status(&err, Code::Unavailable, "OVERLOADED");
    assert!(err.get_error_details().retry_info().is_some(), "the refusal says when to retry");

    // Finishing one import frees its place.
    let (rows, mut answers) = held.pop().unwrap();
    drop(rows);
    while answers.message().await.unwrap().is_some() {}
    app.profiles().await.list_customers(partner.request(list())).await.expect("served once a place is free");
}
