//! Scale-out: two profiles instances behind two gateways, separate processes
//! over one PostgreSQL. One instance is killed while partners write; clients
//! retry `UNAVAILABLE` with the same `request_id`, as the README tells them
//! to, and every write lands exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use contracts::involve::profiles::v1 as pb;
use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
use involve_tests::fixtures::{self, create};
use involve_tests::processes::{self, Distributed};
use involve_tests::{Backend, Caller, issue_credential};
use platform::Role;
use tonic::Code;

const WRITERS: usize = 4;
const WRITES_EACH: usize = 25;
/// Attempts of one write before the test gives up on it (bounded, not timed).
const ATTEMPTS: usize = 100;

/// Creates a customer, retrying UNAVAILABLE with the same request id; returns
/// its resource name and how many attempts were refused.
async fn create_exactly_once(
    client: &mut CustomerProfilesClient<tonic::transport::Channel>,
    caller: &Caller,
    family: &str,
) -> (String, usize) {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut refused = 0;
    for _ in 0..ATTEMPTS {
        let request = pb::CreateCustomerRequest {
            request_id: request_id.clone(),
            ..create(fixtures::customer("Writer", family, "leaseholder"))
        };
        match client.create_customer(caller.request(request)).await {
            Ok(created) => return (created.into_inner().name, refused),
            Err(status) if status.code() == Code::Unavailable => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{family}: a write failed for good: {status:?}"),
        }
    }
    panic!("{family}: still UNAVAILABLE after {ATTEMPTS} attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_during_writes_loses_and_duplicates_none() {
    let Some(mut suite) = Distributed::spawn(Backend::Postgres).await else { return };
    let issued = issue_credential(
        processes::channel(&suite.gateway).await,
        &suite.operator,
        "riverside",
        Role::PartnerIntegration,
        &[],
        0,
    )
    .await;
    let partner = Caller { organisation: "organisations/riverside".into(), token: issued.secret };
    let gateways =
        [processes::channel(&suite.gateway).await, processes::channel(&suite.second_gateway).await];

    let written = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let mut client = CustomerProfilesClient::new(gateways[writer % 2].clone());
        let partner = partner.clone();
        let written = Arc::clone(&written);
        writers.push(tokio::spawn(async move {
            let mut created = Vec::new();
            let mut refused = 0;
            for write in 0..WRITES_EACH {
                let (name, refusals) =
                    create_exactly_once(&mut client, &partner, &format!("W{writer}N{write}")).await;
                created.push(name);
                refused += refusals;
                written.fetch_add(1, Ordering::Relaxed);
            }
            (created, refused)
        }));
    }
    // Kill one instance once the writes are under way.
    for _ in 0..2_000 {
        if written.load(Ordering::Relaxed) >= WRITERS * WRITES_EACH / 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let written_before_the_kill = written.load(Ordering::Relaxed);
    suite.profiles[0].kill().await;
    assert!(
        written_before_the_kill < WRITERS * WRITES_EACH,
        "the instance died while writes were still to come"
    );

    let mut created = BTreeSet::new();
    let mut refused = 0;
    for writer in writers {
        let (names, refusals) = writer.await.unwrap();
        refused += refusals;
        for name in names {
            assert!(created.insert(name.clone()), "{name} was answered twice");
        }
    }
    assert_eq!(created.len(), WRITERS * WRITES_EACH);

    // What the surviving instance holds: each write once, nothing more.
    let mut client = CustomerProfilesClient::new(gateways[0].clone());
    let mut stored = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListCustomersRequest { page_size: 500, page_token, ..Default::default() };
        let page = client.list_customers(partner.request(request)).await.unwrap().into_inner();
        stored.extend(page.customers);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let stored_names: BTreeSet<String> = stored.iter().map(|customer| customer.name.clone()).collect();
    assert_eq!(stored.len(), WRITERS * WRITES_EACH, "no write lost or duplicated");
    assert_eq!(stored_names, created);
    let families: BTreeSet<&str> = stored.iter().map(|customer| customer.family_name.as_str()).collect();
    assert_eq!(families.len(), WRITERS * WRITES_EACH, "each family written once");
    tracing::info!(refused, "attempts refused UNAVAILABLE and retried");
}

/// The scale-out measurement behind the README's table (not a test: ignored,
/// and it asserts nothing about speed). For 1, 2 and 3 instances of each
/// service, as separate processes behind one gateway over one PostgreSQL
/// database, it sends a fixed number of creates and reads from concurrent
/// clients and prints the throughput; then, with three instances, it kills one
/// part-way through the writes and prints what the clients saw. Run it through
/// `scripts/scale-out` (release binary; PostgreSQL from scripts/lib/postgres.sh).
mod measurement {
    use std::path::{Path, PathBuf};
    use std::process::Stdio;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use contracts::involve::profiles::v1 as pb;
    use contracts::involve::profiles::v1::customer_profiles_client::CustomerProfilesClient;
    use involve_tests::fixtures::{self, create};
    use involve_tests::{Caller, connect, fresh_postgres_database, issue_credential};
    use platform::Role;
    use tokio::process::{Child, Command};

    const CLIENTS: usize = 32;
    const SIGNING_SECRET: &str = "scale-out-signing-secret-0123456789";

    fn binary() -> PathBuf {
        std::env::var_os("INVOLVE_SCALE_OUT_BINARY")
            .map_or_else(involve_tests::processes::involve_binary, PathBuf::from)
    }

    fn config(database: &str, backends: &str) -> String {
        format!(
            "listen = \"127.0.0.1:0\"\n[database]\nurl = \"{database}\"\nmax_connections = 8\n\
             [gateway]\ndefault_rate_limit_per_minute = 100000000\n\
             [security]\nprincipal_signing_secret = \"{SIGNING_SECRET}\"\n{backends}"
        )
    }

    /// `involve serve <service>`, once it logs where it listens.
    async fn serve(dir: &Path, name: &str, service: &str, config: &str) -> (Child, String) {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(binary())
            .args(["serve", service, "--config"])
            .arg(&path)
            .env("INVOLVE__TELEMETRY__LOG_FILTER", "warn,involve=info")
            .env("INVOLVE__TELEMETRY__LOG_FORMAT", "json")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        for _ in 0..600 {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let address = text.lines().find_map(|line| {
                let record: serde_json::Value = serde_json::from_str(line).ok()?;
                let fields = record.get("fields")?;
                (fields.get("message")?.as_str()? == "involve is listening")
                    .then(|| fields.get("address")?.as_str().map(str::to_owned))?
            });
            if let Some(address) = address {
                return (child, format!("http://{address}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{name} did not start: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    struct Deployment {
        instances: Vec<Child>,
        _gateway: Child,
        gateway: String,
        partner: Caller,
        _dir: tempfile::TempDir,
    }

    async fn deploy(instances_each: usize) -> Option<Deployment> {
        let database = fresh_postgres_database().await?;
        let dir = tempfile::tempdir().unwrap();
        let migrate = dir.path().join("migrate.toml");
        std::fs::write(&migrate, config(&database, "")).unwrap();
        let run = |args: &[&str]| {
            let mut command = std::process::Command::new(binary());
            command.args(args).arg("--config").arg(&migrate);
            let output = command.output().unwrap();
            assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        };
        run(&["migrate"]);
        let operator_token =
            run(&["admin", "create-credential", "--organisation", "council", "--role", "OPERATOR"]);
        let mut instances = Vec::new();
        let mut backends = String::from("[gateway.backends]\n");
        // profiles first: asb reaches it by the backends listed so far.
        for service in ["profiles", "asb"] {
            let mut addresses = Vec::new();
            for index in 0..instances_each {
                let name = format!("{service}-{index}");
                let (child, address) = serve(dir.path(), &name, service, &config(&database, &backends)).await;
                instances.push(child);
                addresses.push(format!("\"{address}\""));
            }
            backends.push_str(&format!("{service} = [{}]\n", addresses.join(", ")));
        }
        let (gateway_child, gateway) =
            serve(dir.path(), "gateway", "gateway", &config(&database, &backends)).await;
        let operator = Caller { organisation: "organisations/council".into(), token: operator_token };
        let issued = issue_credential(
            connect(&gateway).await,
            &operator,
            "riverside",
            Role::PartnerIntegration,
            &[],
            0,
        )
        .await;
        let partner = Caller { organisation: "organisations/riverside".into(), token: issued.secret };
        Some(Deployment { instances, _gateway: gateway_child, gateway, partner, _dir: dir })
    }

    #[derive(Default)]
    struct Outcome {
        done: AtomicUsize,
        retried: AtomicUsize,
        failed: AtomicUsize,
    }

    /// `total` creates from [`CLIENTS`] clients, each retrying UNAVAILABLE with
    /// its request id; returns the names created and the seconds taken.
    async fn write(deployment: &Deployment, total: usize, outcome: &Arc<Outcome>) -> (Vec<String>, f64) {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for client_index in 0..CLIENTS {
            let mut client = CustomerProfilesClient::new(connect(&deployment.gateway).await);
            let partner = deployment.partner.clone();
            let outcome = Arc::clone(outcome);
            tasks.push(tokio::spawn(async move {
                let mut names = Vec::new();
                for write in (client_index..total).step_by(CLIENTS) {
                    let request_id = uuid::Uuid::new_v4().to_string();
                    let customer = fixtures::customer("Load", &format!("F{write}"), "leaseholder");
                    let mut created = None;
                    for _ in 0..200 {
                        let request = pb::CreateCustomerRequest {
                            request_id: request_id.clone(),
                            ..create(customer.clone())
                        };
                        match client.create_customer(partner.request(request)).await {
                            Ok(response) => {
                                created = Some(response.into_inner().name);
                                break;
                            }
                            Err(status) if status.code() == tonic::Code::Unavailable => {
                                outcome.retried.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            Err(_) => break,
                        }
                    }
                    match created {
                        Some(name) => names.push(name),
                        None => {
                            outcome.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    outcome.done.fetch_add(1, Ordering::Relaxed);
                }
                names
            }));
        }
        let mut names = Vec::new();
        for task in tasks {
            names.extend(task.await.unwrap());
        }
        (names, started.elapsed().as_secs_f64())
    }

    /// `GetCustomer` of each of `names` once, from [`CLIENTS`] clients; seconds taken.
    async fn read(deployment: &Deployment, names: &[String]) -> f64 {
        let started = Instant::now();
        let names: Arc<[String]> = Arc::from(names);
        let mut tasks = Vec::new();
        for client_index in 0..CLIENTS {
            let mut client = CustomerProfilesClient::new(connect(&deployment.gateway).await);
            let partner = deployment.partner.clone();
            let names = Arc::clone(&names);
            tasks.push(tokio::spawn(async move {
                for name in names.iter().skip(client_index).step_by(CLIENTS) {
                    let request = pb::GetCustomerRequest { name: name.clone() };
                    client.get_customer(partner.request(request)).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        started.elapsed().as_secs_f64()
    }

    async fn stored(deployment: &Deployment) -> usize {
        let mut client = CustomerProfilesClient::new(connect(&deployment.gateway).await);
        let mut count = 0;
        let mut page_token = String::new();
        loop {
            let request = pb::ListCustomersRequest { page_size: 500, page_token, ..Default::default() };
            let page = client.list_customers(deployment.partner.request(request)).await.unwrap().into_inner();
            count += page.customers.len();
            if page.next_page_token.is_empty() {
                return count;
            }
            page_token = page.next_page_token;
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "a measurement, run by scripts/scale-out"]
    // A measurement's job is to print its figures.
    #[allow(clippy::print_stdout, clippy::cast_precision_loss)]
    async fn throughput_against_instances() {
        let writes: usize =
            std::env::var("SCALE_OUT_WRITES").ok().and_then(|text| text.parse().ok()).unwrap_or(3000);
        println!("| instances of each service | creates/s | reads/s |");
        println!("|---:|---:|---:|");
        for instances in 1..=3 {
            let Some(deployment) = deploy(instances).await else { return };
            let outcome = Arc::new(Outcome::default());
            let (names, write_secs) = write(&deployment, writes, &outcome).await;
            assert_eq!(outcome.failed.load(Ordering::Relaxed), 0);
            let read_secs = read(&deployment, &names).await;
            println!(
                "| {instances} | {:.0} | {:.0} |",
                names.len() as f64 / write_secs,
                names.len() as f64 / read_secs
            );
        }

        // Three of each; one profiles instance killed a third of the way through.
        let Some(mut deployment) = deploy(3).await else { return };
        let outcome = Arc::new(Outcome::default());
        let killer = {
            let outcome = Arc::clone(&outcome);
            let mut victim = deployment.instances.remove(0);
            tokio::spawn(async move {
                while outcome.done.load(Ordering::Relaxed) < writes / 3 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let at = outcome.done.load(Ordering::Relaxed);
                victim.kill().await.unwrap();
                at
            })
        };
        let (names, secs) = write(&deployment, writes, &outcome).await;
        let killed_at = killer.await.unwrap();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        println!(
            "\nkilled profiles-0 after {killed_at} of {writes} writes: {} created ({:.0}/s), {} unique, {} stored, \
             {} attempts refused UNAVAILABLE and retried, {} failed",
            names.len(),
            names.len() as f64 / secs,
            unique.len(),
            stored(&deployment).await,
            outcome.retried.load(Ordering::Relaxed),
            outcome.failed.load(Ordering::Relaxed),
        );
    }
}
