//! Serving a set of gRPC services on one listener: health and reflection included,
//! the principal and telemetry layers in front, the configured limits applied, and a
//! graceful, bounded shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::Service;

use crate::config::ServerConfig;
use crate::principal::PrincipalLayer;
use crate::rpc::RpcTelemetryLayer;

/// The services one listener serves. Health and reflection (v1 and v1alpha) are
/// always there; each added service reports SERVING until shutdown starts.
#[derive(Debug)]
pub struct ServiceSet {
    routes: RoutesBuilder,
    health: HealthReporter,
    names: Vec<&'static str>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot build the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the gRPC server failed")]
    Transport(#[from] tonic::transport::Error),
}

impl ServiceSet {
    pub fn new() -> Result<Self, ServeError> {
        let (health, health_service) = tonic_health::server::health_reporter();
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
        Ok(Self { routes, health, names: Vec::new() })
    }

    /// Adds a service and marks it SERVING.
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
        self.names.push(S::NAME);
        self
    }

    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    async fn set_status(&self, status: ServingStatus) {
        self.health.set_service_status("", status).await;
        for name in &self.names {
            self.health.set_service_status(*name, status).await;
        }
    }

    /// Serves until `shutdown` resolves; then health turns NOT_SERVING, calls in
    /// flight get `shutdown_grace_secs` to finish, and the function returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        config: &ServerConfig,
        trust_principal_metadata: bool,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        self.set_status(ServingStatus::Serving).await;
        let layers = tower::ServiceBuilder::new()
            .layer(PrincipalLayer::new(trust_principal_metadata))
            .layer(RpcTelemetryLayer::new())
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(config.concurrency_limit))
            .into_inner();
        let router = tonic::transport::Server::builder()
            .timeout(Duration::from_secs(config.request_timeout_secs))
            .http2_keepalive_interval(Some(Duration::from_secs(config.http2_keepalive_interval_secs)))
            .http2_keepalive_timeout(Some(Duration::from_secs(config.http2_keepalive_timeout_secs)))
            .layer(layers)
            .add_routes(self.routes.routes());

        let (draining_tx, draining_rx) = tokio::sync::oneshot::channel::<()>();
        let health = self.health.clone();
        let names = self.names.clone();
        let signal = async move {
            shutdown.await;
            health.set_service_status("", ServingStatus::NotServing).await;
            for name in names {
                health.set_service_status(name, ServingStatus::NotServing).await;
            }
            let _ = draining_tx.send(());
        };
        // Accepted sockets need TCP_NODELAY set here: the builder's `tcp_nodelay`
        // only reaches listeners tonic binds itself. Without it a response's last
        // frames wait out the peer's delayed ACK (40 ms on Linux).
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let serving = router.serve_with_incoming_shutdown(incoming, signal);
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
}
