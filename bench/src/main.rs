//! `involve-bench`: measures the suite as a partner landlord would use it and
//! prints the figures, with ratios taken within the same run.
//!
//! For each backend (SQLite always; PostgreSQL when an admin URL is given) it starts
//! the real `involve serve` binary on loopback and measures:
//! - import throughput of N customers through `ImportCustomers`, beside a raw
//!   batched insert of the same rows into the same schema;
//! - `ListCustomers` latency for page 1 and for a page deep into the N rows;
//! - the server's resident memory idle, and its peak during a long import.
//!
//! Run it through `scripts/bench`, which builds in release mode first.

// A benchmark's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod asb;
mod bare_proxy;
mod gateway_load;
mod hotpath;
mod memory;
mod rows;
mod server;
mod telemetry_cost;

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use contracts::involve::profiles::v1 as pb;
use persistence::DatabaseSettings;
use sea_orm::{ConnectionTrait as _, EntityTrait as _, TransactionTrait as _};

use self::server::{Backend, ServerProcess};

#[derive(Debug, Parser)]
#[command(name = "involve-bench")]
struct Args {
    /// Customers imported for the throughput and paging figures.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// Customers imported while the server's peak memory is watched.
    #[arg(long, default_value_t = 1_000_000)]
    memory_rows: u64,
    /// Latency samples per page.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// PostgreSQL admin URL (a fresh database is created per measurement);
    /// defaults to INVOLVE_TEST_POSTGRES_URL. Without one, PostgreSQL is skipped.
    #[arg(long, env = "INVOLVE_TEST_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// The `involve` binary; defaults to the one beside this benchmark.
    #[arg(long)]
    involve: Option<std::path::PathBuf>,
    /// Skip the long memory import.
    #[arg(long)]
    skip_memory: bool,
    /// Which measurements: `profiles` (import, paging, memory), `gateway`
    /// (overhead and memory under load), `hotpath` (every path against a bare
    /// tonic server, with h2load), `telemetry` (throughput with OTLP export on
    /// against off), `asb` (work queue and service standards over 100k seeded
    /// cases, beside plain SQL), or `all`.
    #[arg(long, default_value = "all")]
    suite: String,
    /// Seconds each gateway load phase runs.
    #[arg(long, default_value_t = 5)]
    load_seconds: u64,
    /// Concurrent callers in the gateway comparison.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Calls per path in the hot-path suite (h2load).
    #[arg(long, default_value_t = 30_000)]
    requests: u64,
    /// Write `perf record` profiles (DWARF call graphs). Hot-path suite: the server under one
    /// method's load (SQLite, first round) to this file. Gateway suite: the profiles process
    /// called directly, then the gateway and the profiles process behind it, each under a load
    /// of its own, to `<file>.direct-profiles`, `<file>.distributed-gateway` and
    /// `<file>.distributed-profiles`.
    #[arg(long)]
    perf: Option<std::path::PathBuf>,
    /// The method `--perf` profiles: `GetCustomer`, `ListCustomers` or `CreateCustomer`.
    #[arg(long, default_value = "GetCustomer")]
    perf_method: String,
    /// ASB cases seeded for the work queue and service standards figures.
    #[arg(long, default_value_t = 100_000)]
    asb_cases: u64,
    /// ASB diary entries seeded beside them.
    #[arg(long, default_value_t = 1_000_000)]
    asb_diary: u64,
    /// Work queue calls timed per kind (per officer, per team).
    #[arg(long, default_value_t = 200)]
    asb_samples: usize,
    /// Run as the gateway suite's bare pass-through proxy on this address
    /// (with `--bare-proxy-to`) instead of measuring anything.
    #[arg(long, hide = true, requires = "bare_proxy_to")]
    bare_proxy: Option<String>,
    #[arg(long, hide = true)]
    bare_proxy_to: Option<String>,
}

/// Rows per statement in the raw insert: the same batch size the service uses.
const RAW_BATCH: usize = 512;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let (Some(listen), Some(upstream)) = (&args.bare_proxy, &args.bare_proxy_to) {
        return bare_proxy::serve(listen, upstream).await;
    }
    let involve = match &args.involve {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("involve"),
    };
    anyhow::ensure!(involve.exists(), "no involve binary at {}; build it first", involve.display());

    let mut backends = vec![Backend::Sqlite];
    match &args.postgres_url {
        Some(url) => backends.push(Backend::Postgres { admin_url: url.clone() }),
        None => eprintln!("note: no PostgreSQL URL given; measuring SQLite only"),
    }

    anyhow::ensure!(
        ["all", "profiles", "gateway", "hotpath", "telemetry", "asb"].contains(&args.suite.as_str()),
        "--suite is all, profiles, gateway, hotpath, telemetry or asb"
    );
    if args.suite == "telemetry" {
        return telemetry_cost::run(&involve, Duration::from_secs(args.load_seconds), args.concurrency).await;
    }
    let asb_settings =
        asb::Settings { cases: args.asb_cases, diary: args.asb_diary, samples: args.asb_samples };
    if args.suite == "asb" {
        return asb::run(&involve, &backends, &asb_settings).await;
    }
    // What `perf` records in the hot-path suite, if anything: where to, and which method.
    let perf = args.perf.as_deref().map(|out| (out, args.perf_method.as_str()));
    if args.suite == "hotpath" {
        return hotpath::run(&involve, &backends, args.requests, perf).await;
    }
    if args.suite != "gateway" {
        println!("involve-bench: {} rows, {} latency samples per page", args.rows, args.samples);
        for backend in &backends {
            measure_backend(&involve, backend, &args)
                .await
                .with_context(|| format!("{} run failed", backend.label()))?;
        }
        if !args.skip_memory {
            measure_memory(&involve, &Backend::Sqlite, args.memory_rows).await?;
        }
    }
    if args.suite == "all" {
        hotpath::run(&involve, &backends, args.requests, perf).await?;
        asb::run(&involve, &backends, &asb_settings).await?;
    }
    if args.suite != "profiles" {
        gateway_load::run(
            &involve,
            Duration::from_secs(args.load_seconds),
            args.concurrency,
            args.perf.as_deref(),
        )
        .await?;
    }
    if args.suite == "all" {
        telemetry_cost::run(&involve, Duration::from_secs(args.load_seconds), args.concurrency).await?;
    }
    Ok(())
}

async fn measure_backend(involve: &std::path::Path, backend: &Backend, args: &Args) -> anyhow::Result<()> {
    println!("\n== {} ==", backend.label());
    let server = ServerProcess::start(involve, backend).await?;
    let idle = memory::resident(server.pid())?;
    println!("server resident memory, idle after start: {:.1} MB", memory::megabytes(idle));

    let started = Instant::now();
    let outcome = server.import(args.rows, "bench").await?;
    let import_time = started.elapsed();
    anyhow::ensure!(outcome.created == args.rows, "expected {} created rows, got {outcome:?}", args.rows);
    let import_rate = args.rows as f64 / import_time.as_secs_f64();

    let raw_time = raw_insert(backend, args.rows).await?;
    let raw_rate = args.rows as f64 / raw_time.as_secs_f64();
    println!(
        "import through ImportCustomers: {import_rate:>10.0} rows/s ({:.1} s)\n\
         raw batched insert, same rows:  {raw_rate:>10.0} rows/s ({:.1} s)\n\
         import / raw:                   {:>10.2}  (aim >= 0.50)",
        import_time.as_secs_f64(),
        raw_time.as_secs_f64(),
        import_rate / raw_rate
    );

    let rerun = Instant::now();
    let again = server.import(args.rows, "bench").await?;
    anyhow::ensure!(again.unchanged == args.rows, "a re-run should change nothing, got {again:?}");
    println!(
        "re-running the same import:     {:>10.0} rows/s, all unchanged",
        args.rows as f64 / rerun.elapsed().as_secs_f64()
    );

    let (first, deep, depth) = server.page_latencies(args.samples).await?;
    println!(
        "ListCustomers page 1 (50 rows):    p50 {:>7.2} ms  p99 {:>7.2} ms\n\
         ListCustomers page at row {depth:>6}: p50 {:>7.2} ms  p99 {:>7.2} ms\n\
         deep / first (p50):                {:>7.2}  (aim <= 1.5)",
        ms(first.p50),
        ms(first.p99),
        ms(deep.p50),
        ms(deep.p99),
        deep.p50.as_secs_f64() / first.p50.as_secs_f64()
    );
    let after = memory::resident(server.pid())?;
    println!("server resident memory after the run: {:.1} MB", memory::megabytes(after));
    server.stop().await
}

async fn measure_memory(involve: &std::path::Path, backend: &Backend, rows: u64) -> anyhow::Result<()> {
    println!("\n== memory during a {rows}-row import ({}) ==", backend.label());
    let server = ServerProcess::start(involve, backend).await?;
    let idle = memory::resident(server.pid())?;
    let watcher = memory::Watcher::start(server.pid());
    let started = Instant::now();
    let outcome = server.import(rows, "memory").await?;
    let elapsed = started.elapsed();
    let sampled_peak = watcher.stop().await;
    let high_water = memory::high_water(server.pid())?;
    anyhow::ensure!(outcome.created == rows, "expected {rows} created rows, got {outcome:?}");
    println!(
        "idle resident memory:            {:>7.1} MB  (aim < 50 MB)\n\
         peak resident memory (VmHWM):     {:>7.1} MB  (aim < 200 MB)\n\
         peak seen by sampling every 50 ms: {:>6.1} MB\n\
         import rate:                     {:>7.0} rows/s over {:.0} s",
        memory::megabytes(idle),
        memory::megabytes(high_water),
        memory::megabytes(sampled_peak),
        rows as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    server.stop().await
}

/// Inserts the same rows straight into a fresh copy of the profiles schema, in
/// transactions of multi-row INSERTs: the floor any import could reach.
async fn raw_insert(backend: &Backend, count: u64) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let url = backend.fresh_database_url(dir.path()).await?;
    let settings = DatabaseSettings { url, max_connections: 2, acquire_timeout: Duration::from_secs(10) };
    let db = persistence::connect(&settings, profiles::SERVICE_NAME).await?;
    profiles::Store::new(db.clone()).migrate().await?;
    let started = Instant::now();
    let mut next = 0;
    while next < count {
        let end = (next + RAW_BATCH as u64).min(count);
        let models: Vec<_> =
            (next..end).map(|index| rows::raw_row(index, "raw")).collect::<Result<_, _>>()?;
        let txn = db.begin().await?;
        profiles::store::entities::customers::Entity::insert_many(models)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        next = end;
    }
    let elapsed = started.elapsed();
    db.execute_unprepared("SELECT 1").await?;
    db.close().await?;
    Ok(elapsed)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Latency percentiles of one kind of call.
#[derive(Debug, Clone, Copy)]
struct Latency {
    p50: Duration,
    p99: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        Self { p50: at(0.50), p99: at(0.99) }
    }
}

/// Counts of an import's outcomes.
#[derive(Debug, Default)]
struct ImportOutcome {
    created: u64,
    unchanged: u64,
    other: u64,
}

impl ImportOutcome {
    fn add(&mut self, answer: &pb::ImportCustomersResponse) {
        use pb::import_customers_response::Outcome;
        match Outcome::try_from(answer.outcome) {
            Ok(Outcome::Created) => self.created += 1,
            Ok(Outcome::Unchanged) => self.unchanged += 1,
            Ok(Outcome::Updated | Outcome::Failed | Outcome::Unspecified) | Err(_) => self.other += 1,
        }
    }
}
