//! The services a service can call, and the caller each call is made as.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tracing::Instrument as _;
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
            purpose: None,
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
    /// Stated on every call (`x-involve-purpose`), unless the request states its own.
    purpose: Option<&'static str>,
}

impl ActingClient {
    /// Who the calls are made as.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// States `purpose` (a code of [`crate::purpose::PURPOSES`], such as the
    /// served request's own `ctx.purpose`) on every call, so the callee's audit
    /// records why the person's data was read. [`crate::purpose::NOT_STATED`]
    /// states nothing.
    pub fn for_purpose(mut self, purpose: &'static str) -> Self {
        self.purpose = (purpose != crate::purpose::NOT_STATED).then_some(purpose);
        self
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
        // A client span for the call, made now in the caller's span (the future
        // may first run elsewhere); the peer's server span continues it.
        let path = crate::rpc::known_method(request.uri().path()).unwrap_or(crate::rpc::UNKNOWN_METHOD);
        let (rpc_service, rpc_method) =
            path.split_once('/').unwrap_or((crate::rpc::UNKNOWN_METHOD, crate::rpc::UNKNOWN_METHOD));
        let span = tracing::info_span!(
            "rpc client",
            otel.name = %path,
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = %rpc_service,
            rpc.method = %rpc_method,
            server.address = %self.service,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        inject_trace_context(request.headers_mut(), &span.context());
        if let Some(purpose) = self.purpose
            && !request.headers().contains_key(crate::purpose::PURPOSE_HEADER)
        {
            request
                .headers_mut()
                .insert(crate::purpose::PURPOSE_HEADER, http::HeaderValue::from_static(purpose));
        }
        let channel = self.slot.get().cloned();
        let principal = Arc::clone(&self.principal);
        let service = Arc::clone(&self.service);
        Box::pin(
            async move {
                let Some(channel) = channel else {
                    tracing::warn!(service = %service, "called before the service was started");
                    return Ok(refusal(&UpstreamError::Unreachable));
                };
                let method = request.uri().path().trim_start_matches('/').to_owned();
                let contracts = routing::shared();
                let replayable = !contracts.client_streaming.contains(&method);
                let request_id_field = contracts.request_id_fields.get(&method).copied();
                // A remote peer's server enforces the deadline; in-process nothing
                // between here and the handler does, so it is kept here.
                let deadline = match &channel {
                    ServiceChannel::InProcess(_) => grpc_timeout(request.headers()),
                    ServiceChannel::Remote(_) => None,
                };
                let call = channel.call(request, &principal, &method, replayable, request_id_field);
                let sent = match deadline {
                    Some(deadline) => match tokio::time::timeout(deadline, call).await {
                        Ok(sent) => sent,
                        Err(_) => {
                            return Ok(tonic::Status::deadline_exceeded("the peer did not answer in time")
                                .into_http());
                        }
                    },
                    None => call.await,
                };
                let response = match sent {
                    Ok(response) => response,
                    Err(err) => {
                        tracing::warn!(service = %service, error = %err, "call to a peer service not sent");
                        refusal(&err)
                    }
                };
                let code = crate::body::grpc_status(response.headers()).unwrap_or(tonic::Code::Ok);
                tracing::Span::current().record("rpc.grpc.status_code", code as i32);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// The deadline a request carries (`grpc-timeout`: at most eight digits and a
/// unit), as tonic's `Request::set_timeout` writes it.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry::trace::TracerProvider as _;
    use tonic::server::NamedService;
    use tower::ServiceExt as _;
    use tracing::Instrument as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;
    use crate::client::Upstream;
    use crate::principal::PrincipalSource;
    use crate::server::ServiceSet;
    use crate::{HandoffKey, RequestContext};

    const PATH: &str = "/involve.profiles.v1.CustomerProfiles/GetCustomer";

    /// What the callee knew of one call: its caller, and the trace its span is in.
    #[derive(Clone, Debug, PartialEq)]
    struct Seen {
        principal: Option<Principal>,
        trace_id: String,
        purpose: &'static str,
    }

    /// A callee that answers OK and keeps what it saw of each call.
    #[derive(Clone, Default)]
    struct Callee(Arc<Mutex<Vec<Seen>>>);

    impl NamedService for Callee {
        const NAME: &'static str = "involve.profiles.v1.CustomerProfiles";
    }

    impl tower::Service<http::Request<Body>> for Callee {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<Body>) -> Self::Future {
            let seen = Arc::clone(&self.0);
            // Read inside the future: that is what runs in the callee's RPC span.
            Box::pin(async move {
                let request = tonic::Request::from_http(request);
                let context = RequestContext::of(&request).ok();
                let purpose = context.as_ref().map_or("", |ctx| ctx.purpose);
                let principal = context.map(|ctx| ctx.principal);
                let trace_id = crate::telemetry::current_trace_id();
                seen.lock().unwrap().push(Seen { principal, trace_id, purpose });
                Ok(tonic::Status::ok("").into_http())
            })
        }
    }

    /// Spans with trace ids on this thread, and W3C propagation, as
    /// `telemetry::init` sets up for a process.
    fn traced() -> tracing::subscriber::DefaultGuard {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let tracer = opentelemetry_sdk::trace::SdkTracerProvider::builder().build().tracer("test");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::set_default(subscriber)
    }

    fn person() -> Principal {
        Principal {
            organisation: "organisations/riverside".into(),
            role: Role::NeighbourhoodOfficer,
            subject: "organisations/riverside/credentials/c1".into(),
            areas: Some(vec!["north".into()]),
        }
    }

    fn request() -> http::Request<Body> {
        let mut request = http::Request::new(Body::empty());
        *request.uri_mut() = PATH.parse().unwrap();
        *request.method_mut() = http::Method::POST;
        request.headers_mut().insert("content-type", "application/grpc".parse().unwrap());
        request
    }

    /// Calls `client` inside a span of its own; returns the span's trace id
    /// and the status the caller heard.
    async fn call_traced(client: ActingClient) -> (String, Option<tonic::Code>) {
        let span = tracing::info_span!("caller");
        let trace_id = crate::telemetry::trace_id(&span.context());
        let response = async move { client.oneshot(request()).await.unwrap() }.instrument(span).await;
        (trace_id, crate::body::grpc_status(response.headers()))
    }

    #[tokio::test]
    async fn in_process_calls_carry_the_person_or_the_service_identity_in_the_callers_trace() {
        let _traced = traced();
        let callee = Callee::default();
        let directory = ServiceDirectory::new(["profiles", "asb"]);
        let asb = directory.clients_for("asb");
        let profiles = asb.client("profiles").unwrap();
        assert!(asb.client("nowhere").is_err(), "a peer the deployment lacks fails at start-up");

        // Taken before profiles is built (all-in-one builds services in turn):
        // a call made that early is UNAVAILABLE, not lost.
        let (_, early) = call_traced(profiles.as_service()).await;
        assert_eq!(early, Some(tonic::Code::Unavailable));

        let (routes, _health) = {
            let mut set = ServiceSet::new().unwrap();
            set.add(callee.clone());
            set.into_parts()
        };
        directory.provide("profiles", ServiceChannel::in_process(routes)).unwrap();
        let again = ServiceChannel::in_process(ServiceSet::new().unwrap().into_parts().0);
        assert!(matches!(directory.provide("profiles", again), Err(DirectoryError::ProvidedTwice(_))));

        let (for_person, ok) = call_traced(profiles.acting_for(&person()).for_purpose("asb-casework")).await;
        assert_eq!(ok, Some(tonic::Code::Ok));
        let (as_service, _) = call_traced(profiles.as_service()).await;
        let seen = callee.0.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                Seen { principal: Some(person()), trace_id: for_person, purpose: "asb-casework" },
                Seen {
                    principal: Some(Principal {
                        organisation: "services/asb".into(),
                        role: Role::Service,
                        subject: "services/asb".into(),
                        areas: None,
                    }),
                    trace_id: as_service,
                    purpose: crate::purpose::NOT_STATED,
                },
            ]
        );
        assert!(!seen[0].trace_id.is_empty() && seen[0].trace_id != seen[1].trace_id);
    }

    /// A callee that never answers.
    #[derive(Clone)]
    struct Silent;

    impl NamedService for Silent {
        const NAME: &'static str = "involve.profiles.v1.CustomerProfiles";
    }

    impl tower::Service<http::Request<Body>> for Silent {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = std::future::Pending<Result<http::Response<Body>, Infallible>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _request: http::Request<Body>) -> Self::Future {
            std::future::pending()
        }
    }

    #[tokio::test]
    async fn an_in_process_call_keeps_its_deadline() {
        let directory = ServiceDirectory::new(["profiles"]);
        let mut set = ServiceSet::new().unwrap();
        set.add(Silent);
        directory.provide("profiles", ServiceChannel::in_process(set.into_parts().0)).unwrap();
        let profiles = directory.clients_for("compact").client("profiles").unwrap();
        let mut request = request();
        request.headers_mut().insert("grpc-timeout", "20m".parse().unwrap());
        let response = profiles.as_service().oneshot(request).await.unwrap();
        assert_eq!(crate::body::grpc_status(response.headers()), Some(tonic::Code::DeadlineExceeded));
    }

    #[test]
    fn deadlines_are_read_as_grpc_writes_them() {
        let timeout = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", value.parse().unwrap());
            grpc_timeout(&headers)
        };
        assert_eq!(timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout("30S"), Some(Duration::from_secs(30)));
        assert_eq!(timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "S", "123456789S", "10x", "-1S", "1.5S"] {
            assert_eq!(timeout(bad), None, "{bad:?}");
        }
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }

    #[tokio::test]
    async fn remote_calls_carry_a_signed_principal_and_the_callers_trace() {
        let _traced = traced();
        let key = HandoffKey::from_secret("shared secret for tests");
        let callee = Callee::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let mut set = ServiceSet::new().unwrap();
        set.add(callee.clone());
        let config = crate::Settings::load_from(None, Vec::new()).unwrap().server;
        let source = PrincipalSource::Signed(key.clone());
        tokio::spawn(async move { set.serve(listener, &config, source, std::future::pending()).await });

        let directory = ServiceDirectory::new(["profiles"]);
        let upstream = Upstream::new(&[address], key, 1 << 20).unwrap();
        directory.provide("profiles", ServiceChannel::Remote(Arc::new(upstream))).unwrap();
        let profiles = directory.clients_for("compact").client("profiles").unwrap();

        let (for_person, ok) = call_traced(profiles.acting_for(&person())).await;
        assert_eq!(ok, Some(tonic::Code::Ok));
        let (as_service, ok) = call_traced(profiles.as_service()).await;
        assert_eq!(ok, Some(tonic::Code::Ok));
        let seen = callee.0.lock().unwrap().clone();
        assert_eq!(seen[0], Seen { principal: Some(person()), trace_id: for_person, purpose: "not-stated" });
        assert_eq!(seen[1].principal.as_ref().map(|p| p.subject.as_str()), Some("services/compact"));
        assert_eq!(seen[1].trace_id, as_service);

        // A peer that cannot be reached is UNAVAILABLE to the caller.
        let refused = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        let directory = ServiceDirectory::new(["profiles"]);
        let upstream = Upstream::new(&[refused], HandoffKey::from_secret("k"), 1 << 20).unwrap();
        directory.provide("profiles", ServiceChannel::Remote(Arc::new(upstream))).unwrap();
        let profiles = directory.clients_for("compact").client("profiles").unwrap();
        assert_eq!(call_traced(profiles.as_service()).await.1, Some(tonic::Code::Unavailable));
    }
}
