//! Test support: start the real suite on a loopback port over a fresh database
//! (SQLite files in a temporary directory, or a new PostgreSQL database), and
//! call it through the generated clients the way a partner landlord would: with
//! a credential issued by the gateway, sent as `authorization: Bearer`.
//!
//! PostgreSQL tests need `INVOLVE_TEST_POSTGRES_URL` (an administrative URL such as
//! `postgres://postgres@127.0.0.1:55432/postgres`); `scripts/test` starts a
//! throwaway cluster and sets it. Without it they fail, so a backend that never ran
//! cannot count as passed, unless `INVOLVE_TEST_SKIP_POSTGRES=1` asks to skip them.

// Test support: failing loudly and at once is the point here.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::print_stderr)]

pub mod otlp;
pub mod processes;
pub mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Once};
use std::time::Duration;

use contracts::involve::gateway::v1 as gw;
use contracts::involve::gateway::v1::partner_admin_client::PartnerAdminClient;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve::{Application, Mode};
use platform::{Role, Settings};
use sea_orm::DatabaseConnection;
use tokio::sync::{Mutex, oneshot};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;

pub use test_support::Backend;
pub use test_support::fresh_postgres_database;
pub(crate) use test_support::{POSTGRES_URL_VAR, assert_postgres_skip_asked_for};

/// Installs the suite's telemetry once per test process, as `involve serve`
/// does, so spans carry trace ids; logs show only with `TEST_LOG=1`.
pub fn init_test_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut settings = Settings::load_from(None, Vec::new()).expect("defaults load");
        if std::env::var_os("TEST_LOG").is_none() {
            settings.telemetry.log_filter = "off".into();
        }
        // Leaked on purpose: the guard lives as long as the test process.
        std::mem::forget(platform::telemetry::init(&settings.telemetry, "involve-tests"));
    });
}

/// Settings for a suite on loopback port 0 over a fresh database.
pub async fn test_settings(backend: Backend, data_dir: &std::path::Path) -> Option<Settings> {
    let mut settings = Settings::load_from(None, Vec::new()).expect("defaults load");
    settings.listen = "127.0.0.1:0".parse().expect("loopback address");
    settings.data_dir = data_dir.to_path_buf();
    settings.server.shutdown_grace_secs = 2;
    if backend == Backend::Postgres {
        settings.database.url = Some(fresh_postgres_database().await?);
    }
    Some(settings)
}

/// A running suite on loopback: the gateway on `address`, services behind it.
#[derive(Debug)]
pub struct TestApp {
    pub address: std::net::SocketAddr,
    pub backend: Backend,
    /// The settings the suite runs with (database URL, data directory).
    pub settings: Settings,
    /// The gateway's clock: the system's, moved ahead by tests that need an
    /// expiry, a grace period or a rate limit's refill to have passed.
    pub clock: Arc<platform::clock::ManualClock>,
    operator: Caller,
    callers: Mutex<HashMap<String, Caller>>,
    audit: gateway::audit::AuditFlusher,
    _data_dir: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Starts the suite all-in-one on `127.0.0.1:0`. `None` when PostgreSQL was
    /// asked for but is not configured (and not required).
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// As [`TestApp::spawn`], with a chance to adjust the settings first.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Option<Self> {
        init_test_logging();
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let mut settings = test_settings(backend, data_dir.path()).await?;
        adjust(&mut settings);
        let (_, secret) = involve::startup::create_credential(&settings, "council", Role::Operator, "tests")
            .await
            .expect("an operator credential");
        let clock = platform::clock::ManualClock::new();
        let app = Application::build_with_clock(settings.clone(), Mode::AllInOne, clock.clone())
            .await
            .expect("the suite builds");
        let address = app.local_addr();
        let audit = app.audit_flusher().expect("all-in-one runs a gateway");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Some(Self {
            address,
            backend,
            settings,
            clock,
            operator: Caller { organisation: "organisations/council".into(), token: secret },
            callers: Mutex::new(HashMap::new()),
            audit,
            _data_dir: Some(data_dir),
            shutdown: Some(shutdown),
            server: Some(server),
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub async fn channel(&self) -> Channel {
        connect(&self.endpoint()).await
    }

    pub async fn profiles(&self) -> CustomerProfilesClient<Channel> {
        CustomerProfilesClient::new(self.channel().await)
    }

    pub async fn admin(&self) -> PartnerAdminClient<Channel> {
        PartnerAdminClient::new(self.channel().await)
    }

    /// The operator credential the suite was started with.
    pub async fn operator(&self) -> Caller {
        self.operator.clone()
    }

    /// A partner landlord's integration credential.
    pub async fn partner(&self, organisation: &str) -> Caller {
        self.caller(organisation, Role::PartnerIntegration, &[]).await
    }

    /// A neighbourhood officer of `organisation` restricted to `areas`
    /// (comma-separated; empty for none).
    pub async fn officer(&self, organisation: &str, areas: &str) -> Caller {
        let areas: Vec<&str> = areas.split(',').map(str::trim).filter(|area| !area.is_empty()).collect();
        self.caller(organisation, Role::NeighbourhoodOfficer, &areas).await
    }

    pub async fn participation_officer(&self) -> Caller {
        self.caller("council", Role::TenantParticipationOfficer, &[]).await
    }

    /// A credential of `role` for `organisation` (created when new), issued once
    /// per app and reused.
    pub async fn caller(&self, organisation: &str, role: Role, areas: &[&str]) -> Caller {
        let key = format!("{organisation}|{}|{}", role.as_str(), areas.join(","));
        let mut callers = self.callers.lock().await;
        if let Some(caller) = callers.get(&key) {
            return caller.clone();
        }
        let issued = self.issue_credential(organisation, role, areas, 0).await;
        let caller = Caller { organisation: format!("organisations/{organisation}"), token: issued.secret };
        callers.insert(key, caller.clone());
        caller
    }

    /// Issues a fresh credential through `PartnerAdmin`, creating the organisation if needed.
    pub async fn issue_credential(
        &self,
        organisation: &str,
        role: Role,
        areas: &[&str],
        rate_limit_per_minute: i32,
    ) -> gw::IssuedCredential {
        issue_credential(
            self.channel().await,
            &self.operator,
            organisation,
            role,
            areas,
            rate_limit_per_minute,
        )
        .await
    }

    /// Waits until every call answered so far is in the gateway's audit,
    /// rather than waiting out its batch window.
    pub async fn flush_audit(&self) {
        self.audit.flush().await;
    }

    /// Adds area codes to the `areas` reference set, as an operator does.
    pub async fn add_areas(&self, areas: &[&str]) {
        use contracts::involve::profiles::v1 as pb;
        let mut client = self.profiles().await;
        for area in areas {
            let value = pb::ReferenceValue {
                code: (*area).into(),
                display_name: (*area).into(),
                ..Default::default()
            };
            let request =
                pb::CreateReferenceValueRequest { parent: "referenceSets/areas".into(), value: Some(value) };
            client.create_reference_value(self.operator.request(request)).await.expect("an area is added");
        }
    }

    /// A direct connection to the gateway's database (its schema on PostgreSQL).
    pub async fn gateway_database(&self) -> DatabaseConnection {
        let mut settings = self.settings.database_for(gateway::SERVICE_NAME);
        settings.max_connections = 2;
        persistence::connect(&settings, gateway::SERVICE_NAME)
            .await
            .expect("connects to the gateway database")
    }

    /// A direct connection to the profiles database (its schema on PostgreSQL).
    pub async fn profiles_database(&self) -> DatabaseConnection {
        let mut settings = self.settings.database_for(profiles::SERVICE_NAME);
        settings.max_connections = 2;
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

/// Issues a credential through the `PartnerAdmin` behind `channel`, creating the
/// organisation if it is new.
pub async fn issue_credential(
    channel: Channel,
    operator: &Caller,
    organisation: &str,
    role: Role,
    areas: &[&str],
    rate_limit_per_minute: i32,
) -> gw::IssuedCredential {
    let mut admin = PartnerAdminClient::new(channel);
    // Partnership-wide roles belong to councils and their arm's-length
    // organisations only; landlords hold partner integrations.
    let kind = match organisation {
        "council" => gw::organisation::Kind::Council,
        almo if almo.ends_with("-almo") => gw::organisation::Kind::ArmsLengthOrganisation,
        _ if role == Role::ExternalPartner => gw::organisation::Kind::ExternalAgency,
        _ if role != Role::PartnerIntegration => gw::organisation::Kind::Council,
        _ => gw::organisation::Kind::HousingAssociation,
    };
    let create = gw::CreateOrganisationRequest {
        organisation: Some(gw::Organisation {
            display_name: organisation.to_owned(),
            kind: kind.into(),
            ..Default::default()
        }),
        organisation_id: organisation.to_owned(),
    };
    match admin.create_organisation(operator.request(create)).await {
        Ok(_) => {}
        Err(status) if status.code() == Code::AlreadyExists => {}
        Err(status) => panic!("cannot create organisation {organisation}: {status:?}"),
    }
    let role = platform::roles::to_proto(role);
    let issue = gw::IssueCredentialRequest {
        parent: format!("organisations/{organisation}"),
        credential: Some(gw::Credential {
            role: role.into(),
            areas: areas.iter().map(|area| (*area).to_owned()).collect(),
            rate_limit_per_minute,
            display_name: "test credential".into(),
            ..Default::default()
        }),
    };
    admin.issue_credential(operator.request(issue)).await.expect("a credential").into_inner()
}

/// A channel to `endpoint`, connected now.
pub async fn connect(endpoint: &str) -> Channel {
    Channel::from_shared(endpoint.to_owned())
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connects to the test server")
}

/// Someone calling the suite with a gateway credential.
#[derive(Clone, Debug)]
pub struct Caller {
    pub organisation: String,
    pub token: String,
}

impl Caller {
    /// `message` as a request from this caller.
    pub fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let value = format!("Bearer {}", self.token).parse().expect("ascii");
        request.metadata_mut().insert("authorization", value);
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

/// Runs each scenario `async fn(Backend)` once on SQLite and once on PostgreSQL,
/// for scenarios that start the suite with settings of their own.
pub use test_support::on_every_backend as on_every_backend_with_settings;

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
