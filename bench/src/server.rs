//! Running the real `involve` binary for a measurement.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use sea_orm::{ConnectionTrait as _, Database};
use tonic::transport::Channel;

use crate::{ImportOutcome, Latency, rows};

pub(crate) enum Backend {
    Sqlite,
    Postgres { admin_url: String },
}

impl Backend {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres { .. } => "PostgreSQL",
        }
    }

    /// A database nobody has used: a file in `dir`, or a new PostgreSQL database.
    pub(crate) async fn fresh_database_url(&self, dir: &Path) -> anyhow::Result<String> {
        match self {
            Self::Sqlite => Ok(format!("sqlite://{}", dir.join("raw.db").display())),
            Self::Postgres { admin_url } => {
                let name = format!("involve_bench_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(admin_url.as_str()).await?;
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
                admin.close().await?;
                Ok(persistence::postgres_url_with_database(admin_url, &name))
            }
        }
    }
}

/// A channel to `endpoint` once it answers health checks (within a minute).
pub(crate) async fn wait_healthy(endpoint: &str) -> anyhow::Result<Channel> {
    let started = Instant::now();
    loop {
        if let Ok(channel) = Channel::from_shared(endpoint.to_owned())?.connect().await {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
            if health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.is_ok() {
                return Ok(channel);
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "{endpoint} did not come up; see its log"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new credential's secret, created offline with `involve admin`.
pub(crate) async fn admin_credential(
    involve: &Path,
    config: &Path,
    organisation: &str,
    role: &str,
) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(involve)
        .args(["admin", "create-credential", "--organisation", organisation, "--role", role, "--config"])
        .arg(config)
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "involve admin failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

pub(crate) struct ServerProcess {
    child: tokio::process::Child,
    channel: Channel,
    /// The benchmark's partner credential: it imports and reads as one landlord.
    secret: String,
    port: u16,
    /// The PostgreSQL database every service shares, when on PostgreSQL.
    database: Option<String>,
    dir: tempfile::TempDir,
}

impl ServerProcess {
    pub(crate) async fn start(involve: &Path, backend: &Backend) -> anyhow::Result<Self> {
        Self::start_as(involve, backend, "bench", "PARTNER_INTEGRATION").await
    }

    /// Starts the server with the benchmark's credential for `organisation` in `role`.
    pub(crate) async fn start_as(
        involve: &Path,
        backend: &Backend,
        organisation: &str,
        role: &str,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        // Ask the kernel for a free port, then hand it to the server.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres { .. } => Some(backend.fresh_database_url(dir.path()).await?),
        };
        let database = url.as_ref().map_or_else(String::new, |url| format!("[database]\nurl = \"{url}\"\n"));
        let config = dir.path().join("involve.toml");
        std::fs::write(
            &config,
            format!("listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n{database}", dir.path().display()),
        )?;
        let secret = admin_credential(involve, &config, organisation, role)
            .await
            .context("cannot create the benchmark's credential")?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let child = tokio::process::Command::new(involve)
            .args(["serve", "--config"])
            .arg(&config)
            .env("INVOLVE__TELEMETRY__LOG_FILTER", "warn")
            // One credential drives the whole load here: let it hold every place.
            .env("INVOLVE__GATEWAY__CREDENTIAL_CONCURRENCY_SHARE", "1")
            // ...and no rate limit: the load is the point.
            .env("INVOLVE__GATEWAY__DEFAULT_RATE_LIMIT_PER_MINUTE", "1000000000")
            // A year's service standards over 100k cases name every case that
            // missed a standard, per slice: about 11 MB, above the 4 MB default.
            .env("INVOLVE__SERVER__MAX_MESSAGE_BYTES", (64 * 1024 * 1024).to_string())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", involve.display()))?;
        let channel = wait_healthy(&format!("http://127.0.0.1:{port}")).await?;
        Ok(Self { child, channel, secret, port, database: url, dir })
    }

    /// The PostgreSQL database every service shares, when on PostgreSQL.
    pub(crate) fn postgres_database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// Where `service` keeps its tables: its SQLite file, or the shared database.
    pub(crate) fn database_url(&self, service: &str) -> String {
        self.database.clone().unwrap_or_else(|| {
            format!("sqlite://{}", self.dir.path().join(format!("{service}.db")).display())
        })
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A request as the benchmark's partner landlord.
    pub(crate) fn as_partner<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = format!("Bearer {}", self.secret).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    fn client(&self) -> CustomerProfilesClient<Channel> {
        CustomerProfilesClient::new(self.channel.clone()).max_decoding_message_size(64 * 1024 * 1024)
    }

    /// Streams `count` rows (generated as they are sent) and tallies the answers.
    pub(crate) async fn import(&self, count: u64, prefix: &str) -> anyhow::Result<ImportOutcome> {
        let prefix = prefix.to_owned();
        let rows = tokio_stream::iter((0..count).map(move |index| rows::import_row(index, &prefix)));
        let mut answers = self.client().import_customers(self.as_partner(rows)).await?.into_inner();
        let mut outcome = ImportOutcome::default();
        while let Some(answer) = answers.message().await? {
            outcome.add(&answer);
        }
        Ok(outcome)
    }

    /// p50/p99 of page 1 and of a page near the end of everything imported.
    pub(crate) async fn page_latencies(&self, samples: usize) -> anyhow::Result<(Latency, Latency, u64)> {
        let mut client = self.client();
        let list = |page_size: i32, page_token: String| pb::ListCustomersRequest {
            page_size,
            page_token,
            ..pb::ListCustomersRequest::default()
        };
        // Walk to the far end in big pages, keeping the last token that still has a page after it.
        let mut token = String::new();
        let mut depth = 0_u64;
        loop {
            let page = client.list_customers(self.as_partner(list(500, token.clone()))).await?.into_inner();
            if page.next_page_token.is_empty() {
                break;
            }
            let ahead = client
                .list_customers(self.as_partner(list(500, page.next_page_token.clone())))
                .await?
                .into_inner();
            if ahead.next_page_token.is_empty() {
                break;
            }
            depth += page.customers.len() as u64;
            token = page.next_page_token;
        }
        let time = |token: String| {
            let mut client = client.clone();
            async move {
                let mut taken = Vec::with_capacity(samples);
                for _ in 0..samples {
                    let started = Instant::now();
                    let page =
                        client.list_customers(self.as_partner(list(50, token.clone()))).await?.into_inner();
                    taken.push(started.elapsed());
                    anyhow::ensure!(page.customers.len() == 50, "a full page was expected");
                }
                Ok::<_, anyhow::Error>(Latency::of(taken))
            }
        };
        // Warm both paths once, then measure them interleaved-free but back to back.
        time(String::new()).await?;
        time(token.clone()).await?;
        let first = time(String::new()).await?;
        let deep = time(token).await?;
        Ok((first, deep, depth))
    }

    /// SIGTERM, then wait for the graceful shutdown.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.pid().to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status()?;
        tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??;
        Ok(())
    }
}
