//! The hot path against the limit: a bare tonic server of the benchmark's own
//! (`grpc.health.v1.Health/Check` from tonic-health, nothing else) as the
//! baseline, and every partner path through `involve serve`, all driven by the
//! same load generator (`h2load`, `-c 8 -m 32`) with the same prepared gRPC frames
//! in interleaved rounds, so a slow spell of the shared machine falls on every
//! path alike. Each path is first called once with a real tonic client (h2load
//! only sees HTTP 200, not grpc-status), and once more after its load.
//!
//! A page of 50 customers is a much larger answer than the echo's, so two more
//! bare tonic servers answer `ListCustomers` from memory with the page the suite
//! returned (encoded on every call, and as bytes encoded once): what sending that
//! page costs on this machine with nothing else to do.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use tonic::transport::Channel;

use crate::server::{Backend, ServerProcess, wait_healthy};

/// Connections and concurrent streams per connection: the same for every path.
const CONNECTIONS: u32 = 8;
const STREAMS: u32 = 32;
/// Rounds every path's requests are split into.
const ROUNDS: u64 = 3;

const HEALTH: &str = "/grpc.health.v1.Health/Check";
const GET: &str = "/involve.profiles.v1.CustomerProfiles/GetCustomer";
const LIST: &str = "/involve.profiles.v1.CustomerProfiles/ListCustomers";
const CREATE: &str = "/involve.profiles.v1.CustomerProfiles/CreateCustomer";
/// A customer name the service refuses by validation, before its store.
const MALFORMED_NAME: &str = "customers/not-a-uuid";
const PAGE_ENCODED: &str = "bare tonic page of 50, encoded per call";
const PAGE_BYTES: &str = "bare tonic page of 50, bytes only";

/// One path under load: where, what, and how it is checked with tonic.
struct Target {
    label: String,
    url: String,
    frame: PathBuf,
    bearer: Option<String>,
    check: Check,
    /// Calls and seconds summed over rounds.
    calls: u64,
    seconds: f64,
    /// A PostgreSQL database whose planner statistics are refreshed before each
    /// round of this path, as autovacuum would between them in a running system:
    /// `CreateCustomer`'s rounds grow the customers table by thousands of rows,
    /// after which a planner with the old statistics scans it whole for a page.
    postgres: Option<String>,
}

#[derive(Clone)]
enum Check {
    Health(Channel),
    Get(Channel, String, String),
    /// A call the service refuses (`INVALID_ARGUMENT`) after the gateway's whole edge.
    Refused(Channel, String, String),
    List(Channel, String),
    Create(Channel, String),
}

impl Check {
    async fn call(&self) -> anyhow::Result<()> {
        match self {
            Self::Health(channel) => {
                tonic_health::pb::health_client::HealthClient::new(channel.clone())
                    .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
                    .await?;
            }
            Self::Get(channel, secret, name) => {
                CustomerProfilesClient::new(channel.clone())
                    .get_customer(bearer(secret, pb::GetCustomerRequest { name: name.clone() }))
                    .await?;
            }
            Self::Refused(channel, secret, name) => {
                let refused = CustomerProfilesClient::new(channel.clone())
                    .get_customer(bearer(secret, pb::GetCustomerRequest { name: name.clone() }))
                    .await
                    .err()
                    .map(|status| status.code());
                anyhow::ensure!(
                    refused == Some(tonic::Code::InvalidArgument),
                    "a malformed name should be refused, got {refused:?}"
                );
            }
            Self::List(channel, secret) => {
                let page = CustomerProfilesClient::new(channel.clone())
                    .list_customers(bearer(secret, list_request()))
                    .await?
                    .into_inner();
                anyhow::ensure!(page.customers.len() == 50, "a full page was expected");
            }
            Self::Create(channel, secret) => {
                CustomerProfilesClient::new(channel.clone())
                    .create_customer(bearer(secret, create_request()))
                    .await?;
            }
        }
        Ok(())
    }
}

fn bearer<T>(secret: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {secret}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

fn list_request() -> pb::ListCustomersRequest {
    pb::ListCustomersRequest { page_size: 50, ..pb::ListCustomersRequest::default() }
}

fn create_request() -> pb::CreateCustomerRequest {
    let customer = pb::Customer {
        given_name: "Bench".into(),
        family_name: "Writer".into(),
        tenure: "leaseholder".into(),
        ..Default::default()
    };
    pb::CreateCustomerRequest { customer: Some(customer), ..Default::default() }
}

/// A gRPC frame (uncompressed flag, big-endian length, message) in a file for `h2load -d`.
fn frame_file(dir: &Path, name: &str, message: &impl prost::Message) -> anyhow::Result<PathBuf> {
    let body = message.encode_to_vec();
    let mut frame = Vec::with_capacity(body.len() + 5);
    frame.push(0);
    frame.extend_from_slice(&u32::try_from(body.len())?.to_be_bytes());
    frame.extend_from_slice(&body);
    let path = dir.join(name);
    std::fs::write(&path, frame)?;
    Ok(path)
}

/// Runs h2load once; returns (calls that got HTTP 2xx, seconds).
async fn h2load(path: &Target, requests: u64) -> anyhow::Result<(u64, f64)> {
    let mut command = tokio::process::Command::new("h2load");
    command
        .args(["-n", &requests.to_string(), "-c", &CONNECTIONS.to_string(), "-m", &STREAMS.to_string()])
        .arg("-d")
        .arg(&path.frame)
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"]);
    if let Some(secret) = &path.bearer {
        command.args(["-H", &format!("authorization: Bearer {secret}")]);
    }
    let output = command.arg(&path.url).stdin(Stdio::null()).output().await.context("cannot run h2load")?;
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "h2load failed: {text}");
    // "finished in 1.23s, 40000.00 req/s, ..." and "status codes: 40000 2xx, ..."
    let seconds = text
        .lines()
        .find_map(|line| line.strip_prefix("finished in "))
        .and_then(|rest| rest.split(',').next())
        .and_then(|time| parse_duration(time.trim()))
        .with_context(|| format!("no time in h2load's output: {text}"))?;
    let ok = text
        .lines()
        .find_map(|line| line.strip_prefix("status codes: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse::<u64>().ok())
        .with_context(|| format!("no status codes in h2load's output: {text}"))?;
    anyhow::ensure!(ok == requests, "{}: only {ok} of {requests} calls got HTTP 200: {text}", path.label);
    Ok((ok, seconds))
}

/// h2load prints "1.23s", "456.78ms" or "12us".
fn parse_duration(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(us) = text.strip_suffix("us") {
        (us, 1e-6)
    } else {
        (text.strip_suffix('s')?, 1.0)
    };
    number.parse::<f64>().ok().map(|value| value * scale)
}

/// A bare tonic 0.14 server of the benchmark's own: the limit every path is compared to.
async fn start_echo() -> anyhow::Result<String> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let (_reporter, service) = tonic_health::server::health_reporter();
    tokio::spawn(tonic::transport::Server::builder().add_service(service).serve(addr));
    let endpoint = format!("http://{addr}");
    wait_healthy(&endpoint).await?;
    Ok(endpoint)
}

/// `ListCustomers` answered by bare tonic from memory, with no store, gateway,
/// audit or authentication: every call gets the page the suite returned, either
/// encoded by tonic's prost codec on each call as a server's answer is, or as
/// bytes encoded once (only sent). What a page of this size costs to send and
/// receive on this machine: the ceiling for `ListCustomers`.
#[derive(Clone)]
struct PageFromMemory {
    page: Arc<pb::ListCustomersResponse>,
    /// The page's encoding, when calls send it as it is.
    encoded: Option<bytes::Bytes>,
}

impl tonic::server::NamedService for PageFromMemory {
    const NAME: &'static str = "involve.profiles.v1.CustomerProfiles";
}

/// Answers with a copy of the page, for tonic to encode.
struct EncodePage(Arc<pb::ListCustomersResponse>);

impl tonic::server::UnaryService<pb::ListCustomersRequest> for EncodePage {
    type Response = pb::ListCustomersResponse;
    type Future = std::future::Ready<Result<tonic::Response<Self::Response>, tonic::Status>>;

    fn call(&mut self, _request: tonic::Request<pb::ListCustomersRequest>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(pb::ListCustomersResponse::clone(&self.0))))
    }
}

/// Answers with the page's bytes.
struct SendBytes(bytes::Bytes);

impl tonic::server::UnaryService<()> for SendBytes {
    type Response = bytes::Bytes;
    type Future = std::future::Ready<Result<tonic::Response<Self::Response>, tonic::Status>>;

    fn call(&mut self, _request: tonic::Request<()>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new(self.0.clone())))
    }
}

/// Writes messages already encoded; reads and ignores requests.
#[derive(Clone, Copy, Default)]
struct BytesCodec;

impl tonic::codec::Codec for BytesCodec {
    type Encode = bytes::Bytes;
    type Decode = ();
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self {
        *self
    }

    fn decoder(&mut self) -> Self {
        *self
    }
}

impl tonic::codec::Encoder for BytesCodec {
    type Item = bytes::Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: bytes::Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for BytesCodec {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        let length = bytes::Buf::remaining(src);
        bytes::Buf::advance(src, length);
        Ok(Some(()))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for PageFromMemory {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let page = self.clone();
        Box::pin(async move {
            Ok(match page.encoded {
                Some(encoded) => {
                    tonic::server::Grpc::new(BytesCodec).unary(SendBytes(encoded), request).await
                }
                None => {
                    let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                    grpc.unary(EncodePage(page.page), request).await
                }
            })
        })
    }
}

/// Serves `page` from memory on a loopback port; returns its endpoint.
async fn start_page_server(page: PageFromMemory) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(tonic::transport::Server::builder().add_service(page).serve_with_incoming(incoming));
    Ok(format!("http://{addr}"))
}

pub(crate) async fn run(
    involve: &Path,
    backends: &[Backend],
    requests: u64,
    perf: Option<(&Path, &str)>,
) -> anyhow::Result<()> {
    if let Some((_, method)) = perf {
        anyhow::ensure!(
            [GET, LIST, CREATE].iter().any(|url| url.ends_with(&format!("/{method}"))),
            "--perf-method must be GetCustomer, ListCustomers or CreateCustomer, not {method}"
        );
    }
    println!(
        "\n== hot path: h2load -c {CONNECTIONS} -m {STREAMS}, {requests} calls per path in {ROUNDS} interleaved rounds =="
    );
    let dir = tempfile::tempdir()?;
    let health_frame = frame_file(dir.path(), "health", &tonic_health::pb::HealthCheckRequest::default())?;
    let list_frame = frame_file(dir.path(), "list", &list_request())?;
    let create_frame = frame_file(dir.path(), "create", &create_request())?;
    let malformed_frame =
        frame_file(dir.path(), "malformed", &pb::GetCustomerRequest { name: MALFORMED_NAME.into() })?;

    let echo = start_echo().await?;
    let mut paths = vec![Target {
        label: "bare tonic echo (Health/Check)".into(),
        url: format!("{echo}{HEALTH}"),
        frame: health_frame.clone(),
        bearer: None,
        check: Check::Health(Channel::from_shared(echo)?.connect().await?),
        calls: 0,
        seconds: 0.0,
        postgres: None,
    }];
    let mut servers = Vec::new();
    for backend in backends {
        let server = ServerProcess::start(involve, backend).await?;
        let (endpoint, secret, channel) = (server.endpoint(), server.secret().to_owned(), server.channel());
        // Enough customers for a full page, and one to read.
        server.import(200, "hotpath").await?;
        let name = CustomerProfilesClient::new(channel.clone())
            .create_customer(bearer(&secret, create_request()))
            .await?
            .into_inner()
            .name;
        let get_frame = frame_file(
            dir.path(),
            &format!("get-{}", backend.label()),
            &pb::GetCustomerRequest { name: name.clone() },
        )?;
        let label = backend.label();
        if paths.len() == 1 {
            paths.push(Target {
                label: "Health/Check via involve serve".into(),
                url: format!("{endpoint}{HEALTH}"),
                frame: health_frame.clone(),
                bearer: None,
                check: Check::Health(channel.clone()),
                calls: 0,
                seconds: 0.0,
                postgres: None,
            });
        }
        for (method, url, frame, check) in [
            ("GetCustomer", GET, get_frame, Check::Get(channel.clone(), secret.clone(), name)),
            ("ListCustomers (50)", LIST, list_frame.clone(), Check::List(channel.clone(), secret.clone())),
            ("CreateCustomer", CREATE, create_frame.clone(), Check::Create(channel.clone(), secret.clone())),
        ] {
            paths.push(Target {
                label: format!("{method}, {label}"),
                url: format!("{endpoint}{url}"),
                frame,
                bearer: Some(secret.clone()),
                check,
                calls: 0,
                seconds: 0.0,
                postgres: server.postgres_database().map(str::to_owned),
            });
        }
        if servers.is_empty() {
            // The gateway's whole edge and the service's validation, without the store.
            paths.push(Target {
                label: "GetCustomer refused before the store".into(),
                url: format!("{endpoint}{GET}"),
                frame: malformed_frame.clone(),
                bearer: Some(secret.clone()),
                check: Check::Refused(channel.clone(), secret.clone(), MALFORMED_NAME.into()),
                calls: 0,
                seconds: 0.0,
                postgres: None,
            });
            let page = CustomerProfilesClient::new(channel.clone())
                .list_customers(bearer(&secret, list_request()))
                .await?
                .into_inner();
            let encoded = bytes::Bytes::from(prost::Message::encode_to_vec(&page));
            let page = Arc::new(page);
            for (label, encoded) in [(PAGE_ENCODED, None), (PAGE_BYTES, Some(encoded))] {
                let bare = start_page_server(PageFromMemory { page: Arc::clone(&page), encoded }).await?;
                paths.push(Target {
                    label: label.into(),
                    url: format!("{bare}{LIST}"),
                    frame: list_frame.clone(),
                    bearer: None,
                    check: Check::List(Channel::from_shared(bare)?.connect().await?, String::new()),
                    calls: 0,
                    seconds: 0.0,
                    postgres: None,
                });
            }
        }
        servers.push(server);
    }

    // Every path works before it is loaded (h2load cannot see a grpc-status).
    for path in &paths {
        path.check.call().await.with_context(|| format!("{} does not answer OK", path.label))?;
    }
    let per_round = (requests / ROUNDS).max(1);
    // The method's path on the first backend, whose server `perf` records.
    let profiled = perf.zip(backends.first()).map(|((out, method), backend)| (out, method, backend.label()));
    for round in 0..ROUNDS as usize {
        for offset in 0..paths.len() {
            let index = (round + offset) % paths.len();
            let path = &paths[index];
            let profile = match (&profiled, servers.first()) {
                // The method's own path ("ListCustomers (50), SQLite"), not its
                // neighbours ("GetCustomer refused before the store").
                (Some((out, method, backend)), Some(server))
                    if round == 0
                        && path.url.ends_with(&format!("/{method}"))
                        && path.label.ends_with(&format!(", {backend}")) =>
                {
                    Some(start_perf(out, server.pid())?)
                }
                (Some(_) | None, _) => None,
            };
            if let Some(database) = &path.postgres {
                refresh_statistics(database).await?;
            }
            let (calls, seconds) = h2load(path, per_round).await?;
            if let Some(profile) = profile {
                stop_perf(profile).await?;
            }
            // ...and still works after it (a rate limit or a failure would show here).
            path.check.call().await.with_context(|| format!("{} failed after its load", path.label))?;
            let path = &mut paths[index];
            path.calls += calls;
            path.seconds += seconds;
        }
    }
    let echo_rate = paths[0].calls as f64 / paths[0].seconds;
    for path in &paths {
        let rate = path.calls as f64 / path.seconds;
        println!("{:<40} {rate:>9.0} calls/s   {:>5.1}% of echo", path.label, rate / echo_rate * 100.0);
    }
    println!("aims: GetCustomer >= 40% of echo, ListCustomers >= 15%, CreateCustomer >= 10%");
    let rate_of = |label: &str| {
        paths.iter().find(|path| path.label == label).map(|path| path.calls as f64 / path.seconds)
    };
    if let (Some(encoded), Some(sent)) = (rate_of(PAGE_ENCODED), rate_of(PAGE_BYTES)) {
        // The suite's own pages: the bare servers take no credential.
        for path in paths.iter().filter(|path| path.url.ends_with(LIST) && path.bearer.is_some()) {
            let rate = path.calls as f64 / path.seconds;
            println!(
                "{:<40} {:>5.1}% of the page encoded per call, {:.1}% of its bytes only",
                path.label,
                rate / encoded * 100.0,
                rate / sent * 100.0
            );
        }
    }
    for server in servers {
        server.stop().await?;
    }
    Ok(())
}

/// `ANALYZE`, as autovacuum would run it on a table that grew.
async fn refresh_statistics(database: &str) -> anyhow::Result<()> {
    use sea_orm::ConnectionTrait as _;
    let connection = sea_orm::Database::connect(database).await?;
    connection.execute_unprepared("ANALYZE").await?;
    connection.close().await?;
    Ok(())
}

/// `perf record` on the server for the first round of one method on the first backend.
/// DWARF call graphs: the release build keeps no frame pointers, so `-g` alone
/// attributes most samples to no caller.
pub(crate) fn start_perf(out: &Path, pid: u32) -> anyhow::Result<tokio::process::Child> {
    tokio::process::Command::new("perf")
        .args(["record", "--call-graph", "dwarf,16384", "-F", "499", "-o"])
        .arg(out)
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot run perf")
}

pub(crate) async fn stop_perf(mut child: tokio::process::Child) -> anyhow::Result<()> {
    if let Some(pid) = child.id() {
        std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status()?;
    }
    child.wait().await?;
    Ok(())
}
