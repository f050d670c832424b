//! ASB cases through the gateway: reports filed into cases, cases shared across
//! landlords under the rules, parties checked through profiles as the caller.

use contracts::involve::asb::v1 as asb;
use contracts::involve::asb::v1::asb_cases_client::AsbCasesClient;
use contracts::involve::profiles::v1 as pb;
use involve_tests::fixtures::{self, create};
use involve_tests::{Caller, TestApp, assert_status, on_every_backend, violated_fields};
use platform::Role;
use tonic::Code;
use tonic::transport::Channel;

on_every_backend!(
    a_report_opens_a_case_and_the_next_about_the_same_people_joins_it,
    a_case_is_seen_by_its_landlords_and_area_officers_only,
    a_bad_report_names_every_bad_field,
    roles_that_do_not_work_cases_cannot_report,
    a_manager_triages_by_the_categories_rules_and_assigns_the_case,
    contacts_acknowledge_the_report_and_keep_the_standards,
    the_diary_is_append_only_and_shown_to_those_who_see_the_whole_case,
    lists_hold_the_cases_each_caller_may_see_newest_first,
    a_case_closes_only_with_everything_it_needs_and_a_later_report_repeats_it,
    queues_put_the_nearest_deadline_first_and_standards_count_from_timestamps,
    a_recorded_sharing_decision_opens_a_case_to_the_police_read_only,
    a_third_report_in_six_months_raises_the_community_trigger,
    an_action_plan_is_agreed_and_officer_time_adds_up,
    standards_turn_at_their_boundaries_as_the_clock_moves,
    a_watched_queue_pushes_each_change,
    an_operator_adds_a_bank_holiday_and_deadlines_move_past_it,
    a_diversionary_activity_shows_the_asb_in_its_area_before_and_after,
);

async fn cases(app: &TestApp) -> AsbCasesClient<Channel> {
    AsbCasesClient::new(app.channel().await)
}

/// A customer of `caller`'s organisation (or of `landlord`, for officers) in `north`.
async fn customer(app: &TestApp, caller: &Caller, given: &str, landlord: &str) -> String {
    let customer = pb::Customer {
        area: "north".into(),
        landlord_organisation: landlord.into(),
        ..fixtures::customer(given, "Neighbour", "housing-association-tenant")
    };
    app.profiles().await.create_customer(caller.request(create(customer))).await.unwrap().into_inner().name
}

fn party(role: asb::PartyRole, customer: &str) -> asb::Party {
    asb::Party {
        role: role.into(),
        person: Some(asb::party::Person::Customer(customer.to_owned())),
        withheld: false,
    }
}

fn report(parties: Vec<asb::Party>, landlord: &str) -> asb::Report {
    asb::Report {
        channel: asb::Channel::OutOfHours.into(),
        description: "music until 3am every night this week".into(),
        area: "north".into(),
        categories: vec!["noise".into()],
        parties,
        landlord_organisation: landlord.into(),
        ..Default::default()
    }
}

fn request(report: asb::Report) -> asb::ReportIncidentRequest {
    asb::ReportIncidentRequest { report: Some(report), request_id: String::new() }
}

async fn a_report_opens_a_case_and_the_next_about_the_same_people_joins_it(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let complainant = customer(&app, &partner, "Ada", "").await;
    let accused = customer(&app, &partner, "Bob", "").await;
    let people = || {
        vec![
            party(asb::PartyRole::Complainant, &complainant),
            party(asb::PartyRole::AllegedPerpetrator, &accused),
        ]
    };
    let mut client = cases(&app).await;
    let first =
        client.report_incident(partner.request(request(report(people(), "")))).await.unwrap().into_inner();
    assert!(first.opened_case);
    let case = first.case.unwrap();
    assert!(case.reference.starts_with("ASB-") && case.reference.ends_with("-000001"), "{}", case.reference);
    assert_eq!(case.state, asb::case::State::New as i32);
    assert_eq!(case.landlord_organisation, "organisations/riverside");
    assert_eq!(case.parties.len(), 2);
    assert!(case.acknowledge_deadline.is_some());
    assert!(first.report.unwrap().name.starts_with(&format!("{}/reports/", case.name)));

    // Same people again, this time with a witness: the same case.
    let mut more = people();
    more.push(asb::Party {
        role: asb::PartyRole::Witness.into(),
        person: Some(asb::party::Person::External(asb::ExternalPerson {
            display_name: "Carol Visitor".into(),
            postcode: "EX1 2BB".into(),
            contact: String::new(),
        })),
        withheld: false,
    });
    let again = asb::ReportIncidentRequest {
        report: Some(report(more, "")),
        request_id: "7f0c0a52-2b1e-4a39-9e0b-0000000000a1".into(),
    };
    let joined = client.report_incident(partner.request(again.clone())).await.unwrap().into_inner();
    assert!(!joined.opened_case);
    let joined_case = joined.case.unwrap();
    assert_eq!(joined_case.name, case.name);
    assert_eq!(joined_case.reports.len(), 2);
    assert_eq!(joined_case.parties.len(), 3);
    assert_ne!(joined_case.etag, case.etag);
    // A retry answers as the first call did, and files nothing more.
    let retried = client.report_incident(partner.request(again)).await.unwrap().into_inner();
    assert_eq!(retried.report.unwrap().name, joined.report.unwrap().name);
    let read = client
        .get_case(partner.request(asb::GetCaseRequest { name: case.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.reports.len(), 2);
    assert_eq!(read.reports[0].description, "music until 3am every night this week");
}

async fn a_case_is_seen_by_its_landlords_and_area_officers_only(app: TestApp) {
    app.add_areas(&["north", "south"]).await;
    let riverside = app.partner("riverside").await;
    let hillside = app.partner("hillside").await;
    let ours = customer(&app, &riverside, "Ada", "").await;
    let theirs = customer(&app, &hillside, "Bob", "").await;
    // An officer of the whole partnership takes a report about both landlords' customers.
    let officer = app.officer("council", "").await;
    let mut client = cases(&app).await;
    let parties =
        vec![party(asb::PartyRole::Victim, &ours), party(asb::PartyRole::AllegedPerpetrator, &theirs)];
    let filed = client
        .report_incident(officer.request(request(report(parties, "organisations/riverside"))))
        .await
        .unwrap()
        .into_inner();
    let name = filed.case.unwrap().name;
    let get = |caller: &Caller| caller.request(asb::GetCaseRequest { name: name.clone() });

    let owner = client.get_case(get(&riverside)).await.unwrap().into_inner();
    assert!(owner.parties.iter().all(|party| !party.withheld));
    // Hillside's customer is a party: it sees the case, riverside's customer withheld.
    let other = client.get_case(get(&hillside)).await.unwrap().into_inner();
    let withheld: Vec<bool> = other.parties.iter().map(|party| party.withheld).collect();
    assert_eq!(withheld, [true, false]);
    assert!(other.parties[0].person.is_none());
    assert!(other.reports.iter().all(|report| report.withheld && report.description.is_empty()));

    let north = app.officer("council", "north").await;
    client.get_case(get(&north)).await.expect("an officer of the area sees it");
    for stranger in [
        app.partner("valley").await,
        app.officer("council", "south").await,
        app.caller("police", Role::ExternalPartner, &[]).await,
    ] {
        let err = client.get_case(get(&stranger)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{err:?}");
    }
    // A case that does not exist reads the same.
    let missing = "cases/00000000-0000-7000-8000-000000000000".to_owned();
    let err = client.get_case(riverside.request(asb::GetCaseRequest { name: missing })).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

async fn a_bad_report_names_every_bad_field(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let other = app.partner("hillside").await;
    let theirs = customer(&app, &other, "Hidden", "").await;
    let mut client = cases(&app).await;

    let err =
        client.report_incident(partner.request(asb::ReportIncidentRequest::default())).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["report"]);

    let bad = asb::Report {
        channel: 99,
        categories: vec!["Not A Code".into()],
        parties: vec![
            asb::Party { role: asb::PartyRole::Unspecified.into(), person: None, withheld: false },
            party(asb::PartyRole::Victim, "customers/not-a-uuid"),
        ],
        ..Default::default()
    };
    let err = client.report_incident(partner.request(request(bad))).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "report.area",
            "report.categories[0]",
            "report.channel",
            "report.description",
            "report.parties[0].person",
            "report.parties[0].role",
            "report.parties[1].customer",
        ]
    );

    // Well formed, but wrong against the reference data and what the caller may see.
    let unknown = asb::Report {
        categories: vec!["hate-incident".into(), "arson".into()],
        ..report(vec![party(asb::PartyRole::Victim, &theirs)], "")
    };
    let err = client.report_incident(partner.request(request(unknown))).await.unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(fields, ["report.categories", "report.hate_motivation", "report.parties[0].customer"]);
    let hate = asb::Report { categories: vec!["hate-incident".into()], ..report(vec![], "") };
    let err = client.report_incident(partner.request(request(hate))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["report.parties"]);
}

async fn roles_that_do_not_work_cases_cannot_report(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let complainant = customer(&app, &partner, "Ada", "").await;
    let mut client = cases(&app).await;
    let people = || vec![party(asb::PartyRole::Complainant, &complainant)];
    for role in [Role::TenantInspector, Role::ExternalPartner] {
        let caller =
            app.caller(if role == Role::ExternalPartner { "police" } else { "council" }, role, &[]).await;
        let err = client
            .report_incident(caller.request(request(report(people(), "organisations/riverside"))))
            .await
            .unwrap_err();
        assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    }
    let err = client
        .report_incident(partner.request(request(report(people(), "organisations/hillside"))))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "OUTSIDE_SCOPE");
}

async fn a_manager_triages_by_the_categories_rules_and_assigns_the_case(app: TestApp) {
    app.add_areas(&["north", "south"]).await;
    let partner = app.partner("riverside").await;
    let complainant = customer(&app, &partner, "Ada", "").await;
    let mut client = cases(&app).await;
    let filed = client
        .report_incident(
            partner.request(request(report(vec![party(asb::PartyRole::Victim, &complainant)], ""))),
        )
        .await
        .unwrap()
        .into_inner();
    let case = filed.case.unwrap();
    assert!(case.triage.is_none());
    let manager = app.caller("council", Role::Manager, &[]).await;
    let triage = |priority: asb::Priority, reason: &str, etag: &str| asb::TriageCaseRequest {
        name: case.name.clone(),
        categories: vec!["noise".into(), "domestic-abuse".into()],
        risk: "high".into(),
        vulnerabilities: vec!["mental-health".into()],
        priority: priority.into(),
        priority_reason: reason.into(),
        etag: etag.into(),
        ..Default::default()
    };

    // Officers work cases; only managers triage them.
    let officer = app.officer("council", "").await;
    let err =
        client.triage_case(officer.request(triage(asb::Priority::Unspecified, "", ""))).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");

    let triaged = client
        .triage_case(manager.request(triage(asb::Priority::Unspecified, "", &case.etag)))
        .await
        .unwrap()
        .into_inner();
    let decided = triaged.triage.clone().unwrap();
    assert_eq!(decided.priority, asb::Priority::Urgent as i32, "domestic abuse is the most serious");
    assert_eq!(decided.route, asb::Route::Enforcement as i32);
    assert_eq!(decided.first_response_seconds, 24 * 3600);
    assert_eq!(triaged.state, asb::case::State::Open as i32);
    // The etag it was based on is gone.
    let err = client
        .triage_case(manager.request(triage(asb::Priority::Unspecified, "", &case.etag)))
        .await
        .unwrap_err();
    assert_status(&err, Code::Aborted, "ETAG_MISMATCH");
    // Lowering needs a reason, which is kept.
    let err = client.triage_case(manager.request(triage(asb::Priority::Routine, "", ""))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["priority_reason"]);
    let lowered = client
        .triage_case(manager.request(triage(asb::Priority::High, "the perpetrator has moved out", "")))
        .await
        .unwrap()
        .into_inner()
        .triage
        .unwrap();
    assert_eq!(
        (lowered.priority, lowered.priority_reason.as_str()),
        (asb::Priority::High as i32, "the perpetrator has moved out")
    );

    let assign = |team: &str| asb::AssignCaseRequest {
        name: case.name.clone(),
        officer: "J Smith".into(),
        team: team.into(),
        etag: String::new(),
    };
    let err = client.assign_case(manager.request(assign("Tenancy Enforcement"))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["team"]);
    let assigned =
        client.assign_case(manager.request(assign("tenancy-enforcement"))).await.unwrap().into_inner();
    assert_eq!(
        (assigned.assigned_officer.as_str(), assigned.team.as_str()),
        ("J Smith", "tenancy-enforcement")
    );
    // A manager of another patch finds nothing to triage.
    let elsewhere = app.caller("council", Role::Manager, &["south"]).await;
    let err = client.assign_case(elsewhere.request(assign("tenancy-enforcement"))).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

async fn contacts_acknowledge_the_report_and_keep_the_standards(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let complainant = customer(&app, &partner, "Ada", "").await;
    let mut client = cases(&app).await;
    let case = client
        .report_incident(
            partner.request(request(report(vec![party(asb::PartyRole::Complainant, &complainant)], ""))),
        )
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let due = asb::standing::State::Due as i32;
    let standards = case.standards.unwrap();
    assert_eq!(standards.acknowledgement.unwrap().state, due);
    assert_eq!(
        standards.first_response.unwrap().state,
        asb::standing::State::NotApplicable as i32,
        "not triaged"
    );
    assert_eq!(standards.contact.unwrap().state, due);

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let contact = |role: asb::PartyRole, seconds_ago: u64| asb::RecordContactRequest {
        parent: case.name.clone(),
        contact: Some(asb::Contact {
            party_role: role.into(),
            channel: "phone".into(),
            contact_time: Some(prost_types::Timestamp {
                seconds: i64::try_from(now - seconds_ago).unwrap(),
                nanos: 0,
            }),
            summary: "explained what happens next".into(),
            ..Default::default()
        }),
        request_id: "7f0c0a52-2b1e-4a39-9e0b-0000000000c1".into(),
    };
    let recorded = client
        .record_contact(partner.request(contact(asb::PartyRole::Complainant, 0)))
        .await
        .unwrap()
        .into_inner();
    assert!(recorded.name.starts_with(&format!("{}/contacts/", case.name)));
    // A retry records nothing more.
    let again = client
        .record_contact(partner.request(contact(asb::PartyRole::Complainant, 0)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, recorded.name);
    let read = client
        .get_case(partner.request(asb::GetCaseRequest { name: case.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.contacts.len(), 1);
    let standards = read.standards.unwrap();
    assert_eq!(standards.acknowledgement.unwrap().state, asb::standing::State::Met as i32);
    assert_eq!(standards.contact.unwrap().state, due, "the next contact is due in 14 days");

    // A contact before the report, a bad channel, no role: every field named.
    let bad = asb::RecordContactRequest {
        parent: case.name.clone(),
        contact: Some(asb::Contact {
            party_role: 0,
            channel: "By Phone".into(),
            contact_time: None,
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let err = client.record_contact(partner.request(bad)).await.unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(fields, ["contact.channel", "contact.contact_time", "contact.party_role"]);
    let mut early = contact(asb::PartyRole::Victim, 86_400);
    early.request_id = String::new();
    let err = client.record_contact(partner.request(early)).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["contact.contact_time"]);
    // Another landlord cannot record contacts on it.
    let err = client
        .record_contact(app.partner("hillside").await.request(contact(asb::PartyRole::Complainant, 0)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

async fn the_diary_is_append_only_and_shown_to_those_who_see_the_whole_case(app: TestApp) {
    app.add_areas(&["north"]).await;
    let riverside = app.partner("riverside").await;
    let hillside = app.partner("hillside").await;
    let ours = customer(&app, &riverside, "Ada", "").await;
    let theirs = customer(&app, &hillside, "Bob", "").await;
    let officer = app.officer("council", "").await;
    let mut client = cases(&app).await;
    let parties =
        vec![party(asb::PartyRole::Victim, &ours), party(asb::PartyRole::AllegedPerpetrator, &theirs)];
    let case = client
        .report_incident(officer.request(request(report(parties, "organisations/riverside"))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let entry = |text: &str, corrects: &str, request_id: &str| asb::AddDiaryEntryRequest {
        parent: case.name.clone(),
        diary_entry: Some(asb::DiaryEntry {
            occur_time: Some(prost_types::Timestamp {
                seconds: i64::try_from(now).unwrap() - 3600,
                nanos: 0,
            }),
            text: text.into(),
            reported_by: "the victim".into(),
            evidence: vec!["noise diary sheet 4".into()],
            corrects: corrects.into(),
            ..Default::default()
        }),
        request_id: request_id.into(),
    };
    let first = client
        .add_diary_entry(riverside.request(entry(
            "shouting at 23:10",
            "",
            "7f0c0a52-2b1e-4a39-9e0b-0000000000d1",
        )))
        .await
        .unwrap()
        .into_inner();
    let retried = client
        .add_diary_entry(riverside.request(entry(
            "shouting at 23:10",
            "",
            "7f0c0a52-2b1e-4a39-9e0b-0000000000d1",
        )))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried.name, first.name, "a retry adds nothing");
    let correction = client
        .add_diary_entry(riverside.request(entry("shouting at 22:10, not 23:10", &first.name, "")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(correction.corrects, first.name);
    let err = client.add_diary_entry(riverside.request(entry("again", &first.name, ""))).await.unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "ALREADY_CORRECTED");
    let elsewhere = format!("{}/diaryEntries/{}", case.name, "00000000-0000-7000-8000-000000000000");
    let err = client.add_diary_entry(riverside.request(entry("x", &elsewhere, ""))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["diary_entry.corrects"]);
    let mut future = entry("tomorrow", "", "");
    future.diary_entry.as_mut().unwrap().occur_time =
        Some(prost_types::Timestamp { seconds: i64::try_from(now).unwrap() + 86_400, nanos: 0 });
    let err = client.add_diary_entry(riverside.request(future)).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["diary_entry.occur_time"]);

    // Written order, one page at a time; the corrected entry is still there as written.
    let list = |token: String| asb::ListDiaryEntriesRequest {
        parent: case.name.clone(),
        page_size: 1,
        page_token: token,
    };
    let page = client.list_diary_entries(riverside.request(list(String::new()))).await.unwrap().into_inner();
    assert_eq!(page.diary_entries[0].text, "shouting at 23:10");
    let next =
        client.list_diary_entries(riverside.request(list(page.next_page_token))).await.unwrap().into_inner();
    assert_eq!(next.diary_entries[0].name, correction.name);
    assert!(next.next_page_token.is_empty());

    let err = client.list_diary_entries(hillside.request(list(String::new()))).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "DIARY_WITHHELD");
    let err = client
        .list_diary_entries(app.partner("valley").await.request(list(String::new())))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = client.add_diary_entry(hillside.request(entry("mine", "", ""))).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "only those who see the whole case work it");
}

async fn lists_hold_the_cases_each_caller_may_see_newest_first(app: TestApp) {
    app.add_areas(&["north", "south"]).await;
    let riverside = app.partner("riverside").await;
    let hillside = app.partner("hillside").await;
    let ada = customer(&app, &riverside, "Ada", "").await;
    let bob = customer(&app, &riverside, "Bob", "").await;
    let cy = customer(&app, &hillside, "Cy", "").await;
    let mut client = cases(&app).await;
    // Riverside's own case about Ada, then an officer's case about Bob and hillside's Cy.
    let own = client
        .report_incident(
            riverside.request(request(report(vec![party(asb::PartyRole::Complainant, &ada)], ""))),
        )
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let officer = app.officer("council", "").await;
    let shared = client
        .report_incident(officer.request(request(report(
            vec![party(asb::PartyRole::Victim, &bob), party(asb::PartyRole::AllegedPerpetrator, &cy)],
            "organisations/riverside",
        ))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let names = |cases: &[asb::Case]| cases.iter().map(|case| case.name.clone()).collect::<Vec<_>>();
    let list = |page_size: i32, page_token: String| asb::ListCasesRequest {
        page_size,
        page_token,
        ..Default::default()
    };

    let page = client.list_cases(riverside.request(list(1, String::new()))).await.unwrap().into_inner();
    assert_eq!(names(&page.cases), [shared.name.as_str()], "newest first");
    let next =
        client.list_cases(riverside.request(list(1, page.next_page_token))).await.unwrap().into_inner();
    assert_eq!(names(&next.cases), [own.name.as_str()]);
    assert!(next.next_page_token.is_empty());

    // Hillside's customer is in one of them, seen with riverside's people withheld.
    let theirs = client.list_cases(hillside.request(list(0, String::new()))).await.unwrap().into_inner();
    assert_eq!(names(&theirs.cases), [shared.name.as_str()]);
    assert!(theirs.cases[0].parties.iter().any(|party| party.withheld));
    let south = app.officer("council", "south").await;
    assert!(
        client.list_cases(south.request(list(0, String::new()))).await.unwrap().into_inner().cases.is_empty()
    );
    let police = app.caller("police", Role::ExternalPartner, &[]).await;
    assert!(
        client
            .list_cases(police.request(list(0, String::new())))
            .await
            .unwrap()
            .into_inner()
            .cases
            .is_empty()
    );
    let inspector = app.caller("council", Role::TenantInspector, &[]).await;
    let err = client.list_cases(inspector.request(list(0, String::new()))).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");

    // Filters: by party, by state; bad ones named.
    let by_party = asb::ListCasesRequest { party: ada.clone(), ..Default::default() };
    let found = client.list_cases(officer.request(by_party)).await.unwrap().into_inner();
    assert_eq!(names(&found.cases), [own.name.as_str()]);
    let closed = asb::ListCasesRequest { state: asb::case::State::Closed.into(), ..Default::default() };
    assert!(client.list_cases(officer.request(closed)).await.unwrap().into_inner().cases.is_empty());
    let bad =
        asb::ListCasesRequest { state: 9, party: "ada".into(), area: "North".into(), ..Default::default() };
    let err = client.list_cases(officer.request(bad)).await.unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(fields, ["area", "party", "state"]);
    // A token is bound to its filter.
    let page = client.list_cases(riverside.request(list(1, String::new()))).await.unwrap().into_inner();
    let other_filter = asb::ListCasesRequest {
        page_size: 1,
        page_token: page.next_page_token,
        area: "north".into(),
        ..Default::default()
    };
    let err = client.list_cases(riverside.request(other_filter)).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["page_token"]);
}

fn date(year: i32, month: i32, day: i32) -> contracts::google::r#type::Date {
    contracts::google::r#type::Date { year, month, day }
}

async fn a_case_closes_only_with_everything_it_needs_and_a_later_report_repeats_it(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let complainant = customer(&app, &partner, "Ada", "").await;
    let accused = customer(&app, &partner, "Bob", "").await;
    let people = || {
        vec![
            party(asb::PartyRole::Complainant, &complainant),
            party(asb::PartyRole::AllegedPerpetrator, &accused),
        ]
    };
    let mut client = cases(&app).await;
    let case = client
        .report_incident(partner.request(request(report(people(), ""))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let intervention = |kind: &str, start: contracts::google::r#type::Date| asb::AddInterventionRequest {
        parent: case.name.clone(),
        intervention: Some(asb::Intervention {
            r#type: kind.into(),
            start_date: Some(start),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let referral = client
        .add_intervention(partner.request(intervention("police-referral", date(2026, 11, 2))))
        .await
        .unwrap()
        .into_inner();
    assert!(referral.referral);
    // Legal remedies are the enforcement team's; unknown types and dates out of force are refused.
    let err = client
        .add_intervention(partner.request(intervention("injunction", date(2026, 11, 2))))
        .await
        .unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let enforcement = app.caller("council", Role::EnforcementOfficer, &[]).await;
    let err = client
        .add_intervention(enforcement.request(intervention("injunction", date(2010, 1, 4))))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["intervention.start_date"]);
    client
        .add_intervention(enforcement.request(intervention("injunction", date(2026, 11, 3))))
        .await
        .unwrap();
    let err = client
        .add_intervention(partner.request(intervention("arson-order", date(2026, 11, 2))))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["intervention.type"]);

    let close = || asb::CloseCaseRequest {
        name: case.name.clone(),
        reason: "resolved".into(),
        outcome: "perpetrator signed an acceptable behaviour agreement".into(),
        etag: String::new(),
    };
    let err = client.close_case(partner.request(close())).await.unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "CLOSURE_NOT_READY");
    for missing in ["every referral", "mediation considered", "sign-off"] {
        assert!(err.message().contains(missing), "{missing}: {}", err.message());
    }

    client
        .record_intervention_outcome(partner.request(asb::RecordInterventionOutcomeRequest {
            name: referral.name.clone(),
            outcome: "no-further-action".into(),
            outcome_date: Some(date(2026, 11, 20)),
            court_outcome: String::new(),
        }))
        .await
        .unwrap();
    let not_referred = asb::RecordMediationDecisionRequest {
        name: case.name.clone(),
        decision: Some(asb::MediationDecision {
            decision: Some(asb::mediation_decision::Decision::NotReferredReason(
                "threats made: mediation unsafe".into(),
            )),
        }),
        etag: String::new(),
    };
    let mediated =
        client.record_mediation_decision(partner.request(not_referred)).await.unwrap().into_inner();
    assert!(mediated.mediation.is_some());
    let err = client.close_case(partner.request(close())).await.unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "CLOSURE_NOT_READY");
    assert!(err.message().contains("sign-off") && !err.message().contains("mediation"), "{}", err.message());

    // Only a manager signs closure off.
    let review = |sign_off: bool| asb::RecordCaseReviewRequest {
        parent: case.name.clone(),
        case_review: Some(asb::CaseReview {
            kind: asb::case_review::Kind::Closure.into(),
            findings: vec![asb::case_review::Finding {
                item: "action plan agreed".into(),
                met: true,
                ..Default::default()
            }],
            sign_off,
            ..Default::default()
        }),
    };
    let err = client.record_case_review(partner.request(review(true))).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let manager = app.caller("council", Role::Manager, &[]).await;
    client.record_case_review(manager.request(review(true))).await.unwrap();
    let err = client
        .record_satisfaction(partner.request(asb::RecordSatisfactionRequest {
            name: case.name.clone(),
            satisfaction: asb::closure::Satisfaction::Satisfied.into(),
        }))
        .await
        .unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "CASE_OPEN");
    let closed = client.close_case(partner.request(close())).await.unwrap().into_inner();
    assert_eq!(closed.state, asb::case::State::Closed as i32);
    assert!(closed.signed_off);
    let answered = client
        .record_satisfaction(partner.request(asb::RecordSatisfactionRequest {
            name: case.name.clone(),
            satisfaction: asb::closure::Satisfaction::Satisfied.into(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answered.closure.unwrap().satisfaction, asb::closure::Satisfaction::Satisfied as i32);
    let err = client.close_case(partner.request(close())).await.unwrap_err();
    assert_status(&err, Code::FailedPrecondition, "CASE_CLOSED");

    // The matter comes back: a new case, linked to the closed one.
    let again =
        client.report_incident(partner.request(request(report(people(), "")))).await.unwrap().into_inner();
    assert!(again.opened_case);
    assert_eq!(again.case.unwrap().repeat_of, case.name);
}

async fn queues_put_the_nearest_deadline_first_and_standards_count_from_timestamps(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let ada = customer(&app, &partner, "Ada", "").await;
    let bob = customer(&app, &partner, "Bob", "").await;
    let mut client = cases(&app).await;
    let routine = client
        .report_incident(partner.request(request(report(vec![party(asb::PartyRole::Complainant, &ada)], ""))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let urgent = client
        .report_incident(partner.request(request(report(vec![party(asb::PartyRole::Victim, &bob)], ""))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let manager = app.caller("council", Role::Manager, &[]).await;
    client
        .triage_case(manager.request(asb::TriageCaseRequest {
            name: urgent.name.clone(),
            categories: vec!["domestic-abuse".into()],
            risk: "high".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    client
        .assign_case(manager.request(asb::AssignCaseRequest {
            name: urgent.name.clone(),
            officer: "J Smith".into(),
            team: "tenancy-enforcement".into(),
            etag: String::new(),
        }))
        .await
        .unwrap();

    // A day ahead: only the urgent case's first response is coming due.
    let queue = |officer: &str, hours: i32| asb::ListWorkQueueRequest {
        officer: officer.into(),
        horizon_hours: hours,
        ..Default::default()
    };
    let day = client.list_work_queue(partner.request(queue("", 24))).await.unwrap().into_inner();
    let tasks: Vec<(String, i32)> = day.items.iter().map(|item| (item.case.clone(), item.task)).collect();
    assert_eq!(tasks, [(urgent.name.clone(), asb::work_queue_item::Task::FirstResponse as i32)]);
    assert_eq!(day.items[0].priority, asb::Priority::Urgent as i32);
    // Three months ahead: everything open, nearest deadline first, one page at a time.
    let all = client.list_work_queue(partner.request(queue("", 2_160))).await.unwrap().into_inner();
    assert_eq!(all.items[0].task, asb::work_queue_item::Task::FirstResponse as i32);
    assert!(
        all.items
            .windows(2)
            .all(|pair| pair[0].deadline.unwrap().seconds <= pair[1].deadline.unwrap().seconds)
    );
    assert_eq!(
        all.items.iter().filter(|item| item.task == asb::work_queue_item::Task::Acknowledge as i32).count(),
        2
    );
    let first = client
        .list_work_queue(partner.request(asb::ListWorkQueueRequest {
            horizon_hours: 2_160,
            page_size: 1,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .list_work_queue(partner.request(asb::ListWorkQueueRequest {
            horizon_hours: 2_160,
            page_size: 1,
            page_token: first.next_page_token,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.items[0], all.items[1]);
    // An officer's own queue.
    let smith = client.list_work_queue(partner.request(queue("J Smith", 2_160))).await.unwrap().into_inner();
    assert!(smith.items.iter().all(|item| item.case == urgent.name));
    let err = client.list_work_queue(partner.request(queue("", 9_999))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["horizon_hours"]);

    // The routine complainant is contacted: its acknowledgement is met.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    client
        .record_contact(partner.request(asb::RecordContactRequest {
            parent: routine.name.clone(),
            contact: Some(asb::Contact {
                party_role: asb::PartyRole::Complainant.into(),
                channel: "phone".into(),
                contact_time: Some(prost_types::Timestamp { seconds: i64::try_from(now).unwrap(), nanos: 0 }),
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    let period = asb::GetServiceStandardsRequest {
        start_date: Some(date(chrono::Datelike::year(&today), 1, 1)),
        end_date: Some(date(chrono::Datelike::year(&today), 12, 31)),
    };
    let figures = client.get_service_standards(partner.request(period)).await.unwrap().into_inner().figures;
    let acknowledgement = figures
        .iter()
        .find(|figure| {
            figure.dimension == "all"
                && figure.standard == asb::standard_figure::Standard::Acknowledgement as i32
        })
        .unwrap();
    assert_eq!((acknowledgement.met, acknowledgement.missed, acknowledgement.pending), (1, 0, 1));
    assert_eq!((acknowledgement.percent, acknowledgement.target_percent), (Some(100.0), 90));
    assert!(figures.iter().any(|figure| figure.dimension == "officer" && figure.key == "J Smith"));
    // Inspectors see the figures of the whole partnership.
    let inspector = app.caller("council", Role::TenantInspector, &[]).await;
    let inspected = client.get_service_standards(inspector.request(period)).await.unwrap().into_inner();
    assert!(!inspected.figures.is_empty());
    let backwards =
        asb::GetServiceStandardsRequest { start_date: period.end_date, end_date: period.start_date };
    let err = client.get_service_standards(partner.request(backwards)).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["end_date"]);
}

async fn a_recorded_sharing_decision_opens_a_case_to_the_police_read_only(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let ada = customer(&app, &partner, "Ada", "").await;
    let mut client = cases(&app).await;
    let case = client
        .report_incident(partner.request(request(report(vec![party(asb::PartyRole::Victim, &ada)], ""))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let police = app.caller("police", Role::ExternalPartner, &[]).await;
    let get = |caller: &Caller| caller.request(asb::GetCaseRequest { name: case.name.clone() });
    assert_eq!(client.get_case(get(&police)).await.unwrap_err().code(), Code::NotFound);

    let decision = |scope: Vec<String>| asb::RecordSharingDecisionRequest {
        parent: case.name.clone(),
        sharing_decision: Some(asb::SharingDecision {
            shared_with: "organisations/police".into(),
            scope,
            reason: "joint action on repeated threats".into(),
            agreement: "Community Safety Partnership ISA 2026".into(),
            ..Default::default()
        }),
    };
    let err = client
        .record_sharing_decision(partner.request(decision(vec!["everything".into()])))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["sharing_decision.scope[0]"]);
    let err =
        client.record_sharing_decision(police.request(decision(vec!["parties".into()]))).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let recorded = client
        .record_sharing_decision(partner.request(decision(vec!["parties".into(), "reports".into()])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recorded.agreement, "Community Safety Partnership ISA 2026");

    let shared = client.get_case(get(&police)).await.unwrap().into_inner();
    assert_eq!(shared.sharing_decisions.len(), 1);
    assert!(shared.parties.iter().all(|party| !party.withheld));
    let listed =
        client.list_cases(police.request(asb::ListCasesRequest::default())).await.unwrap().into_inner();
    assert_eq!(listed.cases.len(), 1);
    // Read-only: the police work no case.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let contact = asb::RecordContactRequest {
        parent: case.name.clone(),
        contact: Some(asb::Contact {
            party_role: asb::PartyRole::Victim.into(),
            channel: "phone".into(),
            contact_time: Some(prost_types::Timestamp { seconds: i64::try_from(now).unwrap(), nanos: 0 }),
            ..Default::default()
        }),
        request_id: String::new(),
    };
    let err = client.record_contact(police.request(contact)).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
}

async fn a_third_report_in_six_months_raises_the_community_trigger(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let ada = customer(&app, &partner, "Ada", "").await;
    let mut client = cases(&app).await;
    let mut last = None;
    for (index, accused) in ["Bob", "Cy", "Di"].into_iter().enumerate() {
        let accused = customer(&app, &partner, accused, "").await;
        let parties = vec![
            party(asb::PartyRole::Complainant, &ada),
            party(asb::PartyRole::AllegedPerpetrator, &accused),
        ];
        let filed =
            client.report_incident(partner.request(request(report(parties, "")))).await.unwrap().into_inner();
        last = filed.case.map(|case| case.name);
        let triggers = client
            .list_community_triggers(partner.request(asb::ListCommunityTriggersRequest {}))
            .await
            .unwrap()
            .into_inner()
            .triggers;
        // Counted across cases: the third report, in a third case, reaches it.
        assert_eq!(triggers.len(), usize::from(index == 2), "after report {}", index + 1);
    }
    let triggers = client
        .list_community_triggers(partner.request(asb::ListCommunityTriggersRequest {}))
        .await
        .unwrap()
        .into_inner()
        .triggers;
    let trigger = &triggers[0];
    assert_eq!((trigger.reports, trigger.cases.len()), (3, 3));
    assert_eq!(Some(trigger.owning_case.clone()), last);
    assert_eq!(trigger.complainant.as_ref().unwrap().person, Some(asb::party::Person::Customer(ada.clone())));
    // Raised in the owning case's queue, and hidden from other landlords.
    let queue = client
        .list_work_queue(
            partner.request(asb::ListWorkQueueRequest { horizon_hours: 24, ..Default::default() }),
        )
        .await
        .unwrap()
        .into_inner();
    let raised: Vec<&asb::WorkQueueItem> = queue
        .items
        .iter()
        .filter(|item| item.task == asb::work_queue_item::Task::CommunityTrigger as i32)
        .collect();
    assert_eq!(raised.len(), 1);
    assert!(raised[0].overdue);
    assert_eq!(Some(raised[0].case.clone()), last);
    let other = app.partner("hillside").await;
    let seen = client
        .list_community_triggers(other.request(asb::ListCommunityTriggersRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert!(seen.triggers.is_empty());
}

async fn an_action_plan_is_agreed_and_officer_time_adds_up(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let ada = customer(&app, &partner, "Ada", "").await;
    let mut client = cases(&app).await;
    let case = client
        .report_incident(partner.request(request(report(vec![party(asb::PartyRole::Complainant, &ada)], ""))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let plan = asb::AgreeActionPlanRequest {
        parent: case.name.clone(),
        action_plan: Some(asb::ActionPlan {
            actions: vec!["keep a noise diary for two weeks".into(), "officer visits the neighbour".into()],
            review_date: Some(date(2027, 1, 15)),
            agree_time: None,
        }),
    };
    let agreed = client.agree_action_plan(partner.request(plan)).await.unwrap().into_inner();
    assert_eq!(agreed.actions.len(), 2);
    let empty = asb::AgreeActionPlanRequest {
        parent: case.name.clone(),
        action_plan: Some(asb::ActionPlan::default()),
    };
    assert_eq!(
        violated_fields(&client.agree_action_plan(partner.request(empty)).await.unwrap_err()),
        ["action_plan.actions"]
    );

    let today = chrono::Utc::now().date_naive();
    let log = |minutes: i32, request_id: &str| asb::LogOfficerTimeRequest {
        parent: case.name.clone(),
        time_entry: Some(asb::TimeEntry {
            work_date: Some(date(
                chrono::Datelike::year(&today),
                i32::try_from(chrono::Datelike::month(&today)).unwrap(),
                i32::try_from(chrono::Datelike::day(&today)).unwrap(),
            )),
            minutes,
            ..Default::default()
        }),
        request_id: request_id.into(),
    };
    client.log_officer_time(partner.request(log(90, "7f0c0a52-2b1e-4a39-9e0b-0000000000e1"))).await.unwrap();
    client.log_officer_time(partner.request(log(90, "7f0c0a52-2b1e-4a39-9e0b-0000000000e1"))).await.unwrap();
    client.log_officer_time(partner.request(log(30, ""))).await.unwrap();
    let err = client.log_officer_time(partner.request(log(0, ""))).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["time_entry.minutes"]);
    let read = client
        .get_case(partner.request(asb::GetCaseRequest { name: case.name.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.officer_minutes, 120, "the retried entry counted once");
    assert_eq!(read.action_plan.unwrap().review_date, Some(date(2027, 1, 15)));
}

/// The standing of `case`'s standards now, as (acknowledgement, first response, contact).
async fn standings(
    client: &mut AsbCasesClient<Channel>,
    caller: &Caller,
    case: &str,
) -> (i32, i32, i32, i64) {
    let read = client
        .get_case(caller.request(asb::GetCaseRequest { name: case.into() }))
        .await
        .unwrap()
        .into_inner();
    let standards = read.standards.unwrap();
    let contact = standards.contact.unwrap();
    (
        standards.acknowledgement.unwrap().state,
        standards.first_response.unwrap().state,
        contact.state,
        contact.deadline.map_or(0, |deadline| deadline.seconds),
    )
}

async fn standards_turn_at_their_boundaries_as_the_clock_moves(app: TestApp) {
    use asb::standing::State;
    use std::time::Duration;

    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let ada = customer(&app, &partner, "Ada", "").await;
    let mut client = cases(&app).await;
    let case = client
        .report_incident(partner.request(request(report(vec![party(asb::PartyRole::Victim, &ada)], ""))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let manager = app.caller("council", Role::Manager, &[]).await;
    client
        .triage_case(manager.request(asb::TriageCaseRequest {
            name: case.name.clone(),
            categories: vec!["domestic-abuse".into()],
            risk: "high".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let (met, missed, due, overdue) =
        (State::Met as i32, State::Missed as i32, State::Due as i32, State::Overdue as i32);

    // 24 hours for a first response: due at 23h59, overdue at 24h01.
    app.clock.advance(Duration::from_secs(23 * 3600 + 59 * 60));
    assert_eq!(standings(&mut client, &partner, &case.name).await.1, due);
    app.clock.advance(Duration::from_secs(2 * 60));
    assert_eq!(standings(&mut client, &partner, &case.name).await.1, overdue);
    let queue = client
        .list_work_queue(
            partner.request(asb::ListWorkQueueRequest { horizon_hours: 1, ..Default::default() }),
        )
        .await
        .unwrap()
        .into_inner();
    assert!(
        queue.items[0].overdue && queue.items[0].task == asb::work_queue_item::Task::FirstResponse as i32
    );

    // The victim is contacted now (24h01 after the report): acknowledged in time,
    // first response late.
    let contact_time = chrono::Utc::now() + chrono::Duration::minutes(24 * 60 + 1);
    client
        .record_contact(partner.request(asb::RecordContactRequest {
            parent: case.name.clone(),
            contact: Some(asb::Contact {
                party_role: asb::PartyRole::Victim.into(),
                channel: "phone".into(),
                contact_time: Some(prost_types::Timestamp { seconds: contact_time.timestamp(), nanos: 0 }),
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap();
    let (acknowledgement, first_response, contact, contact_deadline) =
        standings(&mut client, &partner, &case.name).await;
    assert_eq!((acknowledgement, first_response, contact), (met, missed, due));

    // The next contact is due by the end of the 14th day after this one: still due a
    // minute before, overdue a minute after.
    let until_deadline = contact_deadline - contact_time.timestamp();
    app.clock.advance(Duration::from_secs(u64::try_from(until_deadline - 120).unwrap()));
    assert_eq!(standings(&mut client, &partner, &case.name).await.2, due);
    app.clock.advance(Duration::from_secs(240));
    assert_eq!(standings(&mut client, &partner, &case.name).await.2, overdue);
    assert!((14 * 86_400..16 * 86_400).contains(&until_deadline), "{until_deadline}");
}

/// The next message of a watched queue. The bound guards against hanging; it is
/// no timing assertion (a change is pushed when it is written).
async fn next(watch: &mut tonic::Streaming<asb::WatchWorkQueueResponse>) -> asb::WatchWorkQueueResponse {
    tokio::time::timeout(std::time::Duration::from_secs(60), watch.message()).await.unwrap().unwrap().unwrap()
}

async fn a_watched_queue_pushes_each_change(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let ada = customer(&app, &partner, "Ada", "").await;
    let bob = customer(&app, &partner, "Bob", "").await;
    let mut client = cases(&app).await;
    let first = client
        .report_incident(partner.request(request(report(vec![party(asb::PartyRole::Complainant, &ada)], ""))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let mut watch = cases(&app)
        .await
        .watch_work_queue(
            partner.request(asb::WatchWorkQueueRequest { horizon_hours: 2_160, ..Default::default() }),
        )
        .await
        .unwrap()
        .into_inner();
    let snapshot = next(&mut watch).await;
    assert!(!snapshot.added.is_empty() && snapshot.added.iter().all(|item| item.case == first.name));
    assert!(snapshot.removed.is_empty());

    let second = client
        .report_incident(partner.request(request(report(vec![party(asb::PartyRole::Complainant, &bob)], ""))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let change = next(&mut watch).await;
    assert!(
        !change.added.is_empty() && change.added.iter().all(|item| item.case == second.name),
        "{change:?}"
    );

    // Acknowledging the first report takes its acknowledgement off the queue.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    client
        .record_contact(partner.request(asb::RecordContactRequest {
            parent: first.name.clone(),
            contact: Some(asb::Contact {
                party_role: asb::PartyRole::Complainant.into(),
                channel: "phone".into(),
                contact_time: Some(prost_types::Timestamp { seconds: i64::try_from(now).unwrap(), nanos: 0 }),
                ..Default::default()
            }),
            request_id: String::new(),
        }))
        .await
        .unwrap();
    let change = next(&mut watch).await;
    assert!(
        change.removed.iter().any(
            |item| item.case == first.name && item.task == asb::work_queue_item::Task::Acknowledge as i32
        ),
        "{change:?}"
    );
}

async fn an_operator_adds_a_bank_holiday_and_deadlines_move_past_it(app: TestApp) {
    use chrono::Datelike as _;
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let ada = customer(&app, &partner, "Ada", "").await;
    let mut client = cases(&app).await;
    let held = client
        .list_bank_holidays(partner.request(asb::ListBankHolidaysRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.bank_holidays.len(), 24, "2025 to 2027 seeded");
    let case = client
        .report_incident(partner.request(request(report(vec![party(asb::PartyRole::Complainant, &ada)], ""))))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap();
    let before = case.acknowledge_deadline.unwrap().seconds;

    // The next weekday that is no holiday yet becomes one: acknowledgement is due a working day later.
    let proto_dates: Vec<(i32, i32, i32)> =
        held.bank_holidays.iter().filter_map(|h| h.date).map(|d| (d.year, d.month, d.day)).collect();
    let mut day = chrono::Utc::now().date_naive();
    loop {
        day = day.succ_opt().unwrap();
        let key = (day.year(), i32::try_from(day.month()).unwrap(), i32::try_from(day.day()).unwrap());
        if day.weekday().num_days_from_monday() < 5 && !proto_dates.contains(&key) {
            break;
        }
    }
    let holiday = asb::BankHoliday {
        date: Some(date(day.year(), i32::try_from(day.month()).unwrap(), i32::try_from(day.day()).unwrap())),
        display_name: "Royal occasion".into(),
    };
    let create = || asb::CreateBankHolidayRequest { bank_holiday: Some(holiday.clone()) };
    let err = client.create_bank_holiday(partner.request(create())).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "ROLE_NOT_PERMITTED");
    let operator = app.operator().await;
    client.create_bank_holiday(operator.request(create())).await.unwrap();
    let err = client.create_bank_holiday(operator.request(create())).await.unwrap_err();
    assert_status(&err, Code::AlreadyExists, "BANK_HOLIDAY_EXISTS");
    let after = client
        .get_case(partner.request(asb::GetCaseRequest { name: case.name.clone() }))
        .await
        .unwrap()
        .into_inner()
        .acknowledge_deadline
        .unwrap()
        .seconds;
    assert!(after > before, "{after} > {before}");
}

async fn a_diversionary_activity_shows_the_asb_in_its_area_before_and_after(app: TestApp) {
    use chrono::Datelike as _;
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let ada = customer(&app, &partner, "Ada", "").await;
    let mut client = cases(&app).await;
    // Two cases today, after a scheme that started yesterday.
    for _ in 0..2 {
        let accused = customer(&app, &partner, "Cy", "").await;
        let parties = vec![
            party(asb::PartyRole::Complainant, &ada),
            party(asb::PartyRole::AllegedPerpetrator, &accused),
        ];
        client.report_incident(partner.request(request(report(parties, "")))).await.unwrap();
    }
    let yesterday = chrono::Utc::now().date_naive().pred_opt().unwrap();
    let officer = app.officer("council", "north").await;
    let scheme = |area: &str| asb::CreateDiversionaryActivityRequest {
        diversionary_activity: Some(asb::DiversionaryActivity {
            display_name: "Friday night football".into(),
            area: area.into(),
            start_date: Some(date(
                yesterday.year(),
                i32::try_from(yesterday.month()).unwrap(),
                i32::try_from(yesterday.day()).unwrap(),
            )),
            budget: 250_000,
            participants: 40,
            ..Default::default()
        }),
    };
    let created =
        client.create_diversionary_activity(officer.request(scheme("north"))).await.unwrap().into_inner();
    assert_eq!((created.cases_before, created.cases_after), (0, 2));
    let err = client.create_diversionary_activity(officer.request(scheme("south"))).await.unwrap_err();
    assert_status(&err, Code::PermissionDenied, "OUTSIDE_SCOPE");
    let listed = client
        .list_diversionary_activities(officer.request(asb::ListDiversionaryActivitiesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.diversionary_activities, [created]);
    let mut bad = scheme("north");
    bad.diversionary_activity.as_mut().unwrap().budget = -1;
    bad.diversionary_activity.as_mut().unwrap().display_name = String::new();
    let err = client.create_diversionary_activity(officer.request(bad)).await.unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(fields, ["diversionary_activity.budget", "diversionary_activity.display_name"]);
}
