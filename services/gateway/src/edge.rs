//! The partner-facing edge: every call is authenticated, checked against the
//! caller's role, rate-limited, held to its credential's share of the places in
//! flight, given a deadline, traced, audited, and forwarded untouched to the
//! service that owns its path.
//!
//! Forwarding never decodes a message: routing is by the `/{package}.{Service}/`
//! prefix of the HTTP/2 path, looked up in one table built from the contracts'
//! descriptors, so adding a service is adding a backend, not writing a proxy.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;

use opentelemetry::propagation::Injector;
use platform::ApiError;
use platform::body::{BodyEnd, OnBodyEnd, WatchedBody};
use platform::client::UpstreamError;
use platform::principal::{PRINCIPAL_HEADER, RESOURCE_HEADER, SIGNATURE_HEADER, SPECIAL_CATEGORY_HEADER};
use tonic::body::Body;
use tonic::{Code, Status};
use tower::{Service, ServiceExt as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::audit::{AuditLog, AuditSlot};
use crate::auth::{AuthError, Authenticated, Authenticator};
use crate::domain::policy;
use crate::domain::rate_limit::RateLimiter;
use crate::domain::records::Call;
use crate::error::ERROR_DOMAIN;

pub use platform::client::routing::{Contracts, contracts};
pub use platform::client::{InnerService, ServiceChannel};

/// Addresses whose `x-forwarded-for` is believed: the deployment's load
/// balancers and proxies, as addresses or CIDR blocks.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

/// IPv4-mapped IPv6 addresses compare as the IPv4 address they carry.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

impl TrustedProxies {
    /// Parses `10.0.0.0/8`, `192.168.1.7`, `fd00::/8`, ...
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut blocks = Vec::with_capacity(entries.len());
        for entry in entries {
            let bad = || format!("gateway.trusted_proxies: {entry:?} is not an address or CIDR block");
            let (address, prefix) = match entry.split_once('/') {
                Some((address, prefix)) => (address, Some(prefix.parse::<u8>().map_err(|_| bad())?)),
                None => (entry.as_str(), None),
            };
            let address = canonical(address.trim().parse::<IpAddr>().map_err(|_| bad())?);
            let width = if address.is_ipv4() { 32 } else { 128 };
            let prefix = prefix.unwrap_or(width);
            if prefix > width {
                return Err(bad());
            }
            blocks.push((address, prefix));
        }
        Ok(Self(blocks))
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|(block, prefix)| match (block, address) {
            (IpAddr::V4(block), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*block) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(block), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*block) & mask == u128::from(address) & mask
            }
            (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => false,
        })
    }

    /// The caller's address: the TCP peer, unless the peer is a trusted proxy;
    /// then the right-most address in `x-forwarded-for` that is not one (the
    /// hops left of it were written by the caller and prove nothing).
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &http::HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer?);
        if !self.contains(peer) {
            return Some(peer);
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let hop = hop.trim();
            let parsed = hop
                .parse::<IpAddr>()
                .ok()
                .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|address| address.ip()));
            // Garbage from here leftwards cannot be believed: the last good hop stands.
            let Some(address) = parsed.map(canonical) else { break };
            client = address;
            if !self.contains(address) {
                break;
            }
        }
        Some(client)
    }
}

/// How the edge behaves.
#[derive(Clone, Debug)]
pub struct EdgeSettings {
    pub default_deadline: Duration,
    /// Calls one credential may have in flight at once (at least one).
    pub credential_concurrency: usize,
    /// How long a client stream may send nothing before it is ended.
    pub stream_idle_timeout: Duration,
    pub trusted_proxies: TrustedProxies,
    /// Rate limits are counted by its `instant`.
    pub clock: platform::clock::SharedClock,
}

/// How long a credential at its share of places is asked to wait.
const CONCURRENCY_RETRY_AFTER: Duration = Duration::from_millis(250);

/// Calls in flight per credential, so one credential cannot take every place.
#[derive(Debug, Default)]
struct CredentialsInFlight {
    /// Credential id -> calls in flight; absent at zero, so the map holds only
    /// the credentials with calls running.
    counts: Mutex<HashMap<String, usize>>,
}

/// One call's place in its credential's share, given back when dropped.
struct CredentialPlace {
    in_flight: Arc<CredentialsInFlight>,
    credential_id: String,
}

impl CredentialsInFlight {
    fn try_take(self: &Arc<Self>, credential_id: &str, limit: usize) -> Option<CredentialPlace> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(credential_id.to_owned()).or_default();
        if *count >= limit.max(1) {
            return None;
        }
        *count += 1;
        Some(CredentialPlace { in_flight: Arc::clone(self), credential_id: credential_id.to_owned() })
    }
}

impl Drop for CredentialPlace {
    fn drop(&mut self) {
        let mut counts = self.in_flight.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.credential_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.credential_id);
            }
        }
    }
}

struct EdgeInner {
    /// The gateway's own services: health, reflection, administration.
    local: InnerService,
    /// `package.Service` -> backend.
    routes: HashMap<String, ServiceChannel>,
    contracts: Contracts,
    auth: Arc<Authenticator>,
    limiter: Arc<RateLimiter>,
    in_flight: Arc<CredentialsInFlight>,
    audit: AuditLog,
    settings: EdgeSettings,
}

/// The edge as one tower service.
#[derive(Clone)]
pub struct Edge {
    inner: Arc<EdgeInner>,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge").field("routes", &self.inner.routes.keys().collect::<Vec<_>>()).finish()
    }
}

impl Edge {
    pub fn new(
        local: InnerService,
        routes: HashMap<String, ServiceChannel>,
        contracts: Contracts,
        auth: Arc<Authenticator>,
        limiter: Arc<RateLimiter>,
        audit: AuditLog,
        settings: EdgeSettings,
    ) -> Self {
        Self {
            inner: Arc::new(EdgeInner {
                local,
                routes,
                contracts,
                auth,
                limiter,
                in_flight: Arc::default(),
                audit,
                settings,
            }),
        }
    }
}

impl Service<http::Request<Body>> for Edge {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { Ok(inner.handle(request).await) })
    }
}

fn refusal(err: ApiError) -> Status {
    err.into_status(ERROR_DOMAIN)
}

/// What the audit row of a call knows before the call ends, and its place in
/// the audit queue, taken before the call is served.
struct PendingCall {
    slot: AuditSlot,
    started: Instant,
    credential: String,
    organisation: String,
    role: String,
    /// A method from the contracts, or `unknown`: never a caller-chosen path.
    method: String,
    trace_id: String,
    caller_trace_id: String,
}

impl PendingCall {
    fn finish(self, status: Code, resource: String, special_category: bool) {
        let row = Call {
            id: uuid::Uuid::now_v7(),
            // Microseconds: what PostgreSQL keeps, so audit page tokens compare exactly.
            event_time: {
                let now = chrono::Utc::now();
                chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
            },
            credential: self.credential,
            organisation: self.organisation,
            role: self.role,
            method: self.method,
            resource,
            status: platform::error::code_name(status).to_owned(),
            special_category,
            trace_id: self.trace_id,
            caller_trace_id: self.caller_trace_id,
        };
        self.slot.record(row);
    }
}

impl EdgeInner {
    /// Answers a call the edge refuses itself, auditing it with the same status.
    fn refuse(&self, pending: PendingCall, status: Status) -> http::Response<Body> {
        pending.finish(status.code(), String::new(), false);
        status.into_http()
    }

    async fn handle(&self, mut request: http::Request<Body>) -> http::Response<Body> {
        let path = request.uri().path().trim_start_matches('/').to_owned();
        let service = path.split('/').next().unwrap_or_default().to_owned();
        if policy::is_public(&service) {
            return call_infallible(self.local.clone(), request).await;
        }
        // Audited before served: no place in the audit queue, no call.
        let Some(slot) = self.audit.reserve() else {
            let unavailable =
                ApiError::Unavailable { reason: "AUDIT_UNAVAILABLE", retry_after: Duration::from_secs(1) };
            return refusal(unavailable).into_http();
        };
        let known = self.contracts.methods.contains(&path);
        // The span's context, built once: its trace id goes in the audit row and
        // the context itself to the backend. It is the gateway's own trace; the
        // caller's, if any, is linked to it and kept beside it.
        let trace = tracing::Span::current().context();
        let caller_trace_id = request
            .extensions_mut()
            .remove::<platform::rpc::CallerTraceId>()
            .map(|caller| caller.0)
            .unwrap_or_default();
        let mut pending = PendingCall {
            slot,
            started: Instant::now(),
            credential: String::new(),
            organisation: String::new(),
            role: String::new(),
            method: if known { path.clone() } else { platform::rpc::UNKNOWN_METHOD.to_owned() },
            trace_id: platform::telemetry::trace_id(&trace),
            caller_trace_id,
        };

        let client = self.settings.trusted_proxies.client_address(peer_address(&request), request.headers());
        if let Some(client) = client {
            tracing::Span::current().set_attribute("client.address", client.to_string());
        }
        let caller = match self.auth.authenticate(request.headers().get(http::header::AUTHORIZATION)).await {
            Ok(caller) => caller,
            Err(err) => {
                tracing::debug!(client = ?client, reason = err.reason(), "authentication refused");
                return self.refuse(pending, auth_refusal(err));
            }
        };
        let Authenticated { principal, credential, credential_id, rate_limit_per_minute } = caller;
        pending.credential = credential;
        pending.organisation = principal.organisation.clone();
        pending.role = principal.role.as_str().to_owned();
        tracing::Span::current().record("organisation", principal.organisation.as_str());

        if !policy::allows(principal.role, &service) {
            let denied = ApiError::PermissionDenied {
                reason: "ROLE_NOT_PERMITTED",
                message: format!("the {} role may not call {service}", principal.role.as_str()),
            };
            return self.refuse(pending, refusal(denied));
        }
        if let Err(retry_after) =
            self.limiter.check(&credential_id, rate_limit_per_minute, self.settings.clock.instant())
        {
            let limited = ApiError::ResourceExhausted {
                reason: "RATE_LIMITED",
                message: format!("this credential may make {rate_limit_per_minute} calls a minute"),
                retry_after,
            };
            return self.refuse(pending, refusal(limited));
        }
        let backend = if service == policy::ADMIN_SERVICE {
            ServiceChannel::InProcess(self.local.clone())
        } else if let Some(backend) = self.routes.get(&service) {
            backend.clone()
        } else {
            let unknown = Status::unimplemented("no such service behind this gateway");
            return self.refuse(pending, unknown);
        };
        let limit = self.settings.credential_concurrency;
        let Some(place) = self.in_flight.try_take(&credential_id, limit) else {
            let limited = ApiError::ResourceExhausted {
                reason: "CONCURRENCY_LIMITED",
                message: format!("this credential may have {limit} calls in flight at once"),
                retry_after: CONCURRENCY_RETRY_AFTER,
            };
            return self.refuse(pending, refusal(limited));
        };

        // A service in this process runs inside this span: only a remote one needs its context.
        let remote = matches!(backend, ServiceChannel::Remote(_));
        prepare(&mut request, self.settings.default_deadline, remote.then_some(&trace));
        let streaming = self.contracts.client_streaming.contains(&path);
        let idle = Arc::new(AtomicBool::new(false));
        if streaming {
            let timeout = self.settings.stream_idle_timeout;
            request = request.map(|body| Body::new(IdleTimeoutBody::new(body, timeout, Arc::clone(&idle))));
        }
        let request_id_field = self.contracts.request_id_fields.get(&path).copied();
        let response = match backend.call(request, &principal, &path, !streaming, request_id_field).await {
            Ok(response) => response,
            Err(_) if idle.load(Ordering::Acquire) => return self.refuse(pending, idle_status()),
            Err(err) => {
                tracing::warn!(error = %err, service = %service, "call not forwarded");
                return self.refuse(pending, upstream_refusal(&err));
            }
        };
        let mut response = if streaming {
            response.map(|body| Body::new(IdleAwareResponse { inner: body, idle, ended: false }))
        } else {
            response
        };
        response.extensions_mut().insert(principal);
        let resource = take_header(&mut response, RESOURCE_HEADER);
        let special_category = take_header(&mut response, SPECIAL_CATEGORY_HEADER) == "true";
        let header_status = platform::body::grpc_status(response.headers());
        let (parts, body) = response.into_parts();
        let audited = WatchedBody::new(
            body,
            AuditOnEnd { call: pending, resource, special_category, header_status, _place: place },
        );
        http::Response::from_parts(parts, Body::new(audited))
    }
}

fn upstream_refusal(err: &UpstreamError) -> Status {
    match err {
        // No RetryInfo: the same request will never fit.
        UpstreamError::TooLarge { limit } => {
            let details =
                tonic_types::ErrorDetails::with_error_info("MESSAGE_TOO_LARGE", ERROR_DOMAIN, HashMap::new());
            <Status as tonic_types::StatusExt>::with_error_details(
                Code::ResourceExhausted,
                format!("a request may be at most {limit} bytes"),
                details,
            )
        }
        UpstreamError::Unreachable | UpstreamError::MaybeReached | UpstreamError::RequestFailed => {
            refusal(ApiError::Unavailable {
                reason: "BACKEND_UNAVAILABLE",
                retry_after: Duration::from_millis(500),
            })
        }
    }
}

/// What a client stream idle for too long ends with.
fn idle_status() -> Status {
    let details = tonic_types::ErrorDetails::with_error_info("STREAM_IDLE", ERROR_DOMAIN, HashMap::new());
    <Status as tonic_types::StatusExt>::with_error_details(
        Code::DeadlineExceeded,
        "the request stream sent nothing for too long",
        details,
    )
}

/// A client stream's body that fails with DEADLINE_EXCEEDED once it has sent
/// nothing for `timeout`, and says so through `idle`.
struct IdleTimeoutBody {
    inner: Body,
    timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    idle: Arc<AtomicBool>,
    ended: bool,
}

impl IdleTimeoutBody {
    fn new(inner: Body, timeout: Duration, idle: Arc<AtomicBool>) -> Self {
        Self { inner, timeout, timer: Box::pin(tokio::time::sleep(timeout)), idle, ended: false }
    }
}

impl http_body::Body for IdleTimeoutBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let deadline = tokio::time::Instant::now() + self.timeout;
                self.timer.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => {
                self.ended = true;
                Poll::Ready(other)
            }
            Poll::Pending => match self.timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    self.ended = true;
                    self.idle.store(true, Ordering::Release);
                    Poll::Ready(Some(Err(idle_status())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }
}

/// The response of a client stream: once its request stream was ended for
/// idling, however the service ended the call, the caller hears
/// DEADLINE_EXCEEDED.
struct IdleAwareResponse {
    inner: Body,
    idle: Arc<AtomicBool>,
    ended: bool,
}

impl http_body::Body for IdleAwareResponse {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ends = match &polled {
            Poll::Ready(Some(Ok(frame))) => frame.is_trailers(),
            Poll::Ready(Some(Err(_)) | None) => true,
            Poll::Pending => false,
        };
        if ends && self.idle.load(Ordering::Acquire) {
            self.ended = true;
            let mut trailers = http::HeaderMap::new();
            if idle_status().add_header(&mut trailers).is_ok() {
                return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
            }
        }
        if matches!(polled, Poll::Ready(None)) {
            self.ended = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }
}

fn auth_refusal(err: AuthError) -> Status {
    let reason = err.reason();
    let api = match err {
        AuthError::Unavailable(_) => ApiError::Unavailable { reason, retry_after: Duration::from_secs(1) },
        AuthError::TooManyFailures { retry_after } => {
            ApiError::ResourceExhausted { reason, message: err.to_string(), retry_after }
        }
        AuthError::Missing
        | AuthError::Malformed
        | AuthError::Invalid
        | AuthError::Revoked
        | AuthError::Expired => ApiError::Unauthenticated { reason, message: err.to_string() },
    };
    refusal(api)
}

/// The caller's address, as the listener accepted it.
fn peer_address(request: &http::Request<Body>) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(tonic::transport::server::TcpConnectInfo::remote_addr)
        .map(|address| address.ip())
}

/// Readies a request for a backend: a deadline when it brought none, no
/// principal claims of its own, no credential (services never need the
/// partner's secret, so it goes no further than the edge), and the trace context
/// of the gateway's span when given, never the caller's.
fn prepare(
    request: &mut http::Request<Body>,
    default_deadline: Duration,
    trace: Option<&opentelemetry::Context>,
) {
    let headers = request.headers_mut();
    headers.remove(PRINCIPAL_HEADER);
    headers.remove(SIGNATURE_HEADER);
    headers.remove(http::header::AUTHORIZATION);
    if !headers.contains_key("grpc-timeout") {
        // gRPC timeouts are at most eight digits; whole seconds are plenty here.
        if let Ok(value) = format!("{}S", default_deadline.as_secs().clamp(1, 99_999_999)).parse() {
            headers.insert("grpc-timeout", value);
        }
    }
    // The caller's trace is linked at the edge, never continued behind it: a service
    // joins the gateway's (given here for a remote one; one in this process runs
    // inside the gateway's span).
    headers.remove("traceparent");
    headers.remove("tracestate");
    if let Some(trace) = trace {
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(trace, &mut HeaderInjector(headers));
        });
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (http::HeaderName::from_bytes(key.as_bytes()), value.parse()) {
            self.0.insert(name, value);
        }
    }
}

fn take_header(response: &mut http::Response<Body>, name: &str) -> String {
    response
        .headers_mut()
        .remove(name)
        .and_then(|value| value.to_str().ok().map(str::to_owned))
        .unwrap_or_default()
}

async fn call_infallible(service: InnerService, request: http::Request<Body>) -> http::Response<Body> {
    match service.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Records a call in the audit log when its response ends, with the status
/// from its trailers (or its headers, for trailers-only errors), and gives
/// back the call's place in its credential's share.
struct AuditOnEnd {
    call: PendingCall,
    resource: String,
    special_category: bool,
    header_status: Option<Code>,
    _place: CredentialPlace,
}

impl OnBodyEnd for AuditOnEnd {
    fn on_end(self, end: BodyEnd<'_>) {
        let status = end.code(self.header_status);
        let elapsed = self.call.started.elapsed();
        tracing::debug!(elapsed_ms = elapsed.as_secs_f64() * 1000.0, code = ?status, "call finished");
        self.call.finish(status, self.resource, self.special_category);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_callers_address_comes_through_trusted_proxies_only() {
        let proxies =
            TrustedProxies::parse(&["10.0.0.0/8".into(), "192.168.1.7".into(), "fd00::/8".into()]).unwrap();
        assert!(proxies.contains(ip("10.200.3.4")) && proxies.contains(ip("192.168.1.7")));
        assert!(!proxies.contains(ip("192.168.1.8")) && !proxies.contains(ip("11.0.0.1")));
        assert!(proxies.contains(ip("fd12::1")) && proxies.contains(ip("::ffff:10.1.2.3")));

        let mut headers = http::HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1".parse().unwrap());
        // From an untrusted peer the header means nothing.
        assert_eq!(proxies.client_address(Some(ip("198.51.100.2")), &headers), Some(ip("198.51.100.2")));
        // From a proxy: the right-most hop that is not a proxy; what the caller
        // wrote left of it (6.6.6.6) is ignored.
        assert_eq!(proxies.client_address(Some(ip("10.0.0.1")), &headers), Some(ip("203.0.113.9")));
        // Several headers read as one list; garbage stops the walk.
        let mut headers = http::HeaderMap::new();
        headers.append("x-forwarded-for", "203.0.113.9".parse().unwrap());
        headers.append("x-forwarded-for", "not-an-address, 10.2.2.2".parse().unwrap());
        assert_eq!(proxies.client_address(Some(ip("10.0.0.1")), &headers), Some(ip("10.2.2.2")));
        assert_eq!(
            proxies.client_address(Some(ip("10.0.0.1")), &http::HeaderMap::new()),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(TrustedProxies::default().client_address(None, &http::HeaderMap::new()), None);

        for bad in ["10.0.0.0/33", "example.org", "10.0.0.0/x"] {
            assert!(TrustedProxies::parse(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }

    /// A request body the test feeds by hand, and its sender.
    fn fed_body() -> (tokio::sync::mpsc::Sender<Result<Frame<Bytes>, Status>>, Body) {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
        (sender, Body::new(http_body_util::StreamBody::new(stream)))
    }

    #[tokio::test]
    async fn an_idle_request_stream_fails_and_its_response_says_deadline_exceeded() {
        use http_body_util::BodyExt as _;

        let (sender, body) = fed_body();
        let idle = Arc::new(AtomicBool::new(false));
        let mut request = IdleTimeoutBody::new(body, Duration::from_millis(50), Arc::clone(&idle));
        sender.send(Ok(Frame::data(Bytes::from_static(b"row")))).await.unwrap();
        assert!(request.frame().await.unwrap().unwrap().is_data(), "frames pass while they come");
        // Then nothing: the body fails, and says why.
        let err = request.frame().await.unwrap().unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded);
        assert!(idle.load(Ordering::Acquire));
        assert!(request.frame().await.is_none(), "and ends there");

        // However the backend then ends the response (an error from a reset
        // stream, or trailers saying OK), the caller hears DEADLINE_EXCEEDED.
        let (sender, body) = fed_body();
        let mut response = IdleAwareResponse { inner: body, idle: Arc::clone(&idle), ended: false };
        sender.send(Err(Status::cancelled("reset"))).await.unwrap();
        let trailers = response.frame().await.unwrap().unwrap().into_trailers().unwrap();
        assert_eq!(platform::body::grpc_status(&trailers), Some(Code::DeadlineExceeded));
        assert!(response.frame().await.is_none());

        let (sender, body) = fed_body();
        let mut response = IdleAwareResponse { inner: body, idle, ended: false };
        let mut ok = http::HeaderMap::new();
        ok.insert("grpc-status", "0".parse().unwrap());
        sender.send(Ok(Frame::data(Bytes::from_static(b"answer")))).await.unwrap();
        sender.send(Ok(Frame::trailers(ok))).await.unwrap();
        assert!(response.frame().await.unwrap().unwrap().is_data());
        let trailers = response.frame().await.unwrap().unwrap().into_trailers().unwrap();
        assert_eq!(platform::body::grpc_status(&trailers), Some(Code::DeadlineExceeded));
    }

    #[test]
    fn a_credential_holds_at_most_its_share_of_places() {
        let in_flight = Arc::new(CredentialsInFlight::default());
        let first = in_flight.try_take("a", 2).unwrap();
        let _second = in_flight.try_take("a", 2).unwrap();
        assert!(in_flight.try_take("a", 2).is_none());
        assert!(in_flight.try_take("b", 2).is_some(), "another credential is unaffected");
        drop(first);
        assert!(in_flight.try_take("a", 2).is_some(), "a place comes back when its call ends");
    }

    #[test]
    fn a_forwarded_request_carries_no_credential_or_claims_and_has_a_deadline() {
        let mut request = http::Request::new(Body::empty());
        let headers = request.headers_mut();
        headers.insert(http::header::AUTHORIZATION, "Bearer inv_secret".parse().unwrap());
        headers.insert(PRINCIPAL_HEADER, "forged".parse().unwrap());
        headers.insert(SIGNATURE_HEADER, "forged".parse().unwrap());
        headers.insert("x-request-id", "kept".parse().unwrap());
        let callers_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        headers.insert("traceparent", callers_trace.parse().unwrap());
        headers.insert("tracestate", "theirs=1".parse().unwrap());
        prepare(&mut request, Duration::from_secs(30), None);
        let headers = request.headers();
        assert!(headers.get(http::header::AUTHORIZATION).is_none());
        assert!(headers.get(PRINCIPAL_HEADER).is_none() && headers.get(SIGNATURE_HEADER).is_none());
        assert!(
            headers.get("traceparent").is_none() && headers.get("tracestate").is_none(),
            "a backend in this process is not handed the caller's trace"
        );
        assert_eq!(headers.get("grpc-timeout").unwrap(), "30S");
        assert_eq!(headers.get("x-request-id").unwrap(), "kept");

        // A caller's own deadline stands.
        let mut request = http::Request::new(Body::empty());
        request.headers_mut().insert("grpc-timeout", "250m".parse().unwrap());
        prepare(&mut request, Duration::from_secs(30), Some(&opentelemetry::Context::new()));
        assert_eq!(request.headers().get("grpc-timeout").unwrap(), "250m");
    }
}
