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

use crate::tls::{TestPki, connect_tls};
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
    /// Its stderr: JSON log lines.
    pub log: PathBuf,
    child: Child,
    /// How to reach it when it serves TLS.
    tls: Option<tonic::transport::ClientTlsConfig>,
}

impl Process {
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
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
    /// The CA and certificates every hop uses, when the suite runs over TLS.
    pub pki: Option<TestPki>,
    _dir: tempfile::TempDir,
}

/// How a distributed suite is set up.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Every listener serves TLS with certificates of a throwaway CA, and the
    /// gateway reaches the profiles instances over `https://`, trusting that CA.
    pub tls: bool,
}

impl Distributed {
    /// `None` when PostgreSQL was asked for but is not configured.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, Options::default()).await
    }

    /// As [`Distributed::spawn`], set up as `options` say.
    pub async fn spawn_with(backend: Backend, options: Options) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pki = options.tls.then(|| TestPki::generate(dir.path(), "suite"));
        let settings = test_settings(backend, dir.path()).await?;
        let database = settings
            .database
            .url
            .as_ref()
            .map(|url| format!("[database]\nurl = \"{url}\"\n"))
            .unwrap_or_default();
        // Every process listens on port 0 and says where in its log: ports picked
        // in advance can be taken by another test's process before they are bound.
        let backend_ca = pki
            .as_ref()
            .map(|pki| {
                // The gateway presents a client certificate, which the services
                // require: mutual TLS on the inner hop.
                format!(
                    "backend_ca_file = \"{}\"\nbackend_cert_file = \"{}\"\nbackend_key_file = \"{}\"\n",
                    pki.ca_file.display(),
                    pki.client_cert_file.display(),
                    pki.client_key_file.display()
                )
            })
            .unwrap_or_default();
        let config = |backends: &[String]| {
            let mut config = format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{database}\n[server]\nshutdown_grace_secs = 2\n\n\
                 [gateway]\ncredential_refresh_secs = 1\n{backend_ca}\n\
                 [security]\nprincipal_signing_secret = \"{SIGNING_SECRET}\"\n",
                dir.path().display(),
            );
            if let Some(pki) = &pki {
                config.push_str(&format!(
                    "\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
                    pki.server_cert_file.display(),
                    pki.server_key_file.display()
                ));
                if backends.is_empty() {
                    // A service: only the gateway, with its client certificate, gets in.
                    config.push_str(&format!("client_ca_file = \"{}\"\n", pki.ca_file.display()));
                }
            }
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
            Starting { child, log: log_path, tls: pki.as_ref().map(TestPki::client_with_certificate) }
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
            pki,
            _dir: dir,
        })
    }

    /// Where the processes' logs and configuration files are.
    pub fn directory(&self) -> &Path {
        self._dir.path()
    }
}

/// Starts `involve serve [service]` with `config` as its configuration file
/// (`<dir>/<name>.toml`), its JSON log at `log_filter` in `<dir>/<name>.log` and
/// `env` added, and waits until it serves. `config` should listen on port 0.
pub async fn serve(
    dir: &Path,
    name: &str,
    service: Option<&str>,
    config: &str,
    log_filter: &str,
    env: &[(&str, &str)],
) -> Process {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config).expect("writes a config file");
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).expect("a log file");
    let mut command = Command::new(involve_binary());
    command.arg("serve").args(service).arg("--config").arg(&path);
    command
        .env("INVOLVE__TELEMETRY__LOG_FILTER", log_filter)
        .env("INVOLVE__TELEMETRY__LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    let child = command.spawn().expect("starts involve");
    Starting { child, log: log_path, tls: None }.ready().await
}

/// Runs `involve <args> --config <config>` to completion; its stdout.
pub async fn run(args: &[&str], config: &Path) -> String {
    let output = Command::new(involve_binary())
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .await
        .expect("runs involve");
    assert!(output.status.success(), "involve {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

/// A process started but not yet known to be serving.
struct Starting {
    child: Child,
    log: PathBuf,
    tls: Option<tonic::transport::ClientTlsConfig>,
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
        let process = Process { port, log: self.log.clone(), child: self.child, tls: self.tls };
        wait_until_serving(&process, &self.log).await;
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

async fn wait_until_serving(process: &Process, log: &Path) {
    let started = Instant::now();
    let endpoint = process.endpoint();
    loop {
        let channel = match &process.tls {
            Some(tls) => connect_tls(&endpoint, tls.clone()).await,
            None => {
                tonic::transport::Channel::from_shared(endpoint.clone()).expect("endpoint").connect().await
            }
        };
        if let Ok(channel) = channel {
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

/// A channel to a process (over TLS when it serves TLS).
pub async fn channel(process: &Process) -> tonic::transport::Channel {
    match &process.tls {
        Some(tls) => connect_tls(&process.endpoint(), tls.clone()).await.expect("connects over TLS"),
        None => connect(&process.endpoint()).await,
    }
}

/// A PostgreSQL cluster of its own, on a free loopback port in a temporary
/// directory, for tests that stop and start the database or need it to serve
/// TLS (the shared test cluster is left alone: other tests use it meanwhile).
/// Stopped when dropped.
#[derive(Debug)]
pub struct PostgresCluster {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    options: String,
    _dir: tempfile::TempDir,
}

impl PostgresCluster {
    /// Creates and starts a cluster; with `tls`, it serves SSL with the server
    /// certificate of `tls` (clients may still connect without SSL). `None` when
    /// PostgreSQL tests are not run here (as [`crate::fresh_postgres_database`]).
    pub async fn start(tls: Option<&TestPki>) -> Option<Self> {
        // The same switch as the shared cluster's: no PostgreSQL configured, no PostgreSQL tests.
        if std::env::var_os(crate::POSTGRES_URL_VAR).is_none() {
            crate::assert_postgres_skip_asked_for();
            return None;
        }
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed under /usr/lib/postgresql")
            .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
            .filter(|bin| bin.join("pg_ctl").exists())
            .max_by_key(|bin| {
                bin.parent()
                    .and_then(Path::file_name)
                    .and_then(|version| version.to_str()?.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .expect("PostgreSQL server binaries");
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        give_to_postgres(dir.path());
        run_as_postgres(Command::new(bin.join("initdb")).arg("-D").arg(&data).args([
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-sync",
            "--no-instructions",
        ]))
        .await;
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off",
            dir.path().display()
        );
        if let Some(tls) = tls {
            // PostgreSQL insists its key is readable by its own account only.
            std::fs::copy(&tls.server_cert_file, data.join("server.crt")).expect("copies the certificate");
            std::fs::copy(&tls.server_key_file, data.join("server.key")).expect("copies the key");
            give_to_postgres(&data.join("server.crt"));
            give_to_postgres(&data.join("server.key"));
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600))
                .expect("restricts the key");
            options.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let cluster = Self { port, bin, data, options, _dir: dir };
        cluster.start_again().await;
        Some(cluster)
    }

    /// An administrative URL (`postgres` database, trust authentication).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops it at once, as a crash or a pulled cable would (`-m immediate`).
    pub async fn stop(&self) {
        run_as_postgres(Command::new(self.bin.join("pg_ctl")).arg("-D").arg(&self.data).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]))
        .await;
    }

    /// Starts it (again), waiting until it accepts connections.
    pub async fn start_again(&self) {
        run_as_postgres(
            Command::new(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(self.data.join("server.log"))
                .args(["-w", "-o", &self.options, "start"]),
        )
        .await;
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        let mut stop = std::process::Command::new(self.bin.join("pg_ctl"));
        stop.arg("-D").arg(&self.data).args(["-m", "immediate", "stop"]);
        let mut command = as_postgres(&stop);
        let _ = command.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// PostgreSQL refuses to run as root: as root, hand `path` to its account.
fn give_to_postgres(path: &Path) {
    if is_root() {
        let status = std::process::Command::new("chown").arg("-R").arg("postgres:").arg(path).status();
        assert!(status.is_ok_and(|status| status.success()), "cannot chown {} to postgres", path.display());
    }
}

/// `command`, run through `runuser -u postgres --` when this process is root.
fn as_postgres(command: &std::process::Command) -> std::process::Command {
    let mut wrapped = if is_root() {
        let mut runuser = std::process::Command::new("runuser");
        runuser.args(["-u", "postgres", "--"]).arg(command.get_program());
        runuser
    } else {
        std::process::Command::new(command.get_program())
    };
    wrapped.args(command.get_args());
    wrapped
}

async fn run_as_postgres(command: &mut Command) {
    let output = Command::from(as_postgres(command.as_std())).output().await.expect("runs a PostgreSQL tool");
    assert!(
        output.status.success(),
        "{:?} failed: {}{}",
        command.as_std(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
