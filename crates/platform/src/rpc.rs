//! One span and one latency measurement per RPC, as a tower layer in front of every
//! service: the span continues the caller's W3C trace, and the measurement carries
//! the service, method, gRPC status code and calling organisation.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::Histogram;
use opentelemetry::propagation::Extractor;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::Principal;

/// Builds [`RpcTelemetry`] services. Create it after `telemetry::init`, so its
/// instruments bind to the configured meter provider.
#[derive(Clone, Debug)]
pub struct RpcTelemetryLayer {
    duration: Histogram<f64>,
}

impl RpcTelemetryLayer {
    pub fn new() -> Self {
        let meter = opentelemetry::global::meter("involve");
        let duration = meter
            .f64_histogram("rpc.server.duration")
            .with_unit("s")
            .with_description("Time to answer an RPC, by service, method, status code and organisation")
            .build();
        Self { duration }
    }
}

impl Default for RpcTelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for RpcTelemetryLayer {
    type Service = RpcTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetry { inner, duration: self.duration.clone() }
    }
}

#[derive(Clone, Debug)]
pub struct RpcTelemetry<S> {
    inner: S,
    duration: Histogram<f64>,
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

impl<S, B, RB> Service<http::Request<B>> for RpcTelemetry<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or(("", path.as_str()));
        let (service, method) = (service.to_owned(), method.to_owned());
        let organisation = request
            .extensions()
            .get::<Principal>()
            .map(|principal| principal.organisation.clone())
            .unwrap_or_default();
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        });
        let span = tracing::info_span!(
            "rpc",
            otel.name = %path,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            organisation = %organisation,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        // Only fails when the span is disabled by the filter; then there is nothing to link.
        let _ = span.set_parent(parent);

        let started = Instant::now();
        let future = self.inner.call(request).instrument(span.clone());
        let duration = self.duration.clone();
        Box::pin(async move {
            let result = future.await;
            // Unary errors arrive "trailers-only", with grpc-status in the headers;
            // a response that starts normally is counted as OK.
            // Behind the gateway the principal is only known once the call has been
            // authenticated; the gateway leaves it on the response.
            let organisation = match (&result, organisation.is_empty()) {
                (Ok(response), true) => response
                    .extensions()
                    .get::<Principal>()
                    .map(|principal| principal.organisation.clone())
                    .unwrap_or_default(),
                (Ok(_) | Err(_), _) => organisation,
            };
            let code = match &result {
                Ok(response) => crate::body::grpc_status(response.headers()).unwrap_or(tonic::Code::Ok),
                Err(_) => tonic::Code::Unknown,
            };
            let elapsed = started.elapsed();
            span.record("rpc.grpc.status_code", code as i32);
            duration.record(
                elapsed.as_secs_f64(),
                &[
                    KeyValue::new("rpc.service", service),
                    KeyValue::new("rpc.method", method),
                    KeyValue::new("rpc.grpc.status_code", code as i64),
                    KeyValue::new("organisation", organisation),
                ],
            );
            let _entered = span.enter();
            let millis = elapsed.as_secs_f64() * 1000.0;
            match code {
                tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::DataLoss => {
                    tracing::error!(code = ?code, elapsed_ms = millis, "rpc failed");
                }
                tonic::Code::Ok => tracing::debug!(elapsed_ms = millis, "rpc finished"),
                tonic::Code::Cancelled
                | tonic::Code::InvalidArgument
                | tonic::Code::DeadlineExceeded
                | tonic::Code::NotFound
                | tonic::Code::AlreadyExists
                | tonic::Code::PermissionDenied
                | tonic::Code::ResourceExhausted
                | tonic::Code::FailedPrecondition
                | tonic::Code::Aborted
                | tonic::Code::OutOfRange
                | tonic::Code::Unimplemented
                | tonic::Code::Unavailable
                | tonic::Code::Unauthenticated => {
                    tracing::info!(code = ?code, elapsed_ms = millis, "rpc refused");
                }
            }
            result
        })
    }
}
