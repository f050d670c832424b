//! The suite in distributed mode, as separate processes of the real `involve`
//! binary on loopback: two profiles instances behind two gateways, each with its
//! own configuration file, sharing one database.
//!
//! The binary is looked up beside the test executable (`target/<profile>/involve`);
//! `scripts/test` builds it before running the tests.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::{Backend, Caller, connect, test_settings};

/// The shared secret the processes sign and verify principals with.
pub const SIGNING_SECRET: &str = "test-signing-secret-0123456789";

/// The `involve` binary built beside the tests.
pub fn involve_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    // target/<profile>/deps/api-<hash> -> target/<profile>/involve
    let dir = exe.parent().and_then(Path::parent).expect("a target directory");
    let binary = dir.join("involve");
    assert!(
        binary.exists(),
        "no involve binary at {}: run `cargo build -p involve` (scripts/test does)",
        binary.display()
    );
    binary
}

/// One running `involve` process.
#[derive(Debug)]
pub struct Process {
    pub port: u16,
    child: Child,
}

impl Process {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops it abruptly, as a crash would.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// Two gateways and two profiles instances, each its own process.
#[derive(Debug)]
pub struct Distributed {
    pub gateway: Process,
    /// A second gateway over the same database and instances, as a
    /// deployment with more than one would have.
    pub second_gateway: Process,
    pub profiles: Vec<Process>,
    pub operator: Caller,
    _dir: tempfile::TempDir,
}

impl Distributed {
    /// `None` when PostgreSQL was asked for but is not configured.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let settings = test_settings(backend, dir.path()).await?;
        let database = settings
            .database
            .url
            .as_ref()
            .map(|url| format!("[database]\nurl = \"{url}\"\n"))
            .unwrap_or_default();
        // Every process listens on port 0 and says where in its log: ports picked
        // in advance can be taken by another test's process before they are bound.
        let config = |backends: &[String]| {
            let mut config = format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{database}\n[server]\nshutdown_grace_secs = 2\n\n\
                 [gateway]\ncredential_refresh_secs = 1\n\n\
                 [security]\nprincipal_signing_secret = \"{SIGNING_SECRET}\"\n",
                dir.path().display(),
            );
            if !backends.is_empty() {
                let quoted: Vec<String> = backends.iter().map(|address| format!("\"{address}\"")).collect();
                config.push_str(&format!("\n[gateway.backends]\nprofiles = [{}]\n", quoted.join(", ")));
            }
            config
        };
        let binary = involve_binary();
        let start = |name: &str, service: &str, backends: &[String]| {
            let path = dir.path().join(format!("{name}.toml"));
            std::fs::write(&path, config(backends)).expect("writes a config file");
            let log_path = dir.path().join(format!("{name}.log"));
            let log = std::fs::File::create(&log_path).expect("a log file");
            let filter = std::env::var("INVOLVE_TEST_PROCESS_LOG").unwrap_or_else(|_| "warn".into());
            let child = Command::new(&binary)
                .args(["serve", service, "--config"])
                .arg(&path)
                .env("INVOLVE__TELEMETRY__LOG_FILTER", format!("{filter},involve=info"))
                .env("INVOLVE__TELEMETRY__LOG_FORMAT", "json")
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .expect("starts involve");
            Starting { child, log: log_path }
        };

        // Migrations first, once, so the instances do not race to apply them.
        let migrate_config = dir.path().join("migrate.toml");
        std::fs::write(&migrate_config, config(&[])).expect("writes a config file");
        let migrated =
            Command::new(&binary).args(["migrate", "--config"]).arg(&migrate_config).status().await;
        assert!(migrated.is_ok_and(|status| status.success()), "involve migrate failed");
        let output = Command::new(&binary)
            .args([
                "admin",
                "create-credential",
                "--organisation",
                "council",
                "--role",
                "OPERATOR",
                "--config",
            ])
            .arg(&migrate_config)
            .output()
            .await
            .expect("runs involve admin");
        assert!(output.status.success(), "involve admin failed: {}", String::from_utf8_lossy(&output.stderr));
        let token = String::from_utf8(output.stdout).expect("utf-8").trim().to_owned();

        let mut profiles = Vec::new();
        for index in 0..2 {
            profiles.push(start(&format!("profiles-{index}"), "profiles", &[]).ready().await);
        }
        let backends: Vec<String> = profiles.iter().map(Process::endpoint).collect();
        let gateway = start("gateway", "gateway", &backends).ready().await;
        let second_gateway = start("gateway-2", "gateway", &backends).ready().await;
        Some(Self {
            gateway,
            second_gateway,
            profiles,
            operator: Caller { organisation: "organisations/council".into(), token },
            _dir: dir,
        })
    }

    /// Where the processes' logs and configuration files are.
    pub fn directory(&self) -> &Path {
        self._dir.path()
    }
}

/// A process started but not yet known to be serving.
struct Starting {
    child: Child,
    log: PathBuf,
}

impl Starting {
    /// Waits for the process to log its address and answer health checks there.
    async fn ready(mut self) -> Process {
        let started = Instant::now();
        let port = loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(port) = log.lines().find_map(listening_port) {
                break port;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}) before listening:\n{log}", self.log.display());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} did not start:\n{log}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let process = Process { port, child: self.child };
        wait_until_serving(&process.endpoint(), &self.log).await;
        process
    }
}

/// The port in an "involve is listening" log line (JSON format).
fn listening_port(line: &str) -> Option<u16> {
    let record: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = record.get("fields")?;
    if fields.get("message")?.as_str()? != "involve is listening" {
        return None;
    }
    let address: std::net::SocketAddr = fields.get("address")?.as_str()?.parse().ok()?;
    Some(address.port())
}

async fn wait_until_serving(endpoint: &str, log: &Path) {
    let started = Instant::now();
    loop {
        if let Ok(channel) =
            tonic::transport::Channel::from_shared(endpoint.to_owned()).expect("endpoint").connect().await
        {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            let request = tonic_health::pb::HealthCheckRequest { service: String::new() };
            if health.check(request).await.is_ok() {
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{endpoint} did not come up; log in {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A channel to a process.
pub async fn channel(process: &Process) -> tonic::transport::Channel {
    connect(&process.endpoint()).await
}
