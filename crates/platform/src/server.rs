//! Serving gRPC on one listener: health and reflection included, telemetry and a
//! limit of calls in flight in front (see [`crate::overload`]), the configured
//! limits applied, TLS when `[server.tls]` configures it, and a graceful, bounded
//! shutdown. Services serve a [`ServiceSet`]; the gateway serves its own edge
//! service through [`serve`].

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::{Routes, RoutesBuilder};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::Service;

use crate::config::{ServerConfig, TlsConfig};
use crate::overload::InFlightLimitLayer;
use crate::principal::{PrincipalLayer, PrincipalSource};
use crate::rpc::RpcTelemetryLayer;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the gRPC server failed")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Why the listener's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {key} from {path}")]
    Read {
        key: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{key} ({path}) holds no PEM certificate or key")]
    NotPem { key: &'static str, path: std::path::PathBuf },
    #[error("the TLS certificate or key is unusable")]
    Rejected(#[source] tonic::transport::Error),
}

/// Reads a PEM file named by configuration key `key`.
pub fn read_pem(key: &'static str, path: &std::path::Path) -> Result<Vec<u8>, TlsError> {
    let pem =
        std::fs::read(path).map_err(|source| TlsError::Read { key, path: path.to_path_buf(), source })?;
    if !pem.windows(11).any(|window| window == b"-----BEGIN ") {
        return Err(TlsError::NotPem { key, path: path.to_path_buf() });
    }
    Ok(pem)
}

/// The listener's TLS as configured in `[server.tls]`: `None` when it serves
/// plain HTTP/2; with `client_ca_file`, client certificates are required.
pub fn tls_config(config: &TlsConfig) -> Result<Option<ServerTlsConfig>, TlsError> {
    let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) else {
        return Ok(None);
    };
    let identity =
        Identity::from_pem(read_pem("server.tls.cert_file", cert)?, read_pem("server.tls.key_file", key)?);
    let mut tls = ServerTlsConfig::new().identity(identity);
    if let Some(ca) = &config.client_ca_file {
        tls = tls
            .client_ca_root(Certificate::from_pem(read_pem("server.tls.client_ca_file", ca)?))
            .client_auth_optional(false);
    }
    // Built once here so a bad certificate or key fails at start, not at the first handshake.
    tonic::transport::Server::builder().tls_config(tls.clone()).map_err(TlsError::Rejected)?;
    Ok(Some(tls))
}

/// The health of everything one listener serves.
#[derive(Clone, Debug)]
pub struct Health {
    reporter: HealthReporter,
    names: Vec<String>,
}

impl Health {
    async fn set(&self, status: ServingStatus) {
        self.reporter.set_service_status("", status).await;
        for name in &self.names {
            self.reporter.set_service_status(name, status).await;
        }
    }
}

/// The services one listener serves. Health and reflection (v1 and v1alpha) are
/// always there; each added service reports SERVING until shutdown starts.
#[derive(Debug)]
pub struct ServiceSet {
    routes: RoutesBuilder,
    health: Health,
}

impl ServiceSet {
    pub fn new() -> Result<Self, ServeError> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(contracts::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                // google.rpc error details, so clients like grpcurl can decode them.
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        };
        let mut routes = RoutesBuilder::default();
        routes
            .add_service(health_service)
            .add_service(reflection().build_v1()?)
            .add_service(reflection().build_v1alpha()?);
        Ok(Self { routes, health: Health { reporter, names: Vec::new() } })
    }

    /// Adds a service; it reports SERVING while the listener serves.
    pub fn add<S>(&mut self, service: S) -> &mut Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.routes.add_service(service);
        self.health.names.push(S::NAME.to_owned());
        self
    }

    /// Records `name` as served by this listener without a route of its own
    /// (the gateway forwards it), so health reports it.
    pub fn report(&mut self, name: impl Into<String>) -> &mut Self {
        self.health.names.push(name.into());
        self
    }

    pub fn into_parts(self) -> (Routes, Health) {
        (self.routes.routes(), self.health)
    }

    /// Serves these services, taking callers from `source`.
    pub async fn serve(
        self,
        listener: TcpListener,
        config: &ServerConfig,
        source: PrincipalSource,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (routes, health) = self.into_parts();
        let service = tower::ServiceBuilder::new()
            .layer(PrincipalLayer::new(source))
            .layer(RpcTelemetryLayer::new())
            .service(routes);
        serve(service, listener, config, health, shutdown).await
    }
}

/// Serves `service` (which brings its own principal and telemetry layers) until
/// `shutdown` resolves; then health turns NOT_SERVING,
/// calls in flight get `shutdown_grace_secs` to finish, and the function returns.
pub async fn serve<S>(
    service: S,
    listener: TcpListener,
    config: &ServerConfig,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let tls = tls_config(&config.tls)?;
    health.set(ServingStatus::Serving).await;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let server = builder
        .timeout(Duration::from_secs(config.request_timeout_secs))
        .http2_keepalive_interval(Some(Duration::from_secs(config.http2_keepalive_interval_secs)))
        .http2_keepalive_timeout(Some(Duration::from_secs(config.http2_keepalive_timeout_secs)))
        .layer(InFlightLimitLayer::new(config.concurrency_limit));

    let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
    let draining_health = health.clone();
    let signal = async move {
        shutdown.await;
        draining_health.set(ServingStatus::NotServing).await;
        let _ = draining_tx.send(());
    };
    // Accepted sockets need TCP_NODELAY set here: the builder's `tcp_nodelay`
    // only reaches listeners tonic binds itself. Without it a response's last
    // frames wait out the peer's delayed ACK (40 ms on Linux).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let serving = server.serve_with_incoming_shutdown(service, incoming, signal);
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    tokio::select! {
        result = serving => result?,
        () = async {
            if draining_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!(grace_secs = grace.as_secs(), "calls still in flight after the shutdown grace; abandoning them"),
    }
    Ok(())
}
