//! What every service's own tests share:
//!
//! - [`TestDatabase`]: a fresh SQLite file, or a fresh PostgreSQL database on the
//!   cluster `scripts/test` starts (`INVOLVE_TEST_POSTGRES_URL`);
//! - [`ServiceUnderTest`]: one service of the registry alone, migrated and served
//!   in-process on `127.0.0.1:0`, every call made as a given [`Principal`], so a
//!   service is tested through its own gRPC contract without the gateway;
//! - [`on_every_backend!`]: a scenario `async fn(Backend)` run once on each database.
//!
//! A backend that cannot run fails its test: PostgreSQL is skipped only when
//! `INVOLVE_TEST_SKIP_POSTGRES=1` asks for it, so a skipped half never passes
//! unnoticed. Suite-level scenarios through the gateway live in `tests/`.

// Test support: failing loudly and at once is the point here.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::print_stderr)]

use std::task::{Context, Poll};

use platform::principal::{PrincipalLayer, PrincipalSource};
use platform::rpc::RpcTelemetryLayer;
use platform::server::ServiceSet;
use platform::{Principal, ServiceContext, ServiceModule, Settings};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection};
use tokio::sync::oneshot;

/// The administrative URL of the PostgreSQL test cluster.
pub const POSTGRES_URL_VAR: &str = "INVOLVE_TEST_POSTGRES_URL";
/// Set (to anything) to skip PostgreSQL halves on purpose.
pub const SKIP_POSTGRES_VAR: &str = "INVOLVE_TEST_SKIP_POSTGRES";
/// Set by `scripts/test` and CI: PostgreSQL must run.
pub const REQUIRE_POSTGRES_VAR: &str = "INVOLVE_REQUIRE_POSTGRES";

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Without a PostgreSQL URL a PostgreSQL test fails, unless skipping was asked for.
pub fn assert_postgres_skip_asked_for() {
    assert!(
        std::env::var_os(SKIP_POSTGRES_VAR).is_some() && std::env::var_os(REQUIRE_POSTGRES_VAR).is_none(),
        "{POSTGRES_URL_VAR} is not set: run the tests through scripts/test (which starts PostgreSQL), \
         or set {SKIP_POSTGRES_VAR}=1 to skip the PostgreSQL half on purpose"
    );
    eprintln!("skipping a PostgreSQL test as {SKIP_POSTGRES_VAR} asks");
}

/// Creates an empty database on the PostgreSQL test cluster and returns its URL;
/// `None` only when PostgreSQL is skipped on purpose.
pub async fn fresh_postgres_database() -> Option<String> {
    let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
        assert_postgres_skip_asked_for();
        return None;
    };
    let name = format!("involve_test_{}", uuid::Uuid::new_v4().simple());
    let admin: DatabaseConnection =
        Database::connect(admin_url.as_str()).await.expect("connects to PostgreSQL");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("creates a test database");
    admin.close().await.expect("closes the admin connection");
    Some(persistence::postgres_url_with_database(&admin_url, &name))
}

/// A fresh, empty database; its SQLite directory lives as long as the value.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    /// The URL to connect with (a SQLite file, or a new PostgreSQL database).
    pub url: String,
    dir: tempfile::TempDir,
}

impl TestDatabase {
    /// `None` only for PostgreSQL skipped on purpose.
    pub async fn new(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("test.db").display()),
            Backend::Postgres => fresh_postgres_database().await?,
        };
        Some(Self { backend, url, dir })
    }

    /// Settings for a process over this database, listening on loopback port 0.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::load_from(None, Vec::new()).expect("defaults load");
        settings.listen = "127.0.0.1:0".parse().expect("a loopback address");
        settings.data_dir = self.dir.path().to_path_buf();
        settings.server.shutdown_grace_secs = 2;
        if self.backend == Backend::Postgres {
            settings.database.url = Some(self.url.clone());
        }
        settings
    }

    /// A connection to `service`'s part of this database (its file or schema).
    pub async fn connect(&self, service: &str) -> DatabaseConnection {
        let settings = self.settings();
        persistence::connect(&settings.database_for(service), service).await.expect("connects")
    }
}

/// One service alone, migrated and served on loopback, called as one principal.
#[derive(Debug)]
pub struct ServiceUnderTest {
    pub address: std::net::SocketAddr,
    pub database: TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
}

impl ServiceUnderTest {
    /// Starts `module` over a fresh database of `backend`; every call it gets is
    /// made by `principal`. `None` only for PostgreSQL skipped on purpose.
    pub async fn start(
        module: &'static dyn ServiceModule,
        backend: Backend,
        principal: Principal,
    ) -> Option<Self> {
        let database = TestDatabase::new(backend).await?;
        let settings = database.settings();
        let connection = database.connect(module.name()).await;
        module.migrate(&connection).await.expect("the service migrates");
        let page_tokens = persistence::PageTokenKey::from_secret(b"test page tokens");
        let mut set = ServiceSet::new().expect("a service set");
        // Alone: no peer can be reached.
        let clients = platform::client::ServiceDirectory::default().clients_for(module.name());
        let context = ServiceContext {
            settings: &settings,
            database: connection,
            page_tokens,
            clients,
            clock: platform::clock::system(),
        };
        module.add_routes(context, &mut set).await.expect("the service builds");
        let (routes, health) = set.into_parts();
        let service = tower::ServiceBuilder::new()
            .layer(AsCaller { principal })
            .layer(PrincipalLayer::new(PrincipalSource::InProcess))
            .layer(RpcTelemetryLayer::new())
            .service(routes);
        let listener = tokio::net::TcpListener::bind(settings.listen).await.expect("binds loopback");
        let address = listener.local_addr().expect("a local address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = settings.server.clone();
        tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            platform::server::serve(service, listener, &server, health, stopped).await
        });
        Some(Self { address, database, shutdown: Some(shutdown) })
    }

    /// A channel to the service, connected now.
    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.address))
            .expect("an endpoint")
            .connect()
            .await
            .expect("connects to the service under test")
    }
}

impl Drop for ServiceUnderTest {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Hands every request the test's principal, as the in-process gateway would.
#[derive(Clone, Debug)]
struct AsCaller {
    principal: Principal,
}

impl<S> tower::Layer<S> for AsCaller {
    type Service = AsCallerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AsCallerService { inner, principal: self.principal.clone() }
    }
}

#[derive(Clone, Debug)]
struct AsCallerService<S> {
    inner: S,
    principal: Principal,
}

impl<S, B> tower::Service<http::Request<B>> for AsCallerService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.principal.clone());
        self.inner.call(request)
    }
}

/// Runs each scenario `async fn(Backend)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario($crate::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario($crate::Backend::Postgres).await;
                }
            }
        )*
    };
}
