//! What every server offers: health, reflection, graceful shutdown.

use contracts::involve::profiles::v1 as pb;
use involve_tests::{Backend, TestApp};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn health_reports_each_service_serving() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let mut health = HealthClient::new(app.channel().await);
    for service in ["", "involve.profiles.v1.CustomerProfiles"] {
        let response =
            health.check(HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(response.status, ServingStatus::Serving as i32, "{service:?}");
    }
    let err = health.check(HealthCheckRequest { service: "nope.v1.Nothing".into() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_calls_in_flight_then_stops() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let address = app.address;
    let partner = app.partner("riverside").await;
    let mut client = app.profiles().await;

    // An import stream open across the shutdown: one row before, one after.
    let (rows, receiver) = tokio::sync::mpsc::channel(4);
    let row = |reference: &str| pb::ImportCustomersRequest {
        customer: Some(pb::Customer {
            external_reference: reference.into(),
            ..involve_tests::fixtures::customer("Draining", "Caller", "leaseholder")
        }),
    };
    rows.send(row("D-1")).await.unwrap();
    let mut answers = client
        .import_customers(partner.request(tokio_stream::wrappers::ReceiverStream::new(receiver)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answers.message().await.unwrap().unwrap().external_reference, "D-1");

    let stopping = tokio::spawn(app.stop());
    // Shutdown has begun once the listener takes no new connections.
    let mut closed = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(address).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(closed, "the listener closes when shutdown begins");
    assert!(!stopping.is_finished(), "the server waits for the call in flight");

    // The call in flight is still served to its end.
    rows.send(row("D-2")).await.unwrap();
    drop(rows);
    let second = answers.message().await.unwrap().expect("the second row is answered");
    assert_eq!(second.external_reference, "D-2");
    assert_eq!(second.outcome, pb::import_customers_response::Outcome::Created as i32);
    assert!(answers.message().await.unwrap().is_none(), "the stream ends cleanly");
    stopping.await.unwrap().unwrap();
}
