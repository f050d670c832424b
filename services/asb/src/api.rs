//! The gRPC face of the ASB service, thin: each method decodes and validates its
//! request, calls [`crate::service`], and encodes the answer.

mod analysis;
mod reference;

use contracts::involve::asb::v1 as pb;
use contracts::involve::asb::v1::asb_cases_server::AsbCases;
use involve_core::text::Lines;
use involve_core::{RequestId, Violations};
use persistence::Etag;
use persistence::idempotency::RequestIdentity;
use platform::principal::RESOURCE_HEADER;
use platform::wire::{
    date_from_proto, date_to_proto, optional_code, optional_organisation, request_identity, required_code,
    timestamp, unknown_enum,
};
use platform::{FieldViolation, RequestContext};
use tonic::{Request, Response, Status};

use crate::domain::access::View;
use crate::domain::calendar::start_of_day;
use crate::domain::case::{CaseId, Channel, Party, PartyRole, Person};
use crate::domain::casework::{
    DiaryEntryId, InterventionKind, Mediation, MediationOutcome, MediationReferrer,
};
use crate::domain::queue::Task;
use crate::domain::review::Finding;
use crate::domain::standards::Standing;
use crate::domain::triage::{HateMotivation, Priority, Route};
use crate::error::{AsbError, ERROR_DOMAIN};
use crate::service::{Cases, DraftParty, DraftReport, QueueEntry, ShownCase, StandardKind, TriageRequest};
use crate::store::{ActionPlan, CaseFilter, NewContact, NewDiaryEntry, NewSharingDecision, codes, entities};

/// Longest description or location a report may carry.
const MAX_TEXT: usize = 4_000;
/// How often a watched queue is recomputed when nothing written here woke it:
/// writes by other instances, and deadlines passing.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Most parties one report may name.
const MAX_PARTIES: usize = 50;

/// The `AsbCases` service.
#[derive(Debug, Clone)]
pub struct AsbApi {
    cases: Cases,
    /// The largest reply this service sends (`server.max_message_bytes`).
    max_reply_bytes: usize,
}

impl AsbApi {
    pub fn new(cases: Cases, max_reply_bytes: usize) -> Self {
        Self { cases, max_reply_bytes }
    }
}

/// Shortens the longest `missed_cases` lists of a standards report (keeping
/// each list's first, newest, names) until the reply encodes within `budget`
/// bytes, and marks the lists it shortened. Counts are never touched.
fn fit_missed_cases(standards: &mut pb::ServiceStandards, budget: usize) {
    use prost::Message as _;
    let mut encoded = standards.encoded_len();
    if encoded <= budget {
        return;
    }
    let names: usize = standards.figures.iter().map(|figure| figure.missed_cases.len()).sum();
    let name_bytes: usize =
        standards.figures.iter().flat_map(|figure| &figure.missed_cases).map(|name| name.len() + 2).sum();
    let per_name = (name_bytes / names.max(1)).max(1);
    let mut allowed = budget.saturating_sub(encoded.saturating_sub(name_bytes)) / per_name;
    loop {
        // The largest cap on every list that keeps no more than `allowed` names.
        let lists: Vec<usize> = standards.figures.iter().map(|figure| figure.missed_cases.len()).collect();
        let (mut low, mut high) = (0, lists.iter().copied().max().unwrap_or(0));
        while low < high {
            let cap = (low + high).div_ceil(2);
            if lists.iter().map(|len| (*len).min(cap)).sum::<usize>() <= allowed {
                low = cap;
            } else {
                high = cap - 1;
            }
        }
        for figure in &mut standards.figures {
            if figure.missed_cases.len() > low {
                figure.missed_cases.truncate(low);
                figure.missed_cases_truncated = true;
            }
        }
        encoded = standards.encoded_len();
        if encoded <= budget || low == 0 {
            return;
        }
        // Names longer than the average ran over: a tenth fewer.
        allowed = allowed * 9 / 10;
    }
}

fn status(err: impl Into<AsbError>) -> Status {
    err.into().into()
}

fn invalid(violations: Vec<FieldViolation>) -> Status {
    status(AsbError::Invalid(violations))
}

fn context<T>(request: &Request<T>) -> Result<RequestContext, Status> {
    RequestContext::of(request).map_err(|refused| refused.into_status(ERROR_DOMAIN))
}

fn reply<T>(message: T, resource: &str) -> Response<T> {
    let mut response = Response::new(message);
    if let Ok(value) = resource.parse() {
        response.metadata_mut().insert(RESOURCE_HEADER, value);
    }
    response
}

/// Trimmed text, possibly over several lines (descriptions and notes keep their
/// line breaks), refused when longer than `max` characters or holding other
/// control characters: the shared rule of [`involve_core::text`].
fn text(field: &str, value: &str, max: usize, required: bool) -> Result<Option<String>, FieldViolation> {
    checked_text(field, value, max, required, Lines::Multi)
}

/// As [`text`], on one line: names, references, an officer.
fn line(field: &str, value: &str, max: usize, required: bool) -> Result<Option<String>, FieldViolation> {
    checked_text(field, value, max, required, Lines::Single)
}

fn checked_text(
    field: &str,
    value: &str,
    max: usize,
    required: bool,
    lines: Lines,
) -> Result<Option<String>, FieldViolation> {
    if required {
        involve_core::text::required_text(field, value, max, lines).map(Some)
    } else {
        involve_core::text::optional_text(field, value, max, lines)
    }
}

fn channel(value: i32) -> Result<Channel, FieldViolation> {
    use pb::Channel as P;
    match P::try_from(value).map_err(|_| unknown_enum("report.channel", value))? {
        P::Unspecified => Err(FieldViolation::required("report.channel")),
        P::Phone => Ok(Channel::Phone),
        P::ContactCentre => Ok(Channel::ContactCentre),
        P::Office => Ok(Channel::Office),
        P::Email => Ok(Channel::Email),
        P::Online => Ok(Channel::Online),
        P::OutOfHours => Ok(Channel::OutOfHours),
        P::PartnerReferral => Ok(Channel::PartnerReferral),
    }
}

fn channel_to_proto(channel: Channel) -> pb::Channel {
    match channel {
        Channel::Phone => pb::Channel::Phone,
        Channel::ContactCentre => pb::Channel::ContactCentre,
        Channel::Office => pb::Channel::Office,
        Channel::Email => pb::Channel::Email,
        Channel::Online => pb::Channel::Online,
        Channel::OutOfHours => pb::Channel::OutOfHours,
        Channel::PartnerReferral => pb::Channel::PartnerReferral,
    }
}

fn party_role(field: &str, value: i32) -> Result<PartyRole, FieldViolation> {
    use pb::PartyRole as P;
    match P::try_from(value).map_err(|_| unknown_enum(field, value))? {
        P::Unspecified => Err(FieldViolation::required(field)),
        P::Complainant => Ok(PartyRole::Complainant),
        P::AllegedPerpetrator => Ok(PartyRole::AllegedPerpetrator),
        P::Victim => Ok(PartyRole::Victim),
        P::Witness => Ok(PartyRole::Witness),
    }
}

fn party_role_to_proto(role: PartyRole) -> pb::PartyRole {
    match role {
        PartyRole::Complainant => pb::PartyRole::Complainant,
        PartyRole::AllegedPerpetrator => pb::PartyRole::AllegedPerpetrator,
        PartyRole::Victim => pb::PartyRole::Victim,
        PartyRole::Witness => pb::PartyRole::Witness,
    }
}

fn hate_motivation(value: i32) -> Result<Option<HateMotivation>, FieldViolation> {
    use pb::HateMotivation as P;
    Ok(match P::try_from(value).map_err(|_| unknown_enum("report.hate_motivation", value))? {
        P::Unspecified => None,
        P::Disability => Some(HateMotivation::Disability),
        P::Race => Some(HateMotivation::Race),
        P::Religion => Some(HateMotivation::Religion),
        P::SexualOrientation => Some(HateMotivation::SexualOrientation),
        P::TransgenderIdentity => Some(HateMotivation::TransgenderIdentity),
    })
}

/// The key someone outside the customer base is matched by: their name and
/// postcode, lower-cased, spaces collapsed.
fn external_key(name: &str, postcode: &str) -> String {
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    format!("{}|{}", words(name), words(postcode).replace(' ', ""))
}

fn read_party(v: &mut Violations, index: usize, party: pb::Party) -> Option<DraftParty> {
    let field = format!("report.parties[{index}]");
    let role = v.check(party_role(&format!("{field}.role"), party.role));
    let (person, details) = match party.person {
        None => {
            v.push(FieldViolation::new(
                format!("{field}.person"),
                "REQUIRED",
                "a party is a customer, an external person or an unknown person",
            ));
            return None;
        }
        Some(pb::party::Person::Customer(name)) => {
            if name.strip_prefix("customers/").and_then(|id| uuid::Uuid::parse_str(id).ok()).is_none() {
                v.push(FieldViolation::new(
                    format!("{field}.customer"),
                    "INVALID_NAME",
                    "a customer is named customers/{uuid}",
                ));
            }
            (Person::Customer(name), serde_json::json!({}))
        }
        Some(pb::party::Person::External(external)) => {
            let name = v.take(
                line(&format!("{field}.external.display_name"), &external.display_name, 200, true),
                None,
            );
            let postcode =
                v.take(line(&format!("{field}.external.postcode"), &external.postcode, 10, false), None);
            let contact =
                v.take(line(&format!("{field}.external.contact"), &external.contact, 200, false), None);
            let key =
                external_key(name.as_deref().unwrap_or_default(), postcode.as_deref().unwrap_or_default());
            let details =
                serde_json::json!({ "display_name": name, "postcode": postcode, "contact": contact });
            (Person::External(key), details)
        }
        Some(pb::party::Person::Unknown(unknown)) => {
            let description =
                v.take(text(&format!("{field}.unknown.description"), &unknown.description, 500, false), None);
            (Person::Unknown, serde_json::json!({ "description": description }))
        }
    };
    Some(DraftParty { party: Party { role: role?, person }, details, field })
}

fn read_report(
    report: pb::Report,
    raw_request_id: &str,
    identity: Option<RequestIdentity>,
) -> Result<DraftReport, Vec<FieldViolation>> {
    let mut v = Violations::default();
    v.take(RequestId::parse_optional("request_id", raw_request_id), None);
    let landlord =
        v.take(optional_organisation("report.landlord_organisation", &report.landlord_organisation), None);
    let channel = v.check(channel(report.channel));
    let description = v.take(text("report.description", &report.description, MAX_TEXT, true), None);
    let area = v.take(optional_code("report.area", &report.area), None);
    if report.area.is_empty() {
        v.push(FieldViolation::required("report.area"));
    }
    let uprn = v.take(line("report.uprn", &report.uprn, 12, false), None);
    if uprn.as_ref().is_some_and(|uprn| !uprn.chars().all(|c| c.is_ascii_digit())) {
        v.push(FieldViolation::new("report.uprn", "INVALID_FORMAT", "report.uprn is up to 12 digits"));
    }
    let location_description =
        v.take(text("report.location_description", &report.location_description, MAX_TEXT, false), None);
    let incident_time = report.incident_time.and_then(|time| {
        let parsed =
            chrono::DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).unwrap_or(u32::MAX));
        if parsed.is_none_or(|time| time > chrono::Utc::now() + chrono::Duration::minutes(5)) {
            v.push(FieldViolation::new(
                "report.incident_time",
                "OUT_OF_RANGE",
                "report.incident_time is not in the future",
            ));
        }
        parsed
    });
    let mut categories = Vec::new();
    for (index, code) in report.categories.iter().enumerate() {
        if let Some(code) = v.take(optional_code(&format!("report.categories[{index}]"), code), None) {
            categories.push(code);
        }
    }
    let hate_motivation = v.take(hate_motivation(report.hate_motivation), None);
    if report.parties.is_empty() {
        v.push(FieldViolation::required("report.parties"));
    } else if report.parties.len() > MAX_PARTIES {
        v.push(FieldViolation::new(
            "report.parties",
            "TOO_MANY",
            format!("a report names at most {MAX_PARTIES} parties"),
        ));
    }
    let parties: Vec<DraftParty> = report
        .parties
        .into_iter()
        .take(MAX_PARTIES)
        .enumerate()
        .filter_map(|(index, party)| read_party(&mut v, index, party))
        .collect();
    let (Some(channel), Some(description), Some(area)) = v.into_result((channel, description, area))? else {
        return Err(vec![FieldViolation::required("report")]);
    };
    Ok(DraftReport {
        landlord,
        channel,
        incident_time,
        description,
        area,
        uprn,
        location_description,
        categories,
        hate_motivation,
        parties,
        identity,
    })
}

fn required_time(
    field: &str,
    time: Option<prost_types::Timestamp>,
) -> Result<chrono::DateTime<chrono::Utc>, FieldViolation> {
    let time = time.ok_or_else(|| FieldViolation::required(field))?;
    chrono::DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).unwrap_or(u32::MAX))
        .ok_or_else(|| FieldViolation::new(field, "INVALID_FORMAT", format!("{field} is not a time")))
}

fn diary_entry_to_proto(row: &entities::diary_entries::Model) -> pb::DiaryEntry {
    let case = CaseId::from_uuid(row.case_id).name();
    pb::DiaryEntry {
        name: format!("{case}/diaryEntries/{}", row.id),
        occur_time: Some(timestamp(row.occur_time)),
        text: row.text.clone(),
        reported_by: row.reported_by.clone().unwrap_or_default(),
        evidence: serde_json::from_str(&row.evidence).unwrap_or_default(),
        corrects: row.corrects.map(|id| format!("{case}/diaryEntries/{id}")).unwrap_or_default(),
        author: row.author.clone(),
        create_time: Some(timestamp(row.create_time)),
    }
}

/// The parent case and request id of a request that adds to a case.
fn read_parent(v: &mut Violations, parent: &str, request_id: &str) -> Option<CaseId> {
    v.take(RequestId::parse_optional("request_id", request_id), None);
    v.check(case_id("parent", parent))
}

/// Case name `name`, read from request field `field`.
fn case_id(field: &str, name: &str) -> Result<CaseId, FieldViolation> {
    if name.is_empty() {
        return Err(FieldViolation::required(field));
    }
    CaseId::from_name(name).ok_or_else(|| {
        FieldViolation::new(field, "INVALID_NAME", format!("{field} must look like cases/{{uuid}}"))
    })
}

/// The parties of a case as `shown.viewer` may see them: each person once per role,
/// with those the viewer may not know withheld.
fn parties_to_proto(shown: &ShownCase, rows: &[&entities::parties::Model]) -> Vec<pb::Party> {
    let mut seen = std::collections::BTreeSet::new();
    let mut parties = Vec::new();
    for row in rows {
        let key = (row.role.clone(), row.customer.clone(), row.external_key.clone(), row.details.clone());
        if !seen.insert(key) {
            continue;
        }
        let role = codes::parse_party_role(&row.role).map_or(pb::PartyRole::Unspecified, party_role_to_proto);
        let own = row.customer_landlord.as_deref() == Some(shown.viewer.as_str());
        if shown.view != View::Full && !own {
            parties.push(pb::Party { role: role.into(), person: None, withheld: true });
            continue;
        }
        let details: serde_json::Value = serde_json::from_str(&row.details).unwrap_or_default();
        let detail =
            |key: &str| details.get(key).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
        let person = match (&row.customer, &row.external_key) {
            (Some(customer), _) => pb::party::Person::Customer(customer.clone()),
            (None, Some(_)) => pb::party::Person::External(pb::ExternalPerson {
                display_name: detail("display_name"),
                postcode: detail("postcode"),
                contact: detail("contact"),
            }),
            (None, None) => {
                pb::party::Person::Unknown(pb::UnknownPerson { description: detail("description") })
            }
        };
        parties.push(pb::Party { role: role.into(), person: Some(person), withheld: false });
    }
    parties
}

fn report_to_proto(shown: &ShownCase, report: &entities::reports::Model) -> pb::Report {
    let case = CaseId::from_uuid(report.case_id);
    let withheld = shown.view != View::Full && report.organisation != shown.viewer;
    let parties: Vec<&entities::parties::Model> =
        shown.record.parties.iter().filter(|party| party.report_id == report.id).collect();
    let categories: Vec<String> = serde_json::from_str(&report.categories).unwrap_or_default();
    pb::Report {
        name: format!("{}/reports/{}", case.name(), report.id),
        channel: codes::parse_channel(&report.channel)
            .map_or(pb::Channel::Unspecified, channel_to_proto)
            .into(),
        receive_time: Some(timestamp(report.receive_time)),
        incident_time: report.incident_time.map(timestamp),
        description: if withheld { String::new() } else { report.description.clone() },
        area: report.area.clone(),
        uprn: if withheld { String::new() } else { report.uprn.clone().unwrap_or_default() },
        location_description: if withheld {
            String::new()
        } else {
            report.location_description.clone().unwrap_or_default()
        },
        parties: parties_to_proto(shown, &parties),
        categories,
        hate_motivation: report
            .hate_motivation
            .as_deref()
            .and_then(|text| serde_json::from_str::<HateMotivation>(text).ok())
            .map_or(pb::HateMotivation::Unspecified, hate_motivation_to_proto)
            .into(),
        landlord_organisation: String::new(),
        withheld,
    }
}

fn hate_motivation_to_proto(motivation: HateMotivation) -> pb::HateMotivation {
    match motivation {
        HateMotivation::Disability => pb::HateMotivation::Disability,
        HateMotivation::Race => pb::HateMotivation::Race,
        HateMotivation::Religion => pb::HateMotivation::Religion,
        HateMotivation::SexualOrientation => pb::HateMotivation::SexualOrientation,
        HateMotivation::TransgenderIdentity => pb::HateMotivation::TransgenderIdentity,
    }
}

fn case_to_proto(shown: &ShownCase) -> pb::Case {
    let case = &shown.record.case;
    let state = match case.state.as_str() {
        "new" => pb::case::State::New,
        "open" => pb::case::State::Open,
        "closed" => pb::case::State::Closed,
        _ => pb::case::State::Unspecified,
    };
    let all: Vec<&entities::parties::Model> = shown.record.parties.iter().collect();
    pb::Case {
        name: CaseId::from_uuid(case.id).name(),
        reference: case.reference.clone(),
        state: state.into(),
        landlord_organisation: case.landlord_organisation.clone(),
        area: case.area.clone(),
        parties: parties_to_proto(shown, &all),
        categories: serde_json::from_str(&case.categories).unwrap_or_default(),
        reports: shown.record.reports.iter().map(|report| report_to_proto(shown, report)).collect(),
        repeat_of: case.repeat_of.map(|id| CaseId::from_uuid(id).name()).unwrap_or_default(),
        acknowledge_deadline: Some(timestamp(shown.acknowledge_deadline)),
        open_time: Some(timestamp(case.open_time)),
        update_time: Some(timestamp(case.update_time)),
        etag: Etag::from_version(case.version).to_string(),
        triage: triage_to_proto(case),
        interventions: shown.record.interventions.iter().map(intervention_to_proto).collect(),
        mediation: case
            .mediation
            .as_deref()
            .and_then(|text| serde_json::from_str::<Mediation>(text).ok())
            .map(|mediation| mediation_to_proto(&mediation)),
        signed_off: case.signed_off,
        sharing_decisions: shown.record.sharing.iter().map(sharing_to_proto).collect(),
        action_plan: case
            .action_plan
            .as_deref()
            .and_then(|text| serde_json::from_str::<ActionPlan>(text).ok())
            .map(|plan| action_plan_to_proto(&plan)),
        officer_minutes: shown.record.minutes,
        // Casework: only for those who see the whole case.
        review_actions: if shown.view == View::Full {
            shown.record.review_actions.iter().map(review_action_to_proto).collect()
        } else {
            Vec::new()
        },
        closure: case.close_time.map(|close_time| pb::Closure {
            reason: case.closure_reason.clone().unwrap_or_default(),
            outcome: case.closure_outcome.clone().unwrap_or_default(),
            close_time: Some(timestamp(close_time)),
            satisfaction: match case.satisfaction.as_deref() {
                Some("satisfied") => pb::closure::Satisfaction::Satisfied,
                Some("dissatisfied") => pb::closure::Satisfaction::Dissatisfied,
                Some("no_answer") => pb::closure::Satisfaction::NoAnswer,
                Some(_) | None => pb::closure::Satisfaction::Unspecified,
            }
            .into(),
        }),
        standards: Some(pb::StandardsProgress {
            acknowledgement: Some(standing_to_proto(shown.standings[0])),
            first_response: Some(standing_to_proto(shown.standings[1])),
            contact: Some(standing_to_proto(shown.standings[2])),
        }),
        contacts: shown
            .record
            .contacts
            .iter()
            .map(|row| pb::Contact {
                name: format!("{}/contacts/{}", CaseId::from_uuid(row.case_id).name(), row.id),
                party_role: codes::parse_party_role(&row.party_role)
                    .map_or(pb::PartyRole::Unspecified, party_role_to_proto)
                    .into(),
                channel: row.channel.clone(),
                contact_time: Some(timestamp(row.contact_time)),
                summary: if shown.view == View::Full {
                    row.summary.clone().unwrap_or_default()
                } else {
                    String::new()
                },
                author: row.author.clone(),
            })
            .collect(),
        assigned_officer: case.assigned_officer.clone().unwrap_or_default(),
        team: case.team.clone().unwrap_or_default(),
    }
}

fn review_action_to_proto(row: &entities::review_actions::Model) -> pb::ReviewAction {
    let case = CaseId::from_uuid(row.case_id).name();
    pb::ReviewAction {
        name: format!("{case}/reviewActions/{}", row.id),
        review: format!("{case}/reviews/{}", row.review_id),
        action: row.action.clone(),
        owner: row.owner.clone(),
        due_date: Some(date_to_proto(row.due_date)),
    }
}

fn intervention_to_proto(row: &entities::interventions::Model) -> pb::Intervention {
    pb::Intervention {
        name: format!("{}/interventions/{}", CaseId::from_uuid(row.case_id).name(), row.id),
        r#type: row.intervention_type.clone(),
        start_date: Some(date_to_proto(row.start_date)),
        notes: row.notes.clone().unwrap_or_default(),
        outcome: row.outcome.clone().unwrap_or_default(),
        outcome_date: row.outcome_date.map(date_to_proto),
        court_outcome: row.court_outcome.clone().unwrap_or_default(),
        referral: row.kind == codes::intervention_kind(InterventionKind::Referral),
    }
}

fn mediation_to_proto(mediation: &Mediation) -> pb::MediationDecision {
    use pb::mediation_referral::{Outcome, Referrer};
    let decision = match mediation {
        Mediation::Referred { by, stage, outcome } => {
            pb::mediation_decision::Decision::Referred(pb::MediationReferral {
                referred_by: match by {
                    MediationReferrer::Officer => Referrer::Officer,
                    MediationReferrer::Warden => Referrer::Warden,
                    MediationReferrer::Police => Referrer::Police,
                    MediationReferrer::Parties => Referrer::Parties,
                }
                .into(),
                stage: stage.clone(),
                outcome: match outcome {
                    None => Outcome::Unspecified,
                    Some(MediationOutcome::Inappropriate) => Outcome::Inappropriate,
                    Some(MediationOutcome::Unsuccessful) => Outcome::Unsuccessful,
                    Some(MediationOutcome::Successful) => Outcome::Successful,
                    Some(MediationOutcome::Ongoing) => Outcome::Ongoing,
                }
                .into(),
            })
        }
        Mediation::NotReferred { reason } => {
            pb::mediation_decision::Decision::NotReferredReason(reason.clone())
        }
    };
    pb::MediationDecision { decision: Some(decision) }
}

fn mediation_from_proto(decision: Option<pb::MediationDecision>) -> Result<Mediation, FieldViolation> {
    use pb::mediation_referral::{Outcome, Referrer};
    match decision.and_then(|decision| decision.decision) {
        None => Err(FieldViolation::required("decision")),
        Some(pb::mediation_decision::Decision::NotReferredReason(reason)) => Ok(Mediation::NotReferred {
            reason: text("decision.not_referred_reason", &reason, 1_000, true)?.unwrap_or_default(),
        }),
        Some(pb::mediation_decision::Decision::Referred(referral)) => {
            let by = match Referrer::try_from(referral.referred_by)
                .map_err(|_| unknown_enum("decision.referred.referred_by", referral.referred_by))?
            {
                Referrer::Unspecified => {
                    return Err(FieldViolation::required("decision.referred.referred_by"));
                }
                Referrer::Officer => MediationReferrer::Officer,
                Referrer::Warden => MediationReferrer::Warden,
                Referrer::Police => MediationReferrer::Police,
                Referrer::Parties => MediationReferrer::Parties,
            };
            let outcome = match Outcome::try_from(referral.outcome)
                .map_err(|_| unknown_enum("decision.referred.outcome", referral.outcome))?
            {
                Outcome::Unspecified => None,
                Outcome::Inappropriate => Some(MediationOutcome::Inappropriate),
                Outcome::Unsuccessful => Some(MediationOutcome::Unsuccessful),
                Outcome::Successful => Some(MediationOutcome::Successful),
                Outcome::Ongoing => Some(MediationOutcome::Ongoing),
            };
            let stage = text("decision.referred.stage", &referral.stage, 200, true)?.unwrap_or_default();
            Ok(Mediation::Referred { by, stage, outcome })
        }
    }
}

/// `cases/{case}/interventions/{intervention}`.
fn intervention_name(name: &str) -> Result<(CaseId, uuid::Uuid), FieldViolation> {
    let bad = || {
        FieldViolation::new(
            "name",
            "INVALID_NAME",
            "name must look like cases/{case}/interventions/{intervention}",
        )
    };
    let (case, intervention) = name.split_once("/interventions/").ok_or_else(bad)?;
    Ok((CaseId::from_name(case).ok_or_else(bad)?, uuid::Uuid::parse_str(intervention).map_err(|_| bad())?))
}

fn required_date(
    field: &str,
    date: Option<&contracts::google::r#type::Date>,
) -> Result<chrono::NaiveDate, FieldViolation> {
    date_from_proto(field, date)?.ok_or_else(|| FieldViolation::required(field))
}

fn action_plan_to_proto(plan: &ActionPlan) -> pb::ActionPlan {
    pb::ActionPlan {
        actions: plan.actions.clone(),
        review_date: plan.review_date.map(date_to_proto),
        agree_time: Some(timestamp(plan.agree_time)),
    }
}

fn sharing_to_proto(row: &entities::sharing_decisions::Model) -> pb::SharingDecision {
    pb::SharingDecision {
        name: format!("{}/sharingDecisions/{}", CaseId::from_uuid(row.case_id).name(), row.id),
        shared_with: row.shared_with.clone(),
        scope: serde_json::from_str(&row.scope).unwrap_or_default(),
        reason: row.reason.clone(),
        agreement: row.agreement.clone(),
        decided_by: row.decided_by.clone(),
        decide_time: Some(timestamp(row.decide_time)),
    }
}

/// What a sharing decision may open.
const SHARING_SCOPES: [&str; 3] = ["parties", "reports", "diary"];

fn queue_item_to_proto((item, case): &QueueEntry) -> pb::WorkQueueItem {
    use pb::work_queue_item::Task as T;
    pb::WorkQueueItem {
        case: item.case.name(),
        case_reference: case.reference.clone(),
        task: match item.task {
            Task::Acknowledge => T::Acknowledge,
            Task::FirstResponse => T::FirstResponse,
            Task::ContactComplainant => T::ContactComplainant,
            Task::CaseReview => T::CaseReview,
            Task::CommunityTrigger => T::CommunityTrigger,
        }
        .into(),
        deadline: Some(timestamp(item.deadline)),
        overdue: item.overdue,
        priority: case
            .priority
            .as_deref()
            .and_then(codes::parse_priority)
            .map_or(pb::Priority::Unspecified, priority_to_proto)
            .into(),
        assigned_officer: case.assigned_officer.clone().unwrap_or_default(),
        team: case.team.clone().unwrap_or_default(),
    }
}

/// The filters a queue request names: officer, team, and how far ahead it looks.
fn read_queue(
    officer: &str,
    team: &str,
    horizon_hours: i32,
) -> Result<(CaseFilter, chrono::Duration), Vec<FieldViolation>> {
    let mut v = Violations::default();
    let filter = CaseFilter {
        assigned_officer: v.take(line("officer", officer, 200, false), None),
        team: v.take(optional_code("team", team), None).map(|team| team.to_string()),
        ..CaseFilter::default()
    };
    let hours = match horizon_hours {
        0 => 48,
        hours @ 1..=2_160 => hours,
        other => {
            v.push(FieldViolation::new(
                "horizon_hours",
                "OUT_OF_RANGE",
                "horizon_hours is 1 to 2160 (90 days)",
            ));
            other
        }
    };
    v.into_result((filter, chrono::Duration::hours(i64::from(hours))))
}

fn activity_to_proto(
    row: &entities::diversionary_activities::Model,
    before: u64,
    after: u64,
) -> pb::DiversionaryActivity {
    pb::DiversionaryActivity {
        name: format!("diversionaryActivities/{}", row.id),
        display_name: row.display_name.clone(),
        area: row.area.clone(),
        start_date: Some(date_to_proto(row.start_date)),
        end_date: row.end_date.map(date_to_proto),
        budget: row.budget_pence,
        participants: row.participants,
        cases_before: i64::try_from(before).unwrap_or(i64::MAX),
        cases_after: i64::try_from(after).unwrap_or(i64::MAX),
    }
}

fn standing_to_proto(standing: Standing) -> pb::Standing {
    use pb::standing::State;
    let (state, deadline) = match standing {
        Standing::Met => (State::Met, None),
        Standing::Missed => (State::Missed, None),
        Standing::Due(deadline) => (State::Due, Some(deadline)),
        Standing::Overdue(deadline) => (State::Overdue, Some(deadline)),
        Standing::NotApplicable => (State::NotApplicable, None),
    };
    pb::Standing { state: state.into(), deadline: deadline.map(timestamp) }
}

fn priority_to_proto(priority: Priority) -> pb::Priority {
    match priority {
        Priority::Routine => pb::Priority::Routine,
        Priority::High => pb::Priority::High,
        Priority::Urgent => pb::Priority::Urgent,
    }
}

fn priority(value: i32) -> Result<Option<Priority>, FieldViolation> {
    Ok(match pb::Priority::try_from(value).map_err(|_| unknown_enum("priority", value))? {
        pb::Priority::Unspecified => None,
        pb::Priority::Routine => Some(Priority::Routine),
        pb::Priority::High => Some(Priority::High),
        pb::Priority::Urgent => Some(Priority::Urgent),
    })
}

fn triage_to_proto(case: &entities::cases::Model) -> Option<pb::Triage> {
    let time = case.triage_time?;
    let route = match case.route.as_deref().and_then(codes::parse_route) {
        Some(Route::Neighbourhood) => pb::Route::Neighbourhood,
        Some(Route::Enforcement) => pb::Route::Enforcement,
        None => pb::Route::Unspecified,
    };
    Some(pb::Triage {
        priority: case
            .priority
            .as_deref()
            .and_then(codes::parse_priority)
            .map_or(pb::Priority::Unspecified, priority_to_proto)
            .into(),
        route: route.into(),
        first_response_seconds: case.first_response_secs.unwrap_or_default(),
        risk: case.risk.clone().unwrap_or_default(),
        vulnerabilities: serde_json::from_str(&case.vulnerabilities).unwrap_or_default(),
        priority_reason: case.priority_reason.clone().unwrap_or_default(),
        triaged_by: case.triaged_by.clone().unwrap_or_default(),
        triage_time: Some(timestamp(time)),
    })
}

fn etag(text: &str) -> Result<Option<Etag>, FieldViolation> {
    Etag::parse_optional(text)
        .map_err(|_| FieldViolation::new("etag", "INVALID_ETAG", "etag is not an etag this service issued"))
}

/// A list of reference codes, each named by its index when bad.
fn codes_of(v: &mut Violations, field: &str, texts: &[String]) -> Vec<involve_core::Code> {
    texts
        .iter()
        .enumerate()
        .filter_map(|(index, text)| v.take(optional_code(&format!("{field}[{index}]"), text), None))
        .collect()
}

#[tonic::async_trait]
impl AsbCases for AsbApi {
    async fn report_incident(
        &self,
        request: Request<pb::ReportIncidentRequest>,
    ) -> Result<Response<pb::ReportIncidentResponse>, Status> {
        let ctx = context(&request)?;
        let identity = request_identity(request.get_ref(), &request.get_ref().request_id, |copy| {
            copy.request_id.clear()
        });
        let pb::ReportIncidentRequest { report, request_id } = request.into_inner();
        let Some(report) = report else { return Err(invalid(vec![FieldViolation::required("report")])) };
        let draft = read_report(report, &request_id, identity).map_err(invalid)?;
        let (filed, shown) = self.cases.report_incident(&ctx, draft).await.map_err(status)?;
        let report = shown
            .record
            .reports
            .iter()
            .find(|report| report.id == filed.report)
            .map(|report| report_to_proto(&shown, report));
        let response = pb::ReportIncidentResponse {
            report,
            case: Some(case_to_proto(&shown)),
            opened_case: filed.opened,
        };
        Ok(reply(response, &filed.case.name()))
    }

    async fn triage_case(
        &self,
        request: Request<pb::TriageCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let ctx = context(&request)?;
        let pb::TriageCaseRequest {
            name,
            categories,
            hate_motivation: raw_motivation,
            risk,
            vulnerabilities,
            priority: raw_priority,
            priority_reason,
            etag: raw_etag,
        } = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(case_id("name", &name));
        let categories = codes_of(&mut v, "categories", &categories);
        let hate_motivation = v.take(
            hate_motivation(raw_motivation)
                .map_err(|violation| FieldViolation { field: "hate_motivation".into(), ..violation }),
            None,
        );
        let risk = v.take(required_code("risk", &risk).map(Some), None);
        let vulnerabilities = codes_of(&mut v, "vulnerabilities", &vulnerabilities);
        let requested = v.take(priority(raw_priority), None);
        let reason = v.take(text("priority_reason", &priority_reason, 1_000, false), None);
        let etag = v.take(etag(&raw_etag), None);
        let (Some(id), Some(risk)) = v.into_result((id, risk)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("risk")]));
        };
        let triage = TriageRequest {
            categories,
            hate_motivation,
            risk,
            vulnerabilities,
            priority: requested,
            priority_reason: reason,
            etag,
        };
        let shown = self.cases.triage_case(&ctx, id, triage).await.map_err(status)?;
        Ok(reply(case_to_proto(&shown), &id.name()))
    }

    async fn assign_case(
        &self,
        request: Request<pb::AssignCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let ctx = context(&request)?;
        let pb::AssignCaseRequest { name, officer, team, etag: raw_etag } = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(case_id("name", &name));
        let officer = v.take(line("officer", &officer, 200, true), None);
        let team = v.take(required_code("team", &team).map(Some), None);
        let etag = v.take(etag(&raw_etag), None);
        let (Some(id), Some(officer), Some(team)) = v.into_result((id, officer, team)).map_err(invalid)?
        else {
            return Err(invalid(vec![FieldViolation::required("officer")]));
        };
        let shown = self.cases.assign_case(&ctx, id, officer, team, etag).await.map_err(status)?;
        Ok(reply(case_to_proto(&shown), &id.name()))
    }

    async fn record_contact(
        &self,
        request: Request<pb::RecordContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let ctx = context(&request)?;
        let identity = request_identity(request.get_ref(), &request.get_ref().request_id, |copy| {
            copy.request_id.clear()
        });
        let pb::RecordContactRequest { parent, contact, request_id } = request.into_inner();
        let Some(contact) = contact else { return Err(invalid(vec![FieldViolation::required("contact")])) };
        let mut v = Violations::default();
        let id = read_parent(&mut v, &parent, &request_id);
        let role = v.check(party_role("contact.party_role", contact.party_role));
        let channel = v.take(required_code("contact.channel", &contact.channel).map(Some), None);
        let time = match contact.contact_time {
            None => {
                v.push(FieldViolation::required("contact.contact_time"));
                None
            }
            Some(time) => {
                let parsed = chrono::DateTime::from_timestamp(
                    time.seconds,
                    u32::try_from(time.nanos).unwrap_or(u32::MAX),
                );
                if parsed.is_none() {
                    v.push(FieldViolation::new(
                        "contact.contact_time",
                        "INVALID_FORMAT",
                        "contact.contact_time is not a time",
                    ));
                }
                parsed
            }
        };
        let summary = v.take(text("contact.summary", &contact.summary, MAX_TEXT, false), None);
        let (Some(id), Some(party_role), Some(channel), Some(contact_time)) =
            v.into_result((id, role, channel, time)).map_err(invalid)?
        else {
            return Err(invalid(vec![FieldViolation::required("contact")]));
        };
        let new = NewContact { party_role, channel, contact_time, summary };
        let (contact_id, recorded) =
            self.cases.record_contact(&ctx, id, new, identity).await.map_err(status)?;
        let name = format!("{}/contacts/{contact_id}", id.name());
        let contact = pb::Contact {
            name: name.clone(),
            party_role: party_role_to_proto(recorded.party_role).into(),
            channel: recorded.channel.to_string(),
            contact_time: Some(timestamp(recorded.contact_time)),
            summary: recorded.summary.unwrap_or_default(),
            author: ctx.principal.subject.clone(),
        };
        Ok(reply(contact, &name))
    }

    async fn add_diary_entry(
        &self,
        request: Request<pb::AddDiaryEntryRequest>,
    ) -> Result<Response<pb::DiaryEntry>, Status> {
        let ctx = context(&request)?;
        let identity = request_identity(request.get_ref(), &request.get_ref().request_id, |copy| {
            copy.request_id.clear()
        });
        let pb::AddDiaryEntryRequest { parent, diary_entry, request_id } = request.into_inner();
        let Some(entry) = diary_entry else {
            return Err(invalid(vec![FieldViolation::required("diary_entry")]));
        };
        let mut v = Violations::default();
        let id = read_parent(&mut v, &parent, &request_id);
        let occur_time = v.check(required_time("diary_entry.occur_time", entry.occur_time));
        let body = v.take(text("diary_entry.text", &entry.text, MAX_TEXT, true), None);
        let reported_by = v.take(line("diary_entry.reported_by", &entry.reported_by, 200, false), None);
        if entry.evidence.len() > MAX_PARTIES {
            v.push(FieldViolation::new(
                "diary_entry.evidence",
                "TOO_MANY",
                format!("at most {MAX_PARTIES} evidence references"),
            ));
        }
        let evidence: Vec<String> = entry
            .evidence
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                v.take(line(&format!("diary_entry.evidence[{index}]"), item, 500, true), None)
            })
            .collect();
        let corrects = if entry.corrects.is_empty() {
            None
        } else {
            let parsed = entry
                .corrects
                .split_once("/diaryEntries/")
                .filter(|(case, _)| *case == parent)
                .and_then(|(_, entry)| uuid::Uuid::parse_str(entry).ok())
                .map(DiaryEntryId::from_uuid);
            if parsed.is_none() {
                v.push(FieldViolation::new(
                    "diary_entry.corrects",
                    "INVALID_NAME",
                    "diary_entry.corrects names an entry of this case: cases/{case}/diaryEntries/{entry}",
                ));
            }
            parsed
        };
        let (Some(id), Some(occur_time), Some(text)) =
            v.into_result((id, occur_time, body)).map_err(invalid)?
        else {
            return Err(invalid(vec![FieldViolation::required("diary_entry")]));
        };
        let new = NewDiaryEntry { occur_time, text, reported_by, evidence, corrects };
        let row = self.cases.add_diary_entry(&ctx, id, new, identity).await.map_err(status)?;
        let entry = diary_entry_to_proto(&row);
        let name = entry.name.clone();
        Ok(reply(entry, &name))
    }

    async fn list_diary_entries(
        &self,
        request: Request<pb::ListDiaryEntriesRequest>,
    ) -> Result<Response<pb::ListDiaryEntriesResponse>, Status> {
        let ctx = context(&request)?;
        let pb::ListDiaryEntriesRequest { parent, page_size, page_token } = request.into_inner();
        let id = case_id("parent", &parent).map_err(|v| invalid(vec![v]))?;
        let (rows, next_page_token) =
            self.cases.list_diary(&ctx, id, page_size, &page_token).await.map_err(status)?;
        let response = pb::ListDiaryEntriesResponse {
            diary_entries: rows.iter().map(diary_entry_to_proto).collect(),
            next_page_token,
        };
        Ok(reply(response, &format!("{}/diaryEntries", id.name())))
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        let ctx = context(&request)?;
        let pb::ListCasesRequest { page_size, page_token, state, area, assigned_officer, party } =
            request.into_inner();
        let mut v = Violations::default();
        let state = match pb::case::State::try_from(state) {
            Ok(pb::case::State::Unspecified) => None,
            Ok(pb::case::State::New) => Some("new".to_owned()),
            Ok(pb::case::State::Open) => Some("open".to_owned()),
            Ok(pb::case::State::Closed) => Some("closed".to_owned()),
            Err(_) => {
                v.push(unknown_enum("state", state));
                None
            }
        };
        let filter = CaseFilter {
            state,
            area: v.take(optional_code("area", &area), None),
            assigned_officer: v.take(line("assigned_officer", &assigned_officer, 200, false), None),
            party: if party.is_empty() {
                None
            } else if party.strip_prefix("customers/").and_then(|id| uuid::Uuid::parse_str(id).ok()).is_some()
            {
                Some(party)
            } else {
                v.push(FieldViolation::new("party", "INVALID_NAME", "party is a customer: customers/{uuid}"));
                None
            },
            ..CaseFilter::default()
        };
        let filter = v.into_result(filter).map_err(invalid)?;
        let (cases, next_page_token) =
            self.cases.list_cases(&ctx, filter, page_size, &page_token).await.map_err(status)?;
        let response =
            pb::ListCasesResponse { cases: cases.iter().map(case_to_proto).collect(), next_page_token };
        Ok(reply(response, "cases"))
    }

    async fn add_intervention(
        &self,
        request: Request<pb::AddInterventionRequest>,
    ) -> Result<Response<pb::Intervention>, Status> {
        let ctx = context(&request)?;
        let identity = request_identity(request.get_ref(), &request.get_ref().request_id, |copy| {
            copy.request_id.clear()
        });
        let pb::AddInterventionRequest { parent, intervention, request_id } = request.into_inner();
        let Some(intervention) = intervention else {
            return Err(invalid(vec![FieldViolation::required("intervention")]));
        };
        let mut v = Violations::default();
        let id = read_parent(&mut v, &parent, &request_id);
        let kind = v.take(required_code("intervention.type", &intervention.r#type).map(Some), None);
        let start = v.check(required_date("intervention.start_date", intervention.start_date.as_ref()));
        let notes = v.take(text("intervention.notes", &intervention.notes, MAX_TEXT, false), None);
        let (Some(id), Some(kind), Some(start)) = v.into_result((id, kind, start)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("intervention")]));
        };
        let row =
            self.cases.add_intervention(&ctx, id, kind, start, notes, identity).await.map_err(status)?;
        let recorded = intervention_to_proto(&row);
        let name = recorded.name.clone();
        Ok(reply(recorded, &name))
    }

    async fn record_intervention_outcome(
        &self,
        request: Request<pb::RecordInterventionOutcomeRequest>,
    ) -> Result<Response<pb::Intervention>, Status> {
        let ctx = context(&request)?;
        let pb::RecordInterventionOutcomeRequest { name, outcome, outcome_date, court_outcome } =
            request.into_inner();
        let mut v = Violations::default();
        let ids = v.check(intervention_name(&name));
        let outcome = v.take(required_code("outcome", &outcome).map(Some), None);
        let date = v.check(required_date("outcome_date", outcome_date.as_ref()));
        let court = v.take(text("court_outcome", &court_outcome, MAX_TEXT, false), None);
        let (Some((case, intervention)), Some(outcome), Some(date)) =
            v.into_result((ids, outcome, date)).map_err(invalid)?
        else {
            return Err(invalid(vec![FieldViolation::required("name")]));
        };
        let row = self
            .cases
            .record_intervention_outcome(&ctx, case, intervention, outcome, date, court)
            .await
            .map_err(status)?;
        Ok(reply(intervention_to_proto(&row), &name))
    }

    async fn record_mediation_decision(
        &self,
        request: Request<pb::RecordMediationDecisionRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let ctx = context(&request)?;
        let pb::RecordMediationDecisionRequest { name, decision, etag: raw_etag } = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(case_id("name", &name));
        let mediation = v.check(mediation_from_proto(decision));
        let etag = v.take(etag(&raw_etag), None);
        let (Some(id), Some(mediation)) = v.into_result((id, mediation)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("decision")]));
        };
        let shown = self.cases.record_mediation(&ctx, id, mediation, etag).await.map_err(status)?;
        Ok(reply(case_to_proto(&shown), &id.name()))
    }

    async fn record_case_review(
        &self,
        request: Request<pb::RecordCaseReviewRequest>,
    ) -> Result<Response<pb::CaseReview>, Status> {
        let ctx = context(&request)?;
        let pb::RecordCaseReviewRequest { parent, case_review } = request.into_inner();
        let Some(review) = case_review else {
            return Err(invalid(vec![FieldViolation::required("case_review")]));
        };
        let mut v = Violations::default();
        let id = v.check(case_id("parent", &parent));
        let closure = match pb::case_review::Kind::try_from(review.kind) {
            Ok(pb::case_review::Kind::Quality) => Some(false),
            Ok(pb::case_review::Kind::Closure) => Some(true),
            Ok(pb::case_review::Kind::Unspecified) => {
                v.push(FieldViolation::required("case_review.kind"));
                None
            }
            Err(_) => {
                v.push(unknown_enum("case_review.kind", review.kind));
                None
            }
        };
        let findings: Vec<Finding> = review
            .findings
            .iter()
            .enumerate()
            .filter_map(|(index, finding)| {
                let field = |name: &str| format!("case_review.findings[{index}].{name}");
                let item = v.take(line(&field("item"), &finding.item, 200, true), None);
                let action = v.take(text(&field("action"), &finding.action, 1_000, false), None);
                let owner = v.take(
                    involve_core::text::optional_text(&field("owner"), &finding.owner, 200, Lines::Single),
                    None,
                );
                let due = v.take(date_from_proto(&field("due_date"), finding.due_date.as_ref()), None);
                Some(Finding { item: item?, met: finding.met, action, owner, due })
            })
            .collect();
        let (Some(id), Some(closure)) = v.into_result((id, closure)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("case_review")]));
        };
        let (row, actions) =
            self.cases.record_review(&ctx, id, closure, findings, review.sign_off).await.map_err(status)?;
        let name = format!("{}/reviews/{}", id.name(), row.id);
        let recorded = pb::CaseReview {
            name: name.clone(),
            kind: review.kind,
            findings: review.findings,
            sign_off: row.sign_off,
            reviewer: row.reviewer,
            review_time: Some(timestamp(row.review_time)),
            actions: actions.iter().map(review_action_to_proto).collect(),
        };
        Ok(reply(recorded, &name))
    }

    async fn close_case(&self, request: Request<pb::CloseCaseRequest>) -> Result<Response<pb::Case>, Status> {
        let ctx = context(&request)?;
        let pb::CloseCaseRequest { name, reason, outcome, etag: raw_etag } = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(case_id("name", &name));
        let reason = v.take(text("reason", &reason, 1_000, true), None);
        let outcome = v.take(text("outcome", &outcome, MAX_TEXT, false), None);
        let etag = v.take(etag(&raw_etag), None);
        let (Some(id), Some(reason)) = v.into_result((id, reason)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("reason")]));
        };
        let shown = self.cases.close_case(&ctx, id, reason, outcome, etag).await.map_err(status)?;
        Ok(reply(case_to_proto(&shown), &id.name()))
    }

    async fn record_satisfaction(
        &self,
        request: Request<pb::RecordSatisfactionRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        let ctx = context(&request)?;
        let pb::RecordSatisfactionRequest { name, satisfaction } = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(case_id("name", &name));
        let answer = match pb::closure::Satisfaction::try_from(satisfaction) {
            Ok(pb::closure::Satisfaction::Satisfied) => Some("satisfied"),
            Ok(pb::closure::Satisfaction::Dissatisfied) => Some("dissatisfied"),
            Ok(pb::closure::Satisfaction::NoAnswer) => Some("no_answer"),
            Ok(pb::closure::Satisfaction::Unspecified) => {
                v.push(FieldViolation::required("satisfaction"));
                None
            }
            Err(_) => {
                v.push(unknown_enum("satisfaction", satisfaction));
                None
            }
        };
        let (Some(id), Some(answer)) = v.into_result((id, answer)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("satisfaction")]));
        };
        let shown = self.cases.record_satisfaction(&ctx, id, answer).await.map_err(status)?;
        Ok(reply(case_to_proto(&shown), &id.name()))
    }

    async fn list_work_queue(
        &self,
        request: Request<pb::ListWorkQueueRequest>,
    ) -> Result<Response<pb::ListWorkQueueResponse>, Status> {
        let ctx = context(&request)?;
        let pb::ListWorkQueueRequest { officer, team, horizon_hours, page_size, page_token } =
            request.into_inner();
        let (filter, horizon) = read_queue(&officer, &team, horizon_hours).map_err(invalid)?;
        let (items, next_page_token) = self
            .cases
            .list_work_queue(&ctx, filter, horizon, page_size, &page_token)
            .await
            .map_err(status)?;
        let items = items.iter().map(queue_item_to_proto).collect();
        Ok(reply(pb::ListWorkQueueResponse { items, next_page_token }, "workQueue"))
    }

    type WatchWorkQueueStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::WatchWorkQueueResponse, Status>> + Send + 'static>,
    >;

    async fn watch_work_queue(
        &self,
        request: Request<pb::WatchWorkQueueRequest>,
    ) -> Result<Response<Self::WatchWorkQueueStream>, Status> {
        use tokio_stream::StreamExt as _;
        let ctx = context(&request)?;
        let pb::WatchWorkQueueRequest { officer, team, horizon_hours } = request.into_inner();
        let (filter, horizon) = read_queue(&officer, &team, horizon_hours).map_err(invalid)?;
        let changes = self.cases.watch_queue(ctx, filter, horizon, WATCH_EVERY);
        let stream = tokio_stream::wrappers::ReceiverStream::new(changes).map(|change| {
            change.map_err(status).map(|change| pb::WatchWorkQueueResponse {
                added: change.added.iter().map(queue_item_to_proto).collect(),
                removed: change.removed.iter().map(queue_item_to_proto).collect(),
            })
        });
        Ok(reply(Box::pin(stream) as Self::WatchWorkQueueStream, "workQueue"))
    }

    async fn get_service_standards(
        &self,
        request: Request<pb::GetServiceStandardsRequest>,
    ) -> Result<Response<pb::ServiceStandards>, Status> {
        let ctx = context(&request)?;
        let pb::GetServiceStandardsRequest { start_date, end_date } = request.into_inner();
        let mut v = Violations::default();
        let start = v.check(required_date("start_date", start_date.as_ref()));
        let end = v.check(required_date("end_date", end_date.as_ref()));
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            v.push(FieldViolation::new("end_date", "OUT_OF_RANGE", "end_date is on or after start_date"));
        }
        let (Some(start), Some(end)) = v.into_result((start, end)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("start_date")]));
        };
        let from = start_of_day(start);
        let to = end.succ_opt().map_or(chrono::DateTime::<chrono::Utc>::MAX_UTC, start_of_day);
        let reports = self.cases.service_standards(&ctx, from, to).await.map_err(status)?;
        let figures = reports
            .into_iter()
            .map(|report| {
                use pb::standard_figure::Standard as S;
                pb::StandardFigure {
                    standard: match report.kind {
                        StandardKind::Acknowledgement => S::Acknowledgement,
                        StandardKind::FirstResponse => S::FirstResponse,
                        StandardKind::Contact => S::Contact,
                        StandardKind::Satisfaction => S::Satisfaction,
                    }
                    .into(),
                    dimension: report.dimension.to_owned(),
                    key: report.key,
                    met: i64::try_from(report.tally.met).unwrap_or(i64::MAX),
                    missed: i64::try_from(report.tally.missed).unwrap_or(i64::MAX),
                    pending: i64::try_from(report.tally.pending).unwrap_or(i64::MAX),
                    percent: report.tally.percent(),
                    target_percent: i32::try_from(report.tally.target_percent).unwrap_or(i32::MAX),
                    meets_target: report.tally.meets_target().unwrap_or(false),
                    missed_cases: report.tally.missed_by,
                    missed_cases_truncated: false,
                }
            })
            .collect();
        let mut response =
            pb::ServiceStandards { figures, compute_time: Some(timestamp(chrono::Utc::now())) };
        // An eighth spare for the framing and the reply's own headers.
        fit_missed_cases(&mut response, self.max_reply_bytes - self.max_reply_bytes / 8);
        Ok(reply(response, "serviceStandards"))
    }

    async fn record_sharing_decision(
        &self,
        request: Request<pb::RecordSharingDecisionRequest>,
    ) -> Result<Response<pb::SharingDecision>, Status> {
        let ctx = context(&request)?;
        let pb::RecordSharingDecisionRequest { parent, sharing_decision } = request.into_inner();
        let Some(decision) = sharing_decision else {
            return Err(invalid(vec![FieldViolation::required("sharing_decision")]));
        };
        let mut v = Violations::default();
        let id = v.check(case_id("parent", &parent));
        let shared_with =
            v.check(optional_organisation("sharing_decision.shared_with", &decision.shared_with).and_then(
                |name| name.ok_or_else(|| FieldViolation::required("sharing_decision.shared_with")),
            ));
        if decision.scope.is_empty() {
            v.push(FieldViolation::required("sharing_decision.scope"));
        }
        for (index, scope) in decision.scope.iter().enumerate() {
            if !SHARING_SCOPES.contains(&scope.as_str()) {
                v.push(FieldViolation::new(
                    format!("sharing_decision.scope[{index}]"),
                    "UNKNOWN_SCOPE",
                    format!("a scope is one of {}", SHARING_SCOPES.join(", ")),
                ));
            }
        }
        let reason = v.take(text("sharing_decision.reason", &decision.reason, 1_000, true), None);
        let agreement = v.take(line("sharing_decision.agreement", &decision.agreement, 200, true), None);
        let (Some(id), Some(shared_with), Some(reason), Some(agreement)) =
            v.into_result((id, shared_with, reason, agreement)).map_err(invalid)?
        else {
            return Err(invalid(vec![FieldViolation::required("sharing_decision")]));
        };
        let new = NewSharingDecision {
            shared_with: shared_with.as_str().to_owned(),
            scope: decision.scope,
            reason,
            agreement,
        };
        let row = self.cases.record_sharing(&ctx, id, new).await.map_err(status)?;
        let recorded = sharing_to_proto(&row);
        let name = recorded.name.clone();
        Ok(reply(recorded, &name))
    }

    async fn list_community_triggers(
        &self,
        request: Request<pb::ListCommunityTriggersRequest>,
    ) -> Result<Response<pb::ListCommunityTriggersResponse>, Status> {
        let ctx = context(&request)?;
        let raised = self.cases.list_triggers(&ctx).await.map_err(status)?;
        let triggers = raised
            .into_iter()
            .map(|raised| {
                let person = match &raised.complainant {
                    Person::Customer(name) => Some(pb::party::Person::Customer(name.clone())),
                    // The matching key, not the details: those stay on the case.
                    Person::External(_) => Some(pb::party::Person::External(pb::ExternalPerson::default())),
                    Person::Unknown => None,
                };
                pb::CommunityTrigger {
                    complainant: Some(pb::Party {
                        role: pb::PartyRole::Complainant.into(),
                        person,
                        withheld: false,
                    }),
                    cases: raised.cases.iter().map(|case| case.name()).collect(),
                    reports: i32::try_from(raised.trigger.reports).unwrap_or(i32::MAX),
                    first_report_time: Some(timestamp(raised.trigger.first)),
                    reach_time: Some(timestamp(raised.trigger.reached)),
                    owning_case: raised.owning_case.name(),
                }
            })
            .collect();
        Ok(reply(pb::ListCommunityTriggersResponse { triggers }, "communityTriggers"))
    }

    async fn agree_action_plan(
        &self,
        request: Request<pb::AgreeActionPlanRequest>,
    ) -> Result<Response<pb::ActionPlan>, Status> {
        let ctx = context(&request)?;
        let pb::AgreeActionPlanRequest { parent, action_plan } = request.into_inner();
        let Some(plan) = action_plan else {
            return Err(invalid(vec![FieldViolation::required("action_plan")]));
        };
        let mut v = Violations::default();
        let id = v.check(case_id("parent", &parent));
        if plan.actions.is_empty() {
            v.push(FieldViolation::required("action_plan.actions"));
        } else if plan.actions.len() > MAX_PARTIES {
            v.push(FieldViolation::new(
                "action_plan.actions",
                "TOO_MANY",
                format!("at most {MAX_PARTIES} actions"),
            ));
        }
        let actions: Vec<String> = plan
            .actions
            .iter()
            .enumerate()
            .filter_map(|(index, action)| {
                v.take(text(&format!("action_plan.actions[{index}]"), action, 1_000, true), None)
            })
            .collect();
        let review_date = v.take(date_from_proto("action_plan.review_date", plan.review_date.as_ref()), None);
        let Some(id) = v.into_result(id).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("parent")]));
        };
        let agreed = self.cases.agree_action_plan(&ctx, id, actions, review_date).await.map_err(status)?;
        Ok(reply(action_plan_to_proto(&agreed), &id.name()))
    }

    async fn log_officer_time(
        &self,
        request: Request<pb::LogOfficerTimeRequest>,
    ) -> Result<Response<pb::TimeEntry>, Status> {
        let ctx = context(&request)?;
        let identity = request_identity(request.get_ref(), &request.get_ref().request_id, |copy| {
            copy.request_id.clear()
        });
        let pb::LogOfficerTimeRequest { parent, time_entry, request_id } = request.into_inner();
        let Some(entry) = time_entry else {
            return Err(invalid(vec![FieldViolation::required("time_entry")]));
        };
        let mut v = Violations::default();
        let id = read_parent(&mut v, &parent, &request_id);
        let work_date = v.check(required_date("time_entry.work_date", entry.work_date.as_ref()));
        if !(1..=1_440).contains(&entry.minutes) {
            v.push(FieldViolation::new(
                "time_entry.minutes",
                "OUT_OF_RANGE",
                "time_entry.minutes is 1 to 1440",
            ));
        }
        let (Some(id), Some(work_date)) = v.into_result((id, work_date)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("time_entry")]));
        };
        let row = self.cases.log_time(&ctx, id, work_date, entry.minutes, identity).await.map_err(status)?;
        let name = format!("{}/timeEntries/{}", id.name(), row.id);
        let logged = pb::TimeEntry {
            name: name.clone(),
            work_date: Some(date_to_proto(row.work_date)),
            minutes: row.minutes,
            officer: row.officer,
        };
        Ok(reply(logged, &name))
    }

    async fn list_bank_holidays(
        &self,
        request: Request<pb::ListBankHolidaysRequest>,
    ) -> Result<Response<pb::ListBankHolidaysResponse>, Status> {
        context(&request)?;
        let holidays = self.cases.bank_holidays().await.map_err(status)?;
        let bank_holidays = holidays
            .into_iter()
            .map(|(date, display_name)| pb::BankHoliday { date: Some(date_to_proto(date)), display_name })
            .collect();
        Ok(Response::new(pb::ListBankHolidaysResponse { bank_holidays }))
    }

    async fn create_bank_holiday(
        &self,
        request: Request<pb::CreateBankHolidayRequest>,
    ) -> Result<Response<pb::BankHoliday>, Status> {
        let ctx = context(&request)?;
        let pb::CreateBankHolidayRequest { bank_holiday } = request.into_inner();
        let Some(holiday) = bank_holiday else {
            return Err(invalid(vec![FieldViolation::required("bank_holiday")]));
        };
        let mut v = Violations::default();
        let date = v.check(required_date("bank_holiday.date", holiday.date.as_ref()));
        let name = v.take(line("bank_holiday.display_name", &holiday.display_name, 200, true), None);
        let (Some(date), Some(name)) = v.into_result((date, name)).map_err(invalid)? else {
            return Err(invalid(vec![FieldViolation::required("bank_holiday")]));
        };
        let (date, display_name) = self.cases.add_bank_holiday(&ctx, date, name).await.map_err(status)?;
        let name = format!("bankHolidays/{date}");
        Ok(reply(pb::BankHoliday { date: Some(date_to_proto(date)), display_name }, &name))
    }

    async fn create_diversionary_activity(
        &self,
        request: Request<pb::CreateDiversionaryActivityRequest>,
    ) -> Result<Response<pb::DiversionaryActivity>, Status> {
        let ctx = context(&request)?;
        let pb::CreateDiversionaryActivityRequest { diversionary_activity } = request.into_inner();
        let Some(activity) = diversionary_activity else {
            return Err(invalid(vec![FieldViolation::required("diversionary_activity")]));
        };
        let mut v = Violations::default();
        let name =
            v.take(line("diversionary_activity.display_name", &activity.display_name, 200, true), None);
        let area = v.take(required_code("diversionary_activity.area", &activity.area).map(Some), None);
        let start = v.check(required_date("diversionary_activity.start_date", activity.start_date.as_ref()));
        let end = v.take(date_from_proto("diversionary_activity.end_date", activity.end_date.as_ref()), None);
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            v.push(FieldViolation::new(
                "diversionary_activity.end_date",
                "OUT_OF_RANGE",
                "diversionary_activity.end_date is on or after its start_date",
            ));
        }
        if activity.budget < 0 {
            v.push(FieldViolation::new(
                "diversionary_activity.budget",
                "OUT_OF_RANGE",
                "a budget is not negative",
            ));
        }
        if activity.participants < 0 {
            v.push(FieldViolation::new(
                "diversionary_activity.participants",
                "OUT_OF_RANGE",
                "participants are not negative",
            ));
        }
        let (Some(display_name), Some(area), Some(start_date)) =
            v.into_result((name, area, start)).map_err(invalid)?
        else {
            return Err(invalid(vec![FieldViolation::required("diversionary_activity")]));
        };
        let row = entities::diversionary_activities::Model {
            id: uuid::Uuid::now_v7(),
            display_name,
            area: area.to_string(),
            start_date,
            end_date: end,
            budget_pence: activity.budget,
            participants: activity.participants,
            organisation: String::new(),
            create_time: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        };
        let (row, before, after) = self.cases.create_activity(&ctx, row).await.map_err(status)?;
        let created = activity_to_proto(&row, before, after);
        let name = created.name.clone();
        Ok(reply(created, &name))
    }

    async fn list_diversionary_activities(
        &self,
        request: Request<pb::ListDiversionaryActivitiesRequest>,
    ) -> Result<Response<pb::ListDiversionaryActivitiesResponse>, Status> {
        let ctx = context(&request)?;
        let listed = self.cases.list_activities(&ctx).await.map_err(status)?;
        let diversionary_activities =
            listed.iter().map(|(row, before, after)| activity_to_proto(row, *before, *after)).collect();
        Ok(Response::new(pb::ListDiversionaryActivitiesResponse { diversionary_activities }))
    }

    async fn get_asb_analysis(
        &self,
        request: Request<pb::GetAsbAnalysisRequest>,
    ) -> Result<Response<pb::AsbAnalysis>, Status> {
        let ctx = context(&request)?;
        let asked = analysis::read_request(request.into_inner()).map_err(invalid)?;
        let analysed = self.cases.analysis(&ctx, asked).await.map_err(status)?;
        Ok(reply(analysis::analysis_to_proto(analysed), "asbAnalysis"))
    }

    async fn set_landlord_homes(
        &self,
        request: Request<pb::SetLandlordHomesRequest>,
    ) -> Result<Response<pb::LandlordHomes>, Status> {
        let ctx = context(&request)?;
        let (landlord, year, homes) = analysis::read_homes(request.into_inner()).map_err(invalid)?;
        let resource = format!("landlordHomes/{landlord}/{year}");
        let row = self.cases.set_landlord_homes(&ctx, landlord, year, homes).await.map_err(status)?;
        Ok(reply(analysis::homes_to_proto(row), &resource))
    }

    async fn list_landlord_homes(
        &self,
        request: Request<pb::ListLandlordHomesRequest>,
    ) -> Result<Response<pb::ListLandlordHomesResponse>, Status> {
        let ctx = context(&request)?;
        let landlord =
            optional_organisation("landlord_organisation", &request.get_ref().landlord_organisation)
                .map_err(|violation| invalid(vec![violation]))?;
        let rows = self.cases.list_landlord_homes(&ctx, landlord).await.map_err(status)?;
        let landlord_homes = rows.into_iter().map(analysis::homes_to_proto).collect();
        Ok(Response::new(pb::ListLandlordHomesResponse { landlord_homes }))
    }

    async fn get_case(&self, request: Request<pb::GetCaseRequest>) -> Result<Response<pb::Case>, Status> {
        let ctx = context(&request)?;
        let id = case_id("name", &request.get_ref().name).map_err(|v| invalid(vec![v]))?;
        let shown = self.cases.get_case(&ctx, id).await.map_err(status)?;
        Ok(reply(case_to_proto(&shown), &id.name()))
    }

    async fn list_categories(
        &self,
        request: Request<pb::ListCategoriesRequest>,
    ) -> Result<Response<pb::ListCategoriesResponse>, Status> {
        reference::list_categories(&self.cases, request).await
    }

    async fn create_category(
        &self,
        request: Request<pb::CreateCategoryRequest>,
    ) -> Result<Response<pb::Category>, Status> {
        reference::create_category(&self.cases, request).await
    }

    async fn update_category(
        &self,
        request: Request<pb::UpdateCategoryRequest>,
    ) -> Result<Response<pb::Category>, Status> {
        reference::update_category(&self.cases, request).await
    }

    async fn list_intervention_types(
        &self,
        request: Request<pb::ListInterventionTypesRequest>,
    ) -> Result<Response<pb::ListInterventionTypesResponse>, Status> {
        reference::list_intervention_types(&self.cases, request).await
    }

    async fn create_intervention_type(
        &self,
        request: Request<pb::CreateInterventionTypeRequest>,
    ) -> Result<Response<pb::InterventionType>, Status> {
        reference::create_intervention_type(&self.cases, request).await
    }

    async fn update_intervention_type(
        &self,
        request: Request<pb::UpdateInterventionTypeRequest>,
    ) -> Result<Response<pb::InterventionType>, Status> {
        reference::update_intervention_type(&self.cases, request).await
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    fn figure(key: &str, missed: usize) -> pb::StandardFigure {
        pb::StandardFigure {
            dimension: "officer".into(),
            key: key.into(),
            missed: i64::try_from(missed).unwrap(),
            missed_cases: (0..missed).map(|n| format!("cases/01a24974-3ec5-74f0-9f44-{n:012}")).collect(),
            ..pb::StandardFigure::default()
        }
    }

    #[test]
    fn a_standards_reply_over_the_limit_names_fewer_cases_from_its_longest_lists() {
        let mut standards = pb::ServiceStandards {
            figures: vec![figure("a", 5), figure("b", 400), figure("c", 1_000)],
            compute_time: None,
        };
        let whole = standards.clone();
        fit_missed_cases(&mut standards, 1_000_000);
        assert_eq!(standards, whole, "within the limit: untouched");

        fit_missed_cases(&mut standards, 20_000);
        assert!(standards.encoded_len() <= 20_000, "{}", standards.encoded_len());
        let [short, middle, long] = &standards.figures[..] else { panic!() };
        assert_eq!(
            (short.missed_cases.len(), short.missed_cases_truncated),
            (5, false),
            "short lists kept whole"
        );
        assert!(middle.missed_cases_truncated && long.missed_cases_truncated);
        assert_eq!(middle.missed_cases.len(), long.missed_cases.len(), "the longest shortened alike");
        assert!(middle.missed_cases.len() > 100, "{}", middle.missed_cases.len());
        assert_eq!(
            long.missed_cases[..],
            whole.figures[2].missed_cases[..long.missed_cases.len()],
            "the newest kept"
        );
        assert_eq!((middle.missed, long.missed), (400, 1_000), "counts untouched");
    }
}
