//! The services a service can call, and the caller each call is made as.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::channel::{ServiceChannel, inject_trace_context};
use super::routing;
use super::upstream::UpstreamError;
use crate::{ApiError, Principal, Role};

/// The `ErrorInfo` domain of refusals the client itself answers.
const ERROR_DOMAIN: &str = "involve.dev";

/// Where every service of the deployment is reached: one slot per service,
/// filled when its channel exists. In all-in-one mode a service's routes are
/// built in turn, so a service may take a client of a peer built after it; a
/// call made before the peer is provided answers UNAVAILABLE.
#[derive(Clone, Debug, Default)]
pub struct ServiceDirectory {
    slots: Arc<BTreeMap<String, Arc<OnceLock<ServiceChannel>>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("no service called {0} in this directory")]
    Unknown(String),
    #[error("the service {0} was provided twice")]
    ProvidedTwice(String),
}

/// A client asked for a service the deployment does not have.
#[derive(Debug, thiserror::Error)]
#[error(
    "no service called {0} can be reached from here: it is not registered, or (distributed) \
     gateway.backends.{0} lists no instances of it"
)]
pub struct UnknownService(pub String);

impl ServiceDirectory {
    /// A directory of `services`, none reachable until [`ServiceDirectory::provide`]d.
    pub fn new<'a>(services: impl IntoIterator<Item = &'a str>) -> Self {
        let slots = services.into_iter().map(|name| (name.to_owned(), Arc::default())).collect();
        Self { slots: Arc::new(slots) }
    }

    /// Makes `service` reachable through `channel`.
    pub fn provide(&self, service: &str, channel: ServiceChannel) -> Result<(), DirectoryError> {
        let slot = self.slots.get(service).ok_or_else(|| DirectoryError::Unknown(service.to_owned()))?;
        slot.set(channel).map_err(|_| DirectoryError::ProvidedTwice(service.to_owned()))
    }

    /// The channel of every service provided so far, by name: the gateway's backends.
    pub fn channels(&self) -> HashMap<String, ServiceChannel> {
        self.slots
            .iter()
            .filter_map(|(name, slot)| slot.get().map(|channel| (name.clone(), channel.clone())))
            .collect()
    }

    /// What `service` is given to call its peers with, acting as itself when it
    /// acts for nobody.
    pub fn clients_for(&self, service: &str) -> ServiceClients {
        ServiceClients { directory: self.clone(), identity: ServiceIdentity::of(service) }
    }
}

/// A named service identity: the principal scheduled work acts as. Its role,
/// [`Role::Service`], holds only the rights the role table gives it
/// (aggregates, no records), and the callee's audit records
/// `services/{name}` as the subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceIdentity {
    principal: Principal,
}

impl ServiceIdentity {
    /// The identity of the service called `service`.
    pub fn of(service: &str) -> Self {
        let name = format!("services/{service}");
        Self {
            principal: Principal {
                organisation: name.clone(),
                role: Role::Service,
                subject: name,
                areas: None,
            },
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

/// The clients one service is given (`ServiceContext::client`).
#[derive(Clone, Debug)]
pub struct ServiceClients {
    directory: ServiceDirectory,
    identity: ServiceIdentity,
}

impl ServiceClients {
    /// A client of `service`. Fails for a service the deployment does not have,
    /// so a missing peer stops a service at start-up, not on its first call.
    pub fn client(&self, service: &str) -> Result<ServiceClient, UnknownService> {
        let slot = self.directory.slots.get(service).ok_or_else(|| UnknownService(service.to_owned()))?;
        Ok(ServiceClient {
            service: Arc::from(service),
            slot: Arc::clone(slot),
            identity: self.identity.clone(),
        })
    }

    /// Who this service is when it acts for nobody.
    pub fn identity(&self) -> &ServiceIdentity {
        &self.identity
    }
}

/// A peer service, not yet bound to a caller: every call is made either for a
/// person ([`ServiceClient::acting_for`]) or as the calling service itself
/// ([`ServiceClient::as_service`]), never anonymously.
#[derive(Clone, Debug)]
pub struct ServiceClient {
    service: Arc<str>,
    slot: Arc<OnceLock<ServiceChannel>>,
    identity: ServiceIdentity,
}

impl ServiceClient {
    /// Calls made for the person `principal`: the callee scopes and audits them
    /// as that person's own. Pass the principal of the request being served.
    pub fn acting_for(&self, principal: &Principal) -> ActingClient {
        self.bound(principal.clone())
    }

    /// Calls made by the service itself (scheduled work), as its
    /// [`ServiceIdentity`].
    pub fn as_service(&self) -> ActingClient {
        self.bound(self.identity.principal.clone())
    }

    fn bound(&self, principal: Principal) -> ActingClient {
        ActingClient {
            service: Arc::clone(&self.service),
            slot: Arc::clone(&self.slot),
            principal: Arc::new(principal),
        }
    }
}

/// A peer service bound to the caller its calls are made as: the transport a
/// tonic generated client takes (`CustomerProfilesClient::new(client)`).
/// Failures to reach the peer answer as gRPC statuses (UNAVAILABLE, or
/// RESOURCE_EXHAUSTED for a request over the message limit).
#[derive(Clone, Debug)]
pub struct ActingClient {
    service: Arc<str>,
    slot: Arc<OnceLock<ServiceChannel>>,
    principal: Arc<Principal>,
}

impl ActingClient {
    /// Who the calls are made as.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

impl tower::Service<http::Request<Body>> for ActingClient {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // Taken now, in the caller's span: the future may first run elsewhere.
        inject_trace_context(request.headers_mut(), &tracing::Span::current().context());
        let channel = self.slot.get().cloned();
        let principal = Arc::clone(&self.principal);
        let service = Arc::clone(&self.service);
        Box::pin(async move {
            let Some(channel) = channel else {
                tracing::warn!(service = %service, "called before the service was started");
                return Ok(refusal(&UpstreamError::Unreachable));
            };
            let method = request.uri().path().trim_start_matches('/').to_owned();
            let contracts = routing::shared();
            let replayable = !contracts.client_streaming.contains(&method);
            let request_id_field = contracts.request_id_fields.get(&method).copied();
            match channel.call(request, &principal, &method, replayable, request_id_field).await {
                Ok(response) => Ok(response),
                Err(err) => {
                    tracing::warn!(service = %service, error = %err, "call to a peer service not sent");
                    Ok(refusal(&err))
                }
            }
        })
    }
}

/// What the calling service hears when its call could not be sent.
fn refusal(err: &UpstreamError) -> http::Response<Body> {
    let status = match err {
        // No RetryInfo: the same request will never fit.
        UpstreamError::TooLarge { limit } => <tonic::Status as tonic_types::StatusExt>::with_error_details(
            tonic::Code::ResourceExhausted,
            format!("a request may be at most {limit} bytes"),
            tonic_types::ErrorDetails::with_error_info("MESSAGE_TOO_LARGE", ERROR_DOMAIN, HashMap::new()),
        ),
        UpstreamError::Unreachable | UpstreamError::MaybeReached | UpstreamError::RequestFailed => {
            ApiError::Unavailable { reason: "PEER_UNAVAILABLE", retry_after: Duration::from_millis(500) }
                .into_status(ERROR_DOMAIN)
        }
    };
    status.into_http()
}
