//! The cost of telemetry: the same partner calls against two all-in-one
//! servers on SQLite in one run, one exporting every span and its metrics over
//! OTLP to a receiver in this process, one exporting nothing, in interleaved
//! rounds: a mix (four `GetCustomer` to one `ReportIncident`, which also makes
//! ASB call profiles), then `GetCustomer` alone (the cheapest call, where a
//! span's cost weighs most). Prints the throughputs and their ratio (aim: on /
//! off >= 0.90).

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use contracts::involve::asb::v1 as asb;
use contracts::involve::asb::v1::asb_cases_client::AsbCasesClient;
use contracts::involve::common::v1::Role as ProtoRole;
use contracts::involve::gateway::v1 as gw;
use contracts::involve::gateway::v1::partner_admin_client::PartnerAdminClient;
use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
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
use tonic::transport::Channel;

use crate::{Latency, server};

/// Rounds each server's load is split into, alternating which goes first.
const ROUNDS: u32 = 6;
/// Customers the load reads and names in its reports.
const CUSTOMERS: usize = 50;
/// One call in this many is a `ReportIncident`.
const REPORT_EVERY: u64 = 5;

/// An OTLP receiver that counts what it is sent and keeps nothing.
#[derive(Clone, Debug, Default)]
struct Sink {
    spans: Arc<AtomicU64>,
    points: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len())
            .sum();
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let metrics: usize = request
            .get_ref()
            .resource_metrics
            .iter()
            .flat_map(|resource| &resource.scope_metrics)
            .map(|scope| scope.metrics.len())
            .sum();
        self.points.fetch_add(metrics as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

async fn start_sink() -> anyhow::Result<(Sink, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let sink = Sink::default();
    let serving = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(sink.clone()))
        .add_service(MetricsServiceServer::new(sink.clone()))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(serving);
    Ok((sink, format!("http://{address}")))
}

fn bearer<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// One all-in-one server with a partner, an area and customers to call about.
struct Suite {
    _child: tokio::process::Child,
    channel: Channel,
    partner: String,
    customers: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Suite {
    /// `telemetry`: lines of its `[telemetry]` section, or `None` for none.
    async fn start(involve: &Path, telemetry: Option<&str>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let telemetry = telemetry
            .map(|settings| format!("[telemetry]\n{settings}\nmetrics_interval_secs = 10\n"))
            .unwrap_or_default();
        let config = dir.path().join("involve.toml");
        std::fs::write(
            &config,
            format!("listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n{telemetry}", dir.path().display()),
        )?;
        let operator = server::admin_credential(involve, &config, "council", "OPERATOR").await?;
        let child = tokio::process::Command::new(involve)
            .args(["serve", "--config"])
            .arg(&config)
            .env("INVOLVE__TELEMETRY__LOG_FILTER", "warn")
            .env("INVOLVE__GATEWAY__CREDENTIAL_CONCURRENCY_SHARE", "1")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("server.log"))?)
            .kill_on_drop(true)
            .spawn()?;
        let channel = server::wait_healthy(&format!("http://127.0.0.1:{port}")).await?;

        let mut admin = PartnerAdminClient::new(channel.clone());
        let organisation = gw::Organisation {
            display_name: "Bench HA".into(),
            kind: gw::organisation::Kind::HousingAssociation.into(),
            ..Default::default()
        };
        let create = gw::CreateOrganisationRequest {
            organisation: Some(organisation),
            organisation_id: "bench".into(),
        };
        admin.create_organisation(bearer(&operator, create)).await?;
        let issue = gw::IssueCredentialRequest {
            parent: "organisations/bench".into(),
            credential: Some(gw::Credential {
                role: ProtoRole::PartnerIntegration.into(),
                rate_limit_per_minute: i32::MAX,
                ..Default::default()
            }),
        };
        let partner = admin.issue_credential(bearer(&operator, issue)).await?.into_inner().secret;
        let mut profiles = CustomerProfilesClient::new(channel.clone());
        let area =
            pb::ReferenceValue { code: "north".into(), display_name: "North".into(), ..Default::default() };
        let add = pb::CreateReferenceValueRequest { parent: "referenceSets/areas".into(), value: Some(area) };
        profiles.create_reference_value(bearer(&operator, add)).await?;
        let mut customers = Vec::with_capacity(CUSTOMERS);
        for index in 0..CUSTOMERS as u64 {
            let mut row = crate::rows::import_row(index, "telemetry").customer.unwrap_or_default();
            row.area = "north".into();
            let request = pb::CreateCustomerRequest { customer: Some(row), ..Default::default() };
            customers.push(profiles.create_customer(bearer(&partner, request)).await?.into_inner().name);
        }
        Ok(Self { _child: child, channel, partner, customers, _dir: dir })
    }

    /// `concurrency` callers for `duration`, one call in `report_every` a
    /// `ReportIncident` (none for `None`); latencies of every call.
    async fn load(
        &self,
        concurrency: usize,
        duration: Duration,
        report_every: Option<u64>,
    ) -> anyhow::Result<(Duration, Vec<Duration>)> {
        let deadline = Instant::now() + duration;
        let started = Instant::now();
        let mut workers = Vec::new();
        for worker in 0..concurrency {
            let mut profiles = CustomerProfilesClient::new(self.channel.clone());
            let mut cases = AsbCasesClient::new(self.channel.clone());
            let (partner, customers) = (self.partner.clone(), self.customers.clone());
            workers.push(tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut call = worker as u64;
                while Instant::now() < deadline {
                    let customer = customers[(call as usize) % customers.len()].clone();
                    let began = Instant::now();
                    if report_every.is_some_and(|every| call % every == every - 1) {
                        let report = asb::Report {
                            channel: asb::Channel::Online.into(),
                            description: "loud music".into(),
                            area: "north".into(),
                            categories: vec!["noise".into()],
                            parties: vec![asb::Party {
                                role: asb::PartyRole::Complainant.into(),
                                person: Some(asb::party::Person::Customer(customer)),
                                withheld: false,
                            }],
                            ..Default::default()
                        };
                        let request =
                            asb::ReportIncidentRequest { report: Some(report), request_id: String::new() };
                        cases.report_incident(bearer(&partner, request)).await?;
                    } else {
                        profiles
                            .get_customer(bearer(&partner, pb::GetCustomerRequest { name: customer }))
                            .await?;
                    }
                    samples.push(began.elapsed());
                    call += 1;
                }
                Ok::<_, tonic::Status>(samples)
            }));
        }
        let mut samples = Vec::new();
        for worker in workers {
            samples.extend(worker.await??);
        }
        anyhow::ensure!(!samples.is_empty(), "no call completed");
        Ok((started.elapsed(), samples))
    }
}

fn report(label: &str, elapsed: Duration, samples: &[Duration]) -> f64 {
    let rate = samples.len() as f64 / elapsed.as_secs_f64();
    let latency = Latency::of(samples.to_vec());
    println!(
        "{label:<34} {rate:>9.0} calls/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        latency.p50.as_secs_f64() * 1000.0,
        latency.p99.as_secs_f64() * 1000.0
    );
    rate
}

pub(crate) async fn run(involve: &Path, duration: Duration, concurrency: usize) -> anyhow::Result<()> {
    println!(
        "\n== telemetry cost: export on against off, all-in-one on SQLite, {concurrency} callers, \
         {} s each in {ROUNDS} interleaved rounds ==",
        duration.as_secs()
    );
    let (sink, endpoint) = start_sink().await?;
    let off = Suite::start(involve, None).await?;
    let on = Suite::start(involve, Some(&format!("otlp_endpoint = \"{endpoint}\""))).await?;
    let sampled =
        Suite::start(involve, Some(&format!("otlp_endpoint = \"{endpoint}\"\ntrace_sample_ratio = 0.1")))
            .await?;
    // Warm them (connections, caches, the first cases) before measuring.
    for suite in [&off, &on, &sampled] {
        suite.load(concurrency, Duration::from_secs(1), Some(REPORT_EVERY)).await?;
    }
    let spans_before = sink.spans.load(Ordering::Relaxed);
    let mut spans = 0;
    for (label, report_every) in
        [("4 GetCustomer : 1 ReportIncident", Some(REPORT_EVERY)), ("GetCustomer", None)]
    {
        println!("-- {label}");
        let round = duration / ROUNDS;
        let arms = [&off, &on, &sampled];
        let mut times = [Duration::ZERO; 3];
        let mut samples: [Vec<Duration>; 3] = Default::default();
        let spans_at_start = sink.spans.load(Ordering::Relaxed);
        for index in 0..ROUNDS as usize {
            // Each round in a different order, so a slow spell of the shared
            // machine falls on every arm.
            for turn in 0..arms.len() {
                let arm = (index + turn) % arms.len();
                let (elapsed, taken) = arms[arm].load(concurrency, round, report_every).await?;
                times[arm] += elapsed;
                samples[arm].extend(taken);
            }
        }
        // Let the last batches arrive before counting them.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let off_rate = report("telemetry off", times[0], &samples[0]);
        let on_rate = report("telemetry on, every trace exported", times[1], &samples[1]);
        let sampled_rate = report("telemetry on, 10% of traces", times[2], &samples[2]);
        let exported = sink.spans.load(Ordering::Relaxed) - spans_at_start;
        spans = sink.spans.load(Ordering::Relaxed) - spans_before;
        println!(
            "spans received:                    {exported:>9}\n\
             on / off, every trace:             {:>9.3}  (aim >= 0.90: a cost of 10% or less)\n\
             on / off, 10% of traces:           {:>9.3}",
            on_rate / off_rate,
            sampled_rate / off_rate
        );
    }
    println!("metric exports received:           {:>9}", sink.points.load(Ordering::Relaxed));
    anyhow::ensure!(spans > 0, "the exporting server sent no spans: telemetry was not on");
    Ok(())
}
