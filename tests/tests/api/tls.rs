//! Transport security: the public listener over TLS and mutual TLS, and
//! PostgreSQL connections that honour `sslmode` (a cluster of the test's own,
//! serving SSL with a throwaway CA's certificate).

use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve_tests::fixtures::{self, create};
use involve_tests::processes::PostgresCluster;
use involve_tests::tls::{TestPki, connect_tls};
use involve_tests::{Backend, Caller, TestApp, connect, issue_credential};
use platform::Role;
use sea_orm::ConnectionTrait as _;

involve_tests::on_every_backend_with_settings!(
    the_listener_serves_tls_only,
    mutual_tls_refuses_clients_without_a_certificate
);

fn https(app: &TestApp) -> String {
    format!("https://127.0.0.1:{}", app.address.port())
}

/// A partner credential issued over `channel` (the app's own helpers speak plain HTTP/2).
async fn partner_over(app: &TestApp, channel: tonic::transport::Channel, organisation: &str) -> Caller {
    let operator = app.operator().await;
    let issued = issue_credential(channel, &operator, organisation, Role::PartnerIntegration, &[], 0).await;
    Caller { organisation: format!("organisations/{organisation}"), token: issued.secret }
}

async fn the_listener_serves_tls_only(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path(), "listener");
    let Some(app) = TestApp::spawn_with(backend, |settings| pki.serve_tls(settings, false)).await else {
        return;
    };
    let owner = partner_over(&app, connect_tls(&https(&app), pki.client()).await.unwrap(), "riverside").await;
    let mut client = CustomerProfilesClient::new(connect_tls(&https(&app), pki.client()).await.unwrap());
    let created = client
        .create_customer(owner.request(create(fixtures::customer("Secure", "Tenant", "leaseholder"))))
        .await
        .unwrap()
        .into_inner();
    let fetched =
        client.get_customer(owner.request(pb::GetCustomerRequest { name: created.name })).await.unwrap();
    assert_eq!(fetched.into_inner().given_name, "Secure");

    // Plain HTTP/2 gets no gRPC answer from a TLS listener.
    let plain = tonic::transport::Channel::from_shared(app.endpoint()).unwrap().connect().await;
    if let Ok(plain) = plain {
        let answer = CustomerProfilesClient::new(plain)
            .list_customers(owner.request(pb::ListCustomersRequest::default()))
            .await;
        assert!(answer.is_err(), "a plain-text call was served: {answer:?}");
    }

    // A client that trusts another CA does not accept the listener's certificate.
    let stranger = TestPki::generate(dir.path(), "stranger");
    assert!(connect_tls(&https(&app), stranger.client()).await.is_err());
}

async fn mutual_tls_refuses_clients_without_a_certificate(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path(), "mutual");
    let Some(app) = TestApp::spawn_with(backend, |settings| pki.serve_tls(settings, true)).await else {
        return;
    };
    let channel = connect_tls(&https(&app), pki.client_with_certificate()).await.unwrap();
    let owner = partner_over(&app, channel.clone(), "riverside").await;
    CustomerProfilesClient::new(channel)
        .list_customers(owner.request(pb::ListCustomersRequest::default()))
        .await
        .unwrap();

    // Without a certificate, or with one from another CA, the handshake fails:
    // at connect, or (TLS 1.3 checks the client's certificate after the client
    // considers the handshake done) at the first call.
    let stranger = TestPki::generate(dir.path(), "stranger");
    for tls in [pki.client(), pki.client().identity(stranger_identity(&stranger))] {
        if let Ok(channel) = connect_tls(&https(&app), tls).await {
            let answer = CustomerProfilesClient::new(channel)
                .list_customers(owner.request(pb::ListCustomersRequest::default()))
                .await;
            assert!(answer.is_err(), "a client without an accepted certificate was served: {answer:?}");
        }
    }
}

fn stranger_identity(stranger: &TestPki) -> tonic::transport::Identity {
    tonic::transport::Identity::from_pem(
        std::fs::read(&stranger.client_cert_file).unwrap(),
        std::fs::read(&stranger.client_key_file).unwrap(),
    )
}

/// `sslmode=verify-full` with the right CA connects over SSL; with another CA
/// it is refused; `require` encrypts without verifying; and the suite runs on a
/// verify-full URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_honour_sslmode() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path(), "postgres");
    let Some(cluster) = PostgresCluster::start(Some(&pki)).await else {
        return;
    };
    let with = |query: String| format!("{}?{query}", cluster.url());
    let settings = |url: String| persistence::DatabaseSettings {
        url,
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_secs(5),
    };
    let verified = with(format!("sslmode=verify-full&sslrootcert={}", pki.ca_file.display()));
    let db = persistence::connect(&settings(verified.clone()), "tls_check").await.unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(row.try_get_by_index::<bool>(0).unwrap(), "verify-full connected without SSL");

    let stranger = TestPki::generate(dir.path(), "stranger");
    let wrong_ca = with(format!("sslmode=verify-full&sslrootcert={}", stranger.ca_file.display()));
    assert!(persistence::connect(&settings(wrong_ca), "tls_check").await.is_err());

    let required = with("sslmode=require".into());
    persistence::connect(&settings(required), "tls_check").await.unwrap();

    let Some(app) =
        TestApp::spawn_with(Backend::Postgres, |settings| settings.database.url = Some(verified)).await
    else {
        return;
    };
    let owner = app.partner("riverside").await;
    let mut client = CustomerProfilesClient::new(connect(&app.endpoint()).await);
    client
        .create_customer(owner.request(create(fixtures::customer("Encrypted", "Row", "leaseholder"))))
        .await
        .unwrap();
}

/// Over TLS the caller's address is where it is over plain TCP (tonic puts the
/// TCP connection's info beside the TLS one), so everything keyed on it (failed
/// sign-ins) works the same on a TLS listener: a bare service behind the
/// listener answers with the address it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_address_is_known_over_tls() {
    use tonic::transport::server::TcpConnectInfo;

    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path(), "peer");
    let mut settings = platform::Settings::load_from(None, Vec::new()).unwrap();
    pki.serve_tls(&mut settings, false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (_, health) = platform::server::ServiceSet::new().unwrap().into_parts();
    let echo_peer = tower::service_fn(|request: http::Request<tonic::body::Body>| async move {
        let peer = request.extensions().get::<TcpConnectInfo>().and_then(TcpConnectInfo::remote_addr);
        let status = match peer {
            Some(peer) => tonic::Status::already_exists(peer.ip().to_string()),
            None => tonic::Status::not_found("no caller address"),
        };
        Ok::<_, std::convert::Infallible>(status.into_http::<tonic::body::Body>())
    });
    let server_config = settings.server.clone();
    tokio::spawn(async move {
        platform::server::serve(echo_peer, listener, &server_config, health, std::future::pending()).await
    });

    let channel = connect_tls(&format!("https://127.0.0.1:{}", address.port()), pki.client()).await.unwrap();
    let status = CustomerProfilesClient::new(channel)
        .list_customers(pb::ListCustomersRequest::default())
        .await
        .unwrap_err();
    assert_eq!((status.code(), status.message()), (tonic::Code::AlreadyExists, "127.0.0.1"), "{status:?}");
}
