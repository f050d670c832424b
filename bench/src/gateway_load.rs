//! Gateway overhead: `GetCustomer` straight to a profiles process (with a signed
//! principal, as the gateway would send) against the same call through the
//! gateway, distributed and all-in-one, in one run; then the gateway's memory
//! with 1,000 calls in flight at once.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use contracts::involve::common::v1::Role as ProtoRole;
use contracts::involve::gateway::v1 as gw;
use contracts::involve::gateway::v1::partner_admin_client::PartnerAdminClient;
use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use platform::{HandoffKey, Principal, Role};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

use crate::{Latency, memory, server};

const SECRET: &str = "bench-signing-secret-0123456789";

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct Process {
    child: Child,
    port: u16,
}

impl Process {
    /// Runs `command` (its errors to `log`) and waits until it answers health
    /// checks on `port`; killed when dropped.
    async fn spawn(mut command: Command, log: &Path, port: u16) -> anyhow::Result<Self> {
        let child =
            command.stdout(Stdio::null()).stderr(std::fs::File::create(log)?).kill_on_drop(true).spawn()?;
        let process = Self { child, port };
        server::wait_healthy(&process.endpoint()).await?;
        Ok(process)
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A command running `program`, on the CPUs `cpus` only (`taskset`) when given.
fn command_on(program: &Path, cpus: Option<&str>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut pinned = Command::new("taskset");
            pinned.args(["--cpu-list", cpus]).arg(program);
            pinned
        }
        None => Command::new(program),
    }
}

/// Starts `involve serve [service]` with `config`; on the CPUs `cpus` only
/// (`taskset`) when given, so its runtime sizes itself to them as it would in a
/// container given that many.
async fn start(
    involve: &Path,
    dir: &Path,
    name: &str,
    service: Option<&str>,
    config: &str,
    port: u16,
    cpus: Option<&str>,
) -> anyhow::Result<Process> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config)?;
    let mut command = command_on(involve, cpus);
    command.arg("serve");
    if let Some(service) = service {
        command.arg(service);
    }
    command
        .arg("--config")
        .arg(&path)
        .env("INVOLVE__TELEMETRY__LOG_FILTER", "warn")
        // One credential drives the whole load here: let it hold every place.
        .env("INVOLVE__GATEWAY__CREDENTIAL_CONCURRENCY_SHARE", "1")
        .env_remove("RUST_LOG");
    Process::spawn(command, &dir.join(format!("{name}.log")), port).await
}

/// Starts this binary as the bare pass-through proxy to `upstream` (see
/// [`crate::bare_proxy`]), on the CPUs `cpus` only when given.
async fn start_bare_proxy(dir: &Path, upstream: &str, cpus: Option<&str>) -> anyhow::Result<Process> {
    let port = free_port()?;
    let mut command = command_on(&std::env::current_exe()?, cpus);
    command.arg("--bare-proxy").arg(format!("127.0.0.1:{port}")).arg("--bare-proxy-to").arg(upstream);
    Process::spawn(command, &dir.join(format!("bare-proxy-{port}.log")), port).await
}

fn bearer<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// A partner credential without a practical rate limit, and one customer to read.
async fn partner_and_customer(gateway: &Process, operator: &str) -> anyhow::Result<(String, String)> {
    let secret = issue_partner(gateway, operator).await?;
    let channel = Channel::from_shared(gateway.endpoint())?.connect().await?;
    let customer = pb::Customer {
        given_name: "Bench".into(),
        family_name: "Reader".into(),
        tenure: "leaseholder".into(),
        ..Default::default()
    };
    let request = pb::CreateCustomerRequest { customer: Some(customer), ..Default::default() };
    let created =
        CustomerProfilesClient::new(channel).create_customer(bearer(&secret, request)).await?.into_inner();
    Ok((secret, created.name))
}

/// A new partner credential of `organisations/bench`, never presented yet.
async fn issue_partner(gateway: &Process, operator: &str) -> anyhow::Result<String> {
    let channel = Channel::from_shared(gateway.endpoint())?.connect().await?;
    let mut admin = PartnerAdminClient::new(channel);
    let organisation = gw::Organisation {
        display_name: "Bench HA".into(),
        kind: gw::organisation::Kind::HousingAssociation.into(),
        ..Default::default()
    };
    let create =
        gw::CreateOrganisationRequest { organisation: Some(organisation), organisation_id: "bench".into() };
    admin.create_organisation(bearer(operator, create)).await.ok();
    let issue = gw::IssueCredentialRequest {
        parent: "organisations/bench".into(),
        credential: Some(gw::Credential {
            role: ProtoRole::PartnerIntegration.into(),
            rate_limit_per_minute: i32::MAX,
            ..Default::default()
        }),
    };
    Ok(admin.issue_credential(bearer(operator, issue)).await?.into_inner().secret)
}

/// How a load call authenticates.
#[derive(Clone)]
enum Auth {
    Bearer(String),
    Signed(HandoffKey),
}

/// Calls made under load, summed over rounds, with the CPU time each process
/// on the path spent meanwhile.
#[derive(Default)]
struct Load {
    elapsed: Duration,
    samples: Vec<Duration>,
    cpu_seconds: Vec<f64>,
}

impl Load {
    fn add(&mut self, round: Self, cpu_seconds: &[f64]) {
        self.elapsed += round.elapsed;
        self.samples.extend(round.samples);
        self.cpu_seconds.resize(cpu_seconds.len(), 0.0);
        for (total, spent) in self.cpu_seconds.iter_mut().zip(cpu_seconds) {
            *total += spent;
        }
    }

    fn rate(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn latency(&self) -> Latency {
        Latency::of(self.samples.clone())
    }
}

/// `concurrency` workers over `connections` channels calling `GetCustomer` for `duration`.
async fn load(
    endpoint: &str,
    auth: Auth,
    name: &str,
    concurrency: usize,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Load> {
    let mut channels = Vec::new();
    for _ in 0..connections.max(1) {
        channels.push(Channel::from_shared(endpoint.to_owned())?.connect().await?);
    }
    let principal = Principal {
        organisation: "organisations/bench".into(),
        role: Role::PartnerIntegration,
        subject: "bench".into(),
        areas: None,
    };
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let mut client = CustomerProfilesClient::new(channels[worker % channels.len()].clone());
        let (auth, name, principal) = (auth.clone(), name.to_owned(), principal.clone());
        workers.push(tokio::spawn(async move {
            // Serialised once, signed per call with a fresh nonce: what the gateway does
            // (services refuse a signature seen before).
            let prepared = match &auth {
                Auth::Signed(key) => Some(key.prepare(&principal)),
                Auth::Bearer(_) => None,
            };
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let mut request = tonic::Request::new(pb::GetCustomerRequest { name: name.clone() });
                match (&auth, &prepared) {
                    (Auth::Bearer(token), _) => {
                        if let Ok(value) = format!("Bearer {token}").parse() {
                            request.metadata_mut().insert("authorization", value);
                        }
                    }
                    (Auth::Signed(key), Some(prepared)) => {
                        let (payload, signature) =
                            key.sign_prepared(prepared, "involve.profiles.v1.CustomerProfiles/GetCustomer");
                        if let (Ok(payload), Ok(signature)) = (payload.parse(), signature.parse()) {
                            request.metadata_mut().insert("x-involve-principal", payload);
                            request.metadata_mut().insert("x-involve-principal-signature", signature);
                        }
                    }
                    (Auth::Signed(_), None) => {}
                }
                let call = Instant::now();
                client.get_customer(request).await?;
                samples.push(call.elapsed());
            }
            Ok::<_, tonic::Status>(samples)
        }));
    }
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(!samples.is_empty(), "no call completed");
    Ok(Load { elapsed, samples, cpu_seconds: Vec::new() })
}

fn report(label: &str, load: &Load) -> f64 {
    let rate = load.rate();
    let latency = load.latency();
    println!(
        "{label:<36} {rate:>9.0} calls/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        latency.p50.as_secs_f64() * 1000.0,
        latency.p99.as_secs_f64() * 1000.0
    );
    rate
}

/// Sets the CPUs every thread of `pid` may run on (`taskset`, util-linux).
fn pin(pid: u32, cpus: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("taskset")
        .args(["--all-tasks", "--cpu-list", "--pid", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .context("cannot run taskset (util-linux)")?;
    anyhow::ensure!(status.success(), "taskset could not pin process {pid} to CPUs {cpus}");
    Ok(())
}

/// The paths (direct, distributed, all-in-one, bare proxy), the processes each
/// runs through (the load generator first), and how to load them.
struct Comparison<'a> {
    paths: &'a [(String, Auth, String); PATHS],
    processes: &'a [Vec<(&'static str, u32)>; PATHS],
    concurrency: usize,
    connections: usize,
    duration: Duration,
}

const PATHS: usize = 4;
const DIRECT: usize = 0;
const DISTRIBUTED: usize = 1;
const ALL_IN_ONE: usize = 2;
const BARE_PROXY: usize = 3;

const PATH_LABELS: [(&str, &str); PATHS] = [
    ("direct to the profiles process", "direct"),
    ("through the gateway (distributed)", "distributed"),
    ("through the gateway (all-in-one)", "all-in-one"),
    ("through a bare tonic proxy", "bare proxy"),
];

impl Comparison<'_> {
    /// Loads the paths numbered `which` in interleaved rounds and prints their
    /// rates, latencies, CPU time per call and the ratios between those loaded.
    async fn run(&self, which: &[usize]) -> anyhow::Result<()> {
        let round = self.duration / ROUNDS;
        let mut totals: [Load; PATHS] = Default::default();
        let cpu_now = |path: usize| -> anyhow::Result<Vec<f64>> {
            self.processes[path].iter().map(|(_, pid)| memory::cpu_seconds(*pid)).collect()
        };
        for turn in 0..ROUNDS as usize {
            for offset in 0..which.len() {
                let path = which[(turn + offset) % which.len()];
                let (endpoint, auth, name) = &self.paths[path];
                let before = cpu_now(path)?;
                let run =
                    load(endpoint, auth.clone(), name, self.concurrency, self.connections, round).await?;
                let spent: Vec<f64> =
                    cpu_now(path)?.iter().zip(&before).map(|(after, before)| after - before).collect();
                totals[path].add(run, &spent);
            }
        }
        let rates: Vec<f64> = which.iter().map(|&path| report(PATH_LABELS[path].0, &totals[path])).collect();
        println!("CPU time per call (user + system, all threads):");
        for &path in which {
            let load = &totals[path];
            let calls = load.samples.len().max(1) as f64;
            let per_call: Vec<String> = self.processes[path]
                .iter()
                .zip(&load.cpu_seconds)
                .map(|((process, _), seconds)| format!("{process} {:.1} µs", seconds / calls * 1e6))
                .collect();
            let total: f64 = load.cpu_seconds.iter().sum::<f64>() / calls * 1e6;
            println!("  {:<12} {} (total {total:.1} µs)", PATH_LABELS[path].1, per_call.join(", "));
        }
        let p50 = |load: &Load| load.latency().p50.as_secs_f64();
        let rate_of = |path: usize| which.iter().position(|&p| p == path).map(|at| rates[at]);
        let compare = |label: &str, path: usize, base: usize, aims: &str| {
            if let (Some(rate), Some(base_rate)) = (rate_of(path), rate_of(base)) {
                println!(
                    "{label}: throughput {:.2}, p50 overhead {:+.0}%{aims}",
                    rate / base_rate,
                    (p50(&totals[path]) / p50(&totals[base]) - 1.0) * 100.0,
                );
            }
        };
        compare("distributed gateway / direct", DISTRIBUTED, DIRECT, " (aims >= 0.85, <= +10%)");
        compare("all-in-one gateway / direct", ALL_IN_ONE, DIRECT, "");
        compare("bare proxy / direct (what a hop allows)", BARE_PROXY, DIRECT, "");
        compare("distributed gateway / bare proxy", DISTRIBUTED, BARE_PROXY, "");
        Ok(())
    }
}

/// Rounds each path's load is split into. The three paths take turns, each
/// round in a different order, so a slow spell of the shared machine falls on
/// all of them instead of on whichever ran then.
const ROUNDS: u32 = 6;

/// `perf record` of each process on the distributed path, one load at a time
/// (the comparison interleaves its paths, so one profile across it could not
/// be split by path): the profiles process called directly, then the gateway
/// and the profiles process behind it. Written to `<out>.<path>-<process>`.
async fn profile_each_process(
    out: &Path,
    compare: &Comparison<'_>,
    profiles: &Process,
    gateway: &Process,
) -> anyhow::Result<()> {
    let recordings = [
        (DIRECT, "direct-profiles", profiles.pid()),
        (DISTRIBUTED, "distributed-gateway", gateway.pid()),
        (DISTRIBUTED, "distributed-profiles", profiles.pid()),
    ];
    for (path, suffix, pid) in recordings {
        let file = out.with_file_name(format!(
            "{}.{suffix}",
            out.file_name().map_or_else(|| "perf".into(), |name| name.to_string_lossy())
        ));
        let (endpoint, auth, name) = &compare.paths[path];
        let recording = crate::hotpath::start_perf(&file, pid)?;
        let run =
            load(endpoint, auth.clone(), name, compare.concurrency, compare.connections, compare.duration)
                .await;
        crate::hotpath::stop_perf(recording).await?;
        let run = run?;
        println!("perf: {suffix} under {:.0} calls/s written to {}", run.rate(), file.display());
    }
    Ok(())
}

pub(crate) async fn run(
    involve: &Path,
    duration: Duration,
    concurrency: usize,
    perf: Option<&Path>,
) -> anyhow::Result<()> {
    println!(
        "\n== gateway overhead: GetCustomer, {concurrency} concurrent callers, {} s each path in {ROUNDS} interleaved rounds ==",
        duration.as_secs()
    );
    let dir = tempfile::tempdir()?;
    let (profiles_port, gateway_port, all_in_one_port) = (free_port()?, free_port()?, free_port()?);
    let distributed_to = |listen: u16, profiles_port: u16| {
        format!(
            "listen = \"127.0.0.1:{listen}\"\ndata_dir = \"{}/distributed\"\n\n[security]\nprincipal_signing_secret = \"{SECRET}\"\n\n\
             [gateway.backends]\nprofiles = [\"http://127.0.0.1:{profiles_port}\"]\n",
            dir.path().display()
        )
    };
    let distributed = |listen: u16| distributed_to(listen, profiles_port);
    let all_in_one = format!(
        "listen = \"127.0.0.1:{all_in_one_port}\"\ndata_dir = \"{}/all-in-one\"\n",
        dir.path().display()
    );

    let distributed_config = dir.path().join("distributed-admin.toml");
    std::fs::write(&distributed_config, distributed(0))?;
    let status =
        Command::new(involve).args(["migrate", "--config"]).arg(&distributed_config).status().await?;
    anyhow::ensure!(status.success(), "involve migrate failed");
    let distributed_operator =
        server::admin_credential(involve, &distributed_config, "council", "OPERATOR").await?;
    let all_in_one_config = dir.path().join("all-in-one-admin.toml");
    std::fs::write(&all_in_one_config, &all_in_one)?;
    let all_in_one_operator =
        server::admin_credential(involve, &all_in_one_config, "council", "OPERATOR").await?;

    let profiles = start(
        involve,
        dir.path(),
        "profiles",
        Some("profiles"),
        &distributed(profiles_port),
        profiles_port,
        None,
    )
    .await?;
    let gateway = start(
        involve,
        dir.path(),
        "gateway",
        Some("gateway"),
        &distributed(gateway_port),
        gateway_port,
        None,
    )
    .await?;
    let combined = start(involve, dir.path(), "all-in-one", None, &all_in_one, all_in_one_port, None).await?;
    let proxy = start_bare_proxy(dir.path(), &profiles.endpoint(), None).await?;
    let idle = memory::resident(gateway.pid())?;

    let (partner, customer) =
        partner_and_customer(&gateway, &distributed_operator).await.context("distributed set-up")?;
    let (combined_partner, combined_customer) =
        partner_and_customer(&combined, &all_in_one_operator).await.context("all-in-one set-up")?;

    let connections = 4;
    let key = HandoffKey::from_secret(SECRET);
    let customer_of_gateway = customer.clone();
    let paths = [
        (profiles.endpoint(), Auth::Signed(key.clone()), customer.clone()),
        (gateway.endpoint(), Auth::Bearer(partner.clone()), customer.clone()),
        (combined.endpoint(), Auth::Bearer(combined_partner), combined_customer),
        // The service checks the principal the load generator signs, as called directly.
        (proxy.endpoint(), Auth::Signed(key), customer.clone()),
    ];
    // The processes each path runs through, the load generator first: their CPU
    // time per call says where the distributed path's cost goes on cores they share.
    let client = std::process::id();
    let processes = [
        vec![("client", client), ("profiles", profiles.pid())],
        vec![("client", client), ("gateway", gateway.pid()), ("profiles", profiles.pid())],
        vec![("client", client), ("all-in-one", combined.pid())],
        vec![("client", client), ("proxy", proxy.pid()), ("profiles", profiles.pid())],
    ];
    // Warm every path once.
    for (endpoint, auth, name) in &paths {
        load(endpoint, auth.clone(), name, concurrency, connections, Duration::from_millis(500)).await?;
    }
    let compare = Comparison { paths: &paths, processes: &processes, concurrency, connections, duration };
    println!("-- on shared cores: the load generator, the gateway and the service on both --");
    compare.run(&[DIRECT, DISTRIBUTED, ALL_IN_ONE, BARE_PROXY]).await?;
    if let Some(out) = perf {
        profile_each_process(out, &compare, &profiles, &gateway).await?;
    }

    // Memory with a thousand calls in flight through the distributed gateway,
    // all presenting a secret the gateway has not seen yet: the first burst is
    // the worst case for credential checking.
    // Both credentials are issued here but first presented in their own round (the
    // customer they read was created with the first path's credential), so each
    // round starts with a secret the gateway has never verified.
    let fresh_customer = customer_of_gateway;
    let fresh = issue_partner(&gateway, &distributed_operator).await?;
    let second = issue_partner(&gateway, &distributed_operator).await?;
    drop(partner);
    // Twice over: a second peak near the first says memory is bounded, not growing.
    for (round, secret) in [(1, fresh), (2, second)] {
        let watcher = memory::Watcher::start(gateway.pid());
        let busy =
            load(&gateway.endpoint(), Auth::Bearer(secret), &fresh_customer, 1_000, 8, duration).await?;
        let peak = watcher.stop().await;
        println!(
            "gateway resident memory, 1,000 concurrent calls, round {round}: {:.1} MB peak (aim < 100 MB; \
             idle at start {:.1} MB); {:.0} calls/s, p99 {:.1} ms",
            memory::megabytes(peak),
            memory::megabytes(idle),
            busy.rate(),
            busy.latency().p99.as_secs_f64() * 1000.0
        );
    }
    // Deployed, the gateway runs on cores of its own (its own Deployment). The
    // distributed pair again, started afresh on one CPU each (so each runtime
    // sizes itself to one core, as in a container given one): the gateway alone
    // on CPU 1, the service and this load generator on CPU 0. The comparison then
    // shows what the gateway adds to a call rather than whose CPU it takes.
    // Last, so nothing above runs pinned.
    if std::thread::available_parallelism().map_or(0, usize::from) >= 2 {
        drop((profiles, gateway, proxy));
        let (profiles_port, gateway_port) = (free_port()?, free_port()?);
        let config = |listen: u16| distributed_to(listen, profiles_port);
        let profiles = start(
            involve,
            dir.path(),
            "profiles-cpu0",
            Some("profiles"),
            &config(profiles_port),
            profiles_port,
            Some("0"),
        )
        .await?;
        let gateway = start(
            involve,
            dir.path(),
            "gateway-cpu1",
            Some("gateway"),
            &config(gateway_port),
            gateway_port,
            Some("1"),
        )
        .await?;
        let proxy = start_bare_proxy(dir.path(), &profiles.endpoint(), Some("1")).await?;
        let pinned_paths = [
            (profiles.endpoint(), paths[DIRECT].1.clone(), customer.clone()),
            (gateway.endpoint(), paths[DISTRIBUTED].1.clone(), customer.clone()),
            paths[ALL_IN_ONE].clone(),
            (proxy.endpoint(), paths[BARE_PROXY].1.clone(), customer.clone()),
        ];
        let pinned_processes = [
            vec![("client", client), ("profiles", profiles.pid())],
            vec![("client", client), ("gateway", gateway.pid()), ("profiles", profiles.pid())],
            processes[ALL_IN_ONE].clone(),
            vec![("client", client), ("proxy", proxy.pid()), ("profiles", profiles.pid())],
        ];
        pin(client, "0")?;
        println!(
            "-- the gateway (or the bare proxy) alone on CPU 1; the load generator and the service on CPU 0 (`taskset`) --"
        );
        let pinned_which = [DIRECT, DISTRIBUTED, BARE_PROXY];
        for &path in &pinned_which {
            let (endpoint, auth, name) = &pinned_paths[path];
            load(endpoint, auth.clone(), name, concurrency, connections, Duration::from_millis(500)).await?;
        }
        let pinned = Comparison { paths: &pinned_paths, processes: &pinned_processes, ..compare }
            .run(&pinned_which)
            .await;
        pin(client, &format!("0-{}", std::thread::available_parallelism().map_or(1, usize::from) - 1))?;
        pinned?;
    }
    drop(combined);
    Ok(())
}
