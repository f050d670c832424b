//! What each call of the ASB service does, in the domain's terms: the rules of
//! [`crate::domain`] applied for the caller, against the [`crate::store`] and the
//! peers it checks parties with. `api` decodes into these calls and encodes what
//! they return; nothing here knows about gRPC.

mod quality;
mod reference;

pub use self::reference::{CategoryDraft, InterventionTypeDraft};
mod analysis;

use std::sync::Arc;

use platform::clock::SharedClock;
use uuid::Uuid;

use chrono::{DateTime, Utc};
use involve_core::{Capability, Code, OrganisationName, Role};
use persistence::idempotency::RequestIdentity;
use persistence::paging::finish_page;
use persistence::{AuditEntry, Etag, PageToken, PageTokenKey};
use platform::{FieldViolation, RequestContext};

pub use self::analysis::{Analysis, AnalysisRequest, CategoryFigure, EqualityFigure, LandlordFigure};
use crate::domain::access::{self, CaseReach, View, Viewer};
use crate::domain::analysis::AnalysisSettings;
use crate::domain::calendar::{local_date, start_of_day};
use crate::domain::case::{CaseId, Channel, Party, Person};
use crate::domain::casework::Mediation;
use crate::domain::queue::{self, CaseClock, QueueItem, QueueWindow};
use crate::domain::review::{Finding, SampleRule};
use crate::domain::standards::{self, CaseTimes, StandardSettings, Standing, Tally};
use crate::domain::triage::{HateMotivation, Priority, TriageError, change_priority};
pub use crate::domain::trigger::RaisedTrigger;
use crate::error::AsbError;
use crate::peers::Peers;
use crate::store::ReferenceData;
use crate::store::entities::{cases, queue_cases};
use crate::store::entities::{
    diary_entries, diversionary_activities, interventions, review_actions, reviews, sharing_decisions,
    time_entries,
};
use crate::store::{
    ActionPlan, Assignment, CaseFilter, CaseRecord, Filed, ListReach, NewContact, NewDiaryEntry, NewParty,
    NewReport, NewReview, NewReviewAction, NewSharingDecision, QueueCase, StandardCase, Store,
    TriageDecision,
};

/// The ASB service's use cases over one store.
#[derive(Debug, Clone)]
pub struct Cases {
    store: Arc<Store>,
    peers: Peers,
    standards: StandardSettings,
    /// How many of each officer's cases the monthly quality sample takes.
    sample: SampleRule,
    /// The quality sample's recent draws, so a queue read need not read and hash
    /// every officer's cases each time.
    draws: Arc<quality::Draws>,
    page_tokens: PageTokenKey,
    /// Every "now" the standards, queues and receipts read.
    clock: SharedClock,
    /// Woken by every write here, so watched queues update at once.
    changed: Arc<tokio::sync::Notify>,
    /// What `GetAsbAnalysis` counts against.
    analysis: AnalysisSettings,
}

/// A party as read from a request; `field` names it for violations.
#[derive(Clone, Debug)]
pub struct DraftParty {
    pub party: Party,
    /// What was recorded of them (name, contact, postcode, description), as JSON.
    pub details: serde_json::Value,
    pub field: String,
}

/// A report as read from the wire, validated as far as it can be without state.
#[derive(Clone, Debug)]
pub struct DraftReport {
    pub landlord: Option<OrganisationName>,
    pub channel: Channel,
    pub incident_time: Option<DateTime<Utc>>,
    pub description: String,
    pub area: Code,
    pub uprn: Option<String>,
    pub location_description: Option<String>,
    pub categories: Vec<Code>,
    pub hate_motivation: Option<HateMotivation>,
    pub parties: Vec<DraftParty>,
    pub identity: Option<RequestIdentity>,
}

/// Which standard a figure is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StandardKind {
    Acknowledgement,
    FirstResponse,
    Contact,
    Satisfaction,
}

/// One standard over one slice of the cases.
#[derive(Clone, Debug)]
pub struct StandardReport {
    pub kind: StandardKind,
    /// `all`, `landlord`, `team` or `officer`.
    pub dimension: &'static str,
    pub key: String,
    pub tally: Tally<String>,
}

/// When the complainant (or a victim) was contacted, oldest first.
/// The timestamps the standards read from a stored case.
pub(crate) fn case_times<'a>(case: &cases::Model, contacts: &'a [DateTime<Utc>]) -> CaseTimes<'a> {
    CaseTimes {
        received: case.receive_time,
        acknowledged: case.acknowledge_time,
        first_response_within: case.first_response_secs.map(chrono::Duration::seconds),
        responded: case.first_response_time,
        opened: case.open_time,
        closed: case.close_time,
        contacts,
    }
}

pub(crate) fn complainant_contacts(record: &CaseRecord) -> Vec<DateTime<Utc>> {
    record
        .contacts
        .iter()
        .filter(|contact| matches!(contact.party_role.as_str(), "complainant" | "victim"))
        .map(|contact| contact.contact_time)
        .collect()
}

/// One line of a work queue with the case it is about (the queue shows its
/// reference, priority, officer and team; the caller sees the whole case).
pub type QueueEntry = (QueueItem, Arc<queue_cases::Model>);

/// What changed in a watched queue.
#[derive(Clone, Debug)]
pub struct QueueChange {
    pub added: Vec<QueueEntry>,
    pub removed: Vec<QueueEntry>,
}

/// A triage as read from the wire.
#[derive(Clone, Debug)]
pub struct TriageRequest {
    pub categories: Vec<Code>,
    pub hate_motivation: Option<HateMotivation>,
    pub risk: Code,
    pub vulnerabilities: Vec<Code>,
    /// `None`: what the categories give.
    pub priority: Option<Priority>,
    pub priority_reason: Option<String>,
    pub etag: Option<Etag>,
}

/// A case as one caller is shown it.
#[derive(Clone, Debug)]
pub struct ShownCase {
    pub record: CaseRecord,
    pub view: View,
    /// The caller's organisation: parties of its own are never withheld from it.
    pub viewer: String,
    /// Acknowledgement is due before this instant.
    pub acknowledge_deadline: DateTime<Utc>,
    /// Acknowledgement, first response and contact, as of now.
    pub standings: [Standing; 3],
}

fn refused(reason: &'static str, message: &'static str) -> AsbError {
    AsbError::PermissionDenied { reason, message }
}

fn viewer(ctx: &RequestContext) -> Viewer<'_> {
    Viewer {
        organisation: &ctx.principal.organisation,
        role: ctx.principal.role,
        areas: ctx.principal.areas.as_deref(),
    }
}

fn reach(record: &CaseRecord) -> CaseReach {
    CaseReach {
        owner: record.case.landlord_organisation.clone(),
        area: Some(record.case.area.clone()),
        party_landlords: record.parties.iter().filter_map(|party| party.customer_landlord.clone()).collect(),
        shared_with: record.sharing.iter().map(|decision| decision.shared_with.clone()).collect(),
    }
}

impl Cases {
    pub fn new(
        store: Arc<Store>,
        peers: Peers,
        standards: StandardSettings,
        sample: SampleRule,
        page_tokens: PageTokenKey,
        clock: SharedClock,
    ) -> Self {
        Self {
            store,
            peers,
            standards,
            sample,
            draws: Arc::default(),
            page_tokens,
            clock,
            changed: Arc::new(tokio::sync::Notify::new()),
            analysis: AnalysisSettings::default(),
        }
    }

    /// The same use cases, analysing against `settings`.
    #[must_use]
    pub fn with_analysis(mut self, settings: AnalysisSettings) -> Self {
        self.analysis = settings;
        self
    }

    /// The community triggers whose owning case the caller may see, listing only
    /// the cases it may see.
    pub async fn list_triggers(&self, ctx: &RequestContext) -> Result<Vec<RaisedTrigger>, AsbError> {
        if !ctx.principal.role.may(Capability::WorkCases) {
            return Err(refused("ROLE_NOT_PERMITTED", "your role may not read cases"));
        }
        let reference = self.store.reference_data().await?;
        let mut visible = Vec::new();
        for mut raised in self.store.raised_triggers().await? {
            let mut cases = Vec::new();
            for case in &raised.cases {
                if let Some(record) = self.store.case_record(*case).await?
                    && self.show(ctx, record, &reference.calendar).view == View::Full
                {
                    cases.push(*case);
                }
            }
            if cases.contains(&raised.owning_case) {
                raised.cases = cases;
                visible.push(raised);
            }
        }
        Ok(visible)
    }

    /// Files a report into the open case about the same people, or a new one.
    pub async fn report_incident(
        &self,
        ctx: &RequestContext,
        draft: DraftReport,
    ) -> Result<(Filed, ShownCase), AsbError> {
        let principal = &ctx.principal;
        if !principal.role.may(Capability::WorkCases) {
            return Err(refused("ROLE_NOT_PERMITTED", "your role may not report incidents"));
        }
        let mut violations = Vec::new();
        let landlord = match (principal.role, draft.landlord) {
            (Role::PartnerIntegration, None) => principal.organisation.clone(),
            (Role::PartnerIntegration, Some(named)) if named.as_str() != principal.organisation => {
                return Err(refused("OUTSIDE_SCOPE", "a partner takes reports as its own organisation"));
            }
            (_, Some(named)) => named.as_str().to_owned(),
            (_, None) => {
                violations.push(FieldViolation::required("report.landlord_organisation"));
                String::new()
            }
        };
        if principal.areas.as_ref().is_some_and(|areas| !areas.iter().any(|area| area == draft.area.as_str()))
        {
            return Err(refused("OUTSIDE_SCOPE", "you may only take reports in your own areas"));
        }
        let reference = self.store.reference_data().await?;
        if let Err(errors) = reference.triage.assess(&draft.categories, draft.hate_motivation) {
            violations.extend(errors.into_iter().map(|err| match err {
                TriageError::NoCategory => FieldViolation::required("report.categories"),
                TriageError::UnknownCategory(_) => {
                    FieldViolation::new("report.categories", "UNKNOWN_CATEGORY", err.to_string())
                }
                TriageError::MotivationRequired(_) => {
                    FieldViolation::new("report.hate_motivation", "REQUIRED", err.to_string())
                }
            }));
        }
        let mut parties = Vec::with_capacity(draft.parties.len());
        for DraftParty { party, details, field } in draft.parties {
            let customer_landlord = match &party.person {
                Person::Customer(name) => match self.peers.customer_landlord(ctx, name).await? {
                    Some(landlord) => Some(landlord).filter(|landlord| !landlord.is_empty()),
                    None => {
                        violations.push(FieldViolation::new(
                            format!("{field}.customer"),
                            "CUSTOMER_NOT_FOUND",
                            format!("{name} is not a customer you may name"),
                        ));
                        None
                    }
                },
                Person::External(_) | Person::Unknown => None,
            };
            parties.push(NewParty { party, customer_landlord, details });
        }
        if !violations.is_empty() {
            return Err(AsbError::Invalid(violations));
        }
        let report = NewReport {
            landlord,
            channel: draft.channel,
            receive_time: self.clock.now(),
            incident_time: draft.incident_time,
            description: draft.description,
            area: draft.area,
            uprn: draft.uprn,
            location_description: draft.location_description,
            categories: draft.categories,
            hate_motivation: draft.hate_motivation,
            parties,
        };
        let mut filed = self.store.file_report(&ctx.actor(), draft.identity.as_ref(), &report).await?;
        self.changed.notify_waiters();
        let record = self
            .store
            .case_record(filed.case)
            .await?
            .ok_or_else(|| AsbError::CaseNotFound { name: filed.case.name() })?;
        // A replayed answer says what the first did: the report opened its case if
        // it is the case's first.
        filed.opened = record.reports.first().is_some_and(|first| first.id == filed.report);
        let shown = self.show(ctx, record, &reference.calendar);
        Ok((filed, shown))
    }

    /// One case as the caller may see it; NOT_FOUND for any other. Audited.
    pub async fn get_case(&self, ctx: &RequestContext, id: CaseId) -> Result<ShownCase, AsbError> {
        let (shown, _) = self.shown_case(ctx, id).await?;
        if !shown.view.is_visible() {
            return Err(AsbError::CaseNotFound { name: id.name() });
        }
        self.store.record_reads(&ctx.actor(), vec![AuditEntry::new(id.name())]).await?;
        Ok(shown)
    }

    /// Case `id` as the caller is shown it (NOT_FOUND when there is none), with the
    /// reference data it was read with.
    async fn shown_case(
        &self,
        ctx: &RequestContext,
        id: CaseId,
    ) -> Result<(ShownCase, Arc<ReferenceData>), AsbError> {
        let record =
            self.store.case_record(id).await?.ok_or_else(|| AsbError::CaseNotFound { name: id.name() })?;
        let reference = self.store.reference_data().await?;
        let shown = self.show(ctx, record, &reference.calendar);
        Ok((shown, reference))
    }

    /// A case the caller sees in full, with `capability`, and the reference data
    /// it was read with.
    async fn seen_in_full(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        capability: Capability,
        message: &'static str,
    ) -> Result<(ShownCase, Arc<ReferenceData>), AsbError> {
        if !ctx.principal.role.may(capability) {
            return Err(refused("ROLE_NOT_PERMITTED", message));
        }
        let (shown, reference) = self.shown_case(ctx, id).await?;
        if shown.view != View::Full {
            return Err(AsbError::CaseNotFound { name: id.name() });
        }
        Ok((shown, reference))
    }

    /// A case the caller may change: seen in full, and not closed.
    async fn workable(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        capability: Capability,
        message: &'static str,
    ) -> Result<(ShownCase, Arc<ReferenceData>), AsbError> {
        let (shown, reference) = self.seen_in_full(ctx, id, capability, message).await?;
        if shown.record.case.state == "closed" {
            return Err(AsbError::FailedPrecondition {
                reason: "CASE_CLOSED",
                message: "the case is closed",
            });
        }
        Ok((shown, reference))
    }

    /// Triage: the categories' rules, with a manager's raise or a reasoned lowering.
    pub async fn triage_case(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        request: TriageRequest,
    ) -> Result<ShownCase, AsbError> {
        let (_, reference) =
            self.workable(ctx, id, Capability::TriageCases, "only managers triage cases").await?;
        let mut violations = Vec::new();
        let assessment = match reference.triage.assess(&request.categories, request.hate_motivation) {
            Ok(assessment) => Some(assessment),
            Err(errors) => {
                violations.extend(errors.into_iter().map(|err| match err {
                    TriageError::NoCategory => FieldViolation::required("categories"),
                    TriageError::UnknownCategory(_) => {
                        FieldViolation::new("categories", "UNKNOWN_CATEGORY", err.to_string())
                    }
                    TriageError::MotivationRequired(_) => {
                        FieldViolation::new("hate_motivation", "REQUIRED", err.to_string())
                    }
                }));
                None
            }
        };
        let (Some(assessment), true) = (assessment, violations.is_empty()) else {
            return Err(AsbError::Invalid(violations));
        };
        let requested = request.priority.unwrap_or(assessment.priority);
        let change =
            change_priority(assessment.priority, requested, request.priority_reason).map_err(|err| {
                AsbError::Invalid(vec![FieldViolation::new("priority_reason", "REQUIRED", err.to_string())])
            })?;
        let decision = TriageDecision {
            categories: request.categories,
            hate_motivation: request.hate_motivation,
            priority: change.to,
            route: assessment.route,
            first_response: assessment.first_response,
            risk: request.risk,
            vulnerabilities: request.vulnerabilities,
            priority_reason: change.reason,
            triaged_by: ctx.principal.subject.clone(),
            time: self.clock.now(),
        };
        self.store.triage_case(&ctx.actor(), id, request.etag, &decision).await?;
        self.reread(ctx, id).await
    }

    /// Gives the case to `officer` in `team`.
    pub async fn assign_case(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        officer: String,
        team: Code,
        etag: Option<Etag>,
    ) -> Result<ShownCase, AsbError> {
        self.workable(ctx, id, Capability::TriageCases, "only managers assign cases").await?;
        let assignment = Assignment { officer, team: team.to_string(), time: self.clock.now() };
        self.store.assign_case(&ctx.actor(), id, etag, &assignment).await?;
        // The case may have left one officer's sample pool for another's.
        self.draws.forget();
        self.reread(ctx, id).await
    }

    /// Records a contact with a party to a case the caller works.
    pub async fn record_contact(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        contact: NewContact,
        identity: Option<RequestIdentity>,
    ) -> Result<(Uuid, NewContact), AsbError> {
        let (shown, _) =
            self.workable(ctx, id, Capability::WorkCases, "your role may not work cases").await?;
        // A minute either way allows for the caller's clock being a little off ours.
        let earliest = shown.record.case.receive_time - chrono::Duration::minutes(1);
        if contact.contact_time < earliest
            || contact.contact_time > self.clock.now() + chrono::Duration::minutes(5)
        {
            return Err(AsbError::Invalid(vec![FieldViolation::new(
                "contact.contact_time",
                "OUT_OF_RANGE",
                "contact.contact_time is between the case's first report and now",
            )]));
        }
        let contact_id = self.store.record_contact(&ctx.actor(), identity.as_ref(), id, &contact).await?;
        self.changed.notify_waiters();
        Ok((contact_id, contact))
    }

    /// Appends to the diary of a case the caller works.
    pub async fn add_diary_entry(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        entry: NewDiaryEntry,
        identity: Option<RequestIdentity>,
    ) -> Result<diary_entries::Model, AsbError> {
        self.workable(ctx, id, Capability::WorkCases, "your role may not work cases").await?;
        if entry.occur_time > self.clock.now() + chrono::Duration::minutes(1) {
            return Err(AsbError::Invalid(vec![FieldViolation::new(
                "diary_entry.occur_time",
                "OUT_OF_RANGE",
                "diary_entry.occur_time is not in the future",
            )]));
        }
        Ok(self.store.add_diary_entry(&ctx.actor(), identity.as_ref(), id, &entry).await?)
    }

    /// A page of the cases the caller may see, newest first. Reads are audited.
    pub async fn list_cases(
        &self,
        ctx: &RequestContext,
        filter: CaseFilter,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<ShownCase>, String), AsbError> {
        let principal = &ctx.principal;
        let reach = if principal.role.may(Capability::WorkCases) && principal.role.sees_every_landlord() {
            ListReach::Areas(principal.areas.clone())
        } else if principal.role.may(Capability::WorkCases) {
            ListReach::Landlord {
                organisation: principal.organisation.clone(),
                areas: principal.areas.clone(),
            }
        } else if principal.role.may(Capability::ReadSharedCases) {
            ListReach::SharedWith(principal.organisation.clone())
        } else {
            return Err(refused("ROLE_NOT_PERMITTED", "your role may not read cases"));
        };
        let tokens = PageToken::for_filter(&self.page_tokens, &ctx.method, principal, &filter);
        let page = tokens.request::<Uuid>(page_size, page_token)?;
        let records = self.store.list_cases(&reach, &filter, page.after, page.size + 1).await?;
        let (records, next_page_token) = finish_page(records, page.size, &tokens, |record| record.case.id);
        let reference = self.store.reference_data().await?;
        // The query and the access rule agree; the rule has the last word.
        let shown: Vec<ShownCase> = records
            .into_iter()
            .map(|record| self.show(ctx, record, &reference.calendar))
            .filter(|case| case.view.is_visible())
            .collect();
        let reads =
            shown.iter().map(|case| AuditEntry::new(CaseId::from_uuid(case.record.case.id).name())).collect();
        self.store.record_reads(&ctx.actor(), reads).await?;
        Ok((shown, next_page_token))
    }

    /// Cases the performance and queue views cover for the caller.
    fn reach_for(ctx: &RequestContext, performance: bool) -> Result<ListReach, AsbError> {
        let principal = &ctx.principal;
        let works = principal.role.may(Capability::WorkCases);
        if works && principal.role.sees_every_landlord() {
            Ok(ListReach::Areas(principal.areas.clone()))
        } else if works {
            Ok(ListReach::Owner {
                organisation: principal.organisation.clone(),
                areas: principal.areas.clone(),
            })
        } else if performance && principal.role.may(Capability::ReadPerformance) {
            Ok(ListReach::Areas(principal.areas.clone()))
        } else {
            Err(refused("ROLE_NOT_PERMITTED", "your role may not see this"))
        }
    }

    /// The work queue over open cases: overdue first, then by deadline.
    pub async fn list_work_queue(
        &self,
        ctx: &RequestContext,
        filter: CaseFilter,
        horizon: chrono::Duration,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<QueueEntry>, String), AsbError> {
        let filter = CaseFilter { open_only: true, ..filter };
        let tokens = PageToken::for_filter(
            &self.page_tokens,
            &ctx.method,
            &ctx.principal,
            &(&filter, horizon.num_minutes()),
        );
        let page = tokens.request::<u64>(page_size, page_token)?;
        let queue = self.queue(ctx, &filter, horizon).await?;
        let start = usize::try_from(page.after.unwrap_or(0)).unwrap_or(usize::MAX);
        let size = usize::try_from(page.size).unwrap_or(usize::MAX);
        let end = start.saturating_add(size).min(queue.len());
        let items = queue.get(start..end).unwrap_or_default().to_vec();
        let next = if end < queue.len() {
            tokens.encode(&u64::try_from(end).unwrap_or(u64::MAX))
        } else {
            String::new()
        };
        Ok((items, next))
    }

    /// The whole queue now: overdue first, then by deadline. Only the open cases
    /// that may have an item are read (the store's pre-filter, [`QueueWindow`]),
    /// with their complainant contacts; the standards' rules decide the items.
    async fn queue(
        &self,
        ctx: &RequestContext,
        filter: &CaseFilter,
        horizon: chrono::Duration,
    ) -> Result<Vec<QueueEntry>, AsbError> {
        let reach = Self::reach_for(ctx, false)?;
        let reference = self.store.reference_data().await?;
        let now = self.clock.now();
        // Triggers of the complainants of these cases (their reports in any case count).
        let triggers: std::collections::HashMap<CaseId, DateTime<Utc>> = self
            .store
            .triggers_owned_in(&reach, filter)
            .await?
            .into_iter()
            .map(|raised| (raised.owning_case, raised.trigger.reached))
            .collect();
        // Quality reviews due on the cases of the officers these cases are assigned to.
        // An officer's own queue needs no query to know whose sample it is.
        let officers = match &filter.assigned_officer {
            Some(officer) => vec![officer.clone()],
            None => self.store.queue_officers(&reach, filter).await?,
        };
        let reviews_due = self.reviews_due(officers.iter().map(String::as_str), now).await?;
        // Cases with a trigger or a review due are in the queue for that alone.
        let listed: Vec<Uuid> = triggers.keys().chain(reviews_due.keys()).map(|case| case.uuid()).collect();
        let window = QueueWindow::new(&self.standards, now, horizon);
        let cases = self.store.queue_cases(&reach, filter, &window, &listed).await?;
        let viewer = viewer(ctx);
        let mut queue: Vec<QueueEntry> = Vec::new();
        for QueueCase { case, contacts } in cases {
            // The queue's reach is the caller's own cases or every landlord's in its
            // areas: there the view hangs on owner and area alone (party landlords
            // and sharing only open other landlords' cases, which it leaves out).
            let case_reach = CaseReach {
                owner: case.landlord_organisation.clone(),
                area: Some(case.area.clone()),
                ..CaseReach::default()
            };
            if access::view(&viewer, &case_reach) != View::Full {
                continue;
            }
            let id = CaseId::from_uuid(case.id);
            let clock = CaseClock {
                case: id,
                received: case.receive_time,
                acknowledged: case.acknowledge_time,
                first_response_within: case.first_response_secs.map(chrono::Duration::seconds),
                first_responded: case.first_response_time,
                opened: case.open_time,
                contacts,
                review_due: reviews_due.get(&id).copied(),
                trigger_reached: triggers.get(&id).copied(),
            };
            let items = queue::items(&clock, &self.standards, &reference.calendar, now, horizon);
            if items.is_empty() {
                continue;
            }
            let case = Arc::new(case);
            queue.extend(items.into_iter().map(|item| (item, Arc::clone(&case))));
        }
        queue.sort_by(|(a, _), (b, _)| {
            b.overdue.cmp(&a.overdue).then(a.deadline.cmp(&b.deadline)).then(a.task.cmp(&b.task))
        });
        Ok(queue)
    }

    /// The queue, then every change to it: a first message with the whole queue,
    /// then what was added and removed, each time a write in this process may have
    /// changed it or `every` has passed (for writes made elsewhere and deadlines
    /// passing). Ends when the caller goes.
    pub fn watch_queue(
        &self,
        ctx: RequestContext,
        filter: CaseFilter,
        horizon: chrono::Duration,
        every: std::time::Duration,
    ) -> tokio::sync::mpsc::Receiver<Result<QueueChange, AsbError>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let cases = self.clone();
        let filter = CaseFilter { open_only: true, ..filter };
        tokio::spawn(async move {
            let mut held: Vec<QueueEntry> = Vec::new();
            let mut first = true;
            loop {
                let now = match cases.queue(&ctx, &filter, horizon).await {
                    Ok(queue) => queue,
                    Err(err) => {
                        let _ = sender.send(Err(err)).await;
                        return;
                    }
                };
                let key = |(item, _): &QueueEntry| (item.case, item.task, item.deadline, item.overdue);
                let added: Vec<_> = now
                    .iter()
                    .filter(|entry| !held.iter().any(|old| key(old) == key(entry)))
                    .cloned()
                    .collect();
                let removed: Vec<_> = held
                    .iter()
                    .filter(|old| !now.iter().any(|entry| key(entry) == key(old)))
                    .cloned()
                    .collect();
                if first || !added.is_empty() || !removed.is_empty() {
                    first = false;
                    if sender.send(Ok(QueueChange { added, removed })).await.is_err() {
                        return;
                    }
                }
                held = now;
                tokio::select! {
                    () = cases.changed.notified() => {}
                    () = tokio::time::sleep(every) => {}
                    () = sender.closed() => return,
                }
            }
        });
        receiver
    }
    /// The service standards over the cases received in `[from, to)`: every one
    /// of them (no cap), read with only the columns and contacts the standards
    /// count.
    pub async fn service_standards(
        &self,
        ctx: &RequestContext,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StandardReport>, AsbError> {
        let reach = Self::reach_for(ctx, true)?;
        let filter = CaseFilter { received: Some((from, to)), ..CaseFilter::default() };
        let cases = self.store.standard_cases(&reach, &filter).await?;
        let reference = self.store.reference_data().await?;
        let calendar = &reference.calendar;
        let now = self.clock.now();
        let names_cases = ctx.principal.role.may(Capability::WorkCases);
        let targets = [
            (StandardKind::Acknowledgement, self.standards.acknowledgement_target),
            (StandardKind::FirstResponse, self.standards.first_response_target),
            (StandardKind::Contact, self.standards.contact_target),
            (StandardKind::Satisfaction, self.standards.satisfaction_target),
        ];
        // Tallies name cases by their index in `cases` until the end: a name is
        // made only for a case that missed.
        let mut reports: std::collections::HashMap<(StandardKind, &'static str, &str), Tally<usize>> =
            std::collections::HashMap::new();
        for (index, StandardCase { row, contacts }) in cases.iter().enumerate() {
            let satisfied = match row.satisfaction.as_deref() {
                Some("satisfied") => Some(true),
                Some("dissatisfied") => Some(false),
                Some(_) | None => None,
            };
            let times = CaseTimes {
                received: row.receive_time,
                acknowledged: row.acknowledge_time,
                first_response_within: row.first_response_secs.map(chrono::Duration::seconds),
                responded: row.first_response_time,
                opened: row.open_time,
                closed: row.close_time,
                contacts,
            };
            let [acknowledgement, first_response, contact] = self.standards.standings(calendar, &times, now);
            let standings = [acknowledgement, first_response, contact, standards::satisfaction(satisfied)];
            let slices = [
                ("all", ""),
                ("landlord", row.landlord_organisation.as_str()),
                ("team", row.team.as_deref().unwrap_or_default()),
                ("officer", row.assigned_officer.as_deref().unwrap_or_default()),
            ];
            for ((kind, target), standing) in targets.iter().zip(standings) {
                for (dimension, key) in slices {
                    reports
                        .entry((*kind, dimension, key))
                        .or_insert_with(|| Tally::new(*target))
                        .count(index, standing);
                }
            }
        }
        let mut reports: Vec<StandardReport> = reports
            .into_iter()
            .map(|((kind, dimension, key), tally)| {
                let missed_by = if names_cases {
                    tally
                        .missed_by
                        .iter()
                        .filter_map(|&index| cases.get(index))
                        .map(|case| CaseId::from_uuid(case.row.id).name())
                        .collect()
                } else {
                    Vec::new()
                };
                let tally = Tally {
                    missed_by,
                    met: tally.met,
                    missed: tally.missed,
                    pending: tally.pending,
                    target_percent: tally.target_percent,
                };
                StandardReport { kind, dimension, key: key.to_owned(), tally }
            })
            .collect();
        reports.sort_by(|a, b| (a.kind, a.dimension, &a.key).cmp(&(b.kind, b.dimension, &b.key)));
        Ok(reports)
    }

    /// A page of the diary of a case the caller sees in full (it is casework, and
    /// names people a landlord seeing only its own customers may not know).
    pub async fn list_diary(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<diary_entries::Model>, String), AsbError> {
        let not_found = || AsbError::CaseNotFound { name: id.name() };
        let record = self.store.case_record(id).await?.ok_or_else(not_found)?;
        match access::view(&viewer(ctx), &reach(&record)) {
            View::Hidden => return Err(not_found()),
            View::OwnPartiesOnly => {
                return Err(refused(
                    "DIARY_WITHHELD",
                    "a case's diary is shown only to those who see all of it",
                ));
            }
            View::Full => {}
        }
        let tokens = PageToken::for_filter(&self.page_tokens, &ctx.method, &ctx.principal, &id.name());
        let page = tokens.request::<Uuid>(page_size, page_token)?;
        let rows = self.store.list_diary(id, page.after, page.size + 1).await?;
        self.store
            .record_reads(&ctx.actor(), vec![AuditEntry::new(format!("{}/diaryEntries", id.name()))])
            .await?;
        Ok(finish_page(rows, page.size, &tokens, |row| row.id))
    }

    /// Records an intervention of a type in force on its start date; legal
    /// remedies only by those who may take enforcement action.
    pub async fn add_intervention(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        type_code: Code,
        start_date: chrono::NaiveDate,
        notes: Option<String>,
        identity: Option<RequestIdentity>,
    ) -> Result<interventions::Model, AsbError> {
        self.workable(ctx, id, Capability::WorkCases, "your role may not work cases").await?;
        let Some(kind) = self.store.intervention_type(&type_code).await? else {
            return Err(AsbError::Invalid(vec![FieldViolation::new(
                "intervention.type",
                "UNKNOWN_INTERVENTION",
                format!("{type_code} is not an intervention type here"),
            )]));
        };
        if !kind.available_on(start_date) {
            return Err(AsbError::Invalid(vec![FieldViolation::new(
                "intervention.start_date",
                "NOT_IN_FORCE",
                format!("{} was not available on {start_date}", kind.display_name),
            )]));
        }
        if kind.is_enforcement() && !ctx.principal.role.may(Capability::TakeEnforcementAction) {
            return Err(refused("ROLE_NOT_PERMITTED", "legal remedies are the enforcement team's"));
        }
        Ok(self.store.add_intervention(&ctx.actor(), identity.as_ref(), id, &kind, start_date, notes).await?)
    }

    /// Records how an intervention ended.
    pub async fn record_intervention_outcome(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        intervention: Uuid,
        outcome: Code,
        outcome_date: chrono::NaiveDate,
        court_outcome: Option<String>,
    ) -> Result<interventions::Model, AsbError> {
        self.workable(ctx, id, Capability::WorkCases, "your role may not work cases").await?;
        self.store
            .record_intervention_outcome(
                &ctx.actor(),
                id,
                intervention,
                &outcome,
                outcome_date,
                court_outcome,
            )
            .await?
            .ok_or_else(|| AsbError::InterventionNotFound {
                name: format!("{}/interventions/{intervention}", id.name()),
            })
    }

    /// Records that mediation was considered.
    pub async fn record_mediation(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        mediation: Mediation,
        etag: Option<Etag>,
    ) -> Result<ShownCase, AsbError> {
        self.workable(ctx, id, Capability::WorkCases, "your role may not work cases").await?;
        if !mediation.is_considered() {
            return Err(AsbError::Invalid(vec![FieldViolation::new(
                "decision",
                "REQUIRED",
                "say at which stage mediation was referred, or why it was not",
            )]));
        }
        self.store.record_mediation(&ctx.actor(), id, etag, &mediation).await?;
        self.reread(ctx, id).await
    }

    /// A manager's review of a case file. Every finding not met becomes an action
    /// on the case (its officer's unless the finding names an owner, due in 14 days
    /// unless it says); a quality review clears the case from this month's sample.
    pub async fn record_review(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        closure: bool,
        findings: Vec<Finding>,
        sign_off: bool,
    ) -> Result<(reviews::Model, Vec<review_actions::Model>), AsbError> {
        let (shown, _) =
            self.workable(ctx, id, Capability::ReviewCases, "only managers review cases").await?;
        let now = self.clock.now();
        let today = local_date(now);
        let late: Vec<FieldViolation> = findings
            .iter()
            .enumerate()
            .filter(|(_, finding)| !finding.met && finding.due.is_some_and(|due| due < today))
            .map(|(index, _)| {
                FieldViolation::new(
                    format!("case_review.findings[{index}].due_date"),
                    "OUT_OF_RANGE",
                    "an action is due today or later",
                )
            })
            .collect();
        if !late.is_empty() {
            return Err(AsbError::Invalid(late));
        }
        // An unassigned case's actions are the reviewer's to see done.
        let officer = shown.record.case.assigned_officer.as_deref().unwrap_or(&ctx.principal.subject);
        let actions: Vec<NewReviewAction> = crate::domain::review::actions_from(&findings, officer, today)
            .into_iter()
            .map(|action| NewReviewAction {
                action: action.action,
                owner: action.owner,
                due_date: action.due,
            })
            .collect();
        let kind = if closure { "closure" } else { "quality" };
        let review = NewReview {
            kind,
            findings: &findings,
            sign_off: closure && sign_off,
            actions: &actions,
            time: now,
        };
        let recorded = self.store.record_review(&ctx.actor(), id, &review).await?;
        self.changed.notify_waiters();
        Ok(recorded)
    }

    /// Closes a case, or names everything it still needs.
    pub async fn close_case(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        reason: String,
        outcome: Option<String>,
        etag: Option<Etag>,
    ) -> Result<ShownCase, AsbError> {
        self.workable(ctx, id, Capability::WorkCases, "your role may not work cases").await?;
        let now = self.clock.now();
        self.store
            .close_case(&ctx.actor(), id, etag, &reason, outcome, now)
            .await?
            .map_err(AsbError::ClosureNotReady)?;
        self.reread(ctx, id).await
    }

    /// The complainant's answer to the closure survey, on a closed case.
    pub async fn record_satisfaction(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        answer: &str,
    ) -> Result<ShownCase, AsbError> {
        let (shown, _) =
            self.seen_in_full(ctx, id, Capability::WorkCases, "your role may not work cases").await?;
        if shown.record.case.state != "closed" {
            return Err(AsbError::FailedPrecondition {
                reason: "CASE_OPEN",
                message: "the survey is sent, and answered, once the case is closed",
            });
        }
        self.store.record_satisfaction(&ctx.actor(), id, answer).await?;
        self.reread(ctx, id).await
    }

    /// Records a diversionary activity in one of the caller's areas.
    pub async fn create_activity(
        &self,
        ctx: &RequestContext,
        mut activity: diversionary_activities::Model,
    ) -> Result<(diversionary_activities::Model, u64, u64), AsbError> {
        if !ctx.principal.role.may(Capability::WorkCases) {
            return Err(refused("ROLE_NOT_PERMITTED", "your role may not record activities"));
        }
        if ctx.principal.areas.as_ref().is_some_and(|areas| !areas.contains(&activity.area)) {
            return Err(refused("OUTSIDE_SCOPE", "you may only record activities in your own areas"));
        }
        activity.organisation = ctx.principal.organisation.clone();
        activity.create_time = self.clock.now();
        let row = self.store.add_activity(&ctx.actor(), activity).await?;
        let (before, after) = self.before_and_after(&row).await?;
        Ok((row, before, after))
    }

    /// The activities in the caller's areas, with the ASB before and after each.
    pub async fn list_activities(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<(diversionary_activities::Model, u64, u64)>, AsbError> {
        if !ctx.principal.role.may(Capability::ReadPerformance) {
            return Err(refused("ROLE_NOT_PERMITTED", "your role may not read performance"));
        }
        let mut listed = Vec::new();
        for row in self.store.activities().await? {
            if ctx.principal.areas.as_ref().is_some_and(|areas| !areas.contains(&row.area)) {
                continue;
            }
            let (before, after) = self.before_and_after(&row).await?;
            listed.push((row, before, after));
        }
        Ok(listed)
    }

    /// Cases opened in the activity's area before it started and since, over
    /// periods as long as it has run (to its end date, or today).
    async fn before_and_after(&self, row: &diversionary_activities::Model) -> Result<(u64, u64), AsbError> {
        let start = start_of_day(row.start_date);
        let today = local_date(self.clock.now());
        let last = row.end_date.map_or(today, |end| end.min(today)).max(row.start_date);
        let end = last.succ_opt().map_or(DateTime::<Utc>::MAX_UTC, start_of_day);
        let length = end - start;
        let before = self.store.cases_in_area(&row.area, start - length, start).await?;
        let after = self.store.cases_in_area(&row.area, start, end).await?;
        Ok((before, after))
    }

    /// The bank holidays held.
    pub async fn bank_holidays(&self) -> Result<Vec<(chrono::NaiveDate, String)>, AsbError> {
        let rows = self.store.bank_holidays().await?;
        Ok(rows.into_iter().map(|row| (row.holiday_date, row.display_name)).collect())
    }

    /// Adds a bank holiday (operators, who keep reference data).
    pub async fn add_bank_holiday(
        &self,
        ctx: &RequestContext,
        date: chrono::NaiveDate,
        name: String,
    ) -> Result<(chrono::NaiveDate, String), AsbError> {
        if !ctx.principal.role.may(Capability::ManageReferenceData) {
            return Err(refused("ROLE_NOT_PERMITTED", "only operators keep reference data"));
        }
        if !self.store.add_bank_holiday(&ctx.actor(), date, &name).await? {
            return Err(AsbError::AlreadyExists { name: format!("bankHolidays/{date}") });
        }
        self.changed.notify_waiters();
        Ok((date, name))
    }

    /// Records the action plan agreed with the complainant.
    pub async fn agree_action_plan(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        actions: Vec<String>,
        review_date: Option<chrono::NaiveDate>,
    ) -> Result<ActionPlan, AsbError> {
        self.workable(ctx, id, Capability::WorkCases, "your role may not work cases").await?;
        let plan = ActionPlan { actions, review_date, agree_time: self.clock.now() };
        self.store.agree_action_plan(&ctx.actor(), id, &plan).await?;
        Ok(plan)
    }

    /// Logs officer time on a case, for the cost per case.
    pub async fn log_time(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        work_date: chrono::NaiveDate,
        minutes: i32,
        identity: Option<RequestIdentity>,
    ) -> Result<time_entries::Model, AsbError> {
        self.workable(ctx, id, Capability::WorkCases, "your role may not work cases").await?;
        if work_date > local_date(self.clock.now()) {
            return Err(AsbError::Invalid(vec![FieldViolation::new(
                "time_entry.work_date",
                "OUT_OF_RANGE",
                "time_entry.work_date is not in the future",
            )]));
        }
        let officer = ctx.principal.subject.clone();
        Ok(self.store.log_time(&ctx.actor(), identity.as_ref(), id, &officer, work_date, minutes).await?)
    }

    /// Records a decision to open a case to another organisation: who, what, why,
    /// under which agreement. Only those who work the case in full may.
    pub async fn record_sharing(
        &self,
        ctx: &RequestContext,
        id: CaseId,
        decision: NewSharingDecision,
    ) -> Result<sharing_decisions::Model, AsbError> {
        self.workable(ctx, id, Capability::WorkCases, "your role may not share cases").await?;
        Ok(self.store.record_sharing(&ctx.actor(), id, &decision).await?)
    }

    /// The case as the caller now sees it, after its own change.
    async fn reread(&self, ctx: &RequestContext, id: CaseId) -> Result<ShownCase, AsbError> {
        self.changed.notify_waiters();
        Ok(self.shown_case(ctx, id).await?.0)
    }

    fn show(
        &self,
        ctx: &RequestContext,
        record: CaseRecord,
        calendar: &crate::domain::calendar::WorkingCalendar,
    ) -> ShownCase {
        let view = access::view(&viewer(ctx), &reach(&record));
        let acknowledge_deadline = calendar.deadline(
            record.case.receive_time,
            self.standards.acknowledge_within_days,
            self.standards.acknowledge_days,
        );
        let case = &record.case;
        let now = self.clock.now();
        let with_complainant = complainant_contacts(&record);
        let standings = self.standards.standings(calendar, &case_times(case, &with_complainant), now);
        ShownCase {
            record,
            view,
            viewer: ctx.principal.organisation.clone(),
            acknowledge_deadline,
            standings,
        }
    }
}
