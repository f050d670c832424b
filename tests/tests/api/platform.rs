//! What every server offers: health, reflection, graceful shutdown.

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

#[tokio::test]
async fn shutdown_drains_and_stops() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let address = app.address;
    app.stop().await.unwrap();
    assert!(tokio::net::TcpStream::connect(address).await.is_err(), "the listener is closed after shutdown");
}
