//! The monthly quality sample through the gateway: drawn from the cases each
//! officer held open when the month began, sized by the rule, the same on every
//! read, shown as review-due work in queues, cleared by a quality review in the
//! month, drawn anew the next; a review's findings become actions on the case.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use contracts::involve::asb::v1 as asb;
use contracts::involve::asb::v1::asb_cases_client::AsbCasesClient;
use involve_tests::{Caller, TestApp, on_every_backend, violated_fields};
use platform::Role;
use platform::clock::Clock as _;
use tonic::transport::Channel;

on_every_backend!(the_months_sample_is_review_work_until_a_quality_review_clears_it);

const REVIEW: i32 = asb::work_queue_item::Task::CaseReview as i32;

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

/// Opens a case about people of its own and gives it to `officer`.
async fn case_of(
    client: &mut AsbCasesClient<Channel>,
    partner: &Caller,
    manager: &Caller,
    officer: &str,
    n: usize,
) -> String {
    let report = asb::Report {
        channel: asb::Channel::Phone.into(),
        description: "shouting in the stairwell".into(),
        area: "north".into(),
        categories: vec!["noise".into()],
        parties: vec![
            external(asb::PartyRole::Complainant, &format!("Complainant {n}")),
            external(asb::PartyRole::AllegedPerpetrator, &format!("Accused {n}")),
        ],
        ..Default::default()
    };
    let request = asb::ReportIncidentRequest { report: Some(report), request_id: String::new() };
    let case = client.report_incident(partner.request(request)).await.unwrap().into_inner().case.unwrap();
    let assign = asb::AssignCaseRequest {
        name: case.name.clone(),
        officer: officer.into(),
        team: "north-neighbourhood".into(),
        etag: String::new(),
    };
    client.assign_case(manager.request(assign)).await.unwrap();
    case.name
}

/// The review items of a queue: case and deadline.
async fn reviews_due(
    client: &mut AsbCasesClient<Channel>,
    caller: &Caller,
    officer: &str,
) -> BTreeSet<(String, i64, bool)> {
    let request = asb::ListWorkQueueRequest {
        officer: officer.into(),
        // Reviews show all month, however short the look ahead.
        horizon_hours: 1,
        page_size: 1000,
        ..Default::default()
    };
    let queue = client.list_work_queue(caller.request(request)).await.unwrap().into_inner();
    queue
        .items
        .into_iter()
        .filter(|item| item.task == REVIEW)
        .map(|item| (item.case, item.deadline.unwrap().seconds, item.overdue))
        .collect()
}

/// Moves the suite's clock to noon (UTC) on the 3rd of the next month.
fn into_next_month(app: &TestApp) -> DateTime<Utc> {
    let now = app.clock.now();
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1).unwrap();
    let next = first.checked_add_months(chrono::Months::new(1)).unwrap();
    let target = next.with_day(3).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc();
    app.clock.advance((target - now).to_std().unwrap());
    target
}

fn review(
    case: &str,
    kind: asb::case_review::Kind,
    findings: Vec<asb::case_review::Finding>,
) -> asb::RecordCaseReviewRequest {
    asb::RecordCaseReviewRequest {
        parent: case.into(),
        case_review: Some(asb::CaseReview { kind: kind.into(), findings, ..Default::default() }),
    }
}

async fn the_months_sample_is_review_work_until_a_quality_review_clears_it(app: TestApp) {
    app.add_areas(&["north"]).await;
    let partner = app.partner("riverside").await;
    let manager = app.caller("council", Role::Manager, &[]).await;
    let mut client = AsbCasesClient::new(app.channel().await);
    let mut smiths = Vec::new();
    for n in 0..11 {
        smiths.push(case_of(&mut client, &partner, &manager, "J Smith", n).await);
    }
    let mut khans = Vec::new();
    for n in 11..13 {
        khans.push(case_of(&mut client, &partner, &manager, "A Khan", n).await);
    }
    // Cases opened this month wait for next month's sample.
    assert!(reviews_due(&mut client, &manager, "").await.is_empty());

    // Next month: 10% of each officer's open cases, rounded up, at least one.
    let month_two = into_next_month(&app);
    let smith_due = reviews_due(&mut client, &manager, "J Smith").await;
    assert_eq!(smith_due.len(), 2, "{smith_due:?}");
    assert!(smith_due.iter().all(|(case, _, overdue)| smiths.contains(case) && !overdue));
    let khan_due = reviews_due(&mut client, &manager, "A Khan").await;
    assert_eq!(khan_due.len(), 1);
    let deadlines: BTreeSet<i64> =
        smith_due.iter().chain(&khan_due).map(|(_, deadline, _)| *deadline).collect();
    assert_eq!(deadlines.len(), 1, "all due by the month's end");
    let month_end = *deadlines.first().unwrap();
    assert!(month_end > month_two.timestamp() && month_end <= month_two.timestamp() + 29 * 86_400);
    // The same on every read, and the whole queue holds both officers' shares.
    assert_eq!(reviews_due(&mut client, &manager, "J Smith").await, smith_due);
    let everyone = reviews_due(&mut client, &manager, "").await;
    assert_eq!(everyone, smith_due.union(&khan_due).cloned().collect());
    // Officers see their own share in their queue too.
    let officer = app.officer("council", "north").await;
    assert_eq!(reviews_due(&mut client, &officer, "J Smith").await, smith_due);

    // A watched queue pushes the review away once it is done.
    let watch =
        asb::WatchWorkQueueRequest { officer: "A Khan".into(), horizon_hours: 1, ..Default::default() };
    let mut watching = client.watch_work_queue(manager.request(watch)).await.unwrap().into_inner();
    let first = next(&mut watching).await;
    let khan_case = khan_due.first().unwrap().0.clone();
    assert!(first.added.iter().any(|item| item.task == REVIEW && item.case == khan_case), "{first:?}");

    // A closure review is not the quality review the sample asks for; only managers review.
    let sampled = smith_due.first().unwrap().0.clone();
    let met = |item: &str| asb::case_review::Finding { item: item.into(), met: true, ..Default::default() };
    client
        .record_case_review(manager.request(review(
            &sampled,
            asb::case_review::Kind::Closure,
            vec![met("diary kept")],
        )))
        .await
        .unwrap();
    assert_eq!(reviews_due(&mut client, &manager, "J Smith").await, smith_due);
    let err = client
        .record_case_review(officer.request(review(&sampled, asb::case_review::Kind::Quality, vec![])))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);

    // The quality review clears it; what it found not met becomes actions on the case.
    let findings = vec![
        met("risk assessment recorded"),
        asb::case_review::Finding {
            item: "contact every 14 days".into(),
            met: false,
            action: "call the complainant this week".into(),
            owner: "A Khan".into(),
            due_date: Some(contracts::google::r#type::Date {
                year: month_two.year(),
                month: i32::try_from(month_two.month()).unwrap(),
                day: 7,
            }),
        },
        asb::case_review::Finding { item: "action plan agreed".into(), met: false, ..Default::default() },
    ];
    // An action cannot be due before the review.
    let mut late = findings.clone();
    late[2].due_date = Some(contracts::google::r#type::Date { year: 2020, month: 1, day: 1 });
    let err = client
        .record_case_review(manager.request(review(&sampled, asb::case_review::Kind::Quality, late)))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["case_review.findings[2].due_date"]);
    let recorded = client
        .record_case_review(manager.request(review(&sampled, asb::case_review::Kind::Quality, findings)))
        .await
        .unwrap()
        .into_inner();
    let actions: Vec<(&str, &str, i32)> = recorded
        .actions
        .iter()
        .map(|a| (a.action.as_str(), a.owner.as_str(), a.due_date.unwrap().day))
        .collect();
    assert_eq!(
        actions,
        [("call the complainant this week", "A Khan", 7), ("put right: action plan agreed", "J Smith", 17)],
        "owned by the case's officer and due in 14 days unless the review says"
    );
    let now_due = reviews_due(&mut client, &manager, "J Smith").await;
    assert_eq!(now_due.len(), 1);
    assert!(!now_due.iter().any(|(case, _, _)| *case == sampled));
    let read = client
        .get_case(manager.request(asb::GetCaseRequest { name: sampled.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.review_actions, recorded.actions);

    client
        .record_case_review(manager.request(review(
            &khan_case,
            asb::case_review::Kind::Quality,
            vec![met("all well")],
        )))
        .await
        .unwrap();
    let change = next(&mut watching).await;
    assert!(change.removed.iter().any(|item| item.task == REVIEW && item.case == khan_case), "{change:?}");
    assert!(reviews_due(&mut client, &manager, "A Khan").await.is_empty());
    drop(watching);

    // The month after, the sample is drawn anew (last month's reviews do not count
    // for it), and last month's case that got no review stays, overdue.
    into_next_month(&app);
    let smith_next = reviews_due(&mut client, &manager, "J Smith").await;
    let (overdue, due): (BTreeSet<_>, BTreeSet<_>) =
        smith_next.into_iter().partition(|(_, _, overdue)| *overdue);
    let leftover = now_due.first().unwrap().0.clone();
    assert_eq!(overdue, BTreeSet::from([(leftover.clone(), month_end, true)]));
    // Two drawn this month; one fewer shown if the leftover is one of them (it shows once, overdue).
    assert!(matches!(due.len(), 1 | 2), "{due:?}");
    assert!(due.iter().all(|(case, deadline, _)| *deadline > month_end && *case != leftover));
    let khan_next = reviews_due(&mut client, &manager, "A Khan").await;
    assert_eq!(khan_next.len(), 1, "last month's was reviewed: only this month's");
    assert!(khan_next.iter().all(|(_, deadline, overdue)| *deadline > month_end && !overdue));
    // Its review clears the overdue one.
    client
        .record_case_review(manager.request(review(
            &leftover,
            asb::case_review::Kind::Quality,
            vec![met("all well")],
        )))
        .await
        .unwrap();
    let cleared = reviews_due(&mut client, &manager, "J Smith").await;
    assert!(cleared.iter().all(|(case, _, overdue)| !overdue && *case != leftover), "{cleared:?}");
}

/// The next message of a watched queue (a minute is only a safety net for a hung
/// suite: a change is pushed when it is written).
async fn next(watch: &mut tonic::Streaming<asb::WatchWorkQueueResponse>) -> asb::WatchWorkQueueResponse {
    tokio::time::timeout(Duration::from_secs(60), watch.message()).await.unwrap().unwrap().unwrap()
}
