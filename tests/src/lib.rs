// Test support: failing loudly and at once is the point here.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::print_stderr)]

//! Test support: start the real suite on a loopback port over a fresh database
//! (an SQLite file in a temporary directory, or a new PostgreSQL database), and
//! call it through the generated clients the way a partner landlord would.
//!
//! PostgreSQL tests need `INVOLVE_TEST_POSTGRES_URL` (an administrative URL such as
//! `postgres://postgres@127.0.0.1:55432/postgres`); `scripts/test` starts a
//! throwaway cluster and sets it. Without it they are skipped, unless
//! `INVOLVE_REQUIRE_POSTGRES=1` (set by `scripts/test` and CI) makes that a failure.

use std::sync::Once;
use std::time::Duration;

use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve::{Application, Service};
use platform::Settings;
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

const POSTGRES_URL_VAR: &str = "INVOLVE_TEST_POSTGRES_URL";
const REQUIRE_POSTGRES_VAR: &str = "INVOLVE_REQUIRE_POSTGRES";

fn init_test_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let settings = Settings::load_from(None, Vec::new()).expect("defaults load");
            // Leaked on purpose: the guard lives as long as the test process.
            std::mem::forget(platform::telemetry::init(&settings.telemetry, "involve-tests"));
        }
    });
}

/// A running suite on loopback.
#[derive(Debug)]
pub struct TestApp {
    pub address: std::net::SocketAddr,
    pub backend: Backend,
    /// The database URL the profiles service uses, for inspecting what it stored.
    pub profiles_database_url: String,
    _data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts every service on `127.0.0.1:0`. `None` when PostgreSQL was asked for
    /// but is not configured (and not required).
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// As [`TestApp::spawn`], with a chance to adjust the settings first.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Option<Self> {
        init_test_logging();
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let mut settings = Settings::load_from(None, Vec::new()).expect("defaults load");
        settings.listen = "127.0.0.1:0".parse().expect("loopback address");
        settings.data_dir = data_dir.path().to_path_buf();
        settings.server.shutdown_grace_secs = 2;
        if backend == Backend::Postgres {
            settings.database.url = Some(fresh_postgres_database().await?);
        }
        adjust(&mut settings);
        let profiles_database_url = settings.database_for(profiles::SERVICE_NAME).url;
        let app = Application::build(settings, &Service::ALL).await.expect("the suite builds");
        let address = app.local_addr();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Some(Self {
            address,
            backend,
            profiles_database_url,
            _data_dir: data_dir,
            shutdown: Some(shutdown),
            server: Some(server),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.endpoint())
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("connects to the test server")
    }

    pub async fn profiles(&self) -> CustomerProfilesClient<Channel> {
        CustomerProfilesClient::new(self.channel().await)
    }

    /// A direct connection to the profiles database (its schema on PostgreSQL).
    pub async fn profiles_database(&self) -> DatabaseConnection {
        let settings = persistence::DatabaseSettings {
            url: self.profiles_database_url.clone(),
            max_connections: 2,
            acquire_timeout: Duration::from_secs(5),
        };
        persistence::connect(&settings, profiles::SERVICE_NAME)
            .await
            .expect("connects to the profiles database")
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.server.take() {
            Some(server) => server.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Creates an empty database on the test cluster and returns its URL.
async fn fresh_postgres_database() -> Option<String> {
    let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
        assert!(
            std::env::var_os(REQUIRE_POSTGRES_VAR).is_none(),
            "{REQUIRE_POSTGRES_VAR} is set but {POSTGRES_URL_VAR} is not: run the tests through scripts/test"
        );
        eprintln!("skipping a PostgreSQL test: {POSTGRES_URL_VAR} is not set");
        return None;
    };
    let name = format!("involve_test_{}", uuid::Uuid::new_v4().simple());
    let admin: DatabaseConnection =
        Database::connect(admin_url.as_str()).await.expect("connects to PostgreSQL");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("creates a test database");
    admin.close().await.expect("closes the admin connection");
    Some(persistence::postgres_url_with_database(&admin_url, &name))
}

/// Someone calling the suite: an organisation and a role, sent as the trusted
/// development metadata until the gateway exists.
#[derive(Clone, Debug)]
pub struct Caller {
    pub organisation: String,
    pub role: &'static str,
    pub areas: Option<String>,
}

impl Caller {
    pub fn partner(organisation: &str) -> Self {
        Self {
            organisation: format!("organisations/{organisation}"),
            role: "PARTNER_INTEGRATION",
            areas: None,
        }
    }

    pub fn officer(organisation: &str, areas: &str) -> Self {
        Self {
            organisation: format!("organisations/{organisation}"),
            role: "NEIGHBOURHOOD_OFFICER",
            areas: Some(areas.to_owned()),
        }
    }

    pub fn participation_officer() -> Self {
        Self {
            organisation: "organisations/council".into(),
            role: "TENANT_PARTICIPATION_OFFICER",
            areas: None,
        }
    }

    pub fn operator() -> Self {
        Self { organisation: "organisations/council".into(), role: "OPERATOR", areas: None }
    }

    /// `message` as a request from this caller.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let metadata = request.metadata_mut();
        metadata.insert("x-involve-organisation", self.organisation.parse().expect("ascii"));
        metadata.insert("x-involve-role", self.role.parse().expect("ascii"));
        if let Some(areas) = &self.areas {
            metadata.insert("x-involve-areas", areas.parse().expect("ascii"));
        }
        request
    }
}

/// Asserts a status's code and its `ErrorInfo.reason`.
#[track_caller]
pub fn assert_status(status: &Status, code: Code, reason: &str) {
    assert_eq!(status.code(), code, "unexpected status: {status:?}");
    let info = status.get_error_details().error_info().cloned();
    assert_eq!(info.map(|info| info.reason), Some(reason.to_owned()), "unexpected reason in {status:?}");
}

/// The fields named by a status's `BadRequest` details.
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|bad| bad.field_violations.iter().map(|violation| violation.field.clone()).collect())
        .unwrap_or_default()
}

/// Runs each named scenario `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    if let Some(app) = $crate::TestApp::spawn($crate::Backend::Sqlite).await {
                        super::$scenario(app).await;
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await {
                        super::$scenario(app).await;
                    }
                }
            }
        )*
    };
}

/// Ready-made messages.
pub mod fixtures {
    use contracts::involve::profiles::v1 as pb;

    /// A valid customer of `tenure` with contact details and a postcode.
    pub fn customer(given: &str, family: &str, tenure: &str) -> pb::Customer {
        pb::Customer {
            given_name: given.into(),
            family_name: family.into(),
            tenure: tenure.into(),
            contact: Some(pb::ContactDetails {
                email: format!("{}.{}@example.org", given.to_lowercase(), family.to_lowercase()),
                phone: "020 7946 0958".into(),
                mobile: String::new(),
            }),
            property: Some(pb::Property {
                uprn: "100023336956".into(),
                address_lines: vec!["1 Example Street".into()],
                town: "Exampleton".into(),
                postcode: "EX1 1AA".into(),
            }),
            ..pb::Customer::default()
        }
    }

    /// Equality answers with a lawful basis.
    pub fn equality(ethnicity: &str) -> pb::EqualityInformation {
        use pb::equality_answer::Response;
        pb::EqualityInformation {
            lawful_basis: pb::LawfulBasis::EqualityMonitoring.into(),
            ethnicity: Some(pb::EqualityAnswer {
                response: Response::Answered.into(),
                value: ethnicity.into(),
            }),
            religion: Some(pb::EqualityAnswer {
                response: Response::PreferNotToSay.into(),
                value: String::new(),
            }),
            ..pb::EqualityInformation::default()
        }
    }

    pub fn create(customer: pb::Customer) -> pb::CreateCustomerRequest {
        pb::CreateCustomerRequest { customer: Some(customer), ..pb::CreateCustomerRequest::default() }
    }
}
