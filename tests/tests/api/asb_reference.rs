//! ASB reference data kept through the gateway: categories (and the triage rules
//! they carry) and intervention types (and the dates they may be used), read by
//! anyone, kept by operators and managers, used by the next call.

use contracts::google::r#type::Date;
use contracts::involve::asb::v1 as asb;
use contracts::involve::asb::v1::asb_cases_client::AsbCasesClient;
use involve_tests::{Caller, TestApp, assert_status, on_every_backend, violated_fields};
use platform::Role;
use tonic::Code;
use tonic::transport::Channel;

on_every_backend!(
    categories_are_kept_by_managers_and_triage_uses_each_edit_at_once,
    intervention_types_are_used_only_within_their_effective_dates,
    free_text_keeps_line_breaks_only_where_it_holds_more_than_one_line,
);

async fn cases(app: &TestApp) -> AsbCasesClient<Channel> {
    AsbCasesClient::new(app.channel().await)
}

fn date(year: i32, month: i32, day: i32) -> Date {
    Date { year, month, day }
}

fn external(role: asb::PartyRole, name: &str) -> asb::Party {
    asb::Party {
        role: role.into(),
        person: Some(asb::party::Person::External(asb::ExternalPerson {
            display_name: name.into(),
            postcode: "EX1 1AA".into(),
            contact: String::new(),
        })),
        withheld: false,
    }
}

/// A report in `category` by a partner: the case it opened.
async fn report(
    client: &mut AsbCasesClient<Channel>,
    partner: &Caller,
    category: &str,
    who: &str,
) -> Result<asb::Case, tonic::Status> {
    let report = asb::Report {
        channel: asb::Channel::Phone.into(),
        description: "rubbish dumped behind the flats again".into(),
        area: "north".into(),
        categories: vec![category.into()],
        parties: vec![
            external(asb::PartyRole::Complainant, &format!("{who} Complainant")),
            external(asb::PartyRole::AllegedPerpetrator, &format!("{who} Accused")),
        ],
        ..Default::default()
    };
    let request = asb::ReportIncidentRequest { report: Some(report), request_id: String::new() };
    Ok(client.report_incident(partner.request(request)).await?.into_inner().case.unwrap_or_default())
}

fn fly_tipping() -> asb::Category {
    asb::Category {
        display_name: "Fly-tipping".into(),
        priority: asb::Priority::Routine.into(),
        ..Default::default()
    }
}

async fn categories_are_kept_by_managers_and_triage_uses_each_edit_at_once(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let officer = app.officer("council", "").await;
    let manager = app.caller("council", Role::Manager, &[]).await;
    let mut client = cases(&app).await;

    // The seeded rules, as anyone reads them.
    let listed = client
        .list_categories(partner.request(asb::ListCategoriesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .categories;
    let find = |code: &str| listed.iter().find(|c| c.name == format!("categories/{code}")).cloned().unwrap();
    let abuse = find("domestic-abuse");
    assert!(abuse.serious);
    assert_eq!((abuse.route, abuse.first_response_seconds), (asb::Route::Enforcement as i32, 24 * 3600));
    let noise = find("noise");
    assert!(!noise.serious && !noise.retired);
    assert_eq!(noise.route, asb::Route::Neighbourhood as i32);

    // Unknown until created: reports in it are refused.
    let err = report(&mut client, &partner, "fly-tipping", "Early").await.unwrap_err();
    assert_eq!(violated_fields(&err), ["report.categories"]);

    let create = |category: asb::Category, request_id: &str| asb::CreateCategoryRequest {
        category: Some(category),
        category_id: "fly-tipping".into(),
        request_id: request_id.into(),
    };
    let request_id = "0b5d2a52-2b1e-4a39-9e0b-0000000000c1";
    let err = client.create_category(officer.request(create(fly_tipping(), ""))).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    // Every bad field at once.
    let bad = asb::CreateCategoryRequest {
        category: Some(asb::Category { first_response_seconds: -5, ..Default::default() }),
        category_id: "Fly Tipping".into(),
        request_id: "not-a-uuid".into(),
    };
    let err = client.create_category(manager.request(bad)).await.unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "category.display_name",
            "category.first_response_seconds",
            "category.priority",
            "category_id",
            "request_id"
        ]
    );

    let created = client
        .create_category(manager.request(create(fly_tipping(), request_id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "categories/fly-tipping");
    assert_eq!(created.route, asb::Route::Neighbourhood as i32);
    // A retry answers as the first call did; another request under its id is refused.
    let retried = client
        .create_category(manager.request(create(fly_tipping(), request_id)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, created);
    let other = asb::Category { display_name: "Dumping".into(), ..fly_tipping() };
    let err = client.create_category(manager.request(create(other, request_id))).await.unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "REQUEST_ID_REUSED");
    // An operator, who keeps reference data, meets the one held.
    let err =
        client.create_category(app.operator().await.request(create(fly_tipping(), ""))).await.unwrap_err();
    assert_status(&err, Code::AlreadyExists, "ALREADY_EXISTS");

    // Triage reads the rules as they are now.
    let case = report(&mut client, &partner, "fly-tipping", "Cy").await.unwrap();
    let triage = || asb::TriageCaseRequest {
        name: case.name.clone(),
        categories: vec!["fly-tipping".into()],
        risk: "standard".into(),
        ..Default::default()
    };
    let triaged = client.triage_case(manager.request(triage())).await.unwrap().into_inner().triage.unwrap();
    assert_eq!(
        (triaged.priority, triaged.route),
        (asb::Priority::Routine as i32, asb::Route::Neighbourhood as i32)
    );
    assert_eq!(triaged.first_response_seconds, 0);

    // Made serious, urgent and answered within 12 hours: the next triage routes it to enforcement.
    let serious = asb::Category {
        name: created.name.clone(),
        serious: true,
        priority: asb::Priority::Urgent.into(),
        first_response_seconds: 12 * 3600,
        ..fly_tipping()
    };
    let update = |category: asb::Category, etag: &str| asb::UpdateCategoryRequest {
        category: Some(category),
        etag: etag.into(),
    };
    let updated = client
        .update_category(manager.request(update(serious.clone(), &created.etag)))
        .await
        .unwrap()
        .into_inner();
    assert!(updated.serious);
    assert_eq!(updated.route, asb::Route::Enforcement as i32);
    assert_ne!(updated.etag, created.etag);
    let err =
        client.update_category(manager.request(update(serious.clone(), &created.etag))).await.unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let retriaged = client.triage_case(manager.request(triage())).await.unwrap().into_inner().triage.unwrap();
    assert_eq!(
        (retriaged.priority, retriaged.route),
        (asb::Priority::Urgent as i32, asb::Route::Enforcement as i32)
    );
    assert_eq!(retriaged.first_response_seconds, 12 * 3600);

    // Retired, never deleted: the case keeps it, new reports may not use it.
    let retired = asb::Category { retired: true, ..serious };
    client.update_category(manager.request(update(retired, ""))).await.unwrap();
    let err = report(&mut client, &partner, "fly-tipping", "Di").await.unwrap_err();
    assert_eq!(violated_fields(&err), ["report.categories"]);
    let kept = client
        .get_case(manager.request(asb::GetCaseRequest { name: case.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.categories, ["fly-tipping"]);
    let listed = client
        .list_categories(officer.request(asb::ListCategoriesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .categories;
    assert!(listed.iter().any(|c| c.name == "categories/fly-tipping" && c.retired));

    // Nothing to update, and a name that is no category's.
    let missing = asb::Category { name: "categories/graffiti".into(), ..fly_tipping() };
    let err = client.update_category(manager.request(update(missing, ""))).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let misnamed = asb::Category { name: "cases/graffiti".into(), ..fly_tipping() };
    let err = client.update_category(manager.request(update(misnamed, ""))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["category.name"]);
}

async fn intervention_types_are_used_only_within_their_effective_dates(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let operator = app.operator().await;
    let mut client = cases(&app).await;
    let listed = client
        .list_intervention_types(partner.request(asb::ListInterventionTypesRequest {}))
        .await
        .unwrap()
        .into_inner()
        .intervention_types;
    let injunction = listed.iter().find(|t| t.name == "interventionTypes/injunction").unwrap();
    assert_eq!(injunction.kind, asb::intervention_type::Kind::Enforcement as i32);
    assert_eq!(injunction.effective_from, Some(date(2014, 10, 20)));
    assert_eq!(injunction.effective_to, None);

    let order = asb::InterventionType {
        display_name: "Youth diversion order".into(),
        kind: asb::intervention_type::Kind::Early.into(),
        effective_from: Some(date(2026, 1, 1)),
        ..Default::default()
    };
    let create = |given: asb::InterventionType| asb::CreateInterventionTypeRequest {
        intervention_type: Some(given),
        intervention_type_id: "youth-diversion-order".into(),
        request_id: String::new(),
    };
    let err = client.create_intervention_type(partner.request(create(order.clone()))).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let backwards =
        asb::InterventionType { kind: 0, effective_to: Some(date(2025, 12, 31)), ..order.clone() };
    let err = client.create_intervention_type(operator.request(create(backwards))).await.unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(fields, ["intervention_type.effective_to", "intervention_type.kind"]);
    let created =
        client.create_intervention_type(operator.request(create(order.clone()))).await.unwrap().into_inner();
    assert_eq!(created.name, "interventionTypes/youth-diversion-order");

    let case = report(&mut client, &partner, "noise", "Ed").await.unwrap();
    let add = |start: Date| asb::AddInterventionRequest {
        parent: case.name.clone(),
        intervention: Some(asb::Intervention {
            r#type: "youth-diversion-order".into(),
            start_date: Some(start),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    // Before it came into force: refused, naming the date.
    let err = client.add_intervention(partner.request(add(date(2025, 12, 31)))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["intervention.start_date"]);
    client.add_intervention(partner.request(add(date(2026, 2, 1)))).await.unwrap();

    // Ended on 31 March 2026 by an update (a manager may, too): usable to that day, not after.
    let manager = app.caller("council", Role::Manager, &[]).await;
    let ended = asb::InterventionType {
        name: created.name.clone(),
        effective_to: Some(date(2026, 3, 31)),
        ..order.clone()
    };
    let update = |given: asb::InterventionType, etag: &str| asb::UpdateInterventionTypeRequest {
        intervention_type: Some(given),
        etag: etag.into(),
    };
    let updated = client
        .update_intervention_type(manager.request(update(ended.clone(), &created.etag)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.effective_to, Some(date(2026, 3, 31)));
    let err = client
        .update_intervention_type(manager.request(update(ended.clone(), &created.etag)))
        .await
        .unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    let err = client.add_intervention(partner.request(add(date(2026, 4, 1)))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["intervention.start_date"]);
    client.add_intervention(partner.request(add(date(2026, 3, 31)))).await.unwrap();
    // Its kind is fixed at creation: who may record it depends on it.
    let enforcement =
        asb::InterventionType { kind: asb::intervention_type::Kind::Enforcement.into(), ..ended };
    let err = client.update_intervention_type(manager.request(update(enforcement, ""))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["intervention_type.kind"]);
    // The case keeps what was recorded under it.
    let kept = client
        .get_case(partner.request(asb::GetCaseRequest { name: case.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.interventions.iter().filter(|i| i.r#type == "youth-diversion-order").count(), 2);
}

async fn free_text_keeps_line_breaks_only_where_it_holds_more_than_one_line(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let mut client = cases(&app).await;
    let filed = |description: &str, name: &str| asb::ReportIncidentRequest {
        report: Some(asb::Report {
            channel: asb::Channel::Phone.into(),
            description: description.into(),
            area: "north".into(),
            categories: vec!["noise".into()],
            parties: vec![external(asb::PartyRole::Complainant, name)],
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let case = client
        .report_incident(partner.request(filed("  music at 2am\n\tand again at 4am  ", "Fay Complainant")))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    assert_eq!(case.reports[0].description, "music at 2am\n\tand again at 4am");
    // A name is one line; a description holds no other control characters.
    let err =
        client.report_incident(partner.request(filed("music\u{7}", "Fay\nComplainant"))).await.unwrap_err();
    let details = tonic_types::StatusExt::get_error_details(&err);
    let mut refused: Vec<(String, String)> = details
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|violation| (violation.field.clone(), violation.description.clone()))
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [
            (
                "report.description".to_owned(),
                "report.description must not contain control characters".to_owned()
            ),
            (
                "report.parties[0].external.display_name".to_owned(),
                "report.parties[0].external.display_name must not contain control characters".to_owned()
            ),
        ]
    );
}
