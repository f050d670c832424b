//! Layered configuration: built-in defaults, then an optional `involve.toml`, then
//! `INVOLVE__SECTION__KEY` environment variables. With nothing configured the suite
//! runs all-in-one on SQLite files under `./data`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use persistence::DatabaseSettings;
use serde::Deserialize;

/// Everything an Involve process can be told.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where the public gRPC listener binds.
    pub listen: SocketAddr,
    /// Where embedded SQLite files live when no database URL is given.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub server: ServerConfig,
    pub telemetry: TelemetryConfig,
    pub security: SecurityConfig,
    pub gateway: GatewayConfig,
    /// Each service's own section, `[services.{name}]`, read by the service
    /// itself (see [`crate::module::ServiceContext::section`]).
    #[serde(default)]
    pub services: std::collections::BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://...` for production; unset means SQLite files in `data_dir`.
    /// It may carry a password: never print it, print [`persistence::redact_url`]'s.
    pub url: Option<String>,
    pub max_connections: u32,
    /// How long a call waits for a database connection (a free one, or a new one
    /// PostgreSQL must accept) before it is answered UNAVAILABLE.
    pub acquire_timeout_secs: u64,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_deref().map(persistence::redact_url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .finish()
    }
}

/// A configured secret. Its `Debug` is redacted and it has no `Display`, so
/// printing settings or an error holding it cannot leak it; code that needs the
/// value asks for it by name with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it (signing, verifying).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Deadline for a call that brings none of its own.
    pub request_timeout_secs: u64,
    /// Calls in flight at once across all connections; more are refused with
    /// UNAVAILABLE (`OVERLOADED`) rather than queued.
    pub concurrency_limit: usize,
    /// Largest message accepted or sent, in bytes.
    pub max_message_bytes: usize,
    pub http2_keepalive_interval_secs: u64,
    pub http2_keepalive_timeout_secs: u64,
    /// How long a shutdown waits for calls in flight before it gives up on them.
    pub shutdown_grace_secs: u64,
    /// TLS on the listener; off unless a certificate and key are configured.
    #[serde(default)]
    pub tls: TlsConfig,
}

/// `[server.tls]`: the listener's certificate, and optionally the CA whose
/// client certificates it requires (mutual TLS).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain the listener presents (leaf first).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// PEM CA certificate(s): when set, every client must present a certificate
    /// issued by one of them, or the handshake fails.
    pub client_ca_file: Option<PathBuf>,
}

impl TlsConfig {
    /// Whether the listener serves TLS.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector, for example `http://127.0.0.1:4317`; unset means logs only.
    pub otlp_endpoint: Option<String>,
    /// `pretty` for people, `json` for log shippers.
    pub log_format: LogFormat,
    /// Default filter when `RUST_LOG` is unset.
    pub log_filter: String,
    /// How often metrics are pushed to the collector, and how often the
    /// services' domain signals are read.
    pub metrics_interval_secs: u64,
    /// Where to serve `GET /metrics` in the Prometheus text format (for
    /// example `127.0.0.1:9464`); unset means no scrape endpoint. Port 0 picks
    /// one, logged as "prometheus scrape endpoint listening".
    #[serde(default)]
    pub prometheus_listen: Option<SocketAddr>,
    /// The share of partner calls traced when exporting (0.0 to 1.0): each
    /// trace is kept or dropped whole, at the gateway. Metrics count every call.
    #[serde(default = "every_trace")]
    pub trace_sample_ratio: f64,
}

fn every_trace() -> f64 {
    1.0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// Secret the gateway signs principals with and services verify them with, in
    /// distributed mode (required there; all-in-one hands principals over
    /// in-process and needs none).
    pub principal_signing_secret: Option<Secret>,
    /// Secret that signs page tokens. Instances serving the same data must share it;
    /// unset means one derived from `principal_signing_secret` when that is set
    /// (see [`SecurityConfig::page_token_key_material`]), else a random key per
    /// process (tokens then die with the process; all-in-one only).
    pub page_token_secret: Option<Secret>,
    /// Secrets also accepted when verifying principals (the first is still the
    /// one signed with): the way to rotate `principal_signing_secret` without a
    /// moment in which one process refuses another's calls (README, "Rotating secrets").
    #[serde(default)]
    pub accepted_principal_signing_secrets: Vec<Secret>,
    /// Page-token secrets also accepted when reading a token (tokens are always
    /// issued with the current key), so a listing in progress survives a rotation.
    #[serde(default)]
    pub accepted_page_token_secrets: Vec<Secret>,
}

/// What the page-token key is derived from, when page tokens outlive a process.
pub const PAGE_TOKEN_DERIVATION_LABEL: &[u8] = b"page-tokens";

impl SecurityConfig {
    /// Key material every instance computes alike: `page_token_secret` when set,
    /// else HMAC-SHA256(`principal_signing_secret`, "page-tokens"), so one
    /// configured secret serves both without one key standing in for the other.
    /// `None` when neither is configured.
    pub fn page_token_key_material(&self) -> Option<Vec<u8>> {
        if let Some(secret) = &self.page_token_secret {
            return Some(secret.expose().as_bytes().to_vec());
        }
        let signing = self.principal_signing_secret.as_ref()?;
        Some(derived_page_token_material(signing))
    }

    /// Key material of page tokens also accepted: every
    /// `accepted_page_token_secrets`, and what the current and accepted
    /// principal-signing secrets derive (so rotating the signing secret, or
    /// moving from a derived key to a `page_token_secret` of its own, refuses
    /// no token issued before). The current key is left out.
    pub fn accepted_page_token_key_material(&self) -> Vec<Vec<u8>> {
        let current = self.page_token_key_material();
        let explicit =
            self.accepted_page_token_secrets.iter().map(|secret| secret.expose().as_bytes().to_vec());
        let derived = self
            .principal_signing_secret
            .iter()
            .chain(&self.accepted_principal_signing_secrets)
            .map(derived_page_token_material);
        let mut accepted: Vec<Vec<u8>> = Vec::new();
        for material in explicit.chain(derived) {
            if Some(&material) != current.as_ref() && !accepted.contains(&material) {
                accepted.push(material);
            }
        }
        accepted
    }
}

/// HMAC-SHA256(`signing`, "page-tokens"): the page-token key material a
/// principal-signing secret stands for when no page-token secret is set.
fn derived_page_token_material(signing: &Secret) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(signing.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(PAGE_TOKEN_DERIVATION_LABEL);
    mac.finalize().into_bytes().to_vec()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Calls per minute for credentials that set no limit of their own.
    pub default_rate_limit_per_minute: u32,
    /// Deadline given to calls that bring none.
    pub default_deadline_secs: u64,
    /// How often each gateway instance re-reads the credentials: a revocation
    /// or rotation made through one instance reaches the others within this
    /// time (the instance that made it applies it at once).
    pub credential_refresh_secs: u64,
    /// Failed secret checks a minute allowed per credential id before that
    /// credential's unverified tokens are refused with RESOURCE_EXHAUSTED
    /// (secrets verified before keep working).
    pub failed_auth_per_minute: u32,
    /// Load balancers and proxies (addresses or CIDR blocks) whose
    /// `x-forwarded-for` names the caller's address; from anyone else it is ignored.
    pub trusted_proxies: Vec<String>,
    /// Days the gateway's audit of calls is kept; older rows are purged hourly.
    pub audit_retention_days: u32,
    /// Calls queued for the audit (or in flight holding a place) before new
    /// calls are refused UNAVAILABLE (`AUDIT_UNAVAILABLE`) rather than served unaudited.
    pub audit_queue_capacity: usize,
    /// The fraction of `server.concurrency_limit` one credential may hold in
    /// flight (at least one call); more are refused `CONCURRENCY_LIMITED`.
    pub credential_concurrency_share: f64,
    /// A client stream (`ImportCustomers`) that sends nothing for this long is
    /// ended with DEADLINE_EXCEEDED.
    pub stream_idle_timeout_secs: u64,
    /// Distributed mode: where each service runs, by service name, for example
    /// `profiles = ["http://10.0.0.5:50061", "http://10.0.0.6:50061"]`. Calls are
    /// balanced over the addresses; an instance that fails is skipped.
    pub backends: std::collections::BTreeMap<String, Vec<String>>,
    /// PEM CA certificate(s) that `https://` backends' certificates must chain
    /// to. Required when any backend is `https://` (there are no system roots to
    /// fall back on, and a private CA is what a deployment uses anyway).
    #[serde(default)]
    pub backend_ca_file: Option<PathBuf>,
    /// PEM certificate (and `backend_key_file`, its key) the gateway presents to
    /// `https://` backends, for services that require client certificates
    /// (`server.tls.client_ca_file` on the service).
    #[serde(default)]
    pub backend_cert_file: Option<PathBuf>,
    #[serde(default)]
    pub backend_key_file: Option<PathBuf>,
}

impl GatewayConfig {
    /// Calls one credential may have in flight: its share of `concurrency_limit`, at least one.
    pub fn credential_concurrency(&self, concurrency_limit: usize) -> usize {
        // Truncation is the point: a share, rounded down, of a count.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let share = (concurrency_limit as f64 * self.credential_concurrency_share).floor() as usize;
        share.max(1)
    }
}

impl Settings {
    /// Loads defaults, then `file` (if given, it must exist; otherwise `involve.toml`
    /// in the working directory if present), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment passed in (tests pass their own).
    pub fn load_from(
        file: Option<&Path>,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        use config::{Config, Environment, File, FileFormat, Map};

        let file_source = match file {
            Some(path) => File::from(path).format(FileFormat::Toml).required(true),
            None => File::with_name("involve.toml").format(FileFormat::Toml).required(false),
        };
        let environment: Map<String, String> =
            environment.into_iter().filter(|(key, _)| key.starts_with("INVOLVE__")).collect();
        let settings: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(file_source)
            .add_source(
                Environment::with_prefix("INVOLVE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // Comma-separated from the environment (hex secrets hold no comma).
                    .list_separator(",")
                    .with_list_parse_key("security.accepted_principal_signing_secrets")
                    .with_list_parse_key("security.accepted_page_token_secrets")
                    .source(Some(environment)),
            )
            .build()?
            .try_deserialize()?;
        // An empty variable (a Secret key left blank between rotations) means none.
        let mut settings = settings;
        settings.security.accepted_principal_signing_secrets.retain(|secret| !secret.expose().is_empty());
        settings.security.accepted_page_token_secrets.retain(|secret| !secret.expose().is_empty());
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |what: &str| Err(ConfigError::Invalid(what.to_owned()));
        if self.security.accepted_principal_signing_secrets.iter().any(|secret| secret.expose().len() < 16) {
            return invalid(
                "security.accepted_principal_signing_secrets must each be at least 16 characters",
            );
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections must be at least 1");
        }
        if self.server.concurrency_limit == 0 {
            return invalid("server.concurrency_limit must be at least 1");
        }
        if self.server.max_message_bytes < 1024 {
            return invalid("server.max_message_bytes must be at least 1024");
        }
        if self.server.request_timeout_secs == 0 {
            return invalid("server.request_timeout_secs must be at least 1");
        }
        if self.gateway.default_rate_limit_per_minute == 0 {
            return invalid("gateway.default_rate_limit_per_minute must be at least 1");
        }
        if self.gateway.credential_refresh_secs == 0 {
            return invalid("gateway.credential_refresh_secs must be at least 1");
        }
        if self.gateway.failed_auth_per_minute == 0 {
            return invalid("gateway.failed_auth_per_minute must be at least 1");
        }
        if self.gateway.default_deadline_secs == 0 {
            return invalid("gateway.default_deadline_secs must be at least 1");
        }
        if self.gateway.audit_retention_days == 0 {
            return invalid("gateway.audit_retention_days must be at least 1");
        }
        if self.gateway.audit_queue_capacity == 0 {
            return invalid("gateway.audit_queue_capacity must be at least 1");
        }
        let share = self.gateway.credential_concurrency_share;
        if !(share > 0.0 && share <= 1.0) {
            return invalid("gateway.credential_concurrency_share must be more than 0 and at most 1");
        }
        if self.gateway.stream_idle_timeout_secs == 0 {
            return invalid("gateway.stream_idle_timeout_secs must be at least 1");
        }
        for (service, addresses) in &self.gateway.backends {
            if addresses.is_empty()
                || addresses
                    .iter()
                    .any(|address| !address.starts_with("http://") && !address.starts_with("https://"))
            {
                return Err(ConfigError::Invalid(format!(
                    "gateway.backends.{service} must list addresses like http://host:port"
                )));
            }
        }
        if let Some(url) = &self.database.url
            && persistence::Backend::of_url(url).is_err()
        {
            return invalid("database.url must start with sqlite: or postgres:");
        }
        if self.database.acquire_timeout_secs == 0 {
            return invalid("database.acquire_timeout_secs must be at least 1");
        }
        let tls = &self.server.tls;
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            return invalid("server.tls.cert_file and server.tls.key_file must be set together");
        }
        if tls.client_ca_file.is_some() && !tls.enabled() {
            return invalid("server.tls.client_ca_file needs server.tls.cert_file and server.tls.key_file");
        }
        let https_backends =
            self.gateway.backends.values().flatten().any(|address| address.starts_with("https://"));
        if self.gateway.backend_cert_file.is_some() != self.gateway.backend_key_file.is_some() {
            return invalid("gateway.backend_cert_file and gateway.backend_key_file must be set together");
        }
        if https_backends && self.gateway.backend_ca_file.is_none() {
            return invalid(
                "gateway.backends lists https:// addresses: set gateway.backend_ca_file to the PEM \
                 certificate of the CA that issued the services' certificates",
            );
        }
        Ok(())
    }

    /// Database settings for one service: the configured URL, or its own SQLite file.
    pub fn database_for(&self, service: &str) -> DatabaseSettings {
        let url =
            self.database.url.clone().unwrap_or_else(|| {
                format!("sqlite://{}", self.data_dir.join(format!("{service}.db")).display())
            });
        DatabaseSettings {
            url,
            max_connections: self.database.max_connections,
            acquire_timeout: Duration::from_secs(self.database.acquire_timeout_secs),
        }
    }
}

/// The built-in defaults, documented in the README.
pub const DEFAULTS: &str = r#"
listen = "127.0.0.1:50051"
data_dir = "./data"

[database]
max_connections = 8
acquire_timeout_secs = 1

[server]
request_timeout_secs = 30
concurrency_limit = 2048
max_message_bytes = 4194304
http2_keepalive_interval_secs = 30
http2_keepalive_timeout_secs = 20
shutdown_grace_secs = 20

[telemetry]
log_format = "pretty"
log_filter = "info"
metrics_interval_secs = 30

[security]

[gateway]
default_rate_limit_per_minute = 6000
default_deadline_secs = 30
credential_refresh_secs = 2
failed_auth_per_minute = 60
trusted_proxies = []
audit_retention_days = 400
audit_queue_capacity = 100000
credential_concurrency_share = 0.25
stream_idle_timeout_secs = 60

[gateway.backends]
"#;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let settings = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:50051".parse().unwrap());
        assert!(settings.database.url.is_none());
        assert_eq!(settings.database_for("profiles").url, "sqlite://./data/profiles.db");
    }

    #[test]
    fn environment_overrides_defaults() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("INVOLVE__DATABASE__URL", "postgres://u@127.0.0.1/involve"),
                ("INVOLVE__SERVER__CONCURRENCY_LIMIT", "7"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.database_for("profiles").url, "postgres://u@127.0.0.1/involve");
        assert_eq!(settings.server.concurrency_limit, 7);
    }

    #[test]
    fn a_file_sits_between_defaults_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("involve.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:6000\"\n[server]\nconcurrency_limit = 3\n").unwrap();
        let settings =
            Settings::load_from(Some(&path), env(&[("INVOLVE__SERVER__CONCURRENCY_LIMIT", "9")])).unwrap();
        assert_eq!(settings.listen.port(), 6000);
        assert_eq!(settings.server.concurrency_limit, 9);
    }

    #[test]
    fn bad_values_fail_fast() {
        assert!(Settings::load_from(None, env(&[("INVOLVE__SERVER__CONCURRENCY_LIMIT", "0")])).is_err());
        assert!(Settings::load_from(None, env(&[("INVOLVE__DATABASE__URL", "mysql://x")])).is_err());
        assert!(Settings::load_from(None, env(&[("INVOLVE__LISTEN", "not an address")])).is_err());
    }

    #[test]
    fn backends_are_read_from_the_environment_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("involve.toml");
        std::fs::write(
            &path,
            "[gateway.backends]\nprofiles = [\"http://127.0.0.1:1\", \"http://127.0.0.1:2\"]\n",
        )
        .unwrap();
        let settings = Settings::load_from(Some(&path), env(&[])).unwrap();
        assert_eq!(settings.gateway.backends["profiles"].len(), 2);
        std::fs::write(&path, "[gateway.backends]\nprofiles = [\"127.0.0.1:1\"]\n").unwrap();
        assert!(Settings::load_from(Some(&path), env(&[])).is_err());
    }

    #[test]
    fn the_edge_keys_have_safe_defaults_and_bounds() {
        let settings = Settings::load_from(None, env(&[])).unwrap();
        assert!(settings.gateway.trusted_proxies.is_empty());
        assert_eq!(settings.gateway.audit_retention_days, 400);
        assert_eq!(settings.gateway.credential_concurrency(2048), 512);
        assert_eq!(settings.gateway.credential_concurrency(2), 1, "at least one call");
        let proxies =
            Settings::load_from(None, env(&[("INVOLVE__GATEWAY__CREDENTIAL_CONCURRENCY_SHARE", "0.5")]))
                .unwrap();
        assert_eq!(proxies.gateway.credential_concurrency(10), 5);
        for (key, value) in [
            ("INVOLVE__GATEWAY__CREDENTIAL_CONCURRENCY_SHARE", "0"),
            ("INVOLVE__GATEWAY__CREDENTIAL_CONCURRENCY_SHARE", "1.5"),
            ("INVOLVE__GATEWAY__AUDIT_RETENTION_DAYS", "0"),
            ("INVOLVE__GATEWAY__STREAM_IDLE_TIMEOUT_SECS", "0"),
            ("INVOLVE__GATEWAY__AUDIT_QUEUE_CAPACITY", "0"),
        ] {
            assert!(Settings::load_from(None, env(&[(key, value)])).is_err(), "{key}={value}");
        }
    }

    #[test]
    fn secrets_and_database_passwords_never_reach_debug_output() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("INVOLVE__DATABASE__URL", "postgres://involve:db-password-1@127.0.0.1/involve"),
                ("INVOLVE__SECURITY__PRINCIPAL_SIGNING_SECRET", "signing-secret-0123456789"),
                ("INVOLVE__SECURITY__PAGE_TOKEN_SECRET", "page-token-secret-0123456789"),
            ]),
        )
        .unwrap();
        let printed = format!("{settings:?} {settings:#?} {:?}", settings.database_for("profiles"));
        for secret in ["db-password-1", "signing-secret-0123456789", "page-token-secret-0123456789"] {
            assert!(!printed.contains(secret), "{secret} printed in {printed}");
        }
        assert!(printed.contains("postgres://involve:***@127.0.0.1/involve"), "{printed}");
        assert!(printed.contains("Secret(redacted)"));
        // The values themselves are still there for the code that needs them.
        assert_eq!(
            settings.security.principal_signing_secret.as_ref().map(Secret::expose),
            Some("signing-secret-0123456789")
        );
        assert_eq!(
            settings.database_for("profiles").url,
            "postgres://involve:db-password-1@127.0.0.1/involve"
        );
    }

    #[test]
    fn page_tokens_are_keyed_from_the_signing_secret_unless_given_their_own() {
        let security = |signing: Option<&str>, page: Option<&str>| SecurityConfig {
            principal_signing_secret: signing.map(Secret::new),
            page_token_secret: page.map(Secret::new),
            accepted_principal_signing_secrets: Vec::new(),
            accepted_page_token_secrets: Vec::new(),
        };
        assert_eq!(security(None, None).page_token_key_material(), None);
        let derived = security(Some("signing-secret-0123456789"), None).page_token_key_material().unwrap();
        // Every instance derives the same key, and it is not the signing secret itself.
        assert_eq!(
            Some(derived.clone()),
            security(Some("signing-secret-0123456789"), None).page_token_key_material()
        );
        assert_ne!(derived, b"signing-secret-0123456789".to_vec());
        assert_eq!(derived.len(), 32);
        assert_eq!(
            security(Some("signing-secret-0123456789"), Some("own")).page_token_key_material(),
            Some(b"own".to_vec())
        );
    }

    #[test]
    fn secrets_being_rotated_are_read_from_the_environment() {
        let settings = Settings::load_from(
            None,
            env(&[
                ("INVOLVE__SECURITY__PRINCIPAL_SIGNING_SECRET", "new-signing-secret-0123456789"),
                ("INVOLVE__SECURITY__ACCEPTED_PRINCIPAL_SIGNING_SECRETS", "old-signing-secret-0123456789"),
                ("INVOLVE__SECURITY__ACCEPTED_PAGE_TOKEN_SECRETS", "old-page,older-page"),
            ]),
        )
        .unwrap();
        let security = &settings.security;
        let accepted: Vec<&str> =
            security.accepted_principal_signing_secrets.iter().map(Secret::expose).collect();
        assert_eq!(accepted, ["old-signing-secret-0123456789"]);
        let material = security.accepted_page_token_key_material();
        // The two page-token secrets, and the key the old signing secret derived;
        // never the current key.
        assert_eq!(material.len(), 3, "{material:?}");
        assert!(material.contains(&b"old-page".to_vec()) && material.contains(&b"older-page".to_vec()));
        assert!(!material.contains(&security.page_token_key_material().unwrap()));

        // A blank variable means none; a short secret is refused.
        let blank =
            Settings::load_from(None, env(&[("INVOLVE__SECURITY__ACCEPTED_PRINCIPAL_SIGNING_SECRETS", "")]));
        assert!(blank.unwrap().security.accepted_principal_signing_secrets.is_empty());
        let short = Settings::load_from(
            None,
            env(&[("INVOLVE__SECURITY__ACCEPTED_PRINCIPAL_SIGNING_SECRETS", "short")]),
        );
        assert!(short.is_err());
    }

    #[test]
    fn tls_settings_must_be_complete() {
        let tls = |pairs: &[(&str, &str)]| Settings::load_from(None, env(pairs));
        let settings = tls(&[
            ("INVOLVE__SERVER__TLS__CERT_FILE", "/etc/involve/cert.pem"),
            ("INVOLVE__SERVER__TLS__KEY_FILE", "/etc/involve/key.pem"),
            ("INVOLVE__SERVER__TLS__CLIENT_CA_FILE", "/etc/involve/clients.pem"),
        ])
        .unwrap();
        assert!(settings.server.tls.enabled());
        assert!(!Settings::load_from(None, env(&[])).unwrap().server.tls.enabled());
        assert!(tls(&[("INVOLVE__SERVER__TLS__CERT_FILE", "/etc/involve/cert.pem")]).is_err());
        assert!(tls(&[("INVOLVE__SERVER__TLS__CLIENT_CA_FILE", "/etc/involve/clients.pem")]).is_err());
    }

    #[test]
    fn https_backends_need_a_ca() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("involve.toml");
        std::fs::write(&path, "[gateway.backends]\nprofiles = [\"https://profiles:50061\"]\n").unwrap();
        let err = Settings::load_from(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("gateway.backend_ca_file"), "{err}");
        std::fs::write(
            &path,
            "[gateway]\nbackend_ca_file = \"/etc/involve/ca.pem\"\n\
             [gateway.backends]\nprofiles = [\"https://profiles:50061\"]\n",
        )
        .unwrap();
        assert!(Settings::load_from(Some(&path), env(&[])).is_ok());
        // A client certificate for the backends comes with its key.
        let half = env(&[("INVOLVE__GATEWAY__BACKEND_CERT_FILE", "/etc/involve/gateway.pem")]);
        assert!(Settings::load_from(Some(&path), half).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("involve.toml");
        std::fs::write(&path, "[server]\nconcurency_limit = 3\n").unwrap();
        assert!(Settings::load_from(Some(&path), env(&[])).is_err());
    }
}
