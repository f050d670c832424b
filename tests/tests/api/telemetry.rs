//! Telemetry end to end, against a real receiver: the suite runs as `involve
//! serve` processes exporting OTLP to an in-process receiver, a partner's
//! scenario is driven through the gateway, and what arrives is checked — one
//! trace per call across the gateway, the service and the service it calls, with
//! database spans, attributes of the OpenTelemetry RPC and database conventions,
//! metrics with their labels, the Prometheus scrape, and no personal data in any
//! attribute or log line (the scenario's personal data carries marker strings).

use std::collections::BTreeMap;
use std::path::Path;

use contracts::involve::asb::v1 as asb;
use contracts::involve::asb::v1::asb_cases_client::AsbCasesClient;
use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve_tests::otlp::{OtlpReceiver, ReceivedPoint, ReceivedSpan};
use involve_tests::processes::{Process, SIGNING_SECRET, run, serve};
use involve_tests::{Backend, Caller, connect, fixtures, issue_credential, test_settings};
use platform::Role;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// In every piece of personal data the scenario sends; never in telemetry.
const MARKER: &str = "Qzmarkr";
/// The trace a partner says its `ReportIncident` belongs to: linked by the gateway,
/// never continued by it or by any service behind it.
const PARTNERS_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

involve_tests::on_every_backend_with_settings!(all_in_one, distributed);

async fn all_in_one(backend: Backend) {
    let Some(suite) = Suite::start(backend, false).await else { return };
    suite.check().await;
}

async fn distributed(backend: Backend) {
    let Some(suite) = Suite::start(backend, true).await else { return };
    suite.check().await;
}

struct Suite {
    receiver: OtlpReceiver,
    gateway: Process,
    processes: Vec<Process>,
    distributed: bool,
    operator: Caller,
    _dir: tempfile::TempDir,
}

/// Where the process says its scrape endpoint listens (JSON log).
fn scrape_address(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().find_map(|line| {
        let record: serde_json::Value = serde_json::from_str(line).ok()?;
        let fields = record.get("fields")?;
        (fields.get("message")?.as_str()? == "prometheus scrape endpoint listening")
            .then(|| fields.get("address")?.as_str().map(str::to_owned))?
    })
}

/// `GET /metrics` over plain HTTP/1.1: the response's status line and body.
async fn scrape(address: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

impl Suite {
    async fn start(backend: Backend, distributed: bool) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let settings = test_settings(backend, dir.path()).await?;
        let receiver = OtlpReceiver::start().await;
        let database = settings
            .database
            .url
            .as_ref()
            .map(|url| format!("[database]\nurl = \"{url}\"\n"))
            .unwrap_or_default();
        let config = |backends: &[(&str, &Process)]| {
            let mut config = format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{database}\n[server]\nshutdown_grace_secs = 2\n\n\
                 [gateway]\ncredential_refresh_secs = 1\n\n\
                 [security]\nprincipal_signing_secret = \"{SIGNING_SECRET}\"\n\n\
                 [telemetry]\notlp_endpoint = \"{}\"\nmetrics_interval_secs = 1\n\
                 prometheus_listen = \"127.0.0.1:0\"\n",
                dir.path().display(),
                receiver.endpoint(),
            );
            if !backends.is_empty() {
                config.push_str("\n[gateway.backends]\n");
                for (service, process) in backends {
                    config.push_str(&format!("{service} = [\"{}\"]\n", process.endpoint()));
                }
            }
            config
        };
        let migrate = dir.path().join("migrate.toml");
        std::fs::write(&migrate, config(&[])).unwrap();
        run(&["migrate"], &migrate).await;
        let token =
            run(&["admin", "create-credential", "--organisation", "council", "--role", "OPERATOR"], &migrate)
                .await;
        let operator =
            Caller { organisation: "organisations/council".into(), token: token.trim().to_owned() };
        // Spans leave each process within a fifth of a second, not five.
        let env = [("OTEL_BSP_SCHEDULE_DELAY", "200")];
        // Info, as in production: what operators' logs would hold.
        let filter = "info";
        let (gateway, processes) = if distributed {
            let profiles = serve(dir.path(), "profiles", Some("profiles"), &config(&[]), filter, &env).await;
            let asb_config = config(&[("profiles", &profiles)]);
            let asb = serve(dir.path(), "asb", Some("asb"), &asb_config, filter, &env).await;
            let gateway_config = config(&[("profiles", &profiles), ("asb", &asb)]);
            let gateway = serve(dir.path(), "gateway", Some("gateway"), &gateway_config, filter, &env).await;
            (gateway, vec![profiles, asb])
        } else {
            (serve(dir.path(), "involve", None, &config(&[]), filter, &env).await, Vec::new())
        };
        Some(Self { receiver, gateway, processes, distributed, operator, _dir: dir })
    }

    /// Runs the partner's scenario and checks everything that arrives.
    async fn check(self) {
        let channel = connect(&self.gateway.endpoint()).await;
        let value =
            pb::ReferenceValue { code: "north".into(), display_name: "North".into(), ..Default::default() };
        let request =
            pb::CreateReferenceValueRequest { parent: "referenceSets/areas".into(), value: Some(value) };
        CustomerProfilesClient::new(channel.clone())
            .create_reference_value(self.operator.request(request))
            .await
            .unwrap();
        let issued =
            issue_credential(channel.clone(), &self.operator, "riverside", Role::PartnerIntegration, &[], 0)
                .await;
        let partner = Caller { organisation: "organisations/riverside".into(), token: issued.secret };

        // A customer whose every personal field carries the marker.
        let customer = pb::Customer {
            area: "north".into(),
            contact: Some(pb::ContactDetails {
                email: format!("{}.neighbour@example.org", MARKER.to_lowercase()),
                phone: "020 7946 0958".into(),
                mobile: String::new(),
            }),
            property: Some(pb::Property {
                uprn: "100023336956".into(),
                address_lines: vec![format!("1 {MARKER} Street")],
                town: format!("{MARKER}ton"),
                postcode: "EX1 1AA".into(),
            }),
            ..fixtures::customer(
                &format!("{MARKER}given"),
                &format!("{MARKER}family"),
                "housing-association-tenant",
            )
        };
        let mut profiles = CustomerProfilesClient::new(channel.clone());
        let created = profiles.create_customer(partner.request(fixtures::create(customer))).await.unwrap();
        let customer_name = created.into_inner().name;

        let mut cases = AsbCasesClient::new(channel);
        let report = asb::Report {
            channel: asb::Channel::OutOfHours.into(),
            description: format!("{MARKER} music until 3am every night"),
            area: "north".into(),
            categories: vec!["noise".into()],
            parties: vec![asb::Party {
                role: asb::PartyRole::Complainant.into(),
                person: Some(asb::party::Person::Customer(customer_name)),
                withheld: false,
            }],
            ..Default::default()
        };
        let mut reported =
            partner.request(asb::ReportIncidentRequest { report: Some(report), request_id: String::new() });
        let traceparent = format!("00-{PARTNERS_TRACE}-00f067aa0ba902b7-01");
        reported.metadata_mut().insert("traceparent", traceparent.parse().unwrap());
        let filed = cases.report_incident(reported).await.unwrap().into_inner();
        let case = filed.case.unwrap();
        cases.get_case(partner.request(asb::GetCaseRequest { name: case.name.clone() })).await.unwrap();
        // A caller the gateway does not know: counted as a refusal, by reason.
        let stranger = Caller { organisation: String::new(), token: "not-a-credential".into() };
        let refused =
            cases.get_case(stranger.request(asb::GetCaseRequest { name: case.name })).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);

        self.check_trace().await;
        self.check_metrics().await;
        self.check_scrape().await;
        self.check_no_personal_data();
    }

    async fn check_trace(&self) {
        let report_trace = |spans: &[ReceivedSpan]| {
            let root = spans.iter().find(|span| {
                span.parent_span_id.is_empty() && span.attribute("rpc.method") == Some("ReportIncident")
            })?;
            let in_trace: Vec<&ReceivedSpan> =
                spans.iter().filter(|span| span.trace_id == root.trace_id).collect();
            // Each process exports on its own schedule; a server span ends after
            // the database spans below it, so with both servers' spans here
            // everything is.
            let server = |method: &str| {
                in_trace.iter().any(|span| {
                    span.kind == "SPAN_KIND_SERVER"
                        && !span.parent_span_id.is_empty()
                        && span.attribute("rpc.method") == Some(method)
                })
            };
            (server("ReportIncident") && server("GetCustomer")).then(|| root.trace_id.clone())
        };
        self.receiver
            .wait_until("ReportIncident's trace through asb to profiles", |spans, _| {
                report_trace(spans).is_some()
            })
            .await;
        // Everything in flight has had time to arrive by the next wait.
        let spans = self.receiver.spans();
        let trace_id = report_trace(&spans).unwrap();
        let trace: Vec<&ReceivedSpan> = spans.iter().filter(|span| span.trace_id == trace_id).collect();
        let by_id: BTreeMap<&str, &ReceivedSpan> =
            trace.iter().map(|span| (span.span_id.as_str(), *span)).collect();
        let ancestors = |span: &ReceivedSpan| {
            let mut chain = Vec::new();
            let mut parent = span.parent_span_id.as_str();
            while let Some(next) = by_id.get(parent) {
                chain.push(*next);
                parent = next.parent_span_id.as_str();
            }
            assert!(parent.is_empty(), "span {} has a parent that never arrived", span.name);
            chain
        };
        let describe = || trace.iter().map(|span| format!("{span:?}")).collect::<Vec<_>>().join("\n");

        // The edge: the root, a server span of the gateway, in a trace of its own
        // that names the partner's; no span anywhere continues the partner's.
        let edge = trace.iter().find(|span| span.parent_span_id.is_empty()).unwrap();
        assert_eq!(edge.kind, "SPAN_KIND_SERVER", "{}", describe());
        assert_eq!(edge.attribute("involve.caller_trace_id"), Some(PARTNERS_TRACE), "{}", describe());
        assert!(spans.iter().all(|span| span.trace_id != PARTNERS_TRACE), "a span in the partner's trace");
        assert_eq!(edge.name, "involve.asb.v1.AsbCases/ReportIncident");
        // The service: a server span answering the same method below the edge.
        let service = trace
            .iter()
            .find(|span| {
                span.kind == "SPAN_KIND_SERVER"
                    && span.attribute("rpc.method") == Some("ReportIncident")
                    && !span.parent_span_id.is_empty()
            })
            .unwrap_or_else(|| panic!("no asb server span:\n{}", describe()));
        assert!(ancestors(service).iter().any(|span| span.span_id == edge.span_id), "{}", describe());
        // The service-to-service call: profiles' server span below asb's.
        let peer = trace
            .iter()
            .find(|span| {
                span.kind == "SPAN_KIND_SERVER" && span.attribute("rpc.method") == Some("GetCustomer")
            })
            .unwrap_or_else(|| panic!("no profiles server span:\n{}", describe()));
        assert_eq!(peer.attribute("rpc.service"), Some("involve.profiles.v1.CustomerProfiles"));
        let peer_ancestors = ancestors(peer);
        assert!(peer_ancestors.iter().any(|span| span.span_id == service.span_id), "{}", describe());
        // ... through asb's client span for the call.
        let client = peer_ancestors.first().unwrap();
        assert_eq!(client.kind, "SPAN_KIND_CLIENT", "{}", describe());
        assert_eq!(client.attribute("rpc.method"), Some("GetCustomer"));
        if self.distributed {
            assert_eq!(edge.service_name, "gateway");
            assert_eq!(service.service_name, "asb");
            assert_eq!(peer.service_name, "profiles");
        }
        // Database spans under both services (the server span nearest above each).
        for (server, service_name) in [(service, "asb"), (peer, "profiles")] {
            let database = trace
                .iter()
                .find(|span| {
                    span.attributes.contains_key("db.system.name")
                        && ancestors(span)
                            .iter()
                            .find(|above| above.kind == "SPAN_KIND_SERVER")
                            .is_some_and(|above| above.span_id == server.span_id)
                })
                .unwrap_or_else(|| panic!("no database span under {service_name}:\n{}", describe()));
            assert_eq!(database.kind, "SPAN_KIND_CLIENT");
            assert!(
                matches!(database.attribute("db.system.name"), Some("sqlite" | "postgresql")),
                "{database:?}"
            );
            assert!(!database.attribute("db.operation.name").unwrap_or_default().is_empty(), "{database:?}");
            assert_eq!(database.attribute("db.namespace"), Some(service_name), "{database:?}");
        }
        // Every RPC span follows the RPC conventions.
        for span in trace.iter().filter(|span| span.attributes.contains_key("rpc.method")) {
            assert_eq!(span.attribute("rpc.system"), Some("grpc"), "{span:?}");
            assert_eq!(span.attribute("rpc.grpc.status_code"), Some("0"), "{span:?}");
            let service = span.attribute("rpc.service").unwrap_or_default();
            assert_eq!(span.name, format!("{service}/{}", span.attribute("rpc.method").unwrap()), "{span:?}");
            assert!(span.attributes.contains_key("server.address"), "{span:?}");
        }
    }

    async fn check_metrics(&self) {
        let report_measured = |points: &[ReceivedPoint], hop: &str| {
            points.iter().any(|point| {
                point.metric == "rpc.server.duration"
                    && point.attribute("involve.hop") == Some(hop)
                    && point.attribute("rpc.service") == Some("involve.asb.v1.AsbCases")
                    && point.attribute("rpc.method") == Some("ReportIncident")
                    && point.attribute("rpc.grpc.status_code") == Some("0")
                    && point.attribute("organisation") == Some("organisations/riverside")
            })
        };
        self.receiver
            .wait_until("ReportIncident measured at the edge and in asb, with open cases", |_, points| {
                report_measured(points, "edge")
                    && report_measured(points, "service")
                    && points.iter().any(|point| point.metric == "asb.cases.open")
                    && points.iter().any(|point| point.metric == "db.client.connection.count")
                    && points.iter().any(|point| {
                        point.metric == "rpc.server.refusals"
                            && point.attribute("involve.hop") == Some("edge")
                            && point.attribute("rpc.grpc.status_code") == Some("16")
                            && point
                                .attribute("error.type")
                                .is_some_and(|reason| reason.starts_with("CREDENTIALS_"))
                    })
            })
            .await;
        let points = self.receiver.points();
        let open = points
            .iter()
            .filter(|point| point.metric == "asb.cases.open")
            .find(|point| point.attribute("priority").is_some())
            .unwrap();
        if self.distributed {
            assert_eq!(open.service_name, "asb");
        }
        let pool = points.iter().find(|point| point.metric == "db.client.connection.count").unwrap();
        assert!(matches!(pool.attribute("db.client.connection.state"), Some("idle" | "used")), "{pool:?}");
        assert!(pool.attribute("db.client.connection.pool.name").is_some(), "{pool:?}");
    }

    async fn check_scrape(&self) {
        let process = if self.distributed { &self.processes[1] } else { &self.gateway };
        let address = scrape_address(&process.log).expect("the scrape endpoint's address in the log");
        // Domain signals are read once a metrics interval: wait for the reading
        // that counts the case just opened.
        let open_case = "asb_cases_open{priority=\"untriaged\"} 1\n";
        let started = std::time::Instant::now();
        let (status, body) = loop {
            let (status, body) = scrape(&address).await;
            if body.contains(open_case) || started.elapsed() > std::time::Duration::from_secs(60) {
                break (status, body);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
        assert!(body.contains("# TYPE rpc_server_duration_seconds histogram"), "{body}");
        assert!(body.contains("rpc_method=\"ReportIncident\""), "{body}");
        assert!(body.contains(open_case), "{body}");
        assert!(body.contains("# TYPE asb_standards_overdue gauge"), "{body}");
    }

    fn check_no_personal_data(&self) {
        for text in self.receiver.strings() {
            assert!(!text.to_lowercase().contains(&MARKER.to_lowercase()), "personal data exported: {text}");
        }
        for process in std::iter::once(&self.gateway).chain(&self.processes) {
            let log = std::fs::read_to_string(&process.log).unwrap();
            assert!(!log.is_empty());
            for line in log.lines() {
                assert!(
                    !line.to_lowercase().contains(&MARKER.to_lowercase()),
                    "personal data logged in {}: {line}",
                    process.log.display()
                );
            }
        }
    }
}
