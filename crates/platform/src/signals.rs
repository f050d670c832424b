//! Domain signals: what operators watch about a service's work (open cases by
//! priority, acknowledgements overdue, standards breached), declared by the
//! service in one place — its [`crate::ServiceModule::domain_signals`] — and
//! exported by the platform as observable gauges, over OTLP and on the scrape
//! endpoint alike. A later service declares its own the same way; dashboards
//! and alerts find them by name, with no plumbing between.
//!
//! Reading a signal usually means querying the service's database, so the
//! platform reads them in the background once per metrics interval and the
//! gauges report the last reading: a scrape or an export never waits on the
//! database, and a slow query never stalls a collection.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use opentelemetry::KeyValue;

/// One gauge a service publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal {
    /// Dotted and prefixed by the service: `asb.cases.open`.
    pub name: &'static str,
    pub description: &'static str,
    /// UCUM, in braces for counts of things: `{case}`.
    pub unit: &'static str,
}

/// One value of one signal, with its labels. Labels must come from small,
/// fixed sets (a priority, a standard), never from people or free text.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub signal: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: i64,
}

impl Reading {
    pub fn new(signal: &Signal, value: i64) -> Self {
        Self { signal: signal.name, labels: Vec::new(), value }
    }

    /// Adds a label.
    #[must_use]
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.labels.push((key, value.into()));
        self
    }
}

/// What a service declares: its signals, and how to read them now.
#[async_trait::async_trait]
pub trait DomainSignals: Send + Sync + std::fmt::Debug + 'static {
    /// Every signal it may report (each becomes one gauge).
    fn signals(&self) -> &'static [Signal];

    /// The current readings. A signal with no reading reports nothing.
    async fn read(&self) -> anyhow::Result<Vec<Reading>>;
}

/// Publishes `source`'s signals as gauges and reads them every `every`, when
/// metrics are exported at all; otherwise does nothing.
pub fn export(service: &str, source: Arc<dyn DomainSignals>, every: Duration) {
    if !crate::telemetry::metrics_enabled() {
        return;
    }
    let latest: Arc<RwLock<Vec<Reading>>> = Arc::default();
    let meter = opentelemetry::global::meter("involve");
    let gauges: Vec<_> = source
        .signals()
        .iter()
        .map(|signal| {
            let readings = Arc::clone(&latest);
            let name = signal.name;
            meter
                .i64_observable_gauge(name)
                .with_description(signal.description)
                .with_unit(signal.unit)
                .with_callback(move |gauge| {
                    let Ok(readings) = readings.read() else { return };
                    for reading in readings.iter().filter(|reading| reading.signal == name) {
                        let labels: Vec<KeyValue> = reading
                            .labels
                            .iter()
                            .map(|(key, value)| KeyValue::new(*key, value.clone()))
                            .collect();
                        gauge.observe(reading.value, &labels);
                    }
                })
                .build()
        })
        .collect();
    let service = service.to_owned();
    tokio::spawn(async move {
        // The gauges live as long as their readings are refreshed.
        let _gauges = gauges;
        let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match source.read().await {
                Ok(readings) => {
                    if let Ok(mut latest) = latest.write() {
                        *latest = readings;
                    }
                }
                Err(err) => tracing::warn!(service = %service, error = %err, "cannot read domain signals"),
            }
        }
    });
}
