//! `involve asb ...` as an officer runs it: the real binary against the suite on
//! loopback, with the credential in INVOLVE_CREDENTIAL.

use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::processes::involve_binary;
use involve_tests::{Caller, TestApp, on_every_backend};

on_every_backend!(
    an_officer_reports_then_reads_the_queue_the_case_and_the_standards,
    bad_input_names_the_field_on_stderr_and_fails,
);

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
    assert!(filed.contains("Acknowledge by"), "{filed}");

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
    for expected in ["complainant", &ada, "Carol Visitor (EX1 2BB)", "music until 3am", "untriaged"] {
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
