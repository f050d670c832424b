//! Operations: `involve health` for container health checks; a backup taken
//! while the suite serves, restored into an empty place, serves the same data
//! (SQLite with `involve backup`, PostgreSQL with `pg_dump` and `pg_restore`);
//! and the per-service database roles of deploy/kubernetes/postgres/roles.sql
//! are enough for each service.

use std::path::Path;
use std::process::Command;

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::processes::involve_binary;
use involve_tests::{Backend, Caller, TestApp, fresh_postgres_database};
use sea_orm::{ConnectionTrait as _, Database};

/// Every customer `caller` sees, in the order the service lists them.
async fn every_customer(app: &TestApp, caller: &Caller) -> Vec<pb::Customer> {
    let mut client = app.profiles().await;
    let mut customers = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListCustomersRequest { page_size: 500, page_token, ..Default::default() };
        let page = client.list_customers(caller.request(request)).await.unwrap().into_inner();
        customers.extend(page.customers);
        if page.next_page_token.is_empty() {
            return customers;
        }
        page_token = page.next_page_token;
    }
}

async fn add_customers(app: &TestApp, caller: &Caller, family: &str, count: usize) {
    let mut client = app.profiles().await;
    for index in 0..count {
        let customer = fixtures::customer(&format!("Person{index}"), family, "leaseholder");
        client.create_customer(caller.request(create(customer))).await.unwrap();
    }
}

/// An `involve` command with nothing from this process's environment that
/// could point it elsewhere.
fn involve(args: &[&str]) -> Command {
    let mut command = Command::new(involve_binary());
    command.args(args).env_remove("INVOLVE__DATABASE__URL").env("INVOLVE__TELEMETRY__LOG_FILTER", "warn");
    command
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_sqlite_backup_restores_the_data_of_its_moment() {
    let data = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| settings.data_dir = data.path().to_path_buf())
        .await
        .unwrap();
    let partner = app.partner("riverside").await;
    add_customers(&app, &partner, "Before", 5).await;
    let before = every_customer(&app, &partner).await;
    assert_eq!(before.len(), 5);

    // Taken by another process while this one serves, as an operator would.
    let backups = tempfile::tempdir().unwrap();
    let target = backups.path().join("today");
    run(involve(&["backup", "--to"]).arg(&target).arg("--data-dir").arg(data.path()));
    let mut files: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["asb.db", "gateway.db", "profiles.db"]);
    // A second backup into the same place refuses rather than mixing moments.
    let again =
        involve(&["backup", "--to"]).arg(&target).arg("--data-dir").arg(data.path()).output().unwrap();
    assert!(!again.status.success());

    add_customers(&app, &partner, "After", 2).await;
    app.stop().await.unwrap();

    // Restore: the backup's files become a new data directory.
    let restored = tempfile::tempdir().unwrap();
    for file in &files {
        std::fs::copy(target.join(file), restored.path().join(file)).unwrap();
    }
    let app =
        TestApp::spawn_with(Backend::Sqlite, |settings| settings.data_dir = restored.path().to_path_buf())
            .await
            .unwrap();
    // The partner's credential is in the restored gateway database too.
    assert_eq!(every_customer(&app, &partner).await, before);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn involve_backup_refuses_a_postgres_deployment() {
    let output = involve(&["backup", "--to", "/nonexistent/backup"])
        .env("INVOLVE__DATABASE__URL", "postgres://involve@127.0.0.1:1/involve")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("pg_dump"));
}

/// The database name at the end of a PostgreSQL URL, and the URL of the
/// cluster's `postgres` database beside it.
fn database_of(url: &str) -> (String, String) {
    let (_, name) = url.rsplit_once('/').unwrap();
    let name = name.split('?').next().unwrap().to_owned();
    (name, persistence::postgres_url_with_database(url, "postgres"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_dump_wiped_and_restored_serves_the_same_data() {
    let Some(url) = fresh_postgres_database().await else { return };
    let app = TestApp::spawn_with(Backend::Postgres, |settings| settings.database.url = Some(url.clone()))
        .await
        .unwrap();
    let partner = app.partner("riverside").await;
    add_customers(&app, &partner, "Before", 5).await;
    let before = every_customer(&app, &partner).await;

    // pg_dump takes one snapshot of every schema while the suite serves.
    let dump_dir = tempfile::tempdir().unwrap();
    let dump = dump_dir.path().join("involve.dump");
    run(Command::new("pg_dump").args(["--format=custom", "--file"]).arg(&dump).arg(&url));
    add_customers(&app, &partner, "After", 2).await;
    app.stop().await.unwrap();

    // Wipe: the database is dropped and created empty.
    let (name, admin_url) = database_of(&url);
    let admin = Database::connect(admin_url.as_str()).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
    admin.close().await.unwrap();

    run(Command::new("pg_restore").args(["--exit-on-error", "--dbname"]).arg(&url).arg(&dump));
    let app = TestApp::spawn_with(Backend::Postgres, |settings| settings.database.url = Some(url.clone()))
        .await
        .unwrap();
    assert_eq!(every_customer(&app, &partner).await, before);
    app.stop().await.unwrap();
}

/// `url` as the login role `role` (the test cluster trusts loopback, so no password).
fn as_role(url: &str, role: &str) -> String {
    let rest = url.strip_prefix("postgres://").unwrap();
    let (_, host_and_path) = rest.split_once('@').unwrap();
    format!("postgres://{role}@{host_and_path}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_migrates_and_serves_with_its_own_role_and_schema_only() {
    let Some(url) = fresh_postgres_database().await else { return };
    let roles_sql = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes/postgres/roles.sql"),
    )
    .unwrap();
    let admin = Database::connect(url.as_str()).await.unwrap();
    admin.execute_unprepared(&roles_sql).await.unwrap();
    // Twice: the script is safe to run again.
    admin.execute_unprepared(&roles_sql).await.unwrap();
    admin.close().await.unwrap();

    for service in ["gateway", "profiles", "asb"] {
        // Neither role may create a schema, so this also shows the suite does
        // not try to when the schema is there.
        run(involve(&["migrate", service])
            .env("INVOLVE__DATABASE__URL", as_role(&url, &format!("{service}_a"))));
    }
    let profiles = Database::connect(as_role(&url, "profiles_b").as_str()).await.unwrap();
    let owners = profiles
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'profiles'",
        ))
        .await
        .unwrap();
    let owners: Vec<String> = owners.iter().map(|row| row.try_get_by_index(0).unwrap()).collect();
    assert_eq!(owners, ["profiles"], "tables belong to the service, whichever login created them");
    let denied =
        profiles.execute_unprepared("SELECT count(*) FROM gateway.seaql_migrations").await.unwrap_err();
    assert!(denied.to_string().contains("permission denied"), "{denied}");
    let denied = profiles.execute_unprepared("CREATE SCHEMA elsewhere").await.unwrap_err();
    assert!(denied.to_string().contains("permission denied"), "{denied}");
    profiles.close().await.unwrap();

    // And the service serves on that role (the other login of the pair).
    let mut settings =
        involve_tests::test_settings(Backend::Sqlite, tempfile::tempdir().unwrap().path()).await.unwrap();
    settings.database.url = Some(as_role(&url, "profiles_b"));
    settings.security.principal_signing_secret =
        Some(platform::config::Secret::new(involve_tests::processes::SIGNING_SECRET));
    let profiles = involve::Service::named("profiles").unwrap();
    involve::Application::build(settings, involve::Mode::Only(profiles)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn involve_health_says_whether_a_process_serves() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let endpoint = app.endpoint();
    run(&mut involve(&["health", "--addr", &endpoint]));
    run(&mut involve(&["health", "--addr", &endpoint, "--service", "involve.profiles.v1.CustomerProfiles"]));
    let unknown = involve(&["health", "--addr", &endpoint, "--service", "no.such.Service"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    app.stop().await.unwrap();
    let stopped = involve(&["health", "--addr", &endpoint]).output().unwrap();
    assert_eq!(stopped.status.code(), Some(1), "nothing listens there any more");
}
