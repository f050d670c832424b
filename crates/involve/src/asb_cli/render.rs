//! How `involve asb` shows answers: plain tables that fit 80-100 columns, with
//! times in UK local time, or JSON (a hand-made mapping of the fields shown;
//! prost types carry no serde).

mod analysis;

pub(super) use self::analysis::{analysis_json, analysis_table};
use asb::domain::calendar::local_time;
use chrono::{DateTime, Utc};
use contracts::google::r#type::Date;
use contracts::involve::asb::v1 as pb;
use serde_json::{Value, json};

/// The widest a table cell may be before it is cut short: a `customers/{uuid}`
/// name (46) still fits.
const MAX_CELL: usize = 48;

/// `value` as pretty JSON, ending with a newline.
pub(super) fn json(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Columns padded to their widest cell, two spaces apart.
struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Columns of figures, aligned on the right so they compare at a glance.
    numeric: Vec<usize>,
}

impl Table {
    fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new(), numeric: Vec::new() }
    }

    fn numeric(mut self, columns: &[usize]) -> Self {
        self.numeric = columns.to_vec();
        self
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.into_iter().map(|cell| shorten(&cell)).collect());
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|header| header.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(column, (cell, width))| {
                    if self.numeric.contains(&column) {
                        format!("{cell:>width$}")
                    } else {
                        format!("{cell:<width$}")
                    }
                })
                .collect();
            let mut text = padded.join("  ").trim_end().to_owned();
            text.push('\n');
            text
        };
        let mut text = line(self.headers.clone());
        for row in &self.rows {
            text.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        text
    }
}

/// `text` on one line and at most [`MAX_CELL`] characters, marked when cut.
fn shorten(text: &str) -> String {
    shorten_to(text, MAX_CELL)
}

/// `text` on one line and at most `width` characters, marked when cut.
fn shorten_to(text: &str, width: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= width {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// An enum value's proto name without its prefix, in lower case with dashes
/// (`PRIORITY_URGENT` -> `urgent`); the number when this client does not know it.
fn label(name: Option<&str>, prefix: &str, number: i32) -> String {
    match name {
        Some(name) => name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase().replace('_', "-"),
        None => number.to_string(),
    }
}

/// A priority, or `untriaged` before triage sets one.
fn priority(number: i32) -> String {
    if number == pb::Priority::Unspecified as i32 {
        return "untriaged".to_owned();
    }
    label(pb::Priority::try_from(number).ok().map(|value| value.as_str_name()), "PRIORITY_", number)
}

/// A priority for scripts: null before triage.
fn priority_json(number: i32) -> Value {
    if number == pb::Priority::Unspecified as i32 { Value::Null } else { Value::String(priority(number)) }
}

fn route(number: i32) -> String {
    label(pb::Route::try_from(number).ok().map(|value| value.as_str_name()), "ROUTE_", number)
}

fn channel(number: i32) -> String {
    label(pb::Channel::try_from(number).ok().map(|value| value.as_str_name()), "CHANNEL_", number)
}

fn party_role(number: i32) -> String {
    label(pb::PartyRole::try_from(number).ok().map(|value| value.as_str_name()), "PARTY_ROLE_", number)
}

fn case_state(number: i32) -> String {
    label(pb::case::State::try_from(number).ok().map(|value| value.as_str_name()), "STATE_", number)
}

fn standing_state(number: i32) -> String {
    label(pb::standing::State::try_from(number).ok().map(|value| value.as_str_name()), "STATE_", number)
}

fn task(number: i32) -> String {
    label(pb::work_queue_item::Task::try_from(number).ok().map(|value| value.as_str_name()), "TASK_", number)
}

/// A task in the queue table's narrow column (`contact` is with the complainant).
fn task_short(number: i32) -> String {
    let task = task(number);
    task.strip_suffix("-complainant").map(str::to_owned).unwrap_or(task)
}

fn standard(number: i32) -> String {
    label(
        pb::standard_figure::Standard::try_from(number).ok().map(|value| value.as_str_name()),
        "STANDARD_",
        number,
    )
}

fn instant(timestamp: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let timestamp = timestamp?;
    DateTime::from_timestamp(timestamp.seconds, u32::try_from(timestamp.nanos).unwrap_or_default())
}

/// A deadline as an officer in England reads it: `Mon 07 Dec 2026 14:00`.
fn local(timestamp: Option<&prost_types::Timestamp>) -> String {
    instant(timestamp).map(|at| local_time(at).format("%a %d %b %Y %H:%M").to_string()).unwrap_or_default()
}

/// A time in a narrow column: `07 Dec 14:00`.
fn local_short(timestamp: Option<&prost_types::Timestamp>) -> String {
    instant(timestamp).map(|at| local_time(at).format("%d %b %H:%M").to_string()).unwrap_or_default()
}

/// RFC 3339 in UTC, for scripts.
fn utc(timestamp: Option<&prost_types::Timestamp>) -> Value {
    instant(timestamp).map_or(Value::Null, |at| Value::String(at.to_rfc3339()))
}

fn date(date: Option<&Date>) -> String {
    date.map(|date| format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)).unwrap_or_default()
}

/// The queue's officer and team columns: with the rest, a row fits 100 columns.
const QUEUE_OFFICER_WIDTH: usize = 16;
const QUEUE_TEAM_WIDTH: usize = 15;

const LOCAL_NOTE: &str = "Times are UK local (Europe/London).\n";

pub(super) fn queue_table(items: &[pb::WorkQueueItem]) -> String {
    if items.is_empty() {
        return "Nothing due.\n".to_owned();
    }
    let mut table = Table::new(&["", "DEADLINE", "TASK", "PRIORITY", "REFERENCE", "OFFICER", "TEAM"]);
    for item in items {
        table.row(vec![
            if item.overdue { "OVERDUE".to_owned() } else { String::new() },
            local_short(item.deadline.as_ref()),
            task_short(item.task),
            priority(item.priority),
            item.case_reference.clone(),
            // Cut so that a row fits 100 columns; `--output json` has them whole.
            shorten_to(&item.assigned_officer, QUEUE_OFFICER_WIDTH),
            shorten_to(&item.team, QUEUE_TEAM_WIDTH),
        ]);
    }
    let overdue = items.iter().filter(|item| item.overdue).count();
    format!("{}\n{} items, {overdue} overdue. {LOCAL_NOTE}", table.render(), items.len())
}

pub(super) fn queue_json(items: &[pb::WorkQueueItem]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|item| {
            json!({
                "case": item.case,
                "reference": item.case_reference,
                "task": task(item.task),
                "deadline": utc(item.deadline.as_ref()),
                "overdue": item.overdue,
                "priority": priority_json(item.priority),
                "assigned_officer": item.assigned_officer,
                "team": item.team,
            })
        })
        .collect();
    json!({ "items": items })
}

fn person(party: &pb::Party) -> String {
    use pb::party::Person;
    match &party.person {
        Some(Person::Customer(customer)) => customer.clone(),
        Some(Person::External(external)) if external.postcode.is_empty() => external.display_name.clone(),
        Some(Person::External(external)) => format!("{} ({})", external.display_name, external.postcode),
        Some(Person::Unknown(unknown)) if unknown.description.is_empty() => "unknown".to_owned(),
        Some(Person::Unknown(unknown)) => format!("unknown: {}", unknown.description),
        None if party.withheld => "(withheld)".to_owned(),
        None => String::new(),
    }
}

/// Whether mediation was considered: referred (by whom, at which stage, with
/// what outcome) or why not; `not considered yet` until it is.
fn mediation(decision: Option<&pb::MediationDecision>) -> String {
    use pb::mediation_decision::Decision;
    use pb::mediation_referral::{Outcome, Referrer};
    match decision.and_then(|decision| decision.decision.as_ref()) {
        Some(Decision::Referred(referral)) => {
            let by = label(
                Referrer::try_from(referral.referred_by).ok().map(|value| value.as_str_name()),
                "REFERRER_",
                referral.referred_by,
            );
            let outcome = label(
                Outcome::try_from(referral.outcome).ok().map(|value| value.as_str_name()),
                "OUTCOME_",
                referral.outcome,
            );
            format!("referred by {by} at {}, outcome {outcome}", referral.stage)
        }
        Some(Decision::NotReferredReason(reason)) => format!("not referred: {reason}"),
        None => "not considered yet".to_owned(),
    }
}

fn standings(case: &pb::Case) -> Vec<(&'static str, Option<&pb::Standing>)> {
    let progress = case.standards.as_ref();
    vec![
        ("acknowledgement", progress.and_then(|standards| standards.acknowledgement.as_ref())),
        ("first-response", progress.and_then(|standards| standards.first_response.as_ref())),
        ("contact", progress.and_then(|standards| standards.contact.as_ref())),
    ]
}

pub(super) fn case_text(case: &pb::Case) -> String {
    let triage = case.triage.as_ref();
    let mut text = format!("{}  {}\n", case.reference, case.name);
    let mut field = |name: &str, value: String| {
        if !value.is_empty() {
            text.push_str(&format!("  {name:<16}{value}\n"));
        }
    };
    field("State", case_state(case.state));
    field(
        "Priority",
        triage.map(|triage| priority(triage.priority)).unwrap_or_else(|| "untriaged".to_owned()),
    );
    field("Route", triage.map(|triage| route(triage.route)).unwrap_or_default());
    field("Risk", triage.map(|triage| triage.risk.clone()).unwrap_or_default());
    field("Categories", case.categories.join(", "));
    field("Landlord", case.landlord_organisation.clone());
    field("Area", case.area.clone());
    field("Officer", case.assigned_officer.clone());
    field("Team", case.team.clone());
    field("Opened", local(case.open_time.as_ref()));
    field("Acknowledge before", local(case.acknowledge_deadline.as_ref()));
    field("Repeat of", case.repeat_of.clone());
    field("Mediation", mediation(case.mediation.as_ref()));
    field(
        "Closed",
        case.closure
            .as_ref()
            .map(|closure| format!("{} ({})", local(closure.close_time.as_ref()), closure.reason))
            .unwrap_or_default(),
    );

    text.push_str("\nStandards\n");
    let mut table = Table::new(&["STANDARD", "STANDING", "DEADLINE"]);
    for (name, standing) in standings(case) {
        let state = standing.map(|standing| standing_state(standing.state)).unwrap_or_default();
        // What needs the officer's attention shouts; the rest does not.
        let shown = match state.as_str() {
            "overdue" | "missed" => state.to_uppercase(),
            "not-applicable" => "n/a".to_owned(),
            _ => state,
        };
        table.row(vec![
            name.to_owned(),
            shown,
            local(standing.and_then(|standing| standing.deadline.as_ref())),
        ]);
    }
    text.push_str(&table.render());

    text.push_str("\nParties\n");
    let mut table = Table::new(&["ROLE", "PERSON"]);
    for party in &case.parties {
        table.row(vec![party_role(party.role), person(party)]);
    }
    text.push_str(&table.render());

    text.push_str("\nReports\n");
    let mut table = Table::new(&["RECEIVED", "CHANNEL", "CATEGORIES", "DESCRIPTION"]);
    for report in &case.reports {
        let description = if report.withheld { "(withheld)".to_owned() } else { report.description.clone() };
        table.row(vec![
            local_short(report.receive_time.as_ref()),
            channel(report.channel),
            report.categories.join(","),
            description,
        ]);
    }
    text.push_str(&table.render());

    text.push_str("\nContacts\n");
    if case.contacts.is_empty() {
        text.push_str("  none yet\n");
    } else {
        let mut table = Table::new(&["WHEN", "WITH", "CHANNEL", "SUMMARY"]);
        for contact in &case.contacts {
            table.row(vec![
                local_short(contact.contact_time.as_ref()),
                party_role(contact.party_role),
                contact.channel.clone(),
                contact.summary.clone(),
            ]);
        }
        text.push_str(&table.render());
    }

    text.push_str("\nInterventions\n");
    if case.interventions.is_empty() {
        text.push_str("  none yet\n");
    } else {
        let mut table = Table::new(&["TYPE", "START", "OUTCOME", "NOTES"]);
        for intervention in &case.interventions {
            table.row(vec![
                intervention.r#type.clone(),
                date(intervention.start_date.as_ref()),
                intervention.outcome.clone(),
                intervention.notes.clone(),
            ]);
        }
        text.push_str(&table.render());
    }
    text.push('\n');
    text.push_str(LOCAL_NOTE);
    text
}

fn party_json(party: &pb::Party) -> Value {
    use pb::party::Person;
    let mut value = json!({ "role": party_role(party.role), "withheld": party.withheld });
    match &party.person {
        Some(Person::Customer(customer)) => value["customer"] = json!(customer),
        Some(Person::External(external)) => {
            value["external"] =
                json!({ "display_name": external.display_name, "postcode": external.postcode });
        }
        Some(Person::Unknown(unknown)) => value["unknown"] = json!({ "description": unknown.description }),
        None => {}
    }
    value
}

pub(super) fn case_json(case: &pb::Case) -> Value {
    let standards: serde_json::Map<String, Value> = standings(case)
        .into_iter()
        .map(|(name, standing)| {
            let value = standing.map_or(Value::Null, |standing| {
                json!({
                    "state": standing_state(standing.state),
                    "deadline": utc(standing.deadline.as_ref()),
                })
            });
            (name.replace('-', "_"), value)
        })
        .collect();
    json!({
        "name": case.name,
        "reference": case.reference,
        "state": case_state(case.state),
        "landlord_organisation": case.landlord_organisation,
        "area": case.area,
        "categories": case.categories,
        "priority": case.triage.as_ref().map_or(Value::Null, |triage| priority_json(triage.priority)),
        "route": case.triage.as_ref().map(|triage| route(triage.route)),
        "assigned_officer": case.assigned_officer,
        "team": case.team,
        "open_time": utc(case.open_time.as_ref()),
        "acknowledge_deadline": utc(case.acknowledge_deadline.as_ref()),
        "repeat_of": case.repeat_of,
        "mediation": mediation(case.mediation.as_ref()),
        "standards": standards,
        "parties": case.parties.iter().map(party_json).collect::<Vec<_>>(),
        "reports": case.reports.iter().map(|report| json!({
            "name": report.name,
            "channel": channel(report.channel),
            "receive_time": utc(report.receive_time.as_ref()),
            "categories": report.categories,
            "description": report.description,
            "withheld": report.withheld,
        })).collect::<Vec<_>>(),
        "contacts": case.contacts.iter().map(|contact| json!({
            "name": contact.name,
            "party_role": party_role(contact.party_role),
            "channel": contact.channel,
            "contact_time": utc(contact.contact_time.as_ref()),
            "summary": contact.summary,
        })).collect::<Vec<_>>(),
        "interventions": case.interventions.iter().map(|intervention| json!({
            "name": intervention.name,
            "type": intervention.r#type,
            "start_date": date(intervention.start_date.as_ref()),
            "outcome": intervention.outcome,
            "notes": intervention.notes,
        })).collect::<Vec<_>>(),
    })
}

pub(super) fn filed_text(filed: &pb::ReportIncidentResponse) -> String {
    let report = filed.report.as_ref().map(|report| report.name.as_str()).unwrap_or_default();
    let Some(case) = &filed.case else {
        return format!("Filed {report}.\n");
    };
    let verb = if filed.opened_case { "opened" } else { "joined" };
    format!(
        "Filed {report}\n{verb} case {} ({})\nAcknowledge before {}. {LOCAL_NOTE}",
        case.reference,
        case.name,
        local(case.acknowledge_deadline.as_ref())
    )
}

pub(super) fn filed_json(filed: &pb::ReportIncidentResponse) -> Value {
    json!({
        "report": filed.report.as_ref().map(|report| report.name.clone()),
        "opened_case": filed.opened_case,
        "case": filed.case.as_ref().map(case_json),
    })
}

fn percent(figure: &pb::StandardFigure) -> String {
    figure.percent.map(|percent| format!("{percent:.1}")).unwrap_or_else(|| "-".to_owned())
}

pub(super) fn standards_table(standards: &pb::ServiceStandards) -> String {
    if standards.figures.is_empty() {
        return "No cases received in the period.\n".to_owned();
    }
    let mut table = Table::new(&["STANDARD", "BY", "KEY", "MET", "MISSED", "PENDING", "%", "TARGET", ""])
        .numeric(&[3, 4, 5, 6, 7]);
    for figure in &standards.figures {
        let below = figure.percent.is_some() && !figure.meets_target;
        table.row(vec![
            standard(figure.standard),
            figure.dimension.clone(),
            if figure.key.is_empty() && figure.dimension != "all" {
                "(none)".to_owned()
            } else {
                figure.key.clone()
            },
            figure.met.to_string(),
            figure.missed.to_string(),
            figure.pending.to_string(),
            percent(figure),
            format!("{}%", figure.target_percent),
            if below { "BELOW TARGET".to_owned() } else { String::new() },
        ]);
    }
    let mut text = table.render();
    let missed: Vec<&pb::StandardFigure> = standards
        .figures
        .iter()
        .filter(|figure| figure.dimension == "all" && !figure.missed_cases.is_empty())
        .collect();
    if !missed.is_empty() {
        text.push_str("\nCases that missed\n");
        for figure in missed {
            text.push_str(&format!("  {}: {}\n", standard(figure.standard), figure.missed_cases.join(", ")));
        }
    }
    text.push_str(&format!("\nComputed {}. {LOCAL_NOTE}", local(standards.compute_time.as_ref())));
    text
}

pub(super) fn standards_json(standards: &pb::ServiceStandards) -> Value {
    let figures: Vec<Value> = standards
        .figures
        .iter()
        .map(|figure| {
            json!({
                "standard": standard(figure.standard),
                "dimension": figure.dimension,
                "key": figure.key,
                "met": figure.met,
                "missed": figure.missed,
                "pending": figure.pending,
                "percent": figure.percent,
                "target_percent": figure.target_percent,
                "meets_target": figure.meets_target,
                "missed_cases": figure.missed_cases,
            })
        })
        .collect();
    json!({ "figures": figures, "compute_time": utc(standards.compute_time.as_ref()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn item(reference: &str, deadline: i64, overdue: bool) -> pb::WorkQueueItem {
        pb::WorkQueueItem {
            r#case: "cases/01a248bf-d46b-7721-9ef6-a9d76a0598ba".into(),
            case_reference: reference.into(),
            task: pb::work_queue_item::Task::ContactComplainant.into(),
            deadline: at(deadline),
            overdue,
            priority: pb::Priority::Urgent.into(),
            assigned_officer: "Jo Smith-Worthington".into(),
            team: "tenancy-enforcement".into(),
        }
    }

    #[test]
    fn the_queue_marks_overdue_items_and_shows_deadlines_in_uk_time() {
        // 2026-07-01 12:00 UTC is 13:00 BST; 2026-12-01 12:00 UTC is 12:00 GMT.
        let table = queue_table(&[
            item("ASB-2026-000007", 1_782_907_200, true),
            item("ASB-2026-000009", 1_796_126_400, false),
        ]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("OVERDUE  01 Jul 13:00  contact  urgent"), "{table}");
        assert!(lines[1].ends_with("Jo Smith-Worthi…  tenancy-enforc…"), "{table}");
        assert!(lines[2].starts_with("         01 Dec 12:00"), "{table}");
        assert!(table.contains("2 items, 1 overdue."), "{table}");
        assert!(lines.iter().all(|line| line.chars().count() <= 100), "{table}");
        let json = queue_json(&[item("ASB-2026-000007", 1_782_907_200, true)]);
        assert_eq!(json["items"][0]["deadline"], "2026-07-01T12:00:00+00:00");
        assert_eq!(json["items"][0]["overdue"], true);
        assert_eq!(json["items"][0]["task"], "contact-complainant");
        assert_eq!(json["items"][0]["assigned_officer"], "Jo Smith-Worthington");
    }

    #[test]
    fn long_cells_are_cut_and_kept_on_one_line() {
        let long = "word ".repeat(20);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), MAX_CELL);
        assert!(cut.ends_with('…'));
        assert_eq!(shorten("two\nlines"), "two lines");
    }
}
