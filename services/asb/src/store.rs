//! The only door to the ASB tables. Every write runs in one transaction with its
//! audit row and its idempotency key, so a failed request leaves nothing behind.

mod analysis;
pub mod codes;
pub mod entities;
mod migrations;
mod quality;
mod reference;
mod standing_reads;

pub use self::quality::NewReviewAction;
pub use self::reference::Created;
use self::reference::REFERENCE_FRESH_FOR;

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike as _, Utc};
use involve_core::Code;
use persistence::idempotency::{self, IdempotencyKey, RequestIdentity};
use persistence::{
    Actor, AuditEntry, AuditWriter, Etag, SqliteReads, StoreError, UniqueKey, audit, begin_write,
};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{
    ColumnTrait as _, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _, QueryTrait as _, Set,
};
use sea_orm_migration::MigratorTrait as _;
use uuid::Uuid;

pub use self::analysis::{AnalysisFigures, AnalysisScope, EqualitySets, LandlordYearRow};
use self::entities::{
    bank_holidays, cases, categories, community_trigger_rule, community_triggers, contacts, diary_entries,
    diversionary_activities, intervention_types, interventions, parties, reports, review_actions, reviews,
    sharing_decisions, time_entries,
};
pub use self::migrations::Migrator;
pub use self::standing_reads::{QueueCase, StandardCase, StandardRow};
use crate::domain::calendar::WorkingCalendar;
use crate::domain::case::{CaseId, CaseSummary, Channel, Filing, Party, PartyRole, Person, Sides, file};
use crate::domain::case::{ClosureNeed, ClosureState, closure_needs};
use crate::domain::casework::{
    CorrectionError, DiaryEntryId, EntryRef, InterventionKind, InterventionType, Mediation, check_correction,
};
use crate::domain::review::Finding;
use crate::domain::triage::{CategoryRule, HateMotivation, Priority, Route, TriageRules};
use crate::domain::trigger::{RaisedTrigger, Trigger, TriggerRule};

/// Case references are unique: two cases opened at once may draw the same next
/// number, and the later one draws again.
const CASE_REFERENCE: UniqueKey =
    UniqueKey { name: "cases_reference_key", table: "cases", columns: &["reference"] };

/// A party to a report, as the service checked it.
#[derive(Clone, Debug)]
pub struct NewParty {
    pub party: Party,
    /// For a customer: their landlord, read through the profiles contract.
    pub customer_landlord: Option<String>,
    /// What was recorded of them (name, contact, postcode, description), as JSON.
    pub details: serde_json::Value,
}

/// A report, validated.
#[derive(Clone, Debug)]
pub struct NewReport {
    /// The landlord it is made to (`organisations/{id}`): the owner of a case it opens.
    pub landlord: String,
    pub channel: Channel,
    pub receive_time: DateTime<Utc>,
    pub incident_time: Option<DateTime<Utc>>,
    pub description: String,
    pub area: Code,
    pub uprn: Option<String>,
    pub location_description: Option<String>,
    pub categories: Vec<Code>,
    pub hate_motivation: Option<HateMotivation>,
    pub parties: Vec<NewParty>,
}

/// Where a report went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filed {
    pub case: CaseId,
    pub report: Uuid,
    pub opened: bool,
    pub repeat_of: Option<CaseId>,
}

impl Filed {
    fn resource(&self) -> String {
        format!("{}/reports/{}", self.case.name(), self.report)
    }

    fn parse(resource: &str) -> Option<Self> {
        let (case, report) = resource.split_once("/reports/")?;
        Some(Self {
            case: CaseId::from_name(case)?,
            report: Uuid::parse_str(report).ok()?,
            opened: false,
            repeat_of: None,
        })
    }
}

#[derive(Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// Group commit for the audit rows of case reads.
    read_audit: AuditWriter,
    /// The queue's reads on a SQLite file; `None` on PostgreSQL and in memory.
    sqlite_reads: Option<SqliteReads>,
    /// The triage rules and the working calendar, read once for many calls.
    reference: persistence::Snapshot<ReferenceData>,
}

/// A case with its reports and parties, as one read gives them.
#[derive(Clone, Debug)]
pub struct CaseRecord {
    pub case: cases::Model,
    pub reports: Vec<reports::Model>,
    pub parties: Vec<parties::Model>,
    /// Oldest first.
    pub contacts: Vec<contacts::Model>,
    /// In the order recorded.
    pub interventions: Vec<interventions::Model>,
    /// Who the case was opened to, under which agreement.
    pub sharing: Vec<sharing_decisions::Model>,
    /// Officer time logged on it.
    pub minutes: i64,
    /// What managers' reviews found to put right, oldest first.
    pub review_actions: Vec<review_actions::Model>,
}

/// Which cases a list may hold, from the caller's reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListReach {
    /// Every landlord's cases, in these areas (all of them for `None`).
    Areas(Option<Vec<String>>),
    /// A landlord's own cases and those its customers are parties to.
    Landlord { organisation: String, areas: Option<Vec<String>> },
    /// A landlord's own cases only (its performance).
    Owner { organisation: String, areas: Option<Vec<String>> },
    /// The cases a recorded decision opened to this organisation (an external partner).
    SharedWith(String),
}

/// The filters of `ListCases`, validated. Page tokens bind all of it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CaseFilter {
    /// `new`, `open` or `closed`.
    pub state: Option<String>,
    pub area: Option<Code>,
    pub assigned_officer: Option<String>,
    /// `customers/{id}`.
    pub party: Option<String>,
    pub team: Option<String>,
    /// Only cases not closed.
    pub open_only: bool,
    /// Only cases whose first report was received in `[from, to)`.
    pub received: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The action plan agreed with the complainant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ActionPlan {
    pub actions: Vec<String>,
    pub review_date: Option<chrono::NaiveDate>,
    pub agree_time: DateTime<Utc>,
}

/// A decision to share a case, validated.
#[derive(Clone, Debug)]
pub struct NewSharingDecision {
    pub shared_with: String,
    pub scope: Vec<String>,
    pub reason: String,
    pub agreement: String,
}

/// A diary entry, validated.
#[derive(Clone, Debug)]
pub struct NewDiaryEntry {
    pub occur_time: DateTime<Utc>,
    pub text: String,
    pub reported_by: Option<String>,
    pub evidence: Vec<String>,
    pub corrects: Option<DiaryEntryId>,
}

/// A contact with a party, validated.
#[derive(Clone, Debug)]
pub struct NewContact {
    pub party_role: PartyRole,
    pub channel: Code,
    pub contact_time: DateTime<Utc>,
    pub summary: Option<String>,
}

/// The reference data triage and the standards read.
#[derive(Clone, Debug)]
pub struct ReferenceData {
    pub triage: TriageRules,
    pub calendar: WorkingCalendar,
}

fn json(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::corrupt)
}

/// Whether a party's reports count towards the community trigger.
fn qualifies(role: PartyRole) -> bool {
    matches!(role, PartyRole::Complainant | PartyRole::Victim)
}

/// [`qualifies`] as stored.
fn qualifying_roles() -> [&'static str; 2] {
    [codes::party_role(PartyRole::Complainant), codes::party_role(PartyRole::Victim)]
}

/// What a `community_trigger_rule` read is for: PostgreSQL locks the row so a
/// report's update and a recount never interleave (SQLite's write lock already
/// serialises them).
enum LockFor {
    Update,
    Recount,
}

/// The rule the kept triggers were counted by; `None` before the first count.
async fn counted_rule(txn: &impl ConnectionTrait, lock: LockFor) -> Result<Option<TriggerRule>, StoreError> {
    let query = community_trigger_rule::Entity::find_by_id(1);
    let query = match lock {
        LockFor::Update => query.lock_shared(),
        LockFor::Recount => query.lock_exclusive(),
    };
    let row = query.one(txn).await?.ok_or_else(|| StoreError::corrupt("no community_trigger_rule row"))?;
    if row.reports == 0 {
        return Ok(None);
    }
    let (Ok(reports), Ok(months)) = (u32::try_from(row.reports), u32::try_from(row.months)) else {
        return Err(StoreError::corrupt(format!("community trigger rule {}/{}", row.reports, row.months)));
    };
    Ok(Some(TriggerRule { reports, months }))
}

/// Replaces every kept trigger with those of every qualifying report under `rule`.
async fn count_triggers(txn: &impl ConnectionTrait, rule: TriggerRule) -> Result<(), StoreError> {
    let rule = rule.effective();
    community_triggers::Entity::delete_many().exec(txn).await?;
    let identified = Condition::any()
        .add(parties::Column::Customer.is_not_null())
        .add(parties::Column::ExternalKey.is_not_null());
    let raised = rule.raised_among(qualifying_reports(txn, identified).await?);
    let rows = raised.iter().map(trigger_row).collect::<Result<Vec<_>, _>>()?;
    persistence::bulk::insert_all(txn, rows).await?;
    let (reports, months) = (i32::try_from(rule.reports), i32::try_from(rule.months));
    let (Ok(reports), Ok(months)) = (reports, months) else {
        return Err(StoreError::corrupt(format!("community trigger rule {}/{}", rule.reports, rule.months)));
    };
    community_trigger_rule::Entity::update(community_trigger_rule::ActiveModel {
        id: Set(1),
        reports: Set(reports),
        months: Set(months),
    })
    .exec(txn)
    .await?;
    Ok(())
}

/// Counts again the qualifying reports of the people a report just named, under
/// the rule the kept triggers were counted by, and keeps what they reach. A
/// person's triggers only grow with reports, so nothing is removed here.
async fn update_triggers(txn: &impl ConnectionTrait, people: BTreeSet<&Person>) -> Result<(), StoreError> {
    let (mut customers, mut externals) = (Vec::new(), Vec::new());
    for person in people {
        match person {
            Person::Customer(name) => customers.push(name.clone()),
            Person::External(key) => externals.push(key.clone()),
            Person::Unknown => {}
        }
    }
    if customers.is_empty() && externals.is_empty() {
        return Ok(());
    }
    // Not counted yet: the first start counts every report, this one included.
    let Some(rule) = counted_rule(txn, LockFor::Update).await? else { return Ok(()) };
    // Customers and people outside the customer base apart: an `OR` of the two
    // makes PostgreSQL scan every party. A party is one or the other, never both.
    let mut reports = Vec::new();
    if !customers.is_empty() {
        reports.extend(qualifying_reports(txn, parties::Column::Customer.is_in(customers).into()).await?);
    }
    if !externals.is_empty() {
        reports.extend(qualifying_reports(txn, parties::Column::ExternalKey.is_in(externals).into()).await?);
    }
    for raised in rule.raised_among(reports) {
        let row = trigger_row(&raised)?;
        community_triggers::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    community_triggers::Column::PersonKind,
                    community_triggers::Column::Person,
                ])
                .update_columns([
                    community_triggers::Column::OwningCase,
                    community_triggers::Column::FirstTime,
                    community_triggers::Column::ReachedTime,
                    community_triggers::Column::Reports,
                    community_triggers::Column::Cases,
                ])
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Every qualifying report (as complainant or victim) of the people `people` selects:
/// who, which case, when received.
async fn qualifying_reports(
    conn: &impl ConnectionTrait,
    people: Condition,
) -> Result<Vec<(Person, CaseId, DateTime<Utc>)>, StoreError> {
    let rows: Vec<ReportedBy> = parties::Entity::find()
        .select_only()
        .column(parties::Column::Customer)
        .column(parties::Column::ExternalKey)
        .column(parties::Column::CaseId)
        .column(reports::Column::ReceiveTime)
        .join(
            sea_orm::JoinType::InnerJoin,
            parties::Entity::belongs_to(reports::Entity)
                .from(parties::Column::ReportId)
                .to(reports::Column::Id)
                .into(),
        )
        .filter(parties::Column::Role.is_in(qualifying_roles()))
        .filter(people)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(customer, external, case, received)| {
            let person = match (customer, external) {
                (Some(customer), _) => Person::Customer(customer),
                (None, Some(key)) => Person::External(key),
                (None, None) => return None,
            };
            Some((person, CaseId::from_uuid(case), received))
        })
        .collect())
}

fn trigger_row(raised: &RaisedTrigger) -> Result<community_triggers::ActiveModel, StoreError> {
    let (kind, person) = match &raised.complainant {
        Person::Customer(name) => ("customer", name.clone()),
        Person::External(key) => ("external", key.clone()),
        Person::Unknown => return Err(StoreError::corrupt("a trigger raised by nobody")),
    };
    let cases: Vec<Uuid> = raised.cases.iter().map(|case| case.uuid()).collect();
    Ok(community_triggers::ActiveModel {
        person_kind: Set(kind.to_owned()),
        person: Set(person),
        owning_case: Set(raised.owning_case.uuid()),
        first_time: Set(raised.trigger.first),
        reached_time: Set(raised.trigger.reached),
        reports: Set(i32::try_from(raised.trigger.reports).unwrap_or(i32::MAX)),
        cases: Set(json(&cases)?),
    })
}

fn raised_from_row(row: community_triggers::Model) -> Result<RaisedTrigger, StoreError> {
    let corrupt = || StoreError::corrupt(format!("community trigger of {} {}", row.person_kind, row.person));
    let complainant = match row.person_kind.as_str() {
        "customer" => Person::Customer(row.person.clone()),
        "external" => Person::External(row.person.clone()),
        _ => return Err(corrupt()),
    };
    let cases: Vec<Uuid> = serde_json::from_str(&row.cases).map_err(|_| corrupt())?;
    Ok(RaisedTrigger {
        complainant,
        trigger: Trigger {
            first: row.first_time,
            reached: row.reached_time,
            reports: u32::try_from(row.reports).map_err(|_| corrupt())?,
        },
        owning_case: CaseId::from_uuid(row.owning_case),
        cases: cases.into_iter().map(CaseId::from_uuid).collect(),
    })
}

fn person_columns(person: &Person) -> (Option<String>, Option<String>) {
    match person {
        Person::Customer(name) => (Some(name.clone()), None),
        Person::External(key) => (None, Some(key.clone())),
        Person::Unknown => (None, None),
    }
}

fn party_from_row(row: &parties::Model) -> Result<Party, StoreError> {
    let role = codes::parse_party_role(&row.role)
        .ok_or_else(|| StoreError::corrupt(format!("party role {}", row.role)))?;
    let person = match (&row.customer, &row.external_key) {
        (Some(customer), _) => Person::Customer(customer.clone()),
        (None, Some(key)) => Person::External(key.clone()),
        (None, None) => Person::Unknown,
    };
    Ok(Party { role, person })
}

impl Store {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            read_audit: AuditWriter::new(db.clone()),
            sqlite_reads: SqliteReads::for_database(&db),
            reference: persistence::Snapshot::new(REFERENCE_FRESH_FOR),
            db,
        }
    }

    /// Every row `query` selects: on a SQLite file through its reader threads
    /// (one thread hand-off per read, where sqlx hands over every row), else
    /// through sea-orm.
    async fn select_all<E>(&self, query: sea_orm::Select<E>) -> Result<Vec<E::Model>, StoreError>
    where
        E: sea_orm::EntityTrait,
        E::ActiveModel: sea_orm::TryIntoModel<E::Model> + Send,
        E::Model: Send + Sync + 'static,
    {
        match &self.sqlite_reads {
            Some(reads) => reads.all(query).await,
            None => Ok(query.all(&self.db).await?),
        }
    }

    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.db, None).await
    }

    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Files a report: it joins the open case about the same people, or opens a
    /// case (linked to the last closed one about them). A retry with the same
    /// request id answers as the first did; a different request under it is refused.
    pub async fn file_report(
        &self,
        actor: &Actor,
        request: Option<&RequestIdentity>,
        report: &NewReport,
    ) -> Result<Filed, WriteError> {
        let key = IdempotencyKey::for_request(actor, request);
        if let Some(filed) = self.replay(key).await? {
            return Ok(filed);
        }
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.file_once(actor, key, report).await {
                Err(WriteError::Store(err)) if key.is_some() && idempotency::lost_to_a_twin(&err) => {
                    return self.replay(key).await?.ok_or(WriteError::Store(err));
                }
                // Another case took the same next reference: draw again.
                Err(WriteError::Store(err)) if err.violates(&CASE_REFERENCE) && attempts < 5 => {}
                other => return other,
            }
        }
    }

    async fn replay(&self, key: Option<IdempotencyKey<'_>>) -> Result<Option<Filed>, WriteError> {
        let Some(key) = key else { return Ok(None) };
        let Some(found) = idempotency::find(&self.db, key).await? else { return Ok(None) };
        let resource = found.map_err(WriteError::RequestIdReused)?;
        let filed = Filed::parse(&resource)
            .ok_or_else(|| StoreError::corrupt(format!("idempotent resource {resource}")))?;
        Ok(Some(filed))
    }

    async fn file_once(
        &self,
        actor: &Actor,
        key: Option<IdempotencyKey<'_>>,
        report: &NewReport,
    ) -> Result<Filed, WriteError> {
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        let sides = Sides::of(report.parties.iter().map(|party| &party.party));
        let candidates = candidate_cases(&txn, &sides).await?;
        let filed = match file(&sides, Some(&report.area), &candidates) {
            Filing::Join(case) => Filed { case, report: Uuid::now_v7(), opened: false, repeat_of: None },
            Filing::Open { repeat_of } => {
                Filed { case: CaseId::generate(), report: Uuid::now_v7(), opened: true, repeat_of }
            }
        };
        // The first write, so a concurrent twin queues on the key.
        if let Some(key) = key {
            idempotency::claim(&txn, key, &filed.resource()).await?;
        }
        let now = report.receive_time;
        if filed.opened {
            let reference = next_reference(&txn, now).await?;
            cases::Entity::insert(cases::ActiveModel {
                id: Set(filed.case.uuid()),
                reference: Set(reference),
                landlord_organisation: Set(report.landlord.clone()),
                area: Set(report.area.to_string()),
                state: Set("new".to_owned()),
                categories: Set(json(&report.categories)?),
                hate_motivation: Set(report.hate_motivation.map(|m| json(&m)).transpose()?),
                priority: Set(None),
                route: Set(None),
                first_response_secs: Set(None),
                risk: Set(None),
                vulnerabilities: Set("[]".to_owned()),
                priority_reason: Set(None),
                triaged_by: Set(None),
                triage_time: Set(None),
                assigned_officer: Set(None),
                team: Set(None),
                repeat_of: Set(filed.repeat_of.map(CaseId::uuid)),
                mediation: Set(None),
                action_plan: Set(None),
                closure_reason: Set(None),
                closure_outcome: Set(None),
                close_time: Set(None),
                satisfaction: Set(None),
                signed_off: Set(false),
                receive_time: Set(now),
                open_time: Set(now),
                acknowledge_time: Set(None),
                first_response_time: Set(None),
                update_time: Set(now),
                version: Set(1),
            })
            .exec_without_returning(&txn)
            .await
            .map_err(StoreError::from)?;
        } else {
            // A joining report is a change to its case: its etag moves on.
            cases::Entity::update_many()
                .col_expr(cases::Column::Version, Expr::col(cases::Column::Version).add(1))
                .col_expr(cases::Column::UpdateTime, Expr::value(now))
                .filter(cases::Column::Id.eq(filed.case.uuid()))
                .exec(&txn)
                .await
                .map_err(StoreError::from)?;
        }
        reports::Entity::insert(reports::ActiveModel {
            id: Set(filed.report),
            case_id: Set(filed.case.uuid()),
            channel: Set(codes::channel(report.channel).to_owned()),
            receive_time: Set(report.receive_time),
            incident_time: Set(report.incident_time),
            description: Set(report.description.clone()),
            area: Set(report.area.to_string()),
            uprn: Set(report.uprn.clone()),
            location_description: Set(report.location_description.clone()),
            categories: Set(json(&report.categories)?),
            hate_motivation: Set(report.hate_motivation.map(|m| json(&m)).transpose()?),
            organisation: Set(actor.organisation.clone()),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(StoreError::from)?;
        for party in &report.parties {
            let (customer, external_key) = person_columns(&party.party.person);
            parties::Entity::insert(parties::ActiveModel {
                id: Set(Uuid::now_v7()),
                case_id: Set(filed.case.uuid()),
                report_id: Set(filed.report),
                role: Set(codes::party_role(party.party.role).to_owned()),
                customer: Set(customer),
                customer_landlord: Set(party.customer_landlord.clone()),
                external_key: Set(external_key),
                details: Set(party.details.to_string()),
            })
            .exec_without_returning(&txn)
            .await
            .map_err(StoreError::from)?;
        }
        let complainants: BTreeSet<&Person> = report
            .parties
            .iter()
            .filter(|party| qualifies(party.party.role))
            .map(|party| &party.party.person)
            .collect();
        update_triggers(&txn, complainants).await?;
        audit::record(&txn, actor, [AuditEntry::new(filed.resource())]).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(filed)
    }

    /// The people of a case, each once per role.
    pub async fn case_parties(&self, case: CaseId) -> Result<BTreeSet<Party>, StoreError> {
        let rows =
            parties::Entity::find().filter(parties::Column::CaseId.eq(case.uuid())).all(&self.db).await?;
        rows.iter().map(party_from_row).collect()
    }

    /// The reports of a case, oldest first.
    pub async fn case_reports(&self, case: CaseId) -> Result<Vec<reports::Model>, StoreError> {
        Ok(reports::Entity::find()
            .filter(reports::Column::CaseId.eq(case.uuid()))
            .order_by_asc(reports::Column::ReceiveTime)
            .order_by_asc(reports::Column::Id)
            .all(&self.db)
            .await?)
    }

    pub async fn case(&self, case: CaseId) -> Result<Option<cases::Model>, StoreError> {
        Ok(cases::Entity::find_by_id(case.uuid()).one(&self.db).await?)
    }

    /// A case with its reports (oldest first), parties and contacts.
    pub async fn case_record(&self, case: CaseId) -> Result<Option<CaseRecord>, StoreError> {
        let Some(row) = self.case(case).await? else { return Ok(None) };
        Ok(self.records(vec![row]).await?.pop())
    }

    /// Cases with their reports, parties, contacts, interventions, sharing decisions,
    /// logged time and review actions: seven queries for any number of cases.
    async fn records(&self, rows: Vec<cases::Model>) -> Result<Vec<CaseRecord>, StoreError> {
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
        let mut reports: HashMap<Uuid, Vec<reports::Model>> = HashMap::new();
        for report in reports::Entity::find()
            .filter(reports::Column::CaseId.is_in(ids.clone()))
            .order_by_asc(reports::Column::ReceiveTime)
            .order_by_asc(reports::Column::Id)
            .all(&self.db)
            .await?
        {
            reports.entry(report.case_id).or_default().push(report);
        }
        let mut parties: HashMap<Uuid, Vec<parties::Model>> = HashMap::new();
        for party in parties::Entity::find()
            .filter(parties::Column::CaseId.is_in(ids.clone()))
            .order_by_asc(parties::Column::Id)
            .all(&self.db)
            .await?
        {
            parties.entry(party.case_id).or_default().push(party);
        }
        let mut contacts: HashMap<Uuid, Vec<contacts::Model>> = HashMap::new();
        for contact in contacts::Entity::find()
            .filter(contacts::Column::CaseId.is_in(ids))
            .order_by_asc(contacts::Column::ContactTime)
            .order_by_asc(contacts::Column::Id)
            .all(&self.db)
            .await?
        {
            contacts.entry(contact.case_id).or_default().push(contact);
        }
        let mut interventions: HashMap<Uuid, Vec<interventions::Model>> = HashMap::new();
        for intervention in interventions::Entity::find()
            .filter(interventions::Column::CaseId.is_in(rows.iter().map(|row| row.id)))
            .order_by_asc(interventions::Column::Id)
            .all(&self.db)
            .await?
        {
            interventions.entry(intervention.case_id).or_default().push(intervention);
        }
        let mut sharing: HashMap<Uuid, Vec<sharing_decisions::Model>> = HashMap::new();
        for decision in sharing_decisions::Entity::find()
            .filter(sharing_decisions::Column::CaseId.is_in(rows.iter().map(|row| row.id)))
            .order_by_asc(sharing_decisions::Column::Id)
            .all(&self.db)
            .await?
        {
            sharing.entry(decision.case_id).or_default().push(decision);
        }
        let mut minutes: HashMap<Uuid, i64> = HashMap::new();
        for entry in time_entries::Entity::find()
            .filter(time_entries::Column::CaseId.is_in(rows.iter().map(|row| row.id)))
            .all(&self.db)
            .await?
        {
            *minutes.entry(entry.case_id).or_default() += i64::from(entry.minutes);
        }
        let mut actions: HashMap<Uuid, Vec<review_actions::Model>> = HashMap::new();
        for action in review_actions::Entity::find()
            .filter(review_actions::Column::CaseId.is_in(rows.iter().map(|row| row.id)))
            .order_by_asc(review_actions::Column::Id)
            .all(&self.db)
            .await?
        {
            actions.entry(action.case_id).or_default().push(action);
        }
        Ok(rows
            .into_iter()
            .map(|case| CaseRecord {
                review_actions: actions.remove(&case.id).unwrap_or_default(),
                minutes: minutes.remove(&case.id).unwrap_or_default(),
                sharing: sharing.remove(&case.id).unwrap_or_default(),
                interventions: interventions.remove(&case.id).unwrap_or_default(),
                reports: reports.remove(&case.id).unwrap_or_default(),
                parties: parties.remove(&case.id).unwrap_or_default(),
                contacts: contacts.remove(&case.id).unwrap_or_default(),
                case,
            })
            .collect())
    }

    /// A page of the cases `reach` lets the caller see, newest first, before `before`.
    pub async fn list_cases(
        &self,
        reach: &ListReach,
        filter: &CaseFilter,
        before: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        let mut condition = case_condition(reach, filter);
        if let Some(before) = before {
            condition = condition.add(cases::Column::Id.lt(before));
        }
        let rows = cases::Entity::find()
            .filter(condition)
            .order_by_desc(cases::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        self.records(rows).await
    }

    /// Records reads of cases; returns once the rows are committed (many reads
    /// share one commit).
    pub async fn record_reads(&self, actor: &Actor, entries: Vec<AuditEntry>) -> Result<(), StoreError> {
        self.read_audit.record(actor, entries).await
    }

    /// Categories and bank holidays as operators keep them.
    /// The triage rules and the working calendar, read now.
    async fn read_reference_data(&self) -> Result<ReferenceData, StoreError> {
        let categories = categories::Entity::find()
            .filter(categories::Column::Retired.eq(false))
            .all(&self.db)
            .await?
            .into_iter()
            .map(category_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let holidays = bank_holidays::Entity::find().all(&self.db).await?;
        Ok(ReferenceData {
            triage: TriageRules::new(categories),
            calendar: WorkingCalendar::new(holidays.into_iter().map(|row| row.holiday_date)),
        })
    }
}

fn category_from_row(row: categories::Model) -> Result<CategoryRule, StoreError> {
    let corrupt = || StoreError::corrupt(format!("category {}", row.code));
    Ok(CategoryRule {
        code: Code::trusted(&row.code),
        display_name: row.display_name.clone(),
        priority: codes::parse_priority(&row.priority).ok_or_else(corrupt)?,
        route: codes::parse_route(&row.route).ok_or_else(corrupt)?,
        first_response: row.first_response_secs.map(chrono::Duration::seconds),
        needs_motivation: row.needs_motivation,
    })
}

/// A case's triage, decided.
#[derive(Clone, Debug)]
pub struct TriageDecision {
    pub categories: Vec<Code>,
    pub hate_motivation: Option<HateMotivation>,
    pub priority: Priority,
    pub route: Route,
    pub first_response: Option<chrono::Duration>,
    pub risk: Code,
    pub vulnerabilities: Vec<Code>,
    /// Kept whenever the priority was set below what the categories give.
    pub priority_reason: Option<String>,
    pub triaged_by: String,
    pub time: DateTime<Utc>,
}

/// A manager's review, checked.
#[derive(Clone, Copy, Debug)]
pub struct NewReview<'a> {
    /// `quality` or `closure`.
    pub kind: &'a str,
    pub findings: &'a [Finding],
    /// A closure review that signs closure off.
    pub sign_off: bool,
    /// What its findings not met put on the case.
    pub actions: &'a [NewReviewAction],
    pub time: DateTime<Utc>,
}

/// A case's new owner.
#[derive(Clone, Debug)]
pub struct Assignment {
    pub officer: String,
    pub team: String,
    pub time: DateTime<Utc>,
}

impl Store {
    /// Records a case's triage and opens it; compare-and-set on `expected` when
    /// the caller sent an etag.
    pub async fn triage_case(
        &self,
        actor: &Actor,
        case: CaseId,
        expected: Option<Etag>,
        triage: &TriageDecision,
    ) -> Result<(), StoreError> {
        let row = cases::ActiveModel {
            state: Set("open".to_owned()),
            categories: Set(json(&triage.categories)?),
            hate_motivation: Set(triage.hate_motivation.map(|m| json(&m)).transpose()?),
            priority: Set(Some(codes::priority(triage.priority).to_owned())),
            route: Set(Some(codes::route(triage.route).to_owned())),
            first_response_secs: Set(triage.first_response.map(|within| within.num_seconds())),
            risk: Set(Some(triage.risk.to_string())),
            vulnerabilities: Set(json(&triage.vulnerabilities)?),
            priority_reason: Set(triage.priority_reason.clone()),
            triaged_by: Set(Some(triage.triaged_by.clone())),
            triage_time: Set(Some(triage.time)),
            update_time: Set(triage.time),
            ..Default::default()
        };
        self.save_case(actor, case, expected, row).await
    }

    /// Gives a case to an officer and team.
    pub async fn assign_case(
        &self,
        actor: &Actor,
        case: CaseId,
        expected: Option<Etag>,
        assignment: &Assignment,
    ) -> Result<(), StoreError> {
        let row = cases::ActiveModel {
            assigned_officer: Set(Some(assignment.officer.clone())),
            team: Set(Some(assignment.team.clone())),
            update_time: Set(assignment.time),
            ..Default::default()
        };
        self.save_case(actor, case, expected, row).await
    }

    /// Records a contact. The first with the complainant or a victim acknowledges
    /// the report and is its first response (the earliest such contact counts,
    /// whatever order they are recorded in). Idempotent by request id.
    pub async fn record_contact(
        &self,
        actor: &Actor,
        request: Option<&RequestIdentity>,
        case: CaseId,
        contact: &NewContact,
    ) -> Result<Uuid, WriteError> {
        let key = IdempotencyKey::for_request(actor, request);
        let child = Child::new(case, "contacts");
        if let Some(id) = self.replay_child(key, &child).await? {
            return Ok(id);
        }
        let result = async {
            let txn = self.open_child(key, &child).await?;
            let current = case_row(&txn, case).await?;
            contacts::Entity::insert(contacts::ActiveModel {
                id: Set(child.id),
                case_id: Set(case.uuid()),
                party_role: Set(codes::party_role(contact.party_role).to_owned()),
                channel: Set(contact.channel.to_string()),
                contact_time: Set(contact.contact_time),
                summary: Set(contact.summary.clone()),
                author: Set(actor.subject.clone()),
            })
            .exec_without_returning(&txn)
            .await
            .map_err(StoreError::from)?;
            let mut row = cases::ActiveModel { update_time: Set(chrono::Utc::now()), ..Default::default() };
            if matches!(contact.party_role, PartyRole::Complainant | PartyRole::Victim) {
                let earliest =
                    |held: Option<DateTime<Utc>>| {
                        Some(held.map_or(contact.contact_time, |held| {
                            std::cmp::Ord::min(held, contact.contact_time)
                        }))
                    };
                row.acknowledge_time = Set(earliest(current.acknowledge_time));
                row.first_response_time = Set(earliest(current.first_response_time));
            }
            entities::CASES_VERSIONED.save(&txn, row, case.uuid(), current.version).await?;
            self.close_child(txn, actor, &child).await
        }
        .await;
        self.settle_child(key, &child, result).await
    }

    /// Appends a diary entry (a correction names the entry it corrects, which must
    /// be this case's and not corrected already). Idempotent by request id.
    pub async fn add_diary_entry(
        &self,
        actor: &Actor,
        request: Option<&RequestIdentity>,
        case: CaseId,
        entry: &NewDiaryEntry,
    ) -> Result<diary_entries::Model, WriteError> {
        let key = IdempotencyKey::for_request(actor, request);
        let child = Child::new(case, "diaryEntries");
        let row = diary_entries::Model {
            id: child.id,
            case_id: case.uuid(),
            occur_time: entry.occur_time,
            text: entry.text.clone(),
            reported_by: entry.reported_by.clone(),
            evidence: json(&entry.evidence)?,
            corrects: entry.corrects.map(DiaryEntryId::uuid),
            author: actor.subject.clone(),
            create_time: chrono::Utc::now(),
        };
        let id = match self.replay_child(key, &child).await? {
            Some(id) => id,
            None => {
                let result = async {
                    let txn = self.open_child(key, &child).await?;
                    if let Some(target) = entry.corrects {
                        let diary: Vec<(Uuid, Option<Uuid>)> = diary_entries::Entity::find()
                            .select_only()
                            .column(diary_entries::Column::Id)
                            .column(diary_entries::Column::Corrects)
                            .filter(diary_entries::Column::CaseId.eq(case.uuid()))
                            .into_tuple()
                            .all(&txn)
                            .await
                            .map_err(StoreError::from)?;
                        let refs: Vec<EntryRef> = diary
                            .into_iter()
                            .map(|(id, corrects)| EntryRef {
                                id: DiaryEntryId::from_uuid(id),
                                corrects: corrects.map(DiaryEntryId::from_uuid),
                            })
                            .collect();
                        check_correction(&refs, target)?;
                    }
                    diary_entries::Entity::insert(diary_entries::ActiveModel::from(row.clone()))
                        .exec_without_returning(&txn)
                        .await
                        .map_err(StoreError::from)?;
                    self.close_child(txn, actor, &child).await
                }
                .await;
                self.settle_child(key, &child, result).await?
            }
        };
        if id == row.id {
            return Ok(row);
        }
        let found = diary_entries::Entity::find_by_id(id).one(&self.db).await.map_err(StoreError::from)?;
        Ok(found.ok_or_else(|| StoreError::RowNotFound(format!("diary entry {id}")))?)
    }

    /// A page of a case's diary in the order it was written, after `after`.
    pub async fn list_diary(
        &self,
        case: CaseId,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<diary_entries::Model>, StoreError> {
        let mut query = diary_entries::Entity::find().filter(diary_entries::Column::CaseId.eq(case.uuid()));
        if let Some(after) = after {
            query = query.filter(diary_entries::Column::Id.gt(after));
        }
        Ok(query.order_by_asc(diary_entries::Column::Id).limit(limit).all(&self.db).await?)
    }

    /// Intervention type `code` as reference data holds it.
    pub async fn intervention_type(&self, code: &Code) -> Result<Option<InterventionType>, StoreError> {
        let Some(row) = intervention_types::Entity::find_by_id(code.as_str()).one(&self.db).await? else {
            return Ok(None);
        };
        let kind = codes::parse_intervention_kind(&row.kind)
            .ok_or_else(|| StoreError::corrupt(format!("intervention kind {}", row.kind)))?;
        Ok(Some(InterventionType {
            code: Code::trusted(&row.code),
            display_name: row.display_name,
            kind,
            effective_from: row.effective_from,
            effective_to: row.effective_to,
        }))
    }

    /// Records an intervention on a case. Idempotent by request id.
    pub async fn add_intervention(
        &self,
        actor: &Actor,
        request: Option<&RequestIdentity>,
        case: CaseId,
        kind: &InterventionType,
        start_date: chrono::NaiveDate,
        notes: Option<String>,
    ) -> Result<interventions::Model, WriteError> {
        let key = IdempotencyKey::for_request(actor, request);
        let child = Child::new(case, "interventions");
        let row = interventions::Model {
            id: child.id,
            case_id: case.uuid(),
            intervention_type: kind.code.to_string(),
            kind: codes::intervention_kind(kind.kind).to_owned(),
            start_date,
            notes,
            outcome: None,
            outcome_date: None,
            court_outcome: None,
            author: actor.subject.clone(),
        };
        let id = self.insert_child(actor, key, &child, interventions::ActiveModel::from(row.clone())).await?;
        if id == row.id {
            return Ok(row);
        }
        Ok(self.intervention(case, id).await?.ok_or_else(|| StoreError::RowNotFound(id.to_string()))?)
    }

    /// Intervention `id` of `case`, if it is that case's.
    pub async fn intervention(
        &self,
        case: CaseId,
        id: Uuid,
    ) -> Result<Option<interventions::Model>, StoreError> {
        Ok(interventions::Entity::find_by_id(id)
            .filter(interventions::Column::CaseId.eq(case.uuid()))
            .one(&self.db)
            .await?)
    }

    /// The interventions of a case, in the order recorded.
    pub async fn interventions(&self, case: CaseId) -> Result<Vec<interventions::Model>, StoreError> {
        Ok(interventions::Entity::find()
            .filter(interventions::Column::CaseId.eq(case.uuid()))
            .order_by_asc(interventions::Column::Id)
            .all(&self.db)
            .await?)
    }

    /// Records how an intervention ended.
    pub async fn record_intervention_outcome(
        &self,
        actor: &Actor,
        case: CaseId,
        id: Uuid,
        outcome: &Code,
        outcome_date: chrono::NaiveDate,
        court_outcome: Option<String>,
    ) -> Result<Option<interventions::Model>, StoreError> {
        let txn = begin_write(&self.db).await?;
        let written = interventions::Entity::update_many()
            .set(interventions::ActiveModel {
                outcome: Set(Some(outcome.to_string())),
                outcome_date: Set(Some(outcome_date)),
                court_outcome: Set(court_outcome),
                ..Default::default()
            })
            .filter(interventions::Column::Id.eq(id))
            .filter(interventions::Column::CaseId.eq(case.uuid()))
            .exec(&txn)
            .await?;
        if written.rows_affected == 0 {
            return Ok(None);
        }
        audit::record(&txn, actor, [AuditEntry::new(format!("{}/interventions/{id}", case.name()))]).await?;
        txn.commit().await?;
        self.intervention(case, id).await
    }

    /// Records whether mediation was used, and why not if not.
    pub async fn record_mediation(
        &self,
        actor: &Actor,
        case: CaseId,
        expected: Option<Etag>,
        mediation: &Mediation,
    ) -> Result<(), StoreError> {
        let row = cases::ActiveModel {
            mediation: Set(Some(json(mediation)?)),
            update_time: Set(chrono::Utc::now()),
            ..Default::default()
        };
        self.save_case(actor, case, expected, row).await
    }

    /// Records a manager's review at `now`, with the actions its findings put on
    /// the case; a closure review that signs off marks the case signed off, all in
    /// one transaction.
    pub async fn record_review(
        &self,
        actor: &Actor,
        case: CaseId,
        review: &NewReview<'_>,
    ) -> Result<(reviews::Model, Vec<review_actions::Model>), StoreError> {
        let NewReview { kind, findings, sign_off, actions, time: now } = *review;
        let row = reviews::Model {
            id: Uuid::now_v7(),
            case_id: case.uuid(),
            kind: kind.to_owned(),
            findings: json(
                &findings.iter().map(|f| (f.item.clone(), f.met, f.action.clone())).collect::<Vec<_>>(),
            )?,
            sign_off,
            reviewer: actor.subject.clone(),
            review_time: now,
        };
        let action_rows: Vec<review_actions::Model> = actions
            .iter()
            .map(|action| review_actions::Model {
                id: Uuid::now_v7(),
                case_id: case.uuid(),
                review_id: row.id,
                action: action.action.clone(),
                owner: action.owner.clone(),
                due_date: action.due_date,
                create_time: now,
            })
            .collect();
        let txn = begin_write(&self.db).await?;
        reviews::Entity::insert(reviews::ActiveModel::from(row.clone())).exec_without_returning(&txn).await?;
        if !action_rows.is_empty() {
            review_actions::Entity::insert_many(
                action_rows.iter().cloned().map(review_actions::ActiveModel::from),
            )
            .exec_without_returning(&txn)
            .await?;
        }
        let current = case_row(&txn, case).await?;
        let signed = cases::ActiveModel {
            signed_off: Set(current.signed_off || (kind == "closure" && sign_off)),
            update_time: Set(row.review_time),
            ..Default::default()
        };
        entities::CASES_VERSIONED.save(&txn, signed, case.uuid(), current.version).await?;
        let mut audited = vec![AuditEntry::new(format!("{}/reviews/{}", case.name(), row.id))];
        audited.extend(
            action_rows
                .iter()
                .map(|action| AuditEntry::new(format!("{}/reviewActions/{}", case.name(), action.id))),
        );
        audit::record(&txn, actor, audited).await?;
        txn.commit().await?;
        Ok((row, action_rows))
    }

    /// Closes a case once nothing it needs is missing; otherwise names what is.
    pub async fn close_case(
        &self,
        actor: &Actor,
        case: CaseId,
        expected: Option<Etag>,
        reason: &str,
        outcome: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Vec<ClosureNeed>>, StoreError> {
        let txn = begin_write(&self.db).await?;
        let current = case_row(&txn, case).await?;
        persistence::versioned::expect_version(current.version, expected)?;
        let open_referrals = interventions::Entity::find()
            .filter(interventions::Column::CaseId.eq(case.uuid()))
            .filter(interventions::Column::Kind.eq(codes::intervention_kind(InterventionKind::Referral)))
            .filter(interventions::Column::Outcome.is_null())
            .count(&txn)
            .await?;
        let mediation_considered = current
            .mediation
            .as_deref()
            .and_then(|text| serde_json::from_str::<Mediation>(text).ok())
            .is_some_and(|mediation| mediation.is_considered());
        let needs = closure_needs(&ClosureState {
            reason: Some(reason.to_owned()),
            referrals_without_outcome: usize::try_from(open_referrals).unwrap_or(usize::MAX),
            mediation_considered,
            signed_off: current.signed_off,
        });
        if !needs.is_empty() {
            return Ok(Err(needs));
        }
        let row = cases::ActiveModel {
            state: Set("closed".to_owned()),
            closure_reason: Set(Some(reason.to_owned())),
            closure_outcome: Set(outcome),
            close_time: Set(Some(now)),
            update_time: Set(now),
            ..Default::default()
        };
        entities::CASES_VERSIONED.save(&txn, row, case.uuid(), current.version).await?;
        audit::record(&txn, actor, [AuditEntry::new(case.name())]).await?;
        txn.commit().await?;
        Ok(Ok(()))
    }

    /// Records the complainant's answer to the closure survey.
    pub async fn record_satisfaction(
        &self,
        actor: &Actor,
        case: CaseId,
        answer: &str,
    ) -> Result<(), StoreError> {
        let row = cases::ActiveModel {
            satisfaction: Set(Some(answer.to_owned())),
            update_time: Set(chrono::Utc::now()),
            ..Default::default()
        };
        self.save_case(actor, case, None, row).await
    }

    /// Every community trigger raised, as each complainant's latest report left it.
    pub async fn raised_triggers(&self) -> Result<Vec<RaisedTrigger>, StoreError> {
        let rows = community_triggers::Entity::find()
            .order_by_asc(community_triggers::Column::ReachedTime)
            .all(&self.db)
            .await?;
        rows.into_iter().map(raised_from_row).collect()
    }

    /// The community triggers owned by the cases `reach` and `filter` select (a
    /// subquery: no list of ids bound, however many cases): what a queue needs.
    pub async fn triggers_owned_in(
        &self,
        reach: &ListReach,
        filter: &CaseFilter,
    ) -> Result<Vec<RaisedTrigger>, StoreError> {
        let rows = community_triggers::Entity::find()
            .filter(community_triggers::Column::OwningCase.in_subquery(Self::case_ids(reach, filter)))
            .all(&self.db)
            .await?;
        rows.into_iter().map(raised_from_row).collect()
    }

    /// Makes the kept triggers those of `rule`: when it is not the rule they were
    /// counted by (a changed threshold, or the first start), every qualifying report
    /// is counted again, in one transaction that reports wait for.
    pub async fn keep_triggers(&self, rule: TriggerRule) -> Result<(), StoreError> {
        // As applied and as recorded: a recorded 0 reads as "never counted".
        let rule = rule.effective();
        let txn = begin_write(&self.db).await?;
        let counted = counted_rule(&txn, LockFor::Recount).await?;
        if counted != Some(rule) {
            count_triggers(&txn, rule).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Counts every qualifying report again under `rule`, whatever the rule kept:
    /// for rows written into the tables by something other than this store (a
    /// benchmark's seed, a repair).
    pub async fn recount_triggers(&self, rule: TriggerRule) -> Result<(), StoreError> {
        let txn = begin_write(&self.db).await?;
        counted_rule(&txn, LockFor::Recount).await?;
        count_triggers(&txn, rule).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Records the action plan agreed with the complainant.
    pub async fn agree_action_plan(
        &self,
        actor: &Actor,
        case: CaseId,
        plan: &ActionPlan,
    ) -> Result<(), StoreError> {
        let row = cases::ActiveModel {
            action_plan: Set(Some(json(plan)?)),
            update_time: Set(chrono::Utc::now()),
            ..Default::default()
        };
        self.save_case(actor, case, None, row).await
    }

    /// Logs officer time on a case. Idempotent by request id.
    pub async fn log_time(
        &self,
        actor: &Actor,
        request: Option<&RequestIdentity>,
        case: CaseId,
        officer: &str,
        work_date: chrono::NaiveDate,
        minutes: i32,
    ) -> Result<time_entries::Model, WriteError> {
        let key = IdempotencyKey::for_request(actor, request);
        let child = Child::new(case, "timeEntries");
        let row = time_entries::Model {
            id: child.id,
            case_id: case.uuid(),
            officer: officer.to_owned(),
            work_date,
            minutes,
            create_time: chrono::Utc::now(),
        };
        let id = self.insert_child(actor, key, &child, time_entries::ActiveModel::from(row.clone())).await?;
        if id == row.id {
            return Ok(row);
        }
        let found = time_entries::Entity::find_by_id(id).one(&self.db).await.map_err(StoreError::from)?;
        Ok(found.ok_or_else(|| StoreError::RowNotFound(id.to_string()))?)
    }

    /// Records a diversionary activity.
    pub async fn add_activity(
        &self,
        actor: &Actor,
        row: diversionary_activities::Model,
    ) -> Result<diversionary_activities::Model, StoreError> {
        let txn = begin_write(&self.db).await?;
        diversionary_activities::Entity::insert(diversionary_activities::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        audit::record(&txn, actor, [AuditEntry::new(format!("diversionaryActivities/{}", row.id))]).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Every diversionary activity, oldest first.
    pub async fn activities(&self) -> Result<Vec<diversionary_activities::Model>, StoreError> {
        Ok(diversionary_activities::Entity::find()
            .order_by_asc(diversionary_activities::Column::StartDate)
            .order_by_asc(diversionary_activities::Column::Id)
            .all(&self.db)
            .await?)
    }

    /// Cases whose first report in `area` was received in `[from, to)`.
    pub async fn cases_in_area(
        &self,
        area: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        Ok(cases::Entity::find()
            .filter(cases::Column::Area.eq(area))
            .filter(cases::Column::ReceiveTime.gte(from))
            .filter(cases::Column::ReceiveTime.lt(to))
            .count(&self.db)
            .await?)
    }

    /// The bank holidays held, oldest first.
    pub async fn bank_holidays(&self) -> Result<Vec<bank_holidays::Model>, StoreError> {
        Ok(bank_holidays::Entity::find()
            .order_by_asc(bank_holidays::Column::HolidayDate)
            .all(&self.db)
            .await?)
    }

    /// Adds a bank holiday; `false` when that day is one already.
    pub async fn add_bank_holiday(
        &self,
        actor: &Actor,
        date: chrono::NaiveDate,
        name: &str,
    ) -> Result<bool, StoreError> {
        let txn = begin_write(&self.db).await?;
        let inserted = bank_holidays::Entity::insert(bank_holidays::ActiveModel {
            holiday_date: Set(date),
            display_name: Set(name.to_owned()),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(StoreError::from);
        match inserted {
            Ok(_) => {}
            Err(StoreError::UniqueViolation(_)) => return Ok(false),
            Err(other) => return Err(other),
        }
        audit::record(&txn, actor, [AuditEntry::new(format!("bankHolidays/{date}"))]).await?;
        txn.commit().await?;
        self.reference.forget();
        Ok(true)
    }

    /// Records a decision to open a case to another organisation.
    pub async fn record_sharing(
        &self,
        actor: &Actor,
        case: CaseId,
        decision: &NewSharingDecision,
    ) -> Result<sharing_decisions::Model, StoreError> {
        let row = sharing_decisions::Model {
            id: Uuid::now_v7(),
            case_id: case.uuid(),
            shared_with: decision.shared_with.clone(),
            scope: json(&decision.scope)?,
            reason: decision.reason.clone(),
            agreement: decision.agreement.clone(),
            decided_by: actor.subject.clone(),
            organisation: actor.organisation.clone(),
            decide_time: chrono::Utc::now(),
        };
        let txn = begin_write(&self.db).await?;
        sharing_decisions::Entity::insert(sharing_decisions::ActiveModel::from(row.clone()))
            .exec_without_returning(&txn)
            .await?;
        audit::record(&txn, actor, [AuditEntry::new(format!("{}/sharingDecisions/{}", case.name(), row.id))])
            .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// The id of the child an earlier request with this key made.
    async fn replay_child(
        &self,
        key: Option<IdempotencyKey<'_>>,
        child: &Child,
    ) -> Result<Option<Uuid>, WriteError> {
        let Some(key) = key else { return Ok(None) };
        let Some(found) = idempotency::find(&self.db, key).await? else { return Ok(None) };
        let resource = found.map_err(WriteError::RequestIdReused)?;
        let id = resource
            .strip_prefix(&child.prefix())
            .and_then(|id| Uuid::parse_str(id).ok())
            // The same request id once used for another case is another request.
            .ok_or_else(|| {
                WriteError::RequestIdReused(persistence::idempotency::RequestIdReused {
                    request_id: key.request_id.to_owned(),
                })
            })?;
        Ok(Some(id))
    }

    /// Writes `child` as one row, idempotently: the id it ended with (a replayed
    /// or a twin's request answers with the first one's).
    async fn insert_child<A>(
        &self,
        actor: &Actor,
        key: Option<IdempotencyKey<'_>>,
        child: &Child,
        row: A,
    ) -> Result<Uuid, WriteError>
    where
        A: sea_orm::ActiveModelTrait + Send,
    {
        if let Some(id) = self.replay_child(key, child).await? {
            return Ok(id);
        }
        let result = async {
            let txn = self.open_child(key, child).await?;
            <A::Entity as sea_orm::EntityTrait>::insert(row)
                .exec_without_returning(&txn)
                .await
                .map_err(StoreError::from)?;
            self.close_child(txn, actor, child).await
        }
        .await;
        self.settle_child(key, child, result).await
    }

    /// Opens the transaction that writes `child`: its first write claims the key.
    async fn open_child(
        &self,
        key: Option<IdempotencyKey<'_>>,
        child: &Child,
    ) -> Result<sea_orm::DatabaseTransaction, WriteError> {
        let txn = begin_write(&self.db).await.map_err(StoreError::from)?;
        if let Some(key) = key {
            idempotency::claim(&txn, key, &child.resource()).await?;
        }
        Ok(txn)
    }

    /// Records `child`'s audit row and commits its transaction.
    async fn close_child(
        &self,
        txn: sea_orm::DatabaseTransaction,
        actor: &Actor,
        child: &Child,
    ) -> Result<(), WriteError> {
        audit::record(&txn, actor, [AuditEntry::new(child.resource())]).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(())
    }

    /// The id the write ended with: `child`'s, or, when a twin with the same
    /// request id claimed the key first, the twin's.
    async fn settle_child(
        &self,
        key: Option<IdempotencyKey<'_>>,
        child: &Child,
        result: Result<(), WriteError>,
    ) -> Result<Uuid, WriteError> {
        match result {
            Ok(()) => Ok(child.id),
            Err(WriteError::Store(err)) if key.is_some() && idempotency::lost_to_a_twin(&err) => {
                self.replay_child(key, child).await?.ok_or(WriteError::Store(err))
            }
            Err(other) => Err(other),
        }
    }

    /// Writes `row`'s set columns over the case as its next version, with its audit
    /// row, in one transaction: `Stale` when the etag sent (or the version just
    /// read) is no longer current.
    async fn save_case(
        &self,
        actor: &Actor,
        case: CaseId,
        expected: Option<Etag>,
        row: cases::ActiveModel,
    ) -> Result<(), StoreError> {
        let txn = begin_write(&self.db).await?;
        let current = case_row(&txn, case).await?;
        persistence::versioned::expect_version(current.version, expected)?;
        entities::CASES_VERSIONED.save(&txn, row, case.uuid(), current.version).await?;
        audit::record(&txn, actor, [AuditEntry::new(case.name())]).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// A new row under a case (`{case}/{collection}/{id}`), written idempotently.
struct Child {
    case: CaseId,
    collection: &'static str,
    id: Uuid,
}

impl Child {
    fn new(case: CaseId, collection: &'static str) -> Self {
        Self { case, collection, id: Uuid::now_v7() }
    }

    fn prefix(&self) -> String {
        format!("{}/{}/", self.case.name(), self.collection)
    }

    fn resource(&self) -> String {
        format!("{}{}", self.prefix(), self.id)
    }
}

/// Why a write to a case was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    RequestIdReused(persistence::idempotency::RequestIdReused),
    #[error(transparent)]
    Correction(#[from] CorrectionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who was complainant or victim in a report (customer, external key), its case,
/// and when it was received.
type ReportedBy = (Option<String>, Option<String>, Uuid, DateTime<Utc>);

/// The cases `reach` lets the caller see that `filter` selects, as a condition on `cases`.
fn case_condition(reach: &ListReach, filter: &CaseFilter) -> Condition {
    let mut condition = reach_condition(reach);
    if let Some(team) = &filter.team {
        condition = condition.add(cases::Column::Team.eq(team.as_str()));
    }
    if filter.open_only {
        condition = condition.add(cases::Column::State.ne("closed"));
    }
    if let Some((from, to)) = filter.received {
        condition =
            condition.add(cases::Column::ReceiveTime.gte(from)).add(cases::Column::ReceiveTime.lt(to));
    }
    if let Some(state) = &filter.state {
        condition = condition.add(cases::Column::State.eq(state.as_str()));
    }
    if let Some(area) = &filter.area {
        condition = condition.add(cases::Column::Area.eq(area.as_str()));
    }
    if let Some(officer) = &filter.assigned_officer {
        condition = condition.add(cases::Column::AssignedOfficer.eq(officer.as_str()));
    }
    if let Some(customer) = &filter.party {
        let with_party = parties::Entity::find()
            .select_only()
            .column(parties::Column::CaseId)
            .filter(parties::Column::Customer.eq(customer.as_str()))
            .into_query();
        condition = condition.add(cases::Column::Id.in_subquery(with_party));
    }
    condition
}

/// The cases `reach` lets a caller see, as a condition on `cases`.
pub(crate) fn reach_condition(reach: &ListReach) -> Condition {
    let mut condition = Condition::all();
    match reach {
        ListReach::Areas(None) => {}
        ListReach::Areas(Some(areas)) => {
            condition = condition.add(cases::Column::Area.is_in(areas.iter().map(String::as_str)));
        }
        ListReach::Landlord { organisation, areas } => {
            // Its own cases, and those its customers are parties to.
            let party_cases = parties::Entity::find()
                .select_only()
                .column(parties::Column::CaseId)
                .filter(parties::Column::CustomerLandlord.eq(organisation.as_str()))
                .into_query();
            condition = condition.add(
                Condition::any()
                    .add(cases::Column::LandlordOrganisation.eq(organisation.as_str()))
                    .add(cases::Column::Id.in_subquery(party_cases))
                    .add(cases::Column::Id.in_subquery(shared_with(organisation))),
            );
            if let Some(areas) = areas {
                condition = condition.add(cases::Column::Area.is_in(areas.iter().map(String::as_str)));
            }
        }
        ListReach::SharedWith(organisation) => {
            condition = condition.add(cases::Column::Id.in_subquery(shared_with(organisation)));
        }
        ListReach::Owner { organisation, areas } => {
            condition = condition.add(cases::Column::LandlordOrganisation.eq(organisation.as_str()));
            if let Some(areas) = areas {
                condition = condition.add(cases::Column::Area.is_in(areas.iter().map(String::as_str)));
            }
        }
    }
    condition
}

/// The ids of the cases a decision opened to `organisation`.
fn shared_with(organisation: &str) -> sea_orm::sea_query::SelectStatement {
    sharing_decisions::Entity::find()
        .select_only()
        .column(sharing_decisions::Column::CaseId)
        .filter(sharing_decisions::Column::SharedWith.eq(organisation))
        .into_query()
}

/// Every case any identified person of `sides` is a party to, with its sides.
async fn candidate_cases<C: ConnectionTrait>(
    conn: &C,
    sides: &Sides,
) -> Result<Vec<CaseSummary>, StoreError> {
    let (customers, externals): (Vec<String>, Vec<String>) = sides
        .affected
        .iter()
        .chain(&sides.accused)
        .fold((Vec::new(), Vec::new()), |(mut customers, mut externals), person| {
            match person {
                Person::Customer(name) => customers.push(name.clone()),
                Person::External(key) => externals.push(key.clone()),
                Person::Unknown => {}
            }
            (customers, externals)
        });
    if customers.is_empty() && externals.is_empty() {
        return Ok(Vec::new());
    }
    let case_ids: Vec<Uuid> = parties::Entity::find()
        .select_only()
        .column(parties::Column::CaseId)
        .distinct()
        .filter(
            Condition::any()
                .add(parties::Column::Customer.is_in(customers))
                .add(parties::Column::ExternalKey.is_in(externals)),
        )
        .into_tuple()
        .all(conn)
        .await?;
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = cases::Entity::find().filter(cases::Column::Id.is_in(case_ids.clone())).all(conn).await?;
    let mut people: HashMap<Uuid, Vec<Party>> = HashMap::new();
    for row in parties::Entity::find().filter(parties::Column::CaseId.is_in(case_ids)).all(conn).await? {
        people.entry(row.case_id).or_default().push(party_from_row(&row)?);
    }
    Ok(rows
        .into_iter()
        .map(|row| CaseSummary {
            id: CaseId::from_uuid(row.id),
            sides: Sides::of(people.get(&row.id).into_iter().flatten()),
            place: Some(Code::trusted(&row.area)),
            opened: row.open_time,
            closed: row.close_time,
        })
        .collect())
}

/// The next case reference of the year `now` falls in: `ASB-2026-000124`.
/// The row of `case`, read inside the transaction about to change it.
async fn case_row<C: ConnectionTrait>(conn: &C, case: CaseId) -> Result<cases::Model, StoreError> {
    cases::Entity::find_by_id(case.uuid())
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::RowNotFound(case.name()))
}

async fn next_reference<C: ConnectionTrait>(conn: &C, now: DateTime<Utc>) -> Result<String, StoreError> {
    let prefix = format!("ASB-{}-", now.year());
    let latest: Option<String> = cases::Entity::find()
        .select_only()
        .column(cases::Column::Reference)
        .filter(cases::Column::Reference.starts_with(&prefix))
        .order_by_desc(cases::Column::Reference)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    let last = latest.and_then(|reference| reference.strip_prefix(&prefix)?.parse::<u64>().ok()).unwrap_or(0);
    Ok(format!("{prefix}{:06}", last + 1))
}
