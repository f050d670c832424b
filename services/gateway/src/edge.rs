//! The partner-facing edge: every call is authenticated, checked against the
//! caller's role, rate-limited, given a deadline, traced, audited, and forwarded
//! untouched to the service that owns its path.
//!
//! Forwarding never decodes a message: routing is by the `/{package}.{Service}/`
//! prefix of the HTTP/2 path, looked up in one table built from the contracts'
//! descriptors, so adding a service is adding a backend, not writing a proxy.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use opentelemetry::propagation::Injector;
use platform::ApiError;
use platform::body::{BodyEnd, OnBodyEnd, WatchedBody};
use platform::principal::{PRINCIPAL_HEADER, RESOURCE_HEADER, SIGNATURE_HEADER, SPECIAL_CATEGORY_HEADER};
use prost::Message as _;
use tonic::body::Body;
use tonic::{Code, Status};
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceExt as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::audit::AuditLog;
use crate::auth::{AuthError, Authenticated, Authenticator};
use crate::domain::policy;
use crate::domain::rate_limit::RateLimiter;
use crate::error::ERROR_DOMAIN;
use crate::store::calls;
use crate::upstream::Upstream;

/// A service the edge can call.
pub type InnerService = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

/// Where calls for one service go.
#[derive(Clone)]
pub enum Backend {
    /// In this process: the principal travels as a request extension, which
    /// nothing arriving from a network can carry.
    InProcess(InnerService),
    /// Elsewhere, over HTTP/2 channels to the service's instances: the principal
    /// travels signed.
    Remote(Arc<Upstream>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InProcess(_) => f.write_str("Backend::InProcess"),
            Self::Remote(_) => f.write_str("Backend::Remote"),
        }
    }
}

/// What the contracts' descriptors say about routing.
#[derive(Debug, Default)]
pub struct Contracts {
    /// Every `package.Service`, with the backend name that serves it: the
    /// package's second component (`involve.profiles.v1` -> `profiles`).
    pub services: Vec<(String, String)>,
    /// Methods whose requests are a stream (`package.Service/Method`): their
    /// bodies cannot be buffered and replayed.
    pub client_streaming: std::collections::HashSet<String>,
}

pub fn contracts() -> Contracts {
    let Ok(set) = prost_types::FileDescriptorSet::decode(contracts::FILE_DESCRIPTOR_SET) else {
        return Contracts::default();
    };
    let mut found = Contracts::default();
    for file in set.file {
        let package = file.package().to_owned();
        let Some(backend) = package.strip_prefix("involve.").and_then(|rest| rest.split('.').next()) else {
            continue;
        };
        for service in &file.service {
            let service_name = format!("{package}.{}", service.name());
            for method in &service.method {
                if method.client_streaming() {
                    found.client_streaming.insert(format!("{service_name}/{}", method.name()));
                }
            }
            found.services.push((service_name, backend.to_owned()));
        }
    }
    found
}

/// How the edge behaves.
#[derive(Clone, Debug)]
pub struct EdgeSettings {
    pub default_deadline: Duration,
}

struct EdgeInner {
    /// The gateway's own services: health, reflection, administration.
    local: InnerService,
    /// `package.Service` -> backend.
    routes: HashMap<String, Backend>,
    /// `package.Service/Method` of client-streaming calls.
    client_streaming: std::collections::HashSet<String>,
    auth: Arc<Authenticator>,
    limiter: Arc<RateLimiter>,
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
        routes: HashMap<String, Backend>,
        client_streaming: std::collections::HashSet<String>,
        auth: Arc<Authenticator>,
        limiter: Arc<RateLimiter>,
        audit: AuditLog,
        settings: EdgeSettings,
    ) -> Self {
        Self {
            inner: Arc::new(EdgeInner { local, routes, client_streaming, auth, limiter, audit, settings }),
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

/// What the audit row of a call knows before the call ends.
struct PendingCall {
    started: Instant,
    credential: String,
    organisation: String,
    role: String,
    method: String,
    trace_id: String,
}

impl PendingCall {
    fn finish(self, status: Code, resource: String, special_category: bool) -> calls::Model {
        calls::Model {
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
        }
    }
}

impl EdgeInner {
    /// Answers a call the edge refuses itself, auditing it with the same status.
    fn refuse(&self, pending: PendingCall, status: Status) -> http::Response<Body> {
        self.audit.record(pending.finish(status.code(), String::new(), false));
        status.into_http()
    }

    async fn handle(&self, mut request: http::Request<Body>) -> http::Response<Body> {
        let method = request.uri().path().trim_start_matches('/').to_owned();
        let service = method.split('/').next().unwrap_or_default().to_owned();
        if policy::is_public(&service) {
            return call_infallible(self.local.clone(), request).await;
        }
        // The span's context, built once: its trace id goes in the audit row and
        // the context itself to the backend.
        let trace = tracing::Span::current().context();
        let mut pending = PendingCall {
            started: Instant::now(),
            credential: String::new(),
            organisation: String::new(),
            role: String::new(),
            method: method.clone(),
            trace_id: platform::telemetry::trace_id(&trace),
        };

        let peer = peer_address(&request);
        let caller =
            match self.auth.authenticate(request.headers().get(http::header::AUTHORIZATION), peer).await {
                Ok(caller) => caller,
                Err(err) => return self.refuse(pending, auth_refusal(err)),
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
        if let Err(retry_after) = self.limiter.check(&credential_id, rate_limit_per_minute, Instant::now()) {
            let limited = ApiError::ResourceExhausted {
                reason: "RATE_LIMITED",
                message: format!("this credential may make {rate_limit_per_minute} calls a minute"),
                retry_after,
            };
            return self.refuse(pending, refusal(limited));
        }
        let backend = if service == policy::ADMIN_SERVICE {
            Backend::InProcess(self.local.clone())
        } else if let Some(backend) = self.routes.get(&service) {
            backend.clone()
        } else {
            let unknown = Status::unimplemented(format!("no service {service} behind this gateway"));
            return self.refuse(pending, unknown);
        };

        prepare(&mut request, self.settings.default_deadline, &trace);
        let mut response = match backend {
            Backend::InProcess(service) => {
                request.extensions_mut().insert(principal.clone());
                call_infallible(service, request).await
            }
            Backend::Remote(upstream) => {
                let replayable = !self.client_streaming.contains(&method);
                match upstream.call(request, &principal, &method, replayable).await {
                    Ok(response) => response,
                    Err(err) => {
                        tracing::warn!(error = %err, service = %service, "backend unreachable");
                        let unavailable = ApiError::Unavailable {
                            reason: "BACKEND_UNAVAILABLE",
                            retry_after: Duration::from_millis(500),
                        };
                        return self.refuse(pending, refusal(unavailable));
                    }
                }
            }
        };
        response.extensions_mut().insert(principal);
        let resource = take_header(&mut response, RESOURCE_HEADER);
        let special_category = take_header(&mut response, SPECIAL_CATEGORY_HEADER) == "true";
        let header_status = platform::body::grpc_status(response.headers());
        let (parts, body) = response.into_parts();
        let audited = WatchedBody::new(
            body,
            AuditOnEnd {
                call: pending,
                resource,
                special_category,
                header_status,
                audit: self.audit.clone(),
            },
        );
        http::Response::from_parts(parts, Body::new(audited))
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
/// of the gateway's span.
fn prepare(request: &mut http::Request<Body>, default_deadline: Duration, trace: &opentelemetry::Context) {
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
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(trace, &mut HeaderInjector(headers));
    });
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
/// from its trailers (or its headers, for trailers-only errors).
struct AuditOnEnd {
    call: PendingCall,
    resource: String,
    special_category: bool,
    header_status: Option<Code>,
    audit: AuditLog,
}

impl OnBodyEnd for AuditOnEnd {
    fn on_end(self, end: BodyEnd<'_>) {
        let status = end.code(self.header_status);
        let elapsed = self.call.started.elapsed();
        tracing::debug!(elapsed_ms = elapsed.as_secs_f64() * 1000.0, code = ?status, "call finished");
        self.audit.record(self.call.finish(status, self.resource, self.special_category));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_request_carries_no_credential_or_claims_and_has_a_deadline() {
        let mut request = http::Request::new(Body::empty());
        let headers = request.headers_mut();
        headers.insert(http::header::AUTHORIZATION, "Bearer inv_secret".parse().unwrap());
        headers.insert(PRINCIPAL_HEADER, "forged".parse().unwrap());
        headers.insert(SIGNATURE_HEADER, "forged".parse().unwrap());
        headers.insert("x-request-id", "kept".parse().unwrap());
        prepare(&mut request, Duration::from_secs(30), &opentelemetry::Context::new());
        let headers = request.headers();
        assert!(headers.get(http::header::AUTHORIZATION).is_none());
        assert!(headers.get(PRINCIPAL_HEADER).is_none() && headers.get(SIGNATURE_HEADER).is_none());
        assert_eq!(headers.get("grpc-timeout").unwrap(), "30S");
        assert_eq!(headers.get("x-request-id").unwrap(), "kept");

        // A caller's own deadline stands.
        let mut request = http::Request::new(Body::empty());
        request.headers_mut().insert("grpc-timeout", "250m".parse().unwrap());
        prepare(&mut request, Duration::from_secs(30), &opentelemetry::Context::new());
        assert_eq!(request.headers().get("grpc-timeout").unwrap(), "250m");
    }
}
