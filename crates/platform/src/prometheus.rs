//! A Prometheus scrape endpoint: `GET /metrics` in the text exposition format,
//! read on demand from the same meter provider that pushes OTLP, through an
//! OpenTelemetry `ManualReader`. So both carry the same instruments (and the
//! services' domain signals) with no second set of metrics to keep in step.
//!
//! Why not a crate: `opentelemetry-prometheus` does not follow opentelemetry
//! 0.33 (and pulls in the `prometheus` crate and `protobuf`), and bridging
//! into the `prometheus` crate means declaring every instrument twice. The
//! format is small and stable; the rendering is here, with tests.
//!
//! The listener speaks just enough HTTP/1.1 for scrapers: one request per
//! connection, `GET /metrics` (anything else is 404), then close.

use std::fmt::Write as _;
use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, ManualReader, Pipeline, Temporality};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The reader the meter provider owns, shared with the scrape endpoint.
#[derive(Clone, Debug, Default)]
pub struct ScrapeReader(Arc<ManualReader>);

impl MetricReader for ScrapeReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        // A default ManualReader keeps running totals, as Prometheus wants.
        self.0.temporality(kind)
    }
}

impl ScrapeReader {
    /// Everything the meter provider holds now, as Prometheus text.
    pub fn render(&self) -> String {
        let mut metrics = ResourceMetrics::default();
        match self.0.collect(&mut metrics) {
            Ok(()) => render(&metrics),
            Err(err) => {
                tracing::warn!(error = %err, "cannot collect metrics for a scrape");
                String::new()
            }
        }
    }
}

/// Serves `GET /metrics` on `listener` until the process ends.
pub fn serve(listener: std::net::TcpListener, reader: ScrapeReader) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let reader = reader.clone();
            tokio::spawn(async move {
                // A scraper that stalls is dropped rather than held open.
                let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, &reader)).await;
            });
        }
    });
    Ok(())
}

async fn answer(mut stream: tokio::net::TcpStream, reader: &ScrapeReader) -> std::io::Result<()> {
    // The request line and headers; no body is expected and none is read.
    let mut request = Vec::with_capacity(1024);
    let mut buffer = [0_u8; 1024];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") && request.len() < 16 * 1024 {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        request.extend_from_slice(&buffer[..read]);
    }
    let line = request.split(|&byte| byte == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&byte| byte == b' ');
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = target.split(|&byte| byte == b'?').next().unwrap_or_default();
    let (status, content_type, body) = if method == b"GET" && path == b"/metrics" {
        ("200 OK", "text/plain; version=0.0.4; charset=utf-8", reader.render())
    } else {
        ("404 Not Found", "text/plain; charset=utf-8", "only GET /metrics is served here\n".to_owned())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// A Prometheus name from an OpenTelemetry one: `rpc.server.duration` in
/// seconds becomes `rpc_server_duration_seconds`.
fn metric_name(name: &str, unit: &str) -> String {
    let mut out = sanitise(name);
    let suffix = match unit {
        "s" => "_seconds",
        "ms" => "_milliseconds",
        "By" => "_bytes",
        _ => "",
    };
    if !out.ends_with(suffix) {
        out.push_str(suffix);
    }
    out
}

fn sanitise(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == ':' { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn labels<'a>(
    attributes: impl Iterator<Item = &'a opentelemetry::KeyValue>,
    extra: Option<(&str, &str)>,
) -> String {
    let mut pairs: Vec<String> = attributes
        .map(|kv| format!("{}=\"{}\"", sanitise(kv.key.as_str()), escape(&kv.value.as_str())))
        .collect();
    if let Some((key, value)) = extra {
        pairs.push(format!("{key}=\"{}\"", escape(value)));
    }
    if pairs.is_empty() { String::new() } else { format!("{{{}}}", pairs.join(",")) }
}

trait Number: Copy {
    fn text(self) -> String;
}

impl Number for f64 {
    fn text(self) -> String {
        if self.is_nan() {
            "NaN".into()
        } else if self.is_infinite() {
            if self > 0.0 { "+Inf".into() } else { "-Inf".into() }
        } else {
            self.to_string()
        }
    }
}

impl Number for u64 {
    fn text(self) -> String {
        self.to_string()
    }
}

impl Number for i64 {
    fn text(self) -> String {
        self.to_string()
    }
}

fn render_data<T: Number>(out: &mut String, name: &str, help: &str, data: &MetricData<T>) {
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    match data {
        MetricData::Gauge(gauge) => {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for point in gauge.data_points() {
                let _ = writeln!(out, "{name}{} {}", labels(point.attributes(), None), point.value().text());
            }
        }
        MetricData::Sum(sum) => {
            let (name, kind) = if sum.is_monotonic() {
                let total = if name.ends_with("_total") { name.to_owned() } else { format!("{name}_total") };
                (total, "counter")
            } else {
                (name.to_owned(), "gauge")
            };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for point in sum.data_points() {
                let _ = writeln!(out, "{name}{} {}", labels(point.attributes(), None), point.value().text());
            }
        }
        MetricData::Histogram(histogram) => {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for point in histogram.data_points() {
                let mut cumulative = 0_u64;
                let counts: Vec<u64> = point.bucket_counts().collect();
                for (bound, count) in point.bounds().zip(&counts) {
                    cumulative += count;
                    let le = bound.text();
                    let _ = writeln!(
                        out,
                        "{name}_bucket{} {cumulative}",
                        labels(point.attributes(), Some(("le", &le)))
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {}",
                    labels(point.attributes(), Some(("le", "+Inf"))),
                    point.count()
                );
                let _ =
                    writeln!(out, "{name}_sum{} {}", labels(point.attributes(), None), point.sum().text());
                let _ = writeln!(out, "{name}_count{} {}", labels(point.attributes(), None), point.count());
            }
        }
        // None of the suite's instruments is exponential; skipped rather than misrendered.
        MetricData::ExponentialHistogram(_) => {}
    }
}

/// The text exposition of `metrics`.
pub fn render(metrics: &ResourceMetrics) -> String {
    let mut out = String::new();
    for scope in metrics.scope_metrics() {
        for metric in scope.metrics() {
            let name = metric_name(metric.name(), metric.unit());
            match metric.data() {
                AggregatedMetrics::F64(data) => render_data(&mut out, &name, metric.description(), data),
                AggregatedMetrics::U64(data) => render_data(&mut out, &name, metric.description(), data),
                AggregatedMetrics::I64(data) => render_data(&mut out, &name, metric.description(), data),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use opentelemetry::KeyValue;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::SdkMeterProvider;

    use super::*;

    #[test]
    fn counters_gauges_and_histograms_render_as_prometheus_text() {
        let reader = ScrapeReader::default();
        let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
        let meter = provider.meter("test");
        let calls = meter.u64_counter("gateway.refused").with_description("Refused calls").build();
        calls.add(2, &[KeyValue::new("reason", "RATE_LIMITED")]);
        let duration =
            meter.f64_histogram("rpc.server.duration").with_unit("s").with_boundaries(vec![0.1, 1.0]).build();
        duration.record(0.05, &[KeyValue::new("rpc.method", "Get\"Customer")]);
        duration.record(0.5, &[KeyValue::new("rpc.method", "Get\"Customer")]);
        let _open = meter
            .i64_observable_gauge("asb.cases.open")
            .with_callback(|gauge| gauge.observe(3, &[KeyValue::new("priority", "high")]))
            .build();

        let text = reader.render();
        assert!(text.contains("# TYPE gateway_refused_total counter\n"), "{text}");
        assert!(text.contains("gateway_refused_total{reason=\"RATE_LIMITED\"} 2\n"), "{text}");
        assert!(text.contains("# TYPE rpc_server_duration_seconds histogram\n"), "{text}");
        assert!(
            text.contains(
                "rpc_server_duration_seconds_bucket{rpc_method=\"Get\\\"Customer\",le=\"0.1\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("rpc_server_duration_seconds_bucket{rpc_method=\"Get\\\"Customer\",le=\"1\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "rpc_server_duration_seconds_bucket{rpc_method=\"Get\\\"Customer\",le=\"+Inf\"} 2\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("rpc_server_duration_seconds_count{rpc_method=\"Get\\\"Customer\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE asb_cases_open gauge\nasb_cases_open{priority=\"high\"} 3\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_endpoint_answers_a_scrape_over_http() {
        let reader = ScrapeReader::default();
        let provider = SdkMeterProvider::builder().with_reader(reader.clone()).build();
        provider.meter("test").u64_counter("scraped").build().add(1, &[]);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        serve(listener, reader).unwrap();

        for (request, expected) in
            [("GET /metrics HTTP/1.1", "HTTP/1.1 200 OK"), ("GET /other HTTP/1.1", "HTTP/1.1 404 Not Found")]
        {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream.write_all(format!("{request}\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).await.unwrap();
            assert!(response.starts_with(expected), "{response}");
            if expected.ends_with("200 OK") {
                assert!(response.ends_with("scraped_total 1\n"), "{response}");
            }
        }
    }
}
