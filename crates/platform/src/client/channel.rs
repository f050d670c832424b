//! How calls reach one service: in this process, or over the network to its
//! instances. The gateway's edge forwards through it, and so do service clients.

use std::convert::Infallible;
use std::sync::Arc;

use opentelemetry::propagation::Injector;
use tonic::body::Body;
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

use super::upstream::{Upstream, UpstreamError};
use crate::Principal;
use crate::principal::{PrincipalLayer, PrincipalSource};
use crate::rpc::RpcTelemetryLayer;

/// A service called in-process.
pub type InnerService = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

/// Where calls for one service go.
#[derive(Clone)]
pub enum ServiceChannel {
    /// In this process: the principal travels as a request extension, which
    /// nothing arriving from a network can carry.
    InProcess(InnerService),
    /// Elsewhere, over HTTP/2 channels to the service's instances: the principal
    /// travels signed, for one call.
    Remote(Arc<Upstream>),
}

impl std::fmt::Debug for ServiceChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InProcess(_) => f.write_str("ServiceChannel::InProcess"),
            Self::Remote(_) => f.write_str("ServiceChannel::Remote"),
        }
    }
}

impl ServiceChannel {
    /// `routes` served in this process, as [`in_process`] wraps them.
    pub fn in_process(routes: tonic::service::Routes) -> Self {
        Self::InProcess(in_process(routes))
    }

    /// Sends `request` to `method` (`package.Service/Method`) as `principal`.
    /// In-process calls cannot fail to arrive; remote ones follow the resend
    /// rules of [`Upstream::call`] (`replayable` is false for request streams,
    /// `request_id_field` the method's top-level `request_id`, if any).
    pub async fn call(
        &self,
        mut request: http::Request<Body>,
        principal: &Principal,
        method: &str,
        replayable: bool,
        request_id_field: Option<u32>,
    ) -> Result<http::Response<Body>, UpstreamError> {
        match self {
            Self::InProcess(service) => {
                request.extensions_mut().insert(principal.clone());
                match service.clone().oneshot(request).await {
                    Ok(response) => Ok(response),
                    Err(never) => match never {},
                }
            }
            Self::Remote(upstream) => {
                upstream.call(request, principal, method, replayable, request_id_field).await
            }
        }
    }
}

/// Wraps a set of routes to be called in-process: the principal is taken from
/// the request's extensions; the service is measured as its own hop, and has a
/// span of its own when spans are exported ([`RpcTelemetryLayer::in_process`]).
pub fn in_process(routes: tonic::service::Routes) -> InnerService {
    BoxCloneSyncService::new(
        tower::ServiceBuilder::new()
            .layer(PrincipalLayer::new(PrincipalSource::InProcess))
            .layer(RpcTelemetryLayer::in_process())
            .service(routes),
    )
}

/// Writes `context` into `headers` as W3C trace context (`traceparent`), so the
/// callee's span joins the caller's trace.
pub fn inject_trace_context(headers: &mut http::HeaderMap, context: &opentelemetry::Context) {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(context, &mut HeaderInjector(headers));
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
