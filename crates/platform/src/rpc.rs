//! One span and one latency measurement per RPC, as a tower layer in front of every
//! service: the span continues the caller's W3C trace (behind the gateway, the
//! gateway's), and the measurement carries the service, method, gRPC status code
//! and calling organisation.
//!
//! At the edge ([`RpcTelemetryLayer::edge`]) the caller is not trusted with the
//! trace: each call starts a trace of its own, linked to the caller's, whose id
//! is left in the request's extensions as [`CallerTraceId`]. Labels and span
//! names come from the contracts' methods only; any other path is `unknown`, so
//! a caller cannot grow the metrics' label sets.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt as _;
use prost::Message as _;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::Principal;

/// The label for any path that is not a known method.
pub const UNKNOWN_METHOD: &str = "unknown";

/// Every `package.Service/Method` a listener can serve: the contracts' methods,
/// health and reflection.
static KNOWN_METHODS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let mut known: HashSet<String> = [
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    if let Ok(set) = prost_types::FileDescriptorSet::decode(contracts::FILE_DESCRIPTOR_SET) {
        for file in set.file {
            for service in &file.service {
                for method in &service.method {
                    known.insert(format!("{}.{}/{}", file.package(), service.name(), method.name()));
                }
            }
        }
    }
    known
});

/// `package.Service/Method` when the path names a known method, else `None`.
pub fn known_method(path: &str) -> Option<&'static str> {
    KNOWN_METHODS.get(path.trim_start_matches('/')).map(String::as_str)
}

/// `server.address` of a call made in this process (all-in-one mode).
pub const IN_PROCESS: &str = "in-process";

/// The `ErrorInfo.reason` of an error answered trailers-only, if it has one.
fn error_reason(headers: &http::HeaderMap) -> Option<String> {
    use tonic_types::StatusExt as _;
    let status = tonic::Status::from_header_map(headers)?;
    let reason = status.get_error_details().error_info()?.reason.clone();
    // Only the shape of a constant: anything else is not trusted as a label.
    let constant = !reason.is_empty()
        && reason.len() <= 64
        && reason.bytes().all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit() || byte == b'_');
    constant.then_some(reason)
}

/// The trace id a caller sent (`traceparent`), left in the request's
/// extensions by the edge's layer, which starts a trace of its own instead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallerTraceId(pub String);

/// Builds [`RpcTelemetry`] services. Create it after `telemetry::init`, so its
/// instruments bind to the configured meter provider.
#[derive(Clone, Debug)]
pub struct RpcTelemetryLayer {
    duration: Histogram<f64>,
    refusals: Counter<u64>,
    /// Whether the caller is outside (the edge): a new trace linked to theirs.
    edge: bool,
    /// Whether the measurements go anywhere: without a reader the labels of
    /// every call would be built (five strings) only to be dropped.
    measured: bool,
    /// Whether spans are exported: without a collector a span needs its ids
    /// (audit rows and the next hop carry them), not its attributes.
    described: bool,
    /// Whether the call gets a span of its own (see [`Self::in_process`]).
    spanned: bool,
}

/// The `involve.hop` label of `rpc.server.duration`: a partner's call is measured
/// once at the edge and once by the service that answers it (in one process in
/// all-in-one mode, in two when distributed), and the label tells the two apart.
pub const HOP_LABEL: &str = "involve.hop";

impl RpcTelemetryLayer {
    /// For a service: continues the caller's trace; measured as `involve.hop=service`.
    pub fn new() -> Self {
        Self::with_meter(&opentelemetry::global::meter("involve"), false).configured()
    }

    /// For the public listener: every call starts a trace of its own, linked
    /// to the caller's (kept as [`CallerTraceId`]), rather than continuing it;
    /// measured as `involve.hop=edge`.
    pub fn edge() -> Self {
        Self::with_meter(&opentelemetry::global::meter("involve"), true).configured()
    }

    /// For a service the gateway calls in this process (all-in-one mode). The
    /// call runs inside the gateway's span, in the same trace, so when spans are
    /// not exported a span of its own would only repeat ids nobody reads (and
    /// cost about a twentieth of a `GetCustomer`'s CPU, measured): it gets none,
    /// and its logs and audit rows carry the gateway's trace id. With a collector,
    /// or called outside any span (scheduled work), it gets its span, as a
    /// service in a process of its own does.
    pub fn in_process() -> Self {
        let layer = Self::new();
        Self { spanned: layer.described, ..layer }
    }

    /// Measures and describes only what the process's telemetry sends somewhere.
    fn configured(self) -> Self {
        Self {
            measured: crate::telemetry::metrics_enabled(),
            described: crate::telemetry::spans_exported(),
            ..self
        }
    }

    fn with_meter(meter: &opentelemetry::metrics::Meter, edge: bool) -> Self {
        let duration = meter
            .f64_histogram("rpc.server.duration")
            .with_unit("s")
            .with_description("Time to answer an RPC, by hop, service, method, status code and organisation")
            .build();
        let refusals = meter
            .u64_counter("rpc.server.refusals")
            .with_unit("{call}")
            .with_description(
                "Calls answered with an error, by hop, service, method, status code, organisation and \
                 the error's reason (error.type): failed authentication, rate limiting, shedding and the rest",
            )
            .build();
        Self { duration, refusals, edge, measured: true, described: true, spanned: true }
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
        RpcTelemetry {
            inner,
            duration: self.duration.clone(),
            refusals: self.refusals.clone(),
            edge: self.edge,
            measured: self.measured,
            described: self.described,
            spanned: self.spanned,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RpcTelemetry<S> {
    inner: S,
    duration: Histogram<f64>,
    refusals: Counter<u64>,
    edge: bool,
    measured: bool,
    described: bool,
    spanned: bool,
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

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = known_method(request.uri().path()).unwrap_or(UNKNOWN_METHOD);
        let (service, method) = path.split_once('/').unwrap_or((UNKNOWN_METHOD, UNKNOWN_METHOD));
        let organisation = if self.measured || self.described {
            request.extensions().get::<Principal>().map(|principal| principal.organisation.clone())
        } else {
            None
        }
        .unwrap_or_default();
        // A call with no span around it (scheduled work) starts a trace either way.
        let spanned = self.spanned || tracing::Span::current().is_none();
        let span = if !spanned {
            tracing::Span::none()
        } else if self.described {
            // The address the caller called (`:authority`); in-process calls have none.
            let server_address = request.uri().host().unwrap_or(IN_PROCESS);
            let span = tracing::info_span!(
                "rpc",
                otel.name = path,
                otel.kind = "server",
                rpc.system = "grpc",
                rpc.service = service,
                rpc.method = method,
                server.address = server_address,
                server.port = tracing::field::Empty,
                organisation = %organisation,
                rpc.grpc.status_code = tracing::field::Empty,
                error.type = tracing::field::Empty,
            );
            if let Some(port) = request.uri().port_u16() {
                span.record("server.port", i64::from(port));
            }
            span
        } else {
            tracing::info_span!("rpc")
        };
        if spanned {
            let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.extract(&HeaderExtractor(request.headers()))
            });
            if self.edge {
                // A trace of our own, so a caller cannot choose what the audit files
                // its calls under; theirs is linked and kept beside it.
                let caller = parent.span().span_context().clone();
                if caller.is_valid() {
                    let caller_trace_id = caller.trace_id().to_string();
                    if self.described {
                        span.set_attribute("involve.caller_trace_id", caller_trace_id.clone());
                        span.add_link(caller);
                    }
                    request.extensions_mut().insert(CallerTraceId(caller_trace_id));
                }
            } else if parent.span().span_context().is_valid() {
                // Only fails when the span is disabled by the filter; then there is nothing to link.
                let _ = span.set_parent(parent);
            }
            // With no trace context in the headers (a call made in this process)
            // the span's parent is the span the call is made in.
        }

        let started = Instant::now();
        let future = self.inner.call(request).instrument(span.clone());
        let measures = self.measured.then(|| (self.duration.clone(), self.refusals.clone()));
        let hop = if self.edge { "edge" } else { "service" };
        Box::pin(async move {
            let result = future.await;
            // Unary errors arrive "trailers-only", with grpc-status in the headers;
            // a response that starts normally is counted as OK.
            let code = match &result {
                Ok(response) => crate::body::grpc_status(response.headers()).unwrap_or(tonic::Code::Ok),
                Err(_) => tonic::Code::Unknown,
            };
            let elapsed = started.elapsed();
            span.record("rpc.grpc.status_code", code as i32);
            // Reasons are the suite's own constants (RATE_LIMITED, OVERLOADED,
            // CREDENTIAL_UNKNOWN...), so the label set stays small.
            let reason = (code != tonic::Code::Ok).then(|| {
                let reason = match &result {
                    Ok(response) => error_reason(response.headers()),
                    Err(_) => None,
                };
                reason.unwrap_or_else(|| format!("{code:?}"))
            });
            if let Some(reason) = &reason {
                span.record("error.type", reason.as_str());
            }
            if let Some((duration, refusals)) = measures {
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
                let labels = [
                    KeyValue::new(HOP_LABEL, hop),
                    KeyValue::new("rpc.service", service),
                    KeyValue::new("rpc.method", method),
                    KeyValue::new("rpc.grpc.status_code", code as i64),
                    KeyValue::new("organisation", organisation),
                ];
                duration.record(elapsed.as_secs_f64(), &labels);
                if let Some(reason) = reason {
                    let [hop, service, method, code, organisation] = labels;
                    refusals.add(
                        1,
                        &[hop, service, method, code, organisation, KeyValue::new("error.type", reason)],
                    );
                }
            }
            let _entered = span.enter();
            let millis = elapsed.as_secs_f64() * 1000.0;
            match code {
                tonic::Code::Internal | tonic::Code::Unknown | tonic::Code::DataLoss => {
                    tracing::error!(rpc = path, code = ?code, elapsed_ms = millis, "rpc failed");
                }
                tonic::Code::Ok => tracing::debug!(rpc = path, elapsed_ms = millis, "rpc finished"),
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
                    tracing::info!(rpc = path, code = ?code, elapsed_ms = millis, "rpc refused");
                }
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    use tower::ServiceExt as _;

    use super::*;

    /// In all-in-one mode the edge and the service it calls in-process measure
    /// the same call: once each, told apart by their hop.
    #[tokio::test]
    async fn a_call_through_the_edge_and_a_service_is_measured_once_per_hop() {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        let meter = provider.meter("test");
        let answer = tower::service_fn(|_request: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        });
        let service = RpcTelemetryLayer::with_meter(&meter, false).layer(answer);
        let edge = RpcTelemetryLayer::with_meter(&meter, true).layer(service);
        let request = http::Request::builder()
            .uri("/involve.profiles.v1.CustomerProfiles/GetCustomer")
            .body(())
            .unwrap();
        edge.oneshot(request).await.unwrap();
        provider.force_flush().unwrap();

        let mut counts_by_hop = std::collections::BTreeMap::new();
        for resource in exporter.get_finished_metrics().unwrap() {
            for metric in resource.scope_metrics().flat_map(|scope| scope.metrics()) {
                assert_eq!(metric.name(), "rpc.server.duration");
                let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = metric.data() else {
                    panic!("not a histogram: {metric:?}");
                };
                for point in histogram.data_points() {
                    let hop = point.attributes().find(|kv| kv.key.as_str() == HOP_LABEL).unwrap();
                    *counts_by_hop.entry(hop.value.to_string()).or_insert(0) += point.count();
                }
            }
        }
        assert_eq!(counts_by_hop, [("edge".to_owned(), 1), ("service".to_owned(), 1)].into());
    }

    #[test]
    fn labels_name_known_methods_only() {
        assert_eq!(
            known_method("/involve.profiles.v1.CustomerProfiles/GetCustomer"),
            Some("involve.profiles.v1.CustomerProfiles/GetCustomer")
        );
        assert_eq!(known_method("/grpc.health.v1.Health/Check"), Some("grpc.health.v1.Health/Check"));
        assert_eq!(known_method("/involve.profiles.v1.CustomerProfiles/Made-Up"), None);
        assert_eq!(known_method("/a/b/c"), None);
    }
}
