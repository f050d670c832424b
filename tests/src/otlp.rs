//! An OTLP receiver in the test process: the collector's own gRPC services for
//! traces and metrics (from `opentelemetry-proto`), on a loopback port, keeping
//! everything the suite exports so a test can read it back as spans and data
//! points. OTLP export to a missing collector fails silently, so telemetry is
//! only proven against one of these.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

/// One span as received, attributes flattened to text.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    /// `service.name` of the process that exported it.
    pub service_name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// `SPAN_KIND_SERVER` and so on.
    pub kind: String,
    pub attributes: BTreeMap<String, String>,
    /// The trace ids of its links.
    pub linked_trace_ids: Vec<String>,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

/// One data point of one metric, as received.
#[derive(Clone, Debug)]
pub struct ReceivedPoint {
    pub service_name: String,
    pub metric: String,
    pub attributes: BTreeMap<String, String>,
}

impl ReceivedPoint {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Debug, Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    points: Vec<ReceivedPoint>,
    /// Every string value seen anywhere (resources, scopes, attributes, names),
    /// for scans for personal data.
    strings: Vec<String>,
}

/// The receiver; stops serving when dropped.
#[derive(Debug)]
pub struct OtlpReceiver {
    pub address: SocketAddr,
    received: Arc<Mutex<Received>>,
    _stop: oneshot::Sender<()>,
}

#[derive(Clone, Debug)]
struct Collector(Arc<Mutex<Received>>);

impl OtlpReceiver {
    /// Serves on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds loopback");
        let address = listener.local_addr().expect("a local address");
        let received = Arc::new(Mutex::new(Received::default()));
        let collector = Collector(Arc::clone(&received));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector.clone()))
                .add_service(MetricsServiceServer::new(collector))
                .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                }),
        );
        Self { address, received, _stop: stop }
    }

    /// What to set `telemetry.otlp_endpoint` to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().expect("not poisoned").spans.clone()
    }

    pub fn points(&self) -> Vec<ReceivedPoint> {
        self.received.lock().expect("not poisoned").points.clone()
    }

    /// Every string received so far, anywhere in any export.
    pub fn strings(&self) -> Vec<String> {
        self.received.lock().expect("not poisoned").strings.clone()
    }

    /// Waits until `ready` holds for what has arrived (exports are batched and
    /// periodic), failing after a minute with `what` and what did arrive.
    pub async fn wait_until(&self, what: &str, ready: impl Fn(&[ReceivedSpan], &[ReceivedPoint]) -> bool) {
        let started = Instant::now();
        loop {
            {
                let received = self.received.lock().expect("not poisoned");
                if ready(&received.spans, &received.points) {
                    return;
                }
                if started.elapsed() > Duration::from_secs(60) {
                    let names: Vec<String> = received
                        .spans
                        .iter()
                        .map(|span| format!("{} {}", span.service_name, span.name))
                        .chain(received.points.iter().map(|point| format!("metric {}", point.metric)))
                        .collect();
                    panic!("never received {what}; received: {names:#?}");
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Text of an attribute value (arrays and maps as their debug form).
pub fn value_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
        Some(any_value::Value::IntValue(number)) => number.to_string(),
        Some(any_value::Value::DoubleValue(number)) => number.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn flatten(attributes: &[KeyValue], strings: &mut Vec<String>) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let text = value_text(kv.value.as_ref());
            strings.push(kv.key.clone());
            strings.push(text.clone());
            (kv.key.clone(), text)
        })
        .collect()
}

fn service_name(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource
        .and_then(|resource| resource.attributes.iter().find(|kv| kv.key == "service.name"))
        .map(|kv| value_text(kv.value.as_ref()))
        .unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut received = self.0.lock().expect("not poisoned");
        let received = &mut *received;
        for resource_spans in request.into_inner().resource_spans {
            let service = service_name(resource_spans.resource.as_ref());
            if let Some(resource) = &resource_spans.resource {
                flatten(&resource.attributes, &mut received.strings);
            }
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    received.strings.push(span.name.clone());
                    for event in &span.events {
                        received.strings.push(event.name.clone());
                        flatten(&event.attributes, &mut received.strings);
                    }
                    let attributes = flatten(&span.attributes, &mut received.strings);
                    let kind = opentelemetry_proto::tonic::trace::v1::span::SpanKind::try_from(span.kind)
                        .map(|kind| kind.as_str_name().to_owned())
                        .unwrap_or_default();
                    received.spans.push(ReceivedSpan {
                        service_name: service.clone(),
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent_span_id: hex(&span.parent_span_id),
                        name: span.name,
                        kind,
                        attributes,
                        linked_trace_ids: span.links.iter().map(|link| hex(&link.trace_id)).collect(),
                    });
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let mut received = self.0.lock().expect("not poisoned");
        let received = &mut *received;
        for resource_metrics in request.into_inner().resource_metrics {
            let service = service_name(resource_metrics.resource.as_ref());
            if let Some(resource) = &resource_metrics.resource {
                flatten(&resource.attributes, &mut received.strings);
            }
            for scope in resource_metrics.scope_metrics {
                for metric in scope.metrics {
                    received.strings.push(metric.name.clone());
                    let point_attributes: Vec<&[KeyValue]> = match &metric.data {
                        Some(Data::Gauge(gauge)) => {
                            gauge.data_points.iter().map(|point| point.attributes.as_slice()).collect()
                        }
                        Some(Data::Sum(sum)) => {
                            sum.data_points.iter().map(|point| point.attributes.as_slice()).collect()
                        }
                        Some(Data::Histogram(histogram)) => {
                            histogram.data_points.iter().map(|point| point.attributes.as_slice()).collect()
                        }
                        Some(Data::ExponentialHistogram(histogram)) => {
                            histogram.data_points.iter().map(|point| point.attributes.as_slice()).collect()
                        }
                        Some(Data::Summary(summary)) => {
                            summary.data_points.iter().map(|point| point.attributes.as_slice()).collect()
                        }
                        None => Vec::new(),
                    };
                    for attributes in point_attributes {
                        let attributes = flatten(attributes, &mut received.strings);
                        received.points.push(ReceivedPoint {
                            service_name: service.clone(),
                            metric: metric.name.clone(),
                            attributes,
                        });
                    }
                }
            }
        }
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}
