//! The ASB benchmark (issue 10 §12): 100k cases with 1M diary entries, seeded
//! straight into the ASB tables in bulk, then `ListWorkQueue` (per officer and per
//! team) and `GetServiceStandards` for a year measured through `involve serve` over
//! real gRPC, each beside a plain SQL query computing the same answer against the
//! same database in the same run. The answers are compared too.
//!
//! The plain queries work from the same tables and a calendar table the benchmark
//! builds (`bench_days`: each England and Wales local day's first instant and the
//! acknowledgement deadline of a report received on it, from the bank holidays the
//! service holds): the usual SQL answer to working days and local dates.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use asb::domain::calendar::{DayCount, WorkingCalendar, local_date, start_of_day};
use asb::domain::case::{CaseId, PartyRole};
use asb::domain::trigger::TriggerRule;
use asb::store::codes;
use asb::store::entities::{bank_holidays, cases, contacts, diary_entries, parties, reports};
use chrono::{DateTime, NaiveDate, Utc};
use contracts::involve::asb::v1 as pb;
use contracts::involve::asb::v1::asb_cases_client::AsbCasesClient;
use persistence::DatabaseSettings;
use sea_orm::{
    ActiveModelTrait as _, ConnectionTrait as _, DatabaseBackend, DatabaseConnection, EntityTrait as _,
    IntoActiveModel as _, Statement, TransactionTrait as _, Value,
};
use tonic::transport::Channel;

use crate::server::{Backend, ServerProcess};
use crate::{Latency, ms};

/// What the ASB suite seeds and how often it asks.
pub(crate) struct Settings {
    pub cases: u64,
    pub diary: u64,
    pub samples: usize,
}

/// Teams, officers per team, landlords and areas of the seeded partnership.
const TEAMS: u64 = 10;
const OFFICERS_PER_TEAM: u64 = 10;
const LANDLORDS: [&str; 4] =
    ["organisations/riverside", "organisations/hillside", "organisations/valley", "organisations/council"];
const AREAS: u64 = 20;
/// Cases are received over this many days before now (bank holidays are held for 2025-2027).
const SPREAD_DAYS: i64 = 700;
/// People who complain: few enough that some reach the community trigger.
const COMPLAINANTS: u64 = 60_000;
/// Cases seeded per transaction.
const CHUNK: u64 = 2_000;
/// Bound parameters per statement, under SQLite's 32,766 and PostgreSQL's 65,535.
const PARAMETERS: usize = 30_000;
/// Contact standard: at least every this many days (the service's default).
const CONTACT_EVERY: i64 = 14;
/// The first day `bench_days` holds.
const FIRST_DAY: &str = "2024-12-01";
/// Latency samples of the yearly report (each reads a year of cases).
const REPORT_SAMPLES: usize = 5;

pub(crate) async fn run(involve: &Path, backends: &[Backend], settings: &Settings) -> anyhow::Result<()> {
    for backend in backends {
        measure(involve, backend, settings)
            .await
            .with_context(|| format!("ASB {} run failed", backend.label()))?;
    }
    Ok(())
}

async fn measure(involve: &Path, backend: &Backend, settings: &Settings) -> anyhow::Result<()> {
    println!(
        "\n== ASB work queue and service standards ({}): {} cases, {} diary entries ==",
        backend.label(),
        settings.cases,
        settings.diary
    );
    let server = ServerProcess::start_as(involve, backend, "bench", "NEIGHBOURHOOD_OFFICER").await?;
    let db_settings = DatabaseSettings {
        url: server.database_url(asb::SERVICE_NAME),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(60),
    };
    let db = persistence::connect(&db_settings, asb::SERVICE_NAME).await?;
    let now = Utc::now();
    let started = Instant::now();
    let seeded = seed(&db, settings, now).await?;
    let seed_time = started.elapsed();
    // Rows written around the store: its kept community triggers are counted
    // again, as after a repair (the server counted an empty database at start).
    let counting = Instant::now();
    asb::Store::new(db.clone()).recount_triggers(TriggerRule::default()).await?;
    let count_time = counting.elapsed();
    // Statistics for the planner, as PostgreSQL's autovacuum (or SQLite's
    // `PRAGMA optimize`) would have gathered on a database of this size, and on
    // PostgreSQL the visibility map autovacuum keeps, without which no scan of a
    // freshly loaded table is index-only.
    let analyze =
        if db.get_database_backend() == DatabaseBackend::Postgres { "VACUUM ANALYZE" } else { "ANALYZE" };
    db.execute_unprepared(analyze).await?;
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        // Fold the seed's write-ahead log into the file, as a long-running server has.
        db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    }
    println!(
        "seeded straight into the tables: {} cases, {} reports, {} parties, {} contacts, {} diary entries in {:.1} s",
        seeded.cases,
        seeded.reports,
        seeded.parties,
        seeded.contacts,
        seeded.diary,
        seed_time.as_secs_f64()
    );
    println!("community triggers counted again over every report: {:.2} s", count_time.as_secs_f64());
    build_calendar(&db).await?;

    let client = AsbCasesClient::new(server.channel()).max_decoding_message_size(512 * 1024 * 1024);
    let officers: Vec<String> = (0..TEAMS)
        .flat_map(|team| (0..OFFICERS_PER_TEAM).map(move |officer| officer_name(team, officer)))
        .collect();
    let teams: Vec<String> = (0..TEAMS).map(team_code).collect();

    for (scope, keys) in [(Scope::Officer, &officers), (Scope::Team, &teams)] {
        let agree = compare_queue(&server, &client, &db, scope, &keys[0]).await?;
        let (service, plain) = queue_latencies(&server, &client, &db, scope, keys, settings.samples).await?;
        println!(
            "ListWorkQueue per {:<7} (page of 50): p50 {:>7.2} ms  p99 {:>7.2} ms  (aim p99 < 50 ms)\n\
             plain SQL, same page:              p50 {:>7.2} ms  p99 {:>7.2} ms\n\
             service / plain SQL (p50, p99):    {:>7.2}  {:>7.2}\n\
             {agree}",
            scope.label(),
            ms(service.p50),
            ms(service.p99),
            ms(plain.p50),
            ms(plain.p99),
            service.p50.as_secs_f64() / plain.p50.as_secs_f64(),
            service.p99.as_secs_f64() / plain.p99.as_secs_f64(),
        );
    }

    let today = local_date(now);
    let first = today - chrono::Duration::days(365);
    let last = today - chrono::Duration::days(1);
    let (service, plain, agree) = report_latencies(&server, &client, &db, first, last).await?;
    println!(
        "GetServiceStandards, {first} to {last}: median {:>8.1} ms  best {:>8.1} ms  ({REPORT_SAMPLES} calls)\n\
         plain SQL, same figures:              median {:>8.1} ms  best {:>8.1} ms\n\
         service / plain SQL (median):         {:>8.2}  (aim <= 2)\n\
         {agree}",
        ms(service.0),
        ms(service.1),
        ms(plain.0),
        ms(plain.1),
        service.0.as_secs_f64() / plain.0.as_secs_f64(),
    );
    db.close().await?;
    let url = server.database_url(asb::SERVICE_NAME);
    server.stop().await?;
    // A seeded PostgreSQL database is about 600 MB: not left behind.
    if let Backend::Postgres { admin_url } = backend {
        let name = url.rsplit('/').next().unwrap_or_default().split('?').next().unwrap_or_default();
        let admin = sea_orm::Database::connect(admin_url.as_str()).await?;
        admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}")).await?;
        admin.close().await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- seeding

/// splitmix64: the same data every run, no dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A span of `low` to `high` seconds.
    fn seconds(&mut self, low: i64, high: i64) -> chrono::Duration {
        let width = u64::try_from(high - low).unwrap_or(1);
        chrono::Duration::seconds(low + i64::try_from(self.below(width)).unwrap_or(0))
    }

    fn uuid(&mut self) -> uuid::Uuid {
        uuid::Builder::from_random_bytes(
            (u128::from(self.next()) << 64 | u128::from(self.next())).to_le_bytes(),
        )
        .into_uuid()
    }
}

fn team_code(team: u64) -> String {
    format!("team-{team}")
}

fn officer_name(team: u64, officer: u64) -> String {
    format!("officers/t{team}-o{officer}")
}

const DAY: i64 = 86_400;

#[derive(Default)]
struct Seeded {
    cases: u64,
    reports: u64,
    parties: u64,
    contacts: u64,
    diary: u64,
}

#[derive(Default)]
struct Chunk {
    cases: Vec<cases::ActiveModel>,
    reports: Vec<reports::ActiveModel>,
    parties: Vec<parties::ActiveModel>,
    contacts: Vec<contacts::ActiveModel>,
    diary: Vec<diary_entries::ActiveModel>,
}

/// Seeds `settings.cases` cases received over the last `SPREAD_DAYS` days, each
/// with its reports, parties, contacts and its share of the diary, in
/// transactions of `CHUNK` cases of multi-row INSERTs.
async fn seed(db: &DatabaseConnection, settings: &Settings, now: DateTime<Utc>) -> anyhow::Result<Seeded> {
    let mut random = Random(0x0000_A5B0_2026);
    let mut seeded = Seeded::default();
    let diary_per_case = settings.diary / settings.cases.max(1);
    let mut extra_diary = settings.diary % settings.cases.max(1);
    let mut next = 0;
    while next < settings.cases {
        let end = (next + CHUNK).min(settings.cases);
        let mut chunk = Chunk::default();
        for index in next..end {
            let diary = diary_per_case + u64::from(extra_diary > 0);
            extra_diary = extra_diary.saturating_sub(1);
            one_case(&mut random, &mut chunk, index, settings.cases, diary, now);
        }
        seeded.cases += chunk.cases.len() as u64;
        seeded.reports += chunk.reports.len() as u64;
        seeded.parties += chunk.parties.len() as u64;
        seeded.contacts += chunk.contacts.len() as u64;
        seeded.diary += chunk.diary.len() as u64;
        let txn = db.begin().await?;
        insert_all::<cases::Entity>(&txn, chunk.cases).await?;
        insert_all::<reports::Entity>(&txn, chunk.reports).await?;
        insert_all::<parties::Entity>(&txn, chunk.parties).await?;
        insert_all::<contacts::Entity>(&txn, chunk.contacts).await?;
        insert_all::<diary_entries::Entity>(&txn, chunk.diary).await?;
        txn.commit().await?;
        next = end;
    }
    Ok(seeded)
}

/// Multi-row INSERTs of `rows`, as many rows a statement as the parameters allow.
async fn insert_all<E: sea_orm::EntityTrait>(
    txn: &sea_orm::DatabaseTransaction,
    rows: Vec<E::ActiveModel>,
) -> anyhow::Result<()> {
    use sea_orm::Iterable as _;
    let per_statement = (PARAMETERS / E::Column::iter().count()).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<E::ActiveModel> = rows.by_ref().take(per_statement).collect();
        E::insert_many(batch).exec_without_returning(txn).await?;
    }
    Ok(())
}

/// One case: newest first by index, a quarter of a day apart on average.
fn one_case(random: &mut Random, chunk: &mut Chunk, index: u64, count: u64, diary: u64, now: DateTime<Utc>) {
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let age = (index as f64 / count as f64 * (SPREAD_DAYS * DAY) as f64) as i64;
    let received = now - chrono::Duration::seconds(age) - random.seconds(3_600, 7_200);
    let days_old = (now - received).num_days();
    let open = if days_old < 90 { random.chance(85) } else { random.chance(2) };
    let team = random.below(TEAMS);
    let officer = officer_name(team, random.below(OFFICERS_PER_TEAM));
    let landlord = LANDLORDS[usize::try_from(random.below(LANDLORDS.len() as u64)).unwrap_or(0)];
    let area = format!("area-{:02}", random.below(AREAS));
    let serious = random.chance(15);
    let (category, priority, route, first_response_secs) = if serious {
        ("domestic-abuse", "urgent", "enforcement", Some(DAY))
    } else {
        ("noise", "routine", "neighbourhood", None)
    };
    let until_now = |at: DateTime<Utc>| (at < now).then_some(at);
    let acknowledged =
        if random.chance(93) { until_now(received + random.seconds(600, 5 * DAY)) } else { None };
    let first_responded = if serious && random.chance(85) {
        until_now(received + random.seconds(600, 36 * 3_600))
    } else {
        None
    };
    let closed = (!open)
        .then(|| (received + random.seconds(14 * DAY, 120 * DAY)).min(now - chrono::Duration::minutes(5)));
    let satisfaction = closed.and_then(|_| match random.below(100) {
        0..55 => Some("satisfied"),
        55..75 => Some("dissatisfied"),
        75..85 => Some("no_answer"),
        _ => None,
    });
    let last = closed.unwrap_or(now);
    let id = random.uuid();
    chunk.cases.push(
        cases::Model {
            id,
            reference: format!("ASB-BENCH-{index:07}"),
            landlord_organisation: landlord.to_owned(),
            area: area.clone(),
            state: if closed.is_some() { "closed" } else { "open" }.to_owned(),
            categories: format!("[\"{category}\"]"),
            hate_motivation: None,
            priority: Some(priority.to_owned()),
            route: Some(route.to_owned()),
            first_response_secs,
            risk: Some("standard".to_owned()),
            vulnerabilities: "[]".to_owned(),
            priority_reason: None,
            triaged_by: Some(officer.clone()),
            triage_time: acknowledged,
            assigned_officer: Some(officer.clone()),
            team: Some(team_code(team)),
            repeat_of: None,
            mediation: None,
            action_plan: None,
            closure_reason: closed.map(|_| "resolved".to_owned()),
            closure_outcome: None,
            close_time: closed,
            satisfaction: satisfaction.map(str::to_owned),
            signed_off: closed.is_some(),
            receive_time: received,
            open_time: received,
            acknowledge_time: acknowledged,
            first_response_time: first_responded,
            update_time: last,
            version: 1,
        }
        .into_active_model()
        .reset_all(),
    );
    // The complainant: a customer of the landlord, someone outside the customer base, or unknown.
    let (customer, external) = match random.below(100) {
        0..85 => (Some(format!("customers/c{}", random.below(COMPLAINANTS))), None),
        85..95 => (None, Some(format!("ext-{}", random.below(COMPLAINANTS / 3)))),
        _ => (None, None),
    };
    let mut report_times = vec![received];
    if random.chance(10) {
        let again = received + random.seconds(DAY, 30 * DAY);
        if again < last {
            report_times.push(again);
        }
    }
    for received in report_times {
        let report = random.uuid();
        chunk.reports.push(
            reports::Model {
                id: report,
                case_id: id,
                channel: "phone".to_owned(),
                receive_time: received,
                incident_time: Some(received - chrono::Duration::hours(2)),
                description: "Loud music and shouting late at night, most nights this week.".to_owned(),
                area: area.clone(),
                uprn: None,
                location_description: None,
                categories: format!("[\"{category}\"]"),
                hate_motivation: None,
                organisation: landlord.to_owned(),
            }
            .into_active_model()
            .reset_all(),
        );
        let party =
            |random: &mut Random, role: PartyRole, customer: Option<String>, external: Option<String>| {
                parties::Model {
                    id: random.uuid(),
                    case_id: id,
                    report_id: report,
                    role: codes::party_role(role).to_owned(),
                    customer_landlord: customer.as_ref().map(|_| landlord.to_owned()),
                    customer,
                    external_key: external,
                    details: "{}".to_owned(),
                }
                .into_active_model()
                .reset_all()
            };
        chunk.parties.push(party(random, PartyRole::Complainant, customer.clone(), external.clone()));
        let perpetrator = format!("perpetrator-{}", random.below(COMPLAINANTS));
        chunk.parties.push(party(random, PartyRole::AllegedPerpetrator, None, Some(perpetrator)));
    }
    // Contacts every 4 to 19 days: some cases keep the 14-day standard, some miss it.
    let mut contact = received + random.seconds(3_600, 4 * DAY);
    while contact < last {
        let role = match random.below(100) {
            0..90 => PartyRole::Complainant,
            90..95 => PartyRole::Victim,
            _ => PartyRole::Witness,
        };
        chunk.contacts.push(
            contacts::Model {
                id: random.uuid(),
                case_id: id,
                party_role: codes::party_role(role).to_owned(),
                channel: "phone".to_owned(),
                contact_time: contact,
                summary: Some("Called to update on the case.".to_owned()),
                author: officer.clone(),
            }
            .into_active_model()
            .reset_all(),
        );
        contact += random.seconds(4 * DAY, 19 * DAY);
    }
    let lifetime = (last - received).num_seconds().max(1);
    for entry in 0..diary {
        let at = received + random.seconds(0, lifetime);
        chunk.diary.push(
            diary_entries::Model {
                id: random.uuid(),
                case_id: id,
                occur_time: at,
                text: format!("Diary entry {entry}: music heard from the flat above until 01:30."),
                reported_by: Some("complainant".to_owned()),
                evidence: "[]".to_owned(),
                corrects: None,
                author: officer.clone(),
                create_time: at,
            }
            .into_active_model()
            .reset_all(),
        );
    }
}

/// `bench_days`: every local day from the end of 2024 to 2028, its first instant,
/// and the acknowledgement deadline of a report received on it (3 working days,
/// from the bank holidays the service holds).
async fn build_calendar(db: &DatabaseConnection) -> anyhow::Result<()> {
    let holidays = bank_holidays::Entity::find().all(db).await?;
    let calendar = WorkingCalendar::new(holidays.into_iter().map(|row| row.holiday_date));
    db.execute_unprepared(
        "CREATE TABLE bench_days (day INTEGER PRIMARY KEY, starts TIMESTAMP WITH TIME ZONE NOT NULL, \
         ack_deadline TIMESTAMP WITH TIME ZONE NOT NULL)",
    )
    .await?;
    db.execute_unprepared("CREATE UNIQUE INDEX bench_days_by_start ON bench_days (starts)").await?;
    let first = NaiveDate::parse_from_str(FIRST_DAY, "%Y-%m-%d")?;
    let days: Vec<(i64, DateTime<Utc>, DateTime<Utc>)> = (0..1_200_i64)
        .map(|day| {
            let date = first + chrono::Duration::days(day);
            let starts = start_of_day(date);
            (day, starts, calendar.deadline(starts, 3, DayCount::Working))
        })
        .collect();
    let txn = db.begin().await?;
    for batch in days.chunks(500) {
        let mut values = Vec::new();
        let placeholders: Vec<String> = batch
            .iter()
            .enumerate()
            .map(|(row, (day, starts, deadline))| {
                values.extend([Value::from(*day), Value::from(*starts), Value::from(*deadline)]);
                format!("(${}, ${}, ${})", row * 3 + 1, row * 3 + 2, row * 3 + 3)
            })
            .collect();
        let sql =
            format!("INSERT INTO bench_days (day, starts, ack_deadline) VALUES {}", placeholders.join(", "));
        txn.execute_raw(statement(db.get_database_backend(), &sql, values)).await?;
    }
    txn.commit().await?;
    db.execute_unprepared("ANALYZE").await?;
    Ok(())
}

// ---------------------------------------------------------------- plain SQL

/// A statement with `$n` parameters, as SQLite (`?n`) or PostgreSQL read them.
fn statement(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DatabaseBackend::Sqlite { sql.replace('$', "?") } else { sql.to_owned() };
    Statement::from_sql_and_values(backend, sql, values)
}

/// An instant as SQL compares and adds to it: SQLite holds text, so Julian days.
fn instant(backend: DatabaseBackend, expression: &str) -> String {
    if backend == DatabaseBackend::Sqlite {
        format!("julianday({expression})")
    } else {
        expression.to_owned()
    }
}

fn plus_seconds(backend: DatabaseBackend, expression: &str, seconds: &str) -> String {
    if backend == DatabaseBackend::Sqlite {
        format!("(julianday({expression}) + ({seconds}) / 86400.0)")
    } else {
        format!("({expression} + ({seconds}) * interval '1 second')")
    }
}

/// The local day (a `bench_days.day`) of an instant: PostgreSQL knows the time
/// zone's rules; SQLite looks the day up in the calendar table.
fn day_of(backend: DatabaseBackend, expression: &str) -> String {
    if backend == DatabaseBackend::Sqlite {
        format!("(SELECT day FROM bench_days WHERE starts <= {expression} ORDER BY starts DESC LIMIT 1)")
    } else {
        format!("(({expression} AT TIME ZONE 'Europe/London')::date - DATE '{FIRST_DAY}')")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Officer,
    Team,
}

impl Scope {
    fn label(self) -> &'static str {
        match self {
            Self::Officer => "officer",
            Self::Team => "team",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Self::Officer => "assigned_officer",
            Self::Team => "team",
        }
    }
}

/// The work queue of one officer or team in plain SQL: acknowledgements, first
/// responses and contacts due within 48 hours or overdue, overdue first, then by
/// deadline. ($1 scope, $2 now, $3 now + 48 hours, $4 contact days, $5 rows.)
fn queue_sql(backend: DatabaseBackend, scope: Scope) -> String {
    let column = scope.column();
    let received_day = day_of(backend, "o.receive_time");
    let opened_day = day_of(backend, "o.open_time");
    let contact_day = day_of(backend, "k.contact_time");
    let ack = instant(backend, "d.ack_deadline");
    let response = plus_seconds(backend, "o.receive_time", "o.first_response_secs");
    let contact = instant(backend, "d.starts");
    let now = instant(backend, "$2");
    let bound = instant(backend, "$3");
    format!(
        "WITH open_cases AS (
           SELECT id, receive_time, open_time, acknowledge_time, first_response_secs, first_response_time
           FROM cases WHERE {column} = $1 AND state <> 'closed'
         ), dated AS (
           SELECT o.id, {opened_day} AS day FROM open_cases o
           UNION ALL
           SELECT o.id, {contact_day} FROM open_cases o JOIN contacts k ON k.case_id = o.id
           WHERE k.party_role IN ('complainant', 'victim') AND k.contact_time >= o.open_time
         ), gaps AS (
           SELECT id, day, day - LAG(day) OVER (PARTITION BY id ORDER BY day) AS gap FROM dated
         ), contact AS (
           SELECT id, MAX(day) AS last_day, MAX(gap) AS widest FROM gaps GROUP BY id
         ), items AS (
           SELECT o.id, 0 AS task, {ack} AS deadline
           FROM open_cases o JOIN bench_days d ON d.day = {received_day}
           WHERE o.acknowledge_time IS NULL
           UNION ALL
           SELECT o.id, 1, {response} FROM open_cases o
           WHERE o.first_response_secs IS NOT NULL AND o.first_response_time IS NULL
           UNION ALL
           SELECT c.id, 2, {contact} FROM contact c JOIN bench_days d ON d.day = c.last_day + $4 + 1
           WHERE COALESCE(c.widest, 0) <= $4
         )
         SELECT id, task, CASE WHEN deadline <= {now} THEN 1 ELSE 0 END AS overdue
         FROM items WHERE deadline <= {bound}
         ORDER BY overdue DESC, deadline, task, id DESC
         LIMIT $5"
    )
}

/// The service standards of the cases received in `[$1, $2)` in plain SQL: met,
/// missed and pending per standard, overall and per landlord, team and officer.
/// ($3 now, $4 contact days.) It returns the counts, not the cases that missed.
fn standards_sql(backend: DatabaseBackend) -> String {
    let received_day = day_of(backend, "y.receive_time");
    let opened_day = day_of(backend, "y.open_time");
    let contact_day = day_of(backend, "k.contact_time");
    let responded = instant(backend, "y.first_response_time");
    let response_due = plus_seconds(backend, "y.receive_time", "y.first_response_secs");
    let now = instant(backend, "$3");
    format!(
        "WITH y AS (
           SELECT id, landlord_organisation AS landlord, COALESCE(team, '') AS team,
                  COALESCE(assigned_officer, '') AS officer, receive_time, open_time, acknowledge_time,
                  first_response_secs, first_response_time, close_time, satisfaction
           FROM cases WHERE receive_time >= $1 AND receive_time < $2
         ), dated AS (
           SELECT y.id, {opened_day} AS day FROM y
           UNION ALL
           SELECT y.id, {contact_day} FROM y JOIN contacts k ON k.case_id = y.id
           WHERE k.party_role IN ('complainant', 'victim') AND k.contact_time >= y.open_time
             AND (y.close_time IS NULL OR k.contact_time <= y.close_time)
         ), gaps AS (
           SELECT id, day, day - LAG(day) OVER (PARTITION BY id ORDER BY day) AS gap FROM dated
         ), contact AS (
           SELECT id, MAX(day) AS last_day, MAX(gap) AS widest FROM gaps GROUP BY id
         ), standings AS (
           SELECT y.id, 1 AS standard,
             CASE WHEN y.acknowledge_time IS NOT NULL
                    THEN CASE WHEN y.acknowledge_time < d.ack_deadline THEN 1 ELSE 2 END
                  WHEN $3 < d.ack_deadline THEN 3 ELSE 2 END AS standing
           FROM y JOIN bench_days d ON d.day = {received_day}
           UNION ALL
           SELECT y.id, 2,
             CASE WHEN y.first_response_time IS NOT NULL
                    THEN CASE WHEN {responded} <= {response_due} THEN 1 ELSE 2 END
                  WHEN {now} <= {response_due} THEN 3 ELSE 2 END
           FROM y WHERE y.first_response_secs IS NOT NULL
           UNION ALL
           SELECT y.id, 3,
             CASE WHEN COALESCE(c.widest, 0) > $4 THEN 2
                  WHEN y.close_time IS NOT NULL THEN CASE WHEN y.close_time < d.starts THEN 1 ELSE 2 END
                  WHEN $3 < d.starts THEN 3 ELSE 2 END
           FROM contact c JOIN y ON y.id = c.id JOIN bench_days d ON d.day = c.last_day + $4 + 1
           UNION ALL
           SELECT y.id, 4, CASE WHEN y.satisfaction = 'satisfied' THEN 1 ELSE 2 END
           FROM y WHERE y.satisfaction IN ('satisfied', 'dissatisfied')
         ), dimensions AS (
           SELECT 'all' AS dimension UNION ALL SELECT 'landlord' UNION ALL SELECT 'team'
           UNION ALL SELECT 'officer'
         )
         SELECT s.standard, m.dimension,
           CASE m.dimension WHEN 'all' THEN '' WHEN 'landlord' THEN y.landlord
                            WHEN 'team' THEN y.team ELSE y.officer END AS slice,
           SUM(CASE WHEN s.standing = 1 THEN 1 ELSE 0 END) AS met,
           SUM(CASE WHEN s.standing = 2 THEN 1 ELSE 0 END) AS missed,
           SUM(CASE WHEN s.standing = 3 THEN 1 ELSE 0 END) AS pending
         FROM standings s JOIN y ON y.id = s.id CROSS JOIN dimensions m
         GROUP BY s.standard, m.dimension, slice"
    )
}

/// (case, task, overdue) of a queue, without its community triggers and case
/// reviews (the plain query leaves them out).
type QueueLine = (String, i32, bool);

async fn plain_queue(
    db: &DatabaseConnection,
    scope: Scope,
    key: &str,
    now: DateTime<Utc>,
    rows: i64,
) -> anyhow::Result<Vec<QueueLine>> {
    let backend = db.get_database_backend();
    let values = vec![
        Value::from(key.to_owned()),
        Value::from(now),
        Value::from(now + chrono::Duration::hours(48)),
        Value::from(CONTACT_EVERY),
        Value::from(rows),
    ];
    let answer = db.query_all_raw(statement(backend, &queue_sql(backend, scope), values)).await?;
    answer
        .iter()
        .map(|row| {
            let id: uuid::Uuid = row.try_get("", "id")?;
            let task: i32 = row.try_get("", "task")?;
            let overdue: i32 = row.try_get("", "overdue")?;
            Ok((CaseId::from_uuid(id).name(), task, overdue == 1))
        })
        .collect()
}

/// (standard, dimension, key) -> (met, missed, pending).
type Figures = BTreeMap<(i32, String, String), (i64, i64, i64)>;

async fn plain_standards(
    db: &DatabaseConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<Figures> {
    let backend = db.get_database_backend();
    let values = vec![Value::from(from), Value::from(to), Value::from(now), Value::from(CONTACT_EVERY)];
    let answer = db.query_all_raw(statement(backend, &standards_sql(backend), values)).await?;
    answer
        .iter()
        .map(|row| {
            let standard: i32 = row.try_get("", "standard")?;
            let dimension: String = row.try_get("", "dimension")?;
            let slice: String = row.try_get("", "slice")?;
            let met: i64 = row.try_get("", "met")?;
            let missed: i64 = row.try_get("", "missed")?;
            let pending: i64 = row.try_get("", "pending")?;
            Ok(((standard, dimension, slice), (met, missed, pending)))
        })
        .collect()
}

// ---------------------------------------------------------------- through the service

fn queue_request(scope: Scope, key: &str, page_size: i32, page_token: String) -> pb::ListWorkQueueRequest {
    let (officer, team) = match scope {
        Scope::Officer => (key.to_owned(), String::new()),
        Scope::Team => (String::new(), key.to_owned()),
    };
    pb::ListWorkQueueRequest { officer, team, horizon_hours: 48, page_size, page_token }
}

fn task_number(item: &pb::WorkQueueItem) -> Option<i32> {
    use pb::work_queue_item::Task;
    match Task::try_from(item.task).ok()? {
        Task::Acknowledge => Some(0),
        Task::FirstResponse => Some(1),
        Task::ContactComplainant => Some(2),
        Task::CaseReview | Task::CommunityTrigger | Task::Unspecified => None,
    }
}

/// Pages through one whole queue and compares it with the plain query's.
async fn compare_queue(
    server: &ServerProcess,
    client: &AsbCasesClient<Channel>,
    db: &DatabaseConnection,
    scope: Scope,
    key: &str,
) -> anyhow::Result<String> {
    let mut client = client.clone();
    let mut token = String::new();
    let mut service: Vec<QueueLine> = Vec::new();
    let mut triggers = 0;
    let now = Utc::now();
    loop {
        let page = client
            .list_work_queue(server.as_partner(queue_request(scope, key, 1_000, token)))
            .await?
            .into_inner();
        for item in &page.items {
            match task_number(item) {
                Some(task) => service.push((item.case.clone(), task, item.overdue)),
                None => triggers += 1,
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let plain = plain_queue(db, scope, key, now, 1_000_000).await?;
    let service_set: BTreeSet<&QueueLine> = service.iter().collect();
    let plain_set: BTreeSet<&QueueLine> = plain.iter().collect();
    let differ = service_set.symmetric_difference(&plain_set).count();
    Ok(format!(
        "  whole queue of {} {key}: {} items (+{triggers} community triggers and case reviews) through the service, {} by plain SQL: {}",
        scope.label(),
        service.len(),
        plain.len(),
        if differ == 0 {
            "the same items".to_owned()
        } else {
            format!("{differ} DIFFER (deadlines passing mid-run?)")
        }
    ))
}

async fn queue_latencies(
    server: &ServerProcess,
    client: &AsbCasesClient<Channel>,
    db: &DatabaseConnection,
    scope: Scope,
    keys: &[String],
    samples: usize,
) -> anyhow::Result<(Latency, Latency)> {
    let mut client = client.clone();
    let mut service = Vec::with_capacity(samples);
    let mut plain = Vec::with_capacity(samples);
    // A warm-up round over every key, then the samples, each key in turn, the
    // service and the plain query back to back.
    for round in 0..(keys.len() + samples) {
        let key = &keys[round % keys.len()];
        let started = Instant::now();
        let page = client
            .list_work_queue(server.as_partner(queue_request(scope, key, 50, String::new())))
            .await?
            .into_inner();
        let service_time = started.elapsed();
        let started = Instant::now();
        let rows = plain_queue(db, scope, key, Utc::now(), 50).await?;
        let plain_time = started.elapsed();
        anyhow::ensure!(page.items.len() <= 50 && rows.len() <= 50, "a page holds 50 items at most");
        if round >= keys.len() {
            service.push(service_time);
            plain.push(plain_time);
        }
    }
    Ok((Latency::of(service), Latency::of(plain)))
}

/// (median, best) of the yearly report through the service and in plain SQL, and
/// whether their figures agree.
async fn report_latencies(
    server: &ServerProcess,
    client: &AsbCasesClient<Channel>,
    db: &DatabaseConnection,
    first: NaiveDate,
    last: NaiveDate,
) -> anyhow::Result<((Duration, Duration), (Duration, Duration), String)> {
    use chrono::Datelike as _;
    let date = |day: NaiveDate| contracts::google::r#type::Date {
        year: day.year(),
        month: i32::try_from(day.month()).unwrap_or(0),
        day: i32::try_from(day.day()).unwrap_or(0),
    };
    let request =
        pb::GetServiceStandardsRequest { start_date: Some(date(first)), end_date: Some(date(last)) };
    let from = start_of_day(first);
    let to = start_of_day(last + chrono::Duration::days(1));
    let mut client = client.clone();
    let mut service = Vec::new();
    let mut plain = Vec::new();
    let mut figures = None;
    let mut plain_figures = Figures::new();
    for round in 0..=REPORT_SAMPLES {
        let started = Instant::now();
        let answer = client.get_service_standards(server.as_partner(request)).await?.into_inner();
        let service_time = started.elapsed();
        let started = Instant::now();
        plain_figures = plain_standards(db, from, to, Utc::now()).await?;
        let plain_time = started.elapsed();
        if round > 0 {
            service.push(service_time);
            plain.push(plain_time);
        }
        figures = Some(answer);
    }
    let answer = figures.context("no report")?;
    let service_figures: Figures = answer
        .figures
        .iter()
        .filter(|figure| figure.met + figure.missed + figure.pending > 0)
        .map(|figure| {
            (
                (figure.standard, figure.dimension.clone(), figure.key.clone()),
                (figure.met, figure.missed, figure.pending),
            )
        })
        .collect();
    let missed_named: usize = answer.figures.iter().map(|figure| figure.missed_cases.len()).sum();
    let differ =
        service_figures.iter().filter(|(key, counts)| plain_figures.get(*key) != Some(*counts)).count()
            + plain_figures.keys().filter(|key| !service_figures.contains_key(*key)).count();
    let cases = service_figures
        .iter()
        .filter(|((standard, dimension, _), _)| *standard == 1 && dimension == "all")
        .map(|(_, (met, missed, pending))| met + missed + pending)
        .sum::<i64>();
    let agree = format!(
        "  {} figures over {cases} cases ({missed_named} missed cases named) through the service, {} by plain SQL: {}",
        service_figures.len(),
        plain_figures.len(),
        if differ == 0 { "the same counts".to_owned() } else { format!("{differ} DIFFER") }
    );
    let summary = |mut times: Vec<Duration>| {
        times.sort();
        (times[times.len() / 2], times[0])
    };
    Ok((summary(service), summary(plain), agree))
}
