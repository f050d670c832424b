//! `GetAsbAnalysis` through the gateway: figures counted exactly for a seeded set
//! of cases, NM01 with and without homes on record, repeat rates, hotspot alerts
//! at their threshold, equality groups counted by profiles (ASB never sees an
//! answer) and protected, who may ask, and bad input. Also profiles'
//! `CountEqualityGroups`, which only a service's own identity may call.

use std::time::Duration;

use chrono::{Datelike as _, NaiveDate};
use contracts::google::r#type::Date;
use contracts::involve::asb::v1 as asb;
use contracts::involve::asb::v1::asb_cases_client::AsbCasesClient;
use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{
    Backend, Caller, TestApp, assert_status, on_every_backend_with_settings, violated_fields,
};
use platform::Role;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use tonic::Code;
use tonic::transport::Channel;

on_every_backend_with_settings!(
    figures_are_counted_exactly_for_a_seeded_set_of_cases,
    hotspots_alert_at_the_threshold_and_not_one_below,
    equality_groups_are_counted_by_profiles_and_protected,
    who_may_analyse_and_what_bad_input_names,
    only_a_service_identity_counts_equality_groups,
    a_manager_reads_the_analysis_from_the_command_line,
);

/// An hour of officer time at £36.00.
const HOURLY_COST_PENCE: u64 = 3_600;

async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |settings| {
        settings.services.insert(
            "asb".into(),
            serde_json::json!({ "analysis": { "officer_hourly_cost_pence": HOURLY_COST_PENCE } }),
        );
    })
    .await
}

async fn cases(app: &TestApp) -> AsbCasesClient<Channel> {
    AsbCasesClient::new(app.channel().await)
}

fn date(day: NaiveDate) -> Date {
    Date {
        year: day.year(),
        month: i32::try_from(day.month()).unwrap(),
        day: i32::try_from(day.day()).unwrap(),
    }
}

/// Today in England and Wales, as the suite's clock reads it.
fn today(app: &TestApp) -> NaiveDate {
    use platform::clock::Clock as _;
    asb_local_date(app.clock.now())
}

/// The England and Wales date of `instant` (summer time from the last Sunday of
/// March to the last Sunday of October, near enough for a test's dates).
/// The regulator's reporting year a day falls in (1 April to 31 March, named by
/// the year it begins), as NM01 figures and homes on record are kept.
fn reporting_year(day: NaiveDate) -> i32 {
    if day.month() >= 4 { day.year() } else { day.year() - 1 }
}

fn asb_local_date(instant: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    let summer = (4..=10).contains(&instant.month());
    (instant + chrono::Duration::hours(i64::from(summer))).date_naive()
}

/// An analysis of the 40 days either side of today.
fn around_today(app: &TestApp) -> asb::GetAsbAnalysisRequest {
    let today = today(app);
    asb::GetAsbAnalysisRequest {
        start_date: Some(date(today - chrono::Days::new(40))),
        end_date: Some(date(today + chrono::Days::new(40))),
        ..Default::default()
    }
}

async fn analyse(app: &TestApp, caller: &Caller, request: asb::GetAsbAnalysisRequest) -> asb::AsbAnalysis {
    cases(app).await.get_asb_analysis(caller.request(request)).await.unwrap().into_inner()
}

/// A customer of `caller`'s organisation in `area`, with an ethnicity recorded.
async fn customer(app: &TestApp, caller: &Caller, given: &str, area: &str, ethnicity: &str) -> String {
    let customer = pb::Customer {
        area: area.into(),
        equality: Some(fixtures::equality(ethnicity)),
        ..fixtures::customer(given, "Neighbour", "housing-association-tenant")
    };
    app.profiles().await.create_customer(caller.request(create(customer))).await.unwrap().into_inner().name
}

fn customer_party(role: asb::PartyRole, customer: &str) -> asb::Party {
    asb::Party {
        role: role.into(),
        person: Some(asb::party::Person::Customer(customer.to_owned())),
        withheld: false,
    }
}

fn external_party(role: asb::PartyRole, name: &str) -> asb::Party {
    asb::Party {
        role: role.into(),
        person: Some(asb::party::Person::External(asb::ExternalPerson {
            display_name: name.into(),
            postcode: "EX1 2BB".into(),
            contact: String::new(),
        })),
        withheld: false,
    }
}

fn unknown_party(role: asb::PartyRole) -> asb::Party {
    asb::Party {
        role: role.into(),
        person: Some(asb::party::Person::Unknown(asb::UnknownPerson {
            description: "man in a red van".into(),
        })),
        withheld: false,
    }
}

/// Files a report in `area` and answers with its case's name.
async fn report(
    app: &TestApp,
    caller: &Caller,
    area: &str,
    categories: &[&str],
    parties: Vec<asb::Party>,
) -> String {
    let hate = categories.contains(&"hate-incident");
    let report = asb::Report {
        channel: asb::Channel::Phone.into(),
        description: "shouting in the stairwell".into(),
        area: area.into(),
        categories: categories.iter().map(|category| (*category).to_owned()).collect(),
        hate_motivation: if hate { asb::HateMotivation::Race.into() } else { 0 },
        parties,
        ..Default::default()
    };
    let request = asb::ReportIncidentRequest { report: Some(report), request_id: String::new() };
    cases(app).await.report_incident(caller.request(request)).await.unwrap().into_inner().case.unwrap().name
}

async fn log_minutes(app: &TestApp, caller: &Caller, case: &str, minutes: i32) {
    let entry = asb::TimeEntry { work_date: Some(date(today(app))), minutes, ..Default::default() };
    let request = asb::LogOfficerTimeRequest {
        parent: case.to_owned(),
        time_entry: Some(entry),
        request_id: String::new(),
    };
    cases(app).await.log_officer_time(caller.request(request)).await.unwrap();
}

/// Closes `case` (mediation considered, a manager's sign-off) and records the
/// complainant's answer.
async fn close(app: &TestApp, caller: &Caller, case: &str, satisfaction: asb::closure::Satisfaction) {
    let mut client = cases(app).await;
    let not_referred = asb::RecordMediationDecisionRequest {
        name: case.to_owned(),
        decision: Some(asb::MediationDecision {
            decision: Some(asb::mediation_decision::Decision::NotReferredReason("parties declined".into())),
        }),
        etag: String::new(),
    };
    client.record_mediation_decision(caller.request(not_referred)).await.unwrap();
    let manager = app.caller("council", Role::Manager, &[]).await;
    let review = asb::RecordCaseReviewRequest {
        parent: case.to_owned(),
        case_review: Some(asb::CaseReview {
            kind: asb::case_review::Kind::Closure.into(),
            sign_off: true,
            ..Default::default()
        }),
    };
    client.record_case_review(manager.request(review)).await.unwrap();
    let closing = asb::CloseCaseRequest {
        name: case.to_owned(),
        reason: "resolved".into(),
        outcome: String::new(),
        etag: String::new(),
    };
    client.close_case(caller.request(closing)).await.unwrap();
    let answer = asb::RecordSatisfactionRequest { name: case.to_owned(), satisfaction: satisfaction.into() };
    client.record_satisfaction(caller.request(answer)).await.unwrap();
}

async fn add_warning(app: &TestApp, caller: &Caller, case: &str, outcome: &str) {
    let mut client = cases(app).await;
    let request = asb::AddInterventionRequest {
        parent: case.to_owned(),
        intervention: Some(asb::Intervention {
            r#type: "warning".into(),
            start_date: Some(date(today(app))),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let warning = client.add_intervention(caller.request(request)).await.unwrap().into_inner();
    let outcome = asb::RecordInterventionOutcomeRequest {
        name: warning.name,
        outcome: outcome.into(),
        outcome_date: Some(date(today(app))),
        court_outcome: String::new(),
    };
    client.record_intervention_outcome(caller.request(outcome)).await.unwrap();
}

async fn set_homes(app: &TestApp, landlord: &str, year: i32, homes: i64) -> asb::LandlordHomes {
    let operator = app.operator().await;
    let request = asb::SetLandlordHomesRequest {
        landlord_homes: Some(asb::LandlordHomes {
            landlord_organisation: landlord.into(),
            year,
            homes,
            ..Default::default()
        }),
    };
    cases(app).await.set_landlord_homes(operator.request(request)).await.unwrap().into_inner()
}

fn category(
    analysis: &asb::AsbAnalysis,
    code: &str,
    perpetrator: asb::PerpetratorType,
) -> Option<(i64, i64)> {
    analysis
        .by_category
        .iter()
        .find(|figure| figure.category == code && figure.perpetrator_type == perpetrator as i32)
        .map(|figure| (figure.cases, figure.officer_minutes))
}

async fn figures_are_counted_exactly_for_a_seeded_set_of_cases(backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    app.add_areas(&["north", "south"]).await;
    let riverside = app.partner("riverside").await;
    let hillside = app.partner("hillside").await;
    let ada = customer(&app, &riverside, "Ada", "north", "white-british").await;
    let bob = customer(&app, &riverside, "Bob", "north", "white-british").await;
    let cy = customer(&app, &riverside, "Cy", "north", "white-british").await;
    let di = customer(&app, &riverside, "Di", "south", "white-british").await;
    let eve = customer(&app, &hillside, "Eve", "south", "white-british").await;
    use asb::PartyRole as R;

    // Riverside: a noise case about a customer, a noise and hate incident about
    // someone outside the customer base, one about nobody identified.
    let noisy = report(
        &app,
        &riverside,
        "north",
        &["noise"],
        vec![customer_party(R::Complainant, &ada), customer_party(R::AllegedPerpetrator, &bob)],
    )
    .await;
    let hateful = report(
        &app,
        &riverside,
        "north",
        &["noise", "hate-incident"],
        vec![customer_party(R::Complainant, &cy), external_party(R::AllegedPerpetrator, "Zed Outsider")],
    )
    .await;
    let unknown = report(
        &app,
        &riverside,
        "south",
        &["verbal-abuse"],
        vec![customer_party(R::Complainant, &di), unknown_party(R::AllegedPerpetrator)],
    )
    .await;
    // Hillside, with no homes on record.
    report(&app, &hillside, "south", &["noise"], vec![customer_party(R::Complainant, &eve)]).await;
    log_minutes(&app, &riverside, &noisy, 60).await;
    log_minutes(&app, &riverside, &hateful, 90).await;
    log_minutes(&app, &riverside, &hateful, 30).await;

    // The warning on the noise case does not last: the matter comes back after closure.
    add_warning(&app, &riverside, &noisy, "successful").await;
    close(&app, &riverside, &noisy, asb::closure::Satisfaction::Satisfied).await;
    let repeat = report(
        &app,
        &riverside,
        "north",
        &["noise"],
        vec![customer_party(R::Complainant, &ada), customer_party(R::AllegedPerpetrator, &bob)],
    )
    .await;
    assert_ne!(repeat, noisy, "a report after closure opens a new case");
    // A warning that held: its case closed and nothing came back.
    add_warning(&app, &riverside, &unknown, "unsuccessful").await;
    close(&app, &riverside, &unknown, asb::closure::Satisfaction::Dissatisfied).await;

    let year = reporting_year(today(&app));
    let recorded = set_homes(&app, "organisations/riverside", year, 2_000).await;
    assert_eq!((recorded.homes, recorded.year), (2_000, year));
    let manager = app.caller("council", Role::Manager, &[]).await;
    let analysis = analyse(&app, &manager, around_today(&app)).await;

    assert_eq!(analysis.cases, 5);
    assert_eq!(analysis.officer_minutes, 180);
    // 3 hours at £36.00 over 5 cases.
    assert_eq!(analysis.cost_per_case, Some(180 * 3_600 / 60 / 5));
    assert_eq!((analysis.surveyed, analysis.satisfied), (2, 1));
    use asb::PerpetratorType as P;
    assert_eq!(category(&analysis, "noise", P::Customer), Some((2, 60)));
    assert_eq!(category(&analysis, "noise", P::External), Some((1, 120)));
    assert_eq!(category(&analysis, "noise", P::None), Some((1, 0)));
    assert_eq!(category(&analysis, "hate-incident", P::External), Some((1, 120)));
    assert_eq!(category(&analysis, "verbal-abuse", P::Unknown), Some((1, 0)));
    assert_eq!(analysis.by_category.len(), 5, "{:?}", analysis.by_category);

    // Two closed cases used a warning: one came back, one resolved.
    assert_eq!(analysis.by_intervention.len(), 1);
    let warning = &analysis.by_intervention[0];
    assert_eq!(warning.intervention_type, "warning");
    assert_eq!((warning.cases, warning.resolved, warning.repeated), (2, 1, 1));
    assert_eq!(warning.repeat_percent, Some(50.0));

    // NM01: riverside's 4 cases (1 hate incident) over 2,000 homes; hillside's
    // case is counted with no rate, having no homes on record.
    let riverside_figure = analysis
        .by_landlord
        .iter()
        .find(|figure| figure.landlord_organisation == "organisations/riverside")
        .unwrap();
    assert_eq!(riverside_figure.year, year);
    assert_eq!(riverside_figure.homes, Some(2_000));
    assert_eq!((riverside_figure.cases, riverside_figure.hate_incident_cases), (4, 1));
    assert_eq!(riverside_figure.cases_per_thousand_homes, Some(2.0));
    assert_eq!(riverside_figure.hate_incident_cases_per_thousand_homes, Some(0.5));
    assert_eq!(riverside_figure.cost_per_case, Some(180 * 3_600 / 60 / 4));
    let hillside_figure = analysis
        .by_landlord
        .iter()
        .find(|figure| figure.landlord_organisation == "organisations/hillside")
        .unwrap();
    assert_eq!((hillside_figure.homes, hillside_figure.cases), (None, 1));
    assert_eq!(hillside_figure.cases_per_thousand_homes, None);
    assert_eq!(hillside_figure.cost_per_case, Some(0));

    // Setting the figure again replaces it.
    set_homes(&app, "organisations/riverside", year, 4_000).await;
    let listed = cases(&app)
        .await
        .list_landlord_homes(manager.request(asb::ListLandlordHomesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.landlord_homes.len(), 1);
    assert_eq!(listed.landlord_homes[0].homes, 4_000);
    let again = analyse(&app, &manager, around_today(&app)).await;
    let riverside_again = again
        .by_landlord
        .iter()
        .find(|figure| figure.landlord_organisation == "organisations/riverside")
        .unwrap();
    assert_eq!(riverside_again.cases_per_thousand_homes, Some(1.0));

    // A partner analyses its own cases; an officer of the south its area, where
    // a rate per home would count only part of a landlord's cases.
    let own = analyse(&app, &riverside, around_today(&app)).await;
    assert_eq!(own.cases, 4);
    assert!(own.by_landlord.iter().all(|figure| figure.landlord_organisation == "organisations/riverside"));
    let south = app.officer("council", "south").await;
    let area = analyse(&app, &south, around_today(&app)).await;
    assert_eq!(area.cases, 2);
    let partial =
        area.by_landlord.iter().find(|figure| figure.landlord_organisation == "organisations/riverside");
    assert_eq!(partial.map(|figure| (figure.cases, figure.cases_per_thousand_homes)), Some((1, None)));
    // One landlord only, by name.
    let named = analyse(
        &app,
        &manager,
        asb::GetAsbAnalysisRequest {
            landlord_organisation: "organisations/hillside".into(),
            ..around_today(&app)
        },
    )
    .await;
    assert_eq!(named.cases, 1);
}

async fn hotspots_alert_at_the_threshold_and_not_one_below(backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    app.add_areas(&["north", "south"]).await;
    let riverside = app.partner("riverside").await;
    let mut people = Vec::new();
    for index in 0..6 {
        people.push(customer(&app, &riverside, &format!("P{index}"), "north", "white-british").await);
    }
    use asb::PartyRole as R;
    let first_month = today(&app);
    for person in &people[..2] {
        report(&app, &riverside, "north", &["noise"], vec![customer_party(R::Complainant, person)]).await;
    }
    report(&app, &riverside, "south", &["noise"], vec![customer_party(R::Complainant, &people[5])]).await;
    // Into the second day of next month.
    let next_month = NaiveDate::from_ymd_opt(
        if first_month.month() == 12 { first_month.year() + 1 } else { first_month.year() },
        if first_month.month() == 12 { 1 } else { first_month.month() + 1 },
        2,
    )
    .unwrap();
    let days = u64::try_from((next_month - first_month).num_days()).unwrap();
    app.clock.advance(Duration::from_secs(days * 24 * 3600));
    for person in &people[2..5] {
        report(&app, &riverside, "north", &["noise"], vec![customer_party(R::Complainant, person)]).await;
    }
    let manager = app.caller("council", Role::Manager, &[]).await;
    let period = asb::GetAsbAnalysisRequest {
        start_date: Some(date(first_month - chrono::Days::new(3))),
        end_date: Some(date(next_month + chrono::Days::new(3))),
        ..Default::default()
    };
    let label = |day: NaiveDate| format!("{:04}-{:02}", day.year(), day.month());
    let figures = |analysis: &asb::AsbAnalysis| {
        analysis
            .hotspots
            .iter()
            .map(|figure| {
                (
                    figure.area.clone(),
                    figure.period.clone(),
                    figure.cases,
                    figure.previous_period_cases,
                    figure.alert,
                )
            })
            .collect::<Vec<_>>()
    };
    let at_three =
        analyse(&app, &manager, asb::GetAsbAnalysisRequest { hotspot_threshold: 3, ..period.clone() }).await;
    assert_eq!(at_three.hotspot_threshold, 3);
    assert_eq!(
        figures(&at_three),
        [
            ("north".to_owned(), label(first_month), 2, 0, false),
            ("south".to_owned(), label(first_month), 1, 0, false),
            ("north".to_owned(), label(next_month), 3, 2, true),
        ]
    );
    let at_four =
        analyse(&app, &manager, asb::GetAsbAnalysisRequest { hotspot_threshold: 4, ..period.clone() }).await;
    assert!(at_four.hotspots.iter().all(|figure| !figure.alert), "{:?}", at_four.hotspots);
    // Unset, the configured threshold (5 by default).
    let default = analyse(&app, &manager, period).await;
    assert_eq!(default.hotspot_threshold, 5);
}

async fn equality_groups_are_counted_by_profiles_and_protected(backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    app.add_areas(&["north"]).await;
    let riverside = app.partner("riverside").await;
    let accused = customer(&app, &riverside, "Zed", "north", "white-irish").await;
    use asb::PartyRole as R;
    use asb::closure::Satisfaction as S;
    // Eight white British complainants (seven satisfied) and two black African
    // ones (neither satisfied), each in a case of their own.
    let groups = [
        ("white-british", S::Satisfied, 7),
        ("white-british", S::Dissatisfied, 1),
        ("black-african", S::Dissatisfied, 2),
    ];
    let mut index = 0;
    for (ethnicity, answer, people) in groups {
        for _ in 0..people {
            index += 1;
            let complainant = customer(&app, &riverside, &format!("C{index}"), "north", ethnicity).await;
            let case = report(
                &app,
                &riverside,
                "north",
                &["noise"],
                vec![
                    customer_party(R::Complainant, &complainant),
                    customer_party(R::AllegedPerpetrator, &accused),
                ],
            )
            .await;
            close(&app, &riverside, &case, answer).await;
        }
    }
    let manager = app.caller("council", Role::Manager, &[]).await;
    let request = asb::GetAsbAnalysisRequest {
        equality_characteristic: pb::Characteristic::Ethnicity.into(),
        ..around_today(&app)
    };
    let analysis = analyse(&app, &manager, request.clone()).await;
    assert_eq!(analysis.rounding_base, 5);
    let profile: Vec<(i32, &str, i64)> = analysis
        .equality_profile
        .iter()
        .map(|figure| (figure.role, figure.value.as_str(), figure.people))
        .collect();
    // 8 rounds to 10; 2 complainants and the 1 perpetrator are too few to show.
    assert_eq!(profile, [(R::Complainant as i32, "white-british", 10)]);
    // White British: 10 surveyed (8 rounded) and 5 satisfied (7, never above its
    // set of 7 rounded down), 50% against 70% of all complainants: flagged.
    let satisfaction: Vec<(&str, i64, i64, bool)> = analysis
        .satisfaction_by_group
        .iter()
        .map(|group| (group.value.as_str(), group.surveyed, group.satisfied, group.gap))
        .collect();
    assert_eq!(satisfaction, [("white-british", 10, 5, true)]);
    assert_eq!((analysis.surveyed, analysis.satisfied), (10, 7));

    // Tenant inspectors read the same figures, and no case or person.
    let inspector = app.caller("council", Role::TenantInspector, &[]).await;
    let inspected = analyse(&app, &inspector, request).await;
    assert_eq!(inspected.equality_profile, analysis.equality_profile);

    // Profiles audited the equality reads as ASB's, naming whom they were for.
    use persistence::audit::entity::{Column, Entity};
    let audited = Entity::find()
        .filter(Column::Subject.eq("services/asb"))
        .filter(Column::Method.eq("involve.profiles.v1.CustomerProfiles/CountEqualityGroups"))
        .all(&app.profiles_database().await)
        .await
        .unwrap();
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(audited.iter().all(|event| event.special_category && event.role == "SERVICE"));
    assert!(audited.iter().any(|event| event.resource.contains("role=TENANT_INSPECTOR")), "{audited:?}");
    assert!(audited[0].resource.contains("characteristic=ethnicity"), "{}", audited[0].resource);
}

async fn who_may_analyse_and_what_bad_input_names(backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    app.add_areas(&["north"]).await;
    let riverside = app.partner("riverside").await;
    let ada = customer(&app, &riverside, "Ada", "north", "white-british").await;
    report(&app, &riverside, "north", &["noise"], vec![customer_party(asb::PartyRole::Complainant, &ada)])
        .await;
    let mut client = cases(&app).await;

    let police = app.caller("police", Role::ExternalPartner, &[]).await;
    let err = client.get_asb_analysis(police.request(around_today(&app))).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let other = asb::GetAsbAnalysisRequest {
        landlord_organisation: "organisations/hillside".into(),
        ..around_today(&app)
    };
    let err = client.get_asb_analysis(riverside.request(other)).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "OUTSIDE_SCOPE");
    let hillside = app.partner("hillside").await;
    assert_eq!(analyse(&app, &hillside, around_today(&app)).await.cases, 0, "another landlord's case");
    // Its own organisation is never unknown to a partner, cases or not.
    let own = asb::GetAsbAnalysisRequest {
        landlord_organisation: "organisations/hillside".into(),
        ..around_today(&app)
    };
    assert_eq!(analyse(&app, &hillside, own).await.cases, 0);

    let manager = app.caller("council", Role::Manager, &[]).await;
    let err =
        client.get_asb_analysis(manager.request(asb::GetAsbAnalysisRequest::default())).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["start_date", "end_date"]);
    let today = today(&app);
    let backwards = asb::GetAsbAnalysisRequest {
        start_date: Some(date(today)),
        end_date: Some(date(today - chrono::Days::new(1))),
        landlord_organisation: "organisations/nobody".into(),
        hotspot_threshold: -1,
        equality_characteristic: pb::Characteristic::PreferredLanguage.into(),
    };
    let err = client.get_asb_analysis(manager.request(backwards)).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["end_date", "hotspot_threshold", "equality_characteristic"]);
    let too_long = asb::GetAsbAnalysisRequest {
        start_date: Some(date(today - chrono::Days::new(4000))),
        ..around_today(&app)
    };
    let err = client.get_asb_analysis(manager.request(too_long)).await.unwrap_err();
    assert_status(&err, Code::InvalidArgument, "INVALID_ARGUMENT");
    assert_eq!(violated_fields(&err), ["end_date"]);
    let unknown = asb::GetAsbAnalysisRequest {
        landlord_organisation: "organisations/nobody".into(),
        ..around_today(&app)
    };
    let err = client.get_asb_analysis(manager.request(unknown)).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["landlord_organisation"]);
    let malformed =
        asb::GetAsbAnalysisRequest { landlord_organisation: "Riverside".into(), ..around_today(&app) };
    let err = client.get_asb_analysis(manager.request(malformed)).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["landlord_organisation"]);

    // Homes are the operators' reference data.
    let homes = |landlord: &str, year, homes| asb::SetLandlordHomesRequest {
        landlord_homes: Some(asb::LandlordHomes {
            landlord_organisation: landlord.into(),
            year,
            homes,
            ..Default::default()
        }),
    };
    let err = client
        .set_landlord_homes(manager.request(homes("organisations/riverside", 2026, 10)))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let operator = app.operator().await;
    let err = client.set_landlord_homes(operator.request(homes("", 1999, 0))).await.unwrap_err();
    assert_eq!(
        violated_fields(&err),
        ["landlord_homes.landlord_organisation", "landlord_homes.year", "landlord_homes.homes"]
    );
    let err = client
        .list_landlord_homes(police.request(asb::ListLandlordHomesRequest::default()))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
}

/// Through the gateway nobody reaches `CountEqualityGroups`: no credential can
/// hold the service role, and equality answers are never counted for one.
async fn only_a_service_identity_counts_equality_groups(backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    app.add_areas(&["north"]).await;
    let riverside = app.partner("riverside").await;
    let ada = customer(&app, &riverside, "Ada", "north", "white-british").await;
    let request = pb::CountEqualityGroupsRequest {
        characteristic: pb::Characteristic::Ethnicity.into(),
        sets: vec![pb::CustomerSet { label: "complainants".into(), customers: vec![ada.clone()] }],
        requested_for: Some(pb::RequestedFor {
            organisation: "organisations/riverside".into(),
            subject: "organisations/riverside/credentials/tests".into(),
            role: contracts::involve::common::v1::Role::PartnerIntegration.into(),
        }),
    };
    for caller in [riverside.clone(), app.participation_officer().await, app.operator().await] {
        let err =
            app.profiles().await.count_equality_groups(caller.request(request.clone())).await.unwrap_err();
        assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    }
    let bad = pb::CountEqualityGroupsRequest {
        characteristic: pb::Characteristic::PreferredLanguage.into(),
        sets: vec![pb::CustomerSet { label: String::new(), customers: vec!["customers/nope".into()] }],
        requested_for: None,
    };
    let err = app.profiles().await.count_equality_groups(riverside.request(bad)).await.unwrap_err();
    assert_eq!(
        violated_fields(&err),
        ["characteristic", "sets[0].label", "sets[0].customers[0]", "requested_for"]
    );
}

/// `involve asb analysis`, the real binary against the suite, as `caller`.
async fn involve_asb_analysis(app: &TestApp, caller: &Caller, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(involve_tests::processes::involve_binary())
        .args(["asb", "--endpoint", &app.endpoint(), "analysis"])
        .args(args)
        .current_dir(dir.path())
        .env("INVOLVE_CREDENTIAL", &caller.token)
        .env_remove("INVOLVE_CREDENTIAL_FILE")
        .output()
        .await
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

async fn a_manager_reads_the_analysis_from_the_command_line(backend: Backend) {
    let Some(app) = spawn(backend).await else { return };
    app.add_areas(&["north"]).await;
    let riverside = app.partner("riverside").await;
    let ada = customer(&app, &riverside, "Ada", "north", "white-british").await;
    let case = report(
        &app,
        &riverside,
        "north",
        &["noise"],
        vec![customer_party(asb::PartyRole::Complainant, &ada)],
    )
    .await;
    log_minutes(&app, &riverside, &case, 30).await;
    let manager = app.caller("council", Role::Manager, &[]).await;
    let today = today(&app);
    let (from, to) =
        ((today - chrono::Days::new(10)).to_string(), (today + chrono::Days::new(10)).to_string());
    let period = ["--from", from.as_str(), "--to", to.as_str()];

    let (success, table, stderr) = involve_asb_analysis(&app, &manager, &period).await;
    assert!(success, "{stderr}");
    assert!(table.starts_with("1 cases, 30 officer minutes, £18.00 a case."), "{table}");
    assert!(table.contains("NM01 per landlord and year"), "{table}");
    let mut json_args = period.to_vec();
    json_args.extend(["--equality", "ethnicity", "--output", "json"]);
    let (success, json, stderr) = involve_asb_analysis(&app, &manager, &json_args).await;
    assert!(success, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["cases"], 1);
    assert_eq!(json["by_category"][0]["perpetrator_type"], "none");
    assert_eq!(json["rounding_base"], 5);
    assert_eq!(json["equality_profile"], serde_json::json!([]), "one person is too few to show");

    let backwards = ["--from", to.as_str(), "--to", from.as_str()];
    let (success, _, stderr) = involve_asb_analysis(&app, &manager, &backwards).await;
    assert!(!success);
    assert!(stderr.contains("end_date"), "{stderr}");
}
