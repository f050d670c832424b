//! The partner-facing edge: credentials, roles, rate limits, rotation,
//! revocation and the audit of every call.

use std::time::Duration;

use contracts::involve::gateway::v1 as gw;
use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{Backend, Caller, TestApp, assert_status, on_every_backend};
use platform::Role;
use sea_orm::ConnectionTrait as _;
use tonic::Code;
use tonic_types::StatusExt as _;

on_every_backend!(
    every_authentication_failure_is_told_apart,
    partners_cannot_administer,
    rotation_keeps_the_old_secret_for_its_grace_period_only,
    revocation_takes_effect_at_once,
    rate_limits_trip_and_recover,
    every_call_is_audited_and_listed_for_operators,
    the_gateway_starts_its_own_trace_and_keeps_the_callers,
    failed_attempts_are_limited_per_credential_and_lock_out_no_one_else,
    partnership_wide_roles_need_a_council_or_its_almo,
    refusals_are_audited_under_known_methods_only,
);

involve_tests::on_every_backend_with_settings!(
    unreadable_areas_fail_closed,
    a_full_audit_queue_refuses_calls_and_loses_none,
    one_credential_cannot_take_every_place_in_flight,
    an_idle_import_stream_is_ended,
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
    let expires = prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() + 3_600, nanos: 0 };
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
    app.clock.advance(Duration::from_secs(3_660));
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
    // An hour and a minute on, the grace period is over: only the new secret works.
    app.clock.advance(Duration::from_secs(3_660));
    let err = client.list_customers(old.request(list())).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_INVALID");
    client.list_customers(new.request(list())).await.expect("the new secret outlives the grace period");

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
    // Revocation is told only to a secret that verified: a wrong secret for the
    // same credential learns nothing.
    let forged = format!("Bearer {}{}", &partner.token[..37], "A".repeat(43));
    let err = client.list_customers(with_authorization(&forged)).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_INVALID");
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
    app.clock.advance(retry + Duration::from_millis(100));
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

    // The audit writer batches: flush it rather than wait out its window.
    app.flush_audit().await;
    let mut admin = app.admin().await;
    let operator = app.operator().await;
    let events = admin
        .list_audit_events(operator.request(gw::ListAuditEventsRequest {
            organisation: "organisations/riverside".into(),
            method: "involve.profiles.v1.CustomerProfiles/GetCustomer".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert_eq!(events.len(), 2, "{events:?}");
    // Newest first: the miss, then the read of the customer.
    assert_eq!(events[0].status, "NOT_FOUND");
    assert_eq!(events[1].status, "OK");
    assert_eq!(events[1].resource, created.name);
    assert!(events[1].special_category, "a read of equality data is flagged");
    assert!(events[1].credential.starts_with("organisations/riverside/credentials/"));
    // The gateway's records are call events, named in their own collection, with the
    // role as it is stored (the `Role` value without its `ROLE_` prefix).
    assert!(events.iter().all(|event| event.name.starts_with("callEvents/")), "{events:?}");
    assert_eq!(events[1].role, "PARTNER_INTEGRATION");

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

    // Pages are newest first and complete: riverside made exactly three calls.
    let mut token = String::new();
    let mut seen = Vec::new();
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
        seen.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let methods: Vec<&str> =
        seen.iter().map(|event| event.method.rsplit('/').next().unwrap_or_default()).collect();
    assert_eq!(methods, ["GetCustomer", "GetCustomer", "CreateCustomer"], "newest first, each once");
    let times: Vec<_> =
        seen.iter().map(|event| event.event_time.unwrap()).map(|t| (t.seconds, t.nanos)).collect();
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "newest first: {times:?}");
}

async fn the_gateway_starts_its_own_trace_and_keeps_the_callers(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = partner.request(create(fixtures::customer("Traced", "Call", "leaseholder")));
    request
        .metadata_mut()
        .insert("traceparent", format!("00-{caller_trace}-00f067aa0ba902b7-01").parse().unwrap());
    let created = client.create_customer(request).await.unwrap().into_inner();

    // The gateway's record of the call files it under a trace the gateway
    // started, with the caller's kept beside it...
    app.flush_audit().await;
    let mut admin = app.admin().await;
    let operator = app.operator().await;
    let events = admin
        .list_audit_events(operator.request(gw::ListAuditEventsRequest {
            method: "involve.profiles.v1.CustomerProfiles/CreateCustomer".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    let gateway_event = events.iter().find(|event| event.caller_trace_id == caller_trace).unwrap();
    assert_eq!(gateway_event.trace_id.len(), 32);
    assert_ne!(gateway_event.trace_id, caller_trace, "a caller cannot choose the trace");

    // ...and the service continues the gateway's trace, not the caller's.
    let export = client
        .export_customer_data(partner.request(pb::ExportCustomerDataRequest { name: created.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    let create_event =
        export.audit_events.iter().find(|event| event.method.ends_with("/CreateCustomer")).unwrap();
    assert_eq!(create_event.trace_id, gateway_event.trace_id);
    assert!(create_event.name.starts_with("auditEvents/"), "{create_event:?}");
    // A call without a trace of its own gets one, with no caller's beside it.
    let export_event =
        export.audit_events.iter().find(|event| event.method.ends_with("/ExportCustomerData")).unwrap();
    assert_eq!(export_event.trace_id.len(), 32);
    assert_ne!(export_event.trace_id, gateway_event.trace_id);
}

async fn failed_attempts_are_limited_per_credential_and_lock_out_no_one_else(app: TestApp) {
    let mut client = app.profiles().await;
    let partner = app.partner("riverside").await;
    client.list_customers(partner.request(list())).await.unwrap();

    // Eighty made-up credentials from one address...
    for index in 0..80 {
        let made_up = format!("Bearer inv_{index:032x}_{}", "A".repeat(43));
        let err = client.list_customers(with_authorization(&made_up)).await.unwrap_err();
        assert_status(&err, Code::Unauthenticated, "CREDENTIALS_INVALID");
    }
    // ...and a brand-new credential's first call from the same address is served.
    let issued = app.issue_credential("hillside", Role::PartnerIntegration, &[], 0).await;
    let newcomer = Caller { organisation: "organisations/hillside".into(), token: issued.secret };
    client.list_customers(newcomer.request(list())).await.expect("garbage from an address blocks no one");

    // Guessing at one credential: sixty failed checks a minute, a burst of ten.
    // (The allowance refills at one a second while the slow checks run, so
    // count the failures until the refusal rather than expect it at the 11th.)
    let forged = format!("Bearer {}{}", &partner.token[..37], "A".repeat(43));
    let mut failures = 0;
    let err = loop {
        let err = client.list_customers(with_authorization(&forged)).await.unwrap_err();
        if err.code() != Code::Unauthenticated {
            break err;
        }
        assert_status(&err, Code::Unauthenticated, "CREDENTIALS_INVALID");
        failures += 1;
        assert!(failures < 60, "guesses were never limited");
    };
    assert!(failures >= 10, "a burst of ten is allowed: {failures}");
    assert_status(&err, Code::ResourceExhausted, "TOO_MANY_FAILED_ATTEMPTS");
    let retry = err.get_error_details().retry_info().and_then(|info| info.retry_delay).unwrap();
    assert!(retry <= Duration::from_secs(1), "{retry:?}");
    client.list_customers(partner.request(list())).await.expect("a secret verified before keeps working");
    client.list_customers(newcomer.request(list())).await.expect("other credentials are unaffected");
}

async fn partnership_wide_roles_need_a_council_or_its_almo(app: TestApp) {
    use contracts::involve::common::v1::Role as ProtoRole;
    use gw::organisation::Kind;

    let mut admin = app.admin().await;
    let operator = app.operator().await;
    for (id, kind) in [
        ("meadow-ha", Kind::HousingAssociation),
        ("lettings-body", Kind::PrivateLandlordBody),
        ("homes-almo", Kind::ArmsLengthOrganisation),
    ] {
        admin
            .create_organisation(operator.request(gw::CreateOrganisationRequest {
                organisation: Some(gw::Organisation {
                    display_name: id.into(),
                    kind: kind.into(),
                    ..Default::default()
                }),
                organisation_id: id.into(),
            }))
            .await
            .unwrap();
    }
    let issue = |organisation: &str, role: ProtoRole| {
        operator.request(gw::IssueCredentialRequest {
            parent: format!("organisations/{organisation}"),
            credential: Some(gw::Credential { role: role.into(), ..Default::default() }),
        })
    };
    for landlord in ["meadow-ha", "lettings-body"] {
        for role in
            [ProtoRole::NeighbourhoodOfficer, ProtoRole::TenantParticipationOfficer, ProtoRole::Operator]
        {
            let err = admin.issue_credential(issue(landlord, role)).await.unwrap_err();
            assert_status(&err, Code::FailedPrecondition, "ROLE_NOT_ALLOWED_FOR_ORGANISATION_KIND");
        }
        admin.issue_credential(issue(landlord, ProtoRole::PartnerIntegration)).await.unwrap();
    }
    for role in [ProtoRole::NeighbourhoodOfficer, ProtoRole::TenantParticipationOfficer, ProtoRole::Operator]
    {
        admin.issue_credential(issue("homes-almo", role)).await.unwrap();
        admin.issue_credential(issue("council", role)).await.unwrap();
    }
}

async fn refusals_are_audited_under_known_methods_only(app: TestApp) {
    use tonic::codegen::http;
    use tower::ServiceExt as _;

    // A path of the caller's choosing, without a credential.
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("{}/evil.Service/%3Cscript%3E", app.endpoint()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = app.channel().await.oneshot(request).await.unwrap();
    assert_eq!(response.headers().get("grpc-status").unwrap(), "16", "UNAUTHENTICATED");

    app.flush_audit().await;
    let mut admin = app.admin().await;
    let operator = app.operator().await;
    let events = admin
        .list_audit_events(operator.request(gw::ListAuditEventsRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert!(
        events.iter().any(|event| event.method == "unknown" && event.status == "UNAUTHENTICATED"),
        "{events:?}"
    );
    assert!(events.iter().all(|event| !event.method.contains("script")), "{events:?}");
}

/// A credential's row made unreadable in the gateway's database is refused,
/// never read as "no area restriction".
async fn unreadable_areas_fail_closed(backend: Backend) {
    // Credentials are read once at start here, so the corrupted row is what the
    // gateway reads when the credential is first used.
    let Some(app) =
        TestApp::spawn_with(backend, |settings| settings.gateway.credential_refresh_secs = 3_600).await
    else {
        return;
    };
    let issued = app.issue_credential("council", Role::NeighbourhoodOfficer, &["east"], 0).await;
    let name = issued.credential.unwrap().name;
    let id = name.rsplit('/').next().unwrap();
    let database = app.gateway_database().await;
    database
        .execute_unprepared(&format!("UPDATE credentials SET areas = 'east' WHERE id = '{id}'"))
        .await
        .unwrap();
    let officer = Caller { organisation: "organisations/council".into(), token: issued.secret };
    let err = app.profiles().await.list_customers(officer.request(list())).await.unwrap_err();
    assert_status(&err, Code::Unauthenticated, "CREDENTIALS_INVALID");
}

async fn a_full_audit_queue_refuses_calls_and_loses_none(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, |settings| settings.gateway.audit_queue_capacity = 4).await
    else {
        return;
    };
    let partner = app.partner("riverside").await;
    let mut client = app.profiles().await;
    client.list_customers(partner.request(list())).await.unwrap();
    app.flush_audit().await;

    // The audit table is away: writes fail and are retried, the queue fills.
    let database = app.gateway_database().await;
    database.execute_unprepared("ALTER TABLE calls RENAME TO calls_away").await.unwrap();
    let mut served = 1;
    let refused = loop {
        match client.list_customers(partner.request(list())).await {
            Ok(_) => served += 1,
            Err(status) => break status,
        }
        assert!(served < 2_000, "the queue never filled");
    };
    assert_status(&refused, Code::Unavailable, "AUDIT_UNAVAILABLE");
    assert!(refused.get_error_details().retry_info().is_some(), "the refusal says when to retry");

    // Back: every call that was served is in the audit.
    database.execute_unprepared("ALTER TABLE calls_away RENAME TO calls").await.unwrap();
    app.flush_audit().await;
    let mut admin = app.admin().await;
    let operator = app.operator().await;
    let mut token = String::new();
    let mut audited = 0;
    loop {
        let page = admin
            .list_audit_events(operator.request(gw::ListAuditEventsRequest {
                page_size: 500,
                page_token: token,
                organisation: "organisations/riverside".into(),
                method: "involve.profiles.v1.CustomerProfiles/ListCustomers".into(),
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        audited += page.audit_events.iter().filter(|event| event.status == "OK").count();
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(audited, served, "no served call went unaudited");
}

/// `count` import streams of `caller`, held open: each holds a place in flight.
async fn hold_imports(
    app: &TestApp,
    caller: &Caller,
    count: usize,
) -> Vec<(tokio::sync::mpsc::Sender<pb::ImportCustomersRequest>, tonic::Streaming<pb::ImportCustomersResponse>)>
{
    let mut held = Vec::new();
    for _ in 0..count {
        let (rows, receiver) = tokio::sync::mpsc::channel::<pb::ImportCustomersRequest>(1);
        let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
        let answers = app.profiles().await.import_customers(caller.request(stream)).await.unwrap();
        held.push((rows, answers.into_inner()));
    }
    held
}

async fn one_credential_cannot_take_every_place_in_flight(backend: Backend) {
    // Eight places, a quarter each: two per credential.
    let Some(app) = TestApp::spawn_with(backend, |settings| {
        settings.server.concurrency_limit = 8;
        settings.gateway.credential_concurrency_share = 0.25;
    })
    .await
    else {
        return;
    };
    let greedy = app.partner("riverside").await;
    let mut held = hold_imports(&app, &greedy, 2).await;
    let err = app.profiles().await.list_customers(greedy.request(list())).await.unwrap_err();
    assert_status(&err, Code::ResourceExhausted, "CONCURRENCY_LIMITED");
    assert!(err.get_error_details().retry_info().is_some(), "the refusal says when to retry");
    let other = app.partner("hillside").await;
    app.profiles().await.list_customers(other.request(list())).await.expect("other credentials are served");

    // A place comes back when its call's response ends.
    let (rows, mut answers) = held.pop().unwrap();
    drop(rows);
    while answers.message().await.unwrap().is_some() {}
    app.profiles().await.list_customers(greedy.request(list())).await.expect("served once a place is free");
}

async fn an_idle_import_stream_is_ended(backend: Backend) {
    let Some(app) =
        TestApp::spawn_with(backend, |settings| settings.gateway.stream_idle_timeout_secs = 1).await
    else {
        return;
    };
    let partner = app.partner("riverside").await;
    let (rows, mut answers) = hold_imports(&app, &partner, 1).await.pop().unwrap();
    // Nothing is sent: the gateway ends the stream.
    let err = loop {
        match answers.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the idle stream ended without an error"),
            Err(status) => break status,
        }
    };
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    drop(rows);
    // Its place is free again.
    app.profiles().await.list_customers(partner.request(list())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_limit_in_flight_are_refused_not_queued() {
    let app = TestApp::spawn_with(involve_tests::Backend::Sqlite, |settings| {
        settings.server.concurrency_limit = 2;
        // One credential may take every place here: this is about the server's limit.
        settings.gateway.credential_concurrency_share = 1.0;
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
