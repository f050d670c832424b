//! `involve asb ...` as an officer runs it: the real binary against the suite on
//! loopback, with the credential in INVOLVE_CREDENTIAL.

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::processes::involve_binary;
use involve_tests::tls::{TestPki, connect_tls};
use involve_tests::{Backend, Caller, TestApp, issue_credential, on_every_backend};
use platform::Role;

on_every_backend!(
    an_officer_reports_then_reads_the_queue_the_case_and_the_standards,
    bad_input_names_the_field_on_stderr_and_fails,
    the_endpoint_and_credential_can_come_from_files,
);
involve_tests::on_every_backend_with_settings!(a_tls_listener_is_reached_with_the_ca_file);

/// What one run of the binary printed, and whether it succeeded.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `involve asb {args}` against `app` as `caller`.
async fn involve_asb(app: &TestApp, caller: &Caller, args: &[&str]) -> Run {
    // A directory without an involve.toml, so only --endpoint says where the suite is.
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(involve_binary())
        .arg("asb")
        .args(["--endpoint", &app.endpoint()])
        .args(args)
        .current_dir(dir.path())
        .env("INVOLVE_CREDENTIAL", &caller.token)
        .env_remove("INVOLVE_CREDENTIAL_FILE")
        .output()
        .await
        .unwrap();
    Run {
        success: output.status.success(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

async fn succeeds(app: &TestApp, caller: &Caller, args: &[&str]) -> String {
    let run = involve_asb(app, caller, args).await;
    assert!(run.success, "involve asb {args:?} failed: {}", run.stderr);
    assert!(!run.stdout.contains(&caller.token) && !run.stderr.contains(&caller.token));
    run.stdout
}

async fn customer(app: &TestApp, caller: &Caller, given: &str) -> String {
    let customer = pb::Customer {
        area: "north".into(),
        ..fixtures::customer(given, "Neighbour", "housing-association-tenant")
    };
    app.profiles().await.create_customer(caller.request(create(customer))).await.unwrap().into_inner().name
}

async fn an_officer_reports_then_reads_the_queue_the_case_and_the_standards(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let ada = customer(&app, &partner, "Ada").await;
    let bob = customer(&app, &partner, "Bob").await;

    let filed = succeeds(
        &app,
        &partner,
        &[
            "report",
            "--channel",
            "phone",
            "--area",
            "north",
            "--category",
            "noise",
            "--complainant",
            &ada,
            "--accused",
            &bob,
            "--witness",
            "Carol Visitor,EX1 2BB",
            "--description",
            "music until 3am every night this week",
        ],
    )
    .await;
    assert!(filed.contains("opened case ASB-"), "{filed}");
    assert!(filed.contains("Acknowledge before"), "{filed}");

    // The same people again, for a script: it joins the case.
    let joined = succeeds(
        &app,
        &partner,
        &[
            "report",
            "--output",
            "json",
            "--channel",
            "online",
            "--area",
            "north",
            "--category",
            "noise",
            "--complainant",
            &ada,
            "--accused",
            &bob,
            "--description",
            "and again last night",
        ],
    )
    .await;
    let joined: serde_json::Value = serde_json::from_str(&joined).unwrap();
    assert_eq!(joined["opened_case"], false);
    let case = &joined["case"];
    let name = case["name"].as_str().unwrap().to_owned();
    let reference = case["reference"].as_str().unwrap().to_owned();
    assert_eq!(case["reports"].as_array().unwrap().len(), 2);
    assert_eq!(case["parties"].as_array().unwrap().len(), 3);

    let queue = succeeds(&app, &partner, &["queue", "--horizon-hours", "2160"]).await;
    let row = queue.lines().find(|line| line.contains(&reference)).unwrap_or_else(|| panic!("{queue}"));
    assert!(row.contains("acknowledge"), "{queue}");
    assert!(queue.contains("UK local"), "{queue}");
    assert!(queue.lines().all(|line| line.chars().count() <= 100), "{queue}");
    let queue: serde_json::Value = serde_json::from_str(
        &succeeds(&app, &partner, &["--output", "json", "queue", "--horizon-hours", "2160"]).await,
    )
    .unwrap();
    let items = queue["items"].as_array().unwrap();
    assert!(
        items.iter().any(|item| item["case"] == name.as_str() && item["task"] == "acknowledge"),
        "{queue}"
    );

    // By reference, looked up among the caller's cases, and by name.
    let shown = succeeds(&app, &partner, &["show", &reference]).await;
    assert!(shown.starts_with(&format!("{reference}  {name}")), "{shown}");
    for expected in
        ["complainant", &ada, "Carol Visitor (EX1 2BB)", "music until 3am", "untriaged", "not considered yet"]
    {
        assert!(shown.contains(expected), "{expected:?} missing from\n{shown}");
    }
    let standing = shown.lines().find(|line| line.starts_with("acknowledgement")).unwrap();
    assert!(standing.contains(" due ") && standing.ends_with(":00"), "{shown}");
    assert!(shown.lines().all(|line| line.chars().count() <= 100), "{shown}");
    let shown: serde_json::Value =
        serde_json::from_str(&succeeds(&app, &partner, &["show", &name, "--output", "json"]).await).unwrap();
    assert_eq!(shown["reference"], reference.as_str());
    assert_eq!(shown["standards"]["acknowledgement"]["state"], "due");

    let year = chrono::Datelike::year(&chrono::Utc::now().date_naive());
    let (from, to) = (format!("{year}-01-01"), format!("{year}-12-31"));
    let standards = succeeds(&app, &partner, &["standards", "--from", &from, "--to", &to]).await;
    let acknowledgement = standards
        .lines()
        .find(|line| line.starts_with("acknowledgement") && line.contains(" all "))
        .unwrap_or_else(|| panic!("{standards}"));
    assert!(acknowledgement.contains("90%"), "{standards}");
    let standards: serde_json::Value = serde_json::from_str(
        &succeeds(&app, &partner, &["standards", "--from", &from, "--to", &to, "--output", "json"]).await,
    )
    .unwrap();
    let figure = standards["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|figure| figure["standard"] == "acknowledgement" && figure["dimension"] == "all")
        .unwrap();
    assert_eq!((figure["met"].as_i64(), figure["pending"].as_i64()), (Some(0), Some(1)));

    // Ten days on (past three working days whatever holidays fall between, short of
    // the fourteen-day contact), the acknowledgement is overdue and marked so.
    app.clock.advance(std::time::Duration::from_secs(10 * 24 * 3600));
    let queue = succeeds(&app, &partner, &["queue"]).await;
    let overdue = queue.lines().find(|line| line.starts_with("OVERDUE")).unwrap_or_else(|| panic!("{queue}"));
    assert!(overdue.contains("acknowledge") && overdue.contains(&reference), "{queue}");
    assert!(queue.contains("1 overdue"), "{queue}");
    let shown = succeeds(&app, &partner, &["show", &reference]).await;
    let standing = shown.lines().find(|line| line.starts_with("acknowledgement")).unwrap();
    assert!(standing.contains("OVERDUE"), "{shown}");
}

async fn bad_input_names_the_field_on_stderr_and_fails(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let bad = involve_asb(
        &app,
        &partner,
        &[
            "report",
            "--channel",
            "phone",
            "--area",
            "north",
            "--category",
            "Not A Code",
            "--complainant",
            "unknown",
            "--description",
            "shouting",
        ],
    )
    .await;
    assert!(!bad.success);
    assert!(bad.stdout.is_empty(), "{}", bad.stdout);
    assert!(bad.stderr.contains("InvalidArgument"), "{}", bad.stderr);
    assert!(
        bad.stderr.lines().any(|line| line.trim_start().starts_with("report.categories[0]: ")),
        "{}",
        bad.stderr
    );

    let backwards =
        involve_asb(&app, &partner, &["standards", "--from", "2026-12-31", "--to", "2026-01-01"]).await;
    assert!(!backwards.success);
    assert!(
        backwards.stderr.lines().any(|line| line.trim_start().starts_with("end_date: ")),
        "{}",
        backwards.stderr
    );
    let missing = involve_asb(&app, &partner, &["show", "ASB-1999-000009"]).await;
    assert!(!missing.success);
    assert!(missing.stderr.contains("no case ASB-1999-000009"), "{}", missing.stderr);

    // A credential the gateway does not know.
    let stranger = Caller { organisation: "nobody".into(), token: "not-a-credential".into() };
    let refused = involve_asb(&app, &stranger, &["queue"]).await;
    assert!(!refused.success);
    assert!(refused.stderr.contains("Unauthenticated"), "{}", refused.stderr);
}

async fn the_endpoint_and_credential_can_come_from_files(app: TestApp) {
    let partner = app.partner("riverside").await;
    // ./involve.toml's `listen` is the endpoint; the secret is in a file, not the environment.
    let dir = tempfile::tempdir().unwrap();
    let address = app.endpoint().trim_start_matches("http://").to_owned();
    std::fs::write(dir.path().join("involve.toml"), format!("listen = \"{address}\"\n")).unwrap();
    let secret = dir.path().join("credential");
    std::fs::write(&secret, format!("{}\n", partner.token)).unwrap();
    let output = tokio::process::Command::new(involve_binary())
        .args(["asb", "queue", "--output", "json", "--credential-file"])
        .arg(&secret)
        .current_dir(dir.path())
        .env_remove("INVOLVE_CREDENTIAL")
        .env_remove("INVOLVE_CREDENTIAL_FILE")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    let queue: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(queue["items"], serde_json::json!([]));

    // No credential at all: refused before any call.
    let output = tokio::process::Command::new(involve_binary())
        .args(["asb", "queue"])
        .current_dir(dir.path())
        .env_remove("INVOLVE_CREDENTIAL")
        .env_remove("INVOLVE_CREDENTIAL_FILE")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8(output.stderr).unwrap().contains("INVOLVE_CREDENTIAL"));
}

async fn a_tls_listener_is_reached_with_the_ca_file(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path(), "listener");
    let Some(app) = TestApp::spawn_with(backend, |settings| pki.serve_tls(settings, false)).await else {
        return;
    };
    let https = format!("https://127.0.0.1:{}", app.address.port());
    let operator = app.operator().await;
    let channel = connect_tls(&https, pki.client()).await.unwrap();
    let issued = issue_credential(channel, &operator, "riverside", Role::PartnerIntegration, &[], 0).await;
    let queue = |ca_file: Option<&std::path::Path>| {
        let mut command = tokio::process::Command::new(involve_binary());
        command
            .args(["asb", "queue", "--output", "json", "--endpoint", &https])
            .current_dir(dir.path())
            .env("INVOLVE_CREDENTIAL", &issued.secret)
            .env_remove("INVOLVE_CREDENTIAL_FILE")
            .env_remove("INVOLVE_CA_FILE");
        if let Some(file) = ca_file {
            command.arg("--ca-file").arg(file);
        }
        command.output()
    };
    let trusted = queue(Some(&pki.ca_file)).await.unwrap();
    assert!(trusted.status.success(), "{}", String::from_utf8_lossy(&trusted.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&trusted.stdout).unwrap();
    assert_eq!(answer["items"], serde_json::json!([]));
    let untrusted = queue(None).await.unwrap();
    assert!(!untrusted.status.success());
    assert!(String::from_utf8_lossy(&untrusted.stderr).contains("--ca-file"));
}
