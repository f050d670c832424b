//! Structured logs always; OpenTelemetry traces and metrics over OTLP when a
//! collector is configured. W3C trace context is the propagation format.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{LogFormat, TelemetryConfig};

/// Keeps exporters alive; flushes and shuts them down when dropped.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Errors here have nowhere left to go: the process is ending.
        if let Some(provider) = self.tracer_provider.take() {
            let _ = provider.force_flush();
            let _ = provider.shutdown_with_timeout(Duration::from_secs(5));
        }
        if let Some(provider) = self.meter_provider.take() {
            let _ = provider.force_flush();
            let _ = provider.shutdown_with_timeout(Duration::from_secs(5));
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter: {0}")]
    Filter(String),
    #[error("cannot build the OTLP exporter")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
    #[error("cannot serve the Prometheus scrape endpoint (telemetry.prometheus_listen)")]
    Scrape(#[source] std::io::Error),
}

/// Installs the global subscriber. `service_name` labels every span and metric.
/// Call once per process, from inside a Tokio runtime.
pub fn init(config: &TelemetryConfig, service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.is_empty() => filter,
        Ok(_) | Err(_) => config.log_filter.clone(),
    };
    let mut scrape_address = None;
    let filter = EnvFilter::try_new(&filter).map_err(|err| TelemetryError::Filter(err.to_string()))?;
    let fmt_layer = match config.log_format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };

    // Spans always carry W3C trace ids, so logs and audit rows can be joined to
    // a caller's trace; they are exported only when a collector is configured.
    let resource = Resource::builder().with_service_name(service_name.to_owned()).build();
    let mut tracer_builder = SdkTracerProvider::builder().with_resource(resource.clone());
    let mut guard = TelemetryGuard::default();
    let mut meter_builder = SdkMeterProvider::builder().with_resource(resource);
    let mut measuring = false;
    if let Some(endpoint) = &config.otlp_endpoint {
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        tracer_builder = tracer_builder.with_batch_exporter(spans);
        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        let reader = PeriodicReader::builder(metrics)
            .with_interval(Duration::from_secs(config.metrics_interval_secs.max(1)))
            .build();
        meter_builder = meter_builder.with_reader(reader);
        measuring = true;
        // Statements on the SQLite threads get spans of their own too.
        persistence::spans::enable();
        SPANS_EXPORTED.store(true, Ordering::Relaxed);
    }
    if let Some(address) = config.prometheus_listen {
        let listener = std::net::TcpListener::bind(address).map_err(TelemetryError::Scrape)?;
        let bound = listener.local_addr().map_err(TelemetryError::Scrape)?;
        let reader = crate::prometheus::ScrapeReader::default();
        crate::prometheus::serve(listener, reader.clone()).map_err(TelemetryError::Scrape)?;
        meter_builder = meter_builder.with_reader(reader);
        measuring = true;
        scrape_address = Some(bound);
    }
    if measuring {
        let meter_provider = meter_builder.build();
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        guard.meter_provider = Some(meter_provider);
        METRICS_ENABLED.store(true, Ordering::Relaxed);
    }
    if config.otlp_endpoint.is_none() {
        // Nothing is exported, so nothing needs recording: spans still get ids
        // (and continue a caller's trace), but are dropped when they end unless
        // the caller asked for its trace to be sampled.
        tracer_builder = tracer_builder.with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
    } else if config.trace_sample_ratio < 1.0 {
        // A share of the traces the gateway starts; every hop behind it follows
        // the gateway's decision, so a sampled trace is whole.
        let ratio = config.trace_sample_ratio.clamp(0.0, 1.0);
        tracer_builder =
            tracer_builder.with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))));
    }
    let tracer_provider = tracer_builder.build();
    let tracer = tracer_provider.tracer("involve");
    // Spans made without `tracing` (the database spans, timed after the fact) use the global provider.
    opentelemetry::global::set_tracer_provider(tracer_provider.clone());
    guard.tracer_provider = Some(tracer_provider);
    // Only what a trace needs: the defaults also record code locations, thread
    // names and busy/idle timings, and attach a context, on every poll of every
    // instrumented future, which measured as a large share of a gateway's CPU.
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false);

    // The log filter governs only what is printed: spans reach the trace layer
    // (and carry trace ids into audit rows) whatever the log level.
    tracing_subscriber::registry()
        .with(fmt_layer.with_filter(filter))
        .with(otel_layer.with_filter(tracing_subscriber::filter::LevelFilter::INFO))
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    if let Some(address) = scrape_address {
        tracing::info!(address = %address, "prometheus scrape endpoint listening");
    }
    Ok(guard)
}

static METRICS_ENABLED: AtomicBool = AtomicBool::new(false);
static SPANS_EXPORTED: AtomicBool = AtomicBool::new(false);

/// Whether spans go to a collector: without one, a span is kept for its ids
/// (the trace an audit row names, the `traceparent` of the next hop) and is
/// given no attributes, which nobody would read.
pub fn spans_exported() -> bool {
    SPANS_EXPORTED.load(Ordering::Relaxed)
}

/// Whether metrics go anywhere (OTLP or the scrape endpoint): what only feeds
/// metrics (pool gauges, domain signals) is not set up otherwise.
pub fn metrics_enabled() -> bool {
    METRICS_ENABLED.load(Ordering::Relaxed)
}

/// The W3C trace id of the current span, or an empty string outside any trace.
pub fn current_trace_id() -> String {
    trace_id(&tracing::Span::current().context())
}

/// The W3C trace id of `context`, or an empty string when it has none.
pub fn trace_id(context: &opentelemetry::Context) -> String {
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() { span_context.trace_id().to_string() } else { String::new() }
}
