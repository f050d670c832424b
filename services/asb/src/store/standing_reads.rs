//! The reads behind the work queue and the service standards: only the cases and
//! the columns they count, chosen in SQL, so a queue over a team's open cases or a
//! year's report over 100,000 cases reads what it needs and nothing else (not a
//! case's reports, parties, interventions or diary). The rules themselves stay in
//! [`crate::domain`]: these reads only narrow what they are applied to.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query, SelectStatement};
use sea_orm::{
    ColumnTrait as _, Condition, EntityTrait as _, FromQueryResult, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, QueryTrait as _,
};
use uuid::Uuid;

use super::entities::{cases, contact_times, contacts, queue_cases};
use super::{CaseFilter, ListReach, Store, case_condition, codes};
use crate::domain::case::PartyRole;
use crate::domain::queue::QueueWindow;
use persistence::StoreError;

/// The parties whose contacts count for the contact standard.
fn contacted_roles() -> [&'static str; 2] {
    [codes::party_role(PartyRole::Complainant), codes::party_role(PartyRole::Victim)]
}

/// An open case as the queue reads it: its row, and when its complainant (or a
/// victim) was contacted, in no particular order.
#[derive(Clone, Debug)]
pub struct QueueCase {
    pub case: queue_cases::Model,
    pub contacts: Vec<DateTime<Utc>>,
}

/// A case as the standards count it: the columns they read.
#[derive(Clone, Debug, FromQueryResult)]
pub struct StandardRow {
    pub id: Uuid,
    pub landlord_organisation: String,
    pub team: Option<String>,
    pub assigned_officer: Option<String>,
    pub receive_time: DateTime<Utc>,
    pub open_time: DateTime<Utc>,
    pub acknowledge_time: Option<DateTime<Utc>>,
    pub first_response_secs: Option<i64>,
    pub first_response_time: Option<DateTime<Utc>>,
    pub close_time: Option<DateTime<Utc>>,
    pub satisfaction: Option<String>,
}

/// A case's standard columns and its complainant contacts.
#[derive(Clone, Debug)]
pub struct StandardCase {
    pub row: StandardRow,
    pub contacts: Vec<DateTime<Utc>>,
}

/// Whether a contact with the complainant was made at or after `since` on the
/// case of the outer query (a correlated subquery: one index probe per case).
fn contacted_since(since: DateTime<Utc>) -> SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(contacts::Entity)
        .and_where(
            Expr::col((contacts::Entity, contacts::Column::CaseId))
                .equals((cases::Entity, cases::Column::Id)),
        )
        .and_where(contacts::Column::PartyRole.is_in(contacted_roles()))
        .and_where(contacts::Column::ContactTime.gte(since))
        .to_owned()
}

/// The SQL form of [`QueueWindow::may_hold`] (the cases a trigger or a quality
/// review puts in the queue are listed by id).
fn may_hold(window: &QueueWindow, listed: &[Uuid]) -> Condition {
    let waiting = Condition::any().add(cases::Column::AcknowledgeTime.is_null()).add(
        Condition::all()
            .add(cases::Column::FirstResponseSecs.is_not_null())
            .add(cases::Column::FirstResponseTime.is_null()),
    );
    let quiet = Condition::all()
        .add(cases::Column::OpenTime.lt(window.quiet_before))
        .add(Expr::exists(contacted_since(window.quiet_before)).not());
    let mut held = Condition::any()
        .add(Condition::all().add(waiting).add(cases::Column::ReceiveTime.lt(window.received_before)))
        .add(quiet);
    if !listed.is_empty() {
        held = held.add(cases::Column::Id.is_in(listed.iter().copied()));
    }
    held
}

impl Store {
    /// The cases `reach` and `filter` select that may have a queue item in
    /// `window`, with their complainant contacts: two queries, whatever the count.
    /// `listed`: cases a raised community trigger is owned by or a quality review
    /// is due on (they are in the queue for that alone, if `reach` and `filter`
    /// select them).
    pub async fn queue_cases(
        &self,
        reach: &ListReach,
        filter: &CaseFilter,
        window: &QueueWindow,
        listed: &[Uuid],
    ) -> Result<Vec<QueueCase>, StoreError> {
        let selected = case_condition(reach, filter).add(may_hold(window, listed));
        // Newest first, as lists are: ties in the queue's order keep it.
        let rows = self
            .select_all(queue_cases::Entity::find().filter(selected).order_by_desc(queue_cases::Column::Id))
            .await?;
        // By the ids just read, not by the window's condition again: joined to
        // `cases` under the pre-filter's NOT EXISTS, PostgreSQL spent half a team's
        // queue on this read (README "ASB work queue and service standards").
        let ids: Vec<Uuid> = rows.iter().map(|case| case.id).collect();
        let mut contacts = self.complainant_contacts_of(&ids).await?;
        Ok(rows
            .into_iter()
            .map(|case| QueueCase { contacts: contacts.remove(&case.id).unwrap_or_default(), case })
            .collect())
    }

    /// The officers the cases `reach` and `filter` select are assigned to.
    pub async fn queue_officers(
        &self,
        reach: &ListReach,
        filter: &CaseFilter,
    ) -> Result<Vec<String>, StoreError> {
        let officers: Vec<Option<String>> = cases::Entity::find()
            .select_only()
            .column(cases::Column::AssignedOfficer)
            .distinct()
            .filter(case_condition(reach, filter))
            .filter(cases::Column::AssignedOfficer.is_not_null())
            .into_tuple()
            .all(self.connection())
            .await?;
        Ok(officers.into_iter().flatten().collect())
    }

    /// Every case `reach` and `filter` select, with the columns the standards
    /// read and its complainant contacts: two queries, whatever the count.
    pub async fn standard_cases(
        &self,
        reach: &ListReach,
        filter: &CaseFilter,
    ) -> Result<Vec<StandardCase>, StoreError> {
        let selected = case_condition(reach, filter);
        let rows = cases::Entity::find()
            .select_only()
            .columns([
                cases::Column::Id,
                cases::Column::LandlordOrganisation,
                cases::Column::Team,
                cases::Column::AssignedOfficer,
                cases::Column::ReceiveTime,
                cases::Column::OpenTime,
                cases::Column::AcknowledgeTime,
                cases::Column::FirstResponseSecs,
                cases::Column::FirstResponseTime,
                cases::Column::CloseTime,
                cases::Column::Satisfaction,
            ])
            .filter(selected.clone())
            // Newest first, as lists are: the order of the cases each standard missed.
            .order_by_desc(cases::Column::Id)
            .into_model::<StandardRow>()
            .all(self.connection())
            .await?;
        let mut contacts = self.complainant_contact_times(selected).await?;
        Ok(rows
            .into_iter()
            .map(|row| StandardCase { contacts: contacts.remove(&row.id).unwrap_or_default(), row })
            .collect())
    }

    /// When the complainants (and victims) of the cases `selected` picks were
    /// contacted, by case: one join, no list of ids bound.
    async fn complainant_contact_times(
        &self,
        selected: Condition,
    ) -> Result<HashMap<Uuid, Vec<DateTime<Utc>>>, StoreError> {
        let rows: Vec<(Uuid, DateTime<Utc>)> = contacts::Entity::find()
            .select_only()
            .column(contacts::Column::CaseId)
            .column(contacts::Column::ContactTime)
            .join(sea_orm::JoinType::InnerJoin, contact_case())
            .filter(contacts::Column::PartyRole.is_in(contacted_roles()))
            .filter(selected)
            .into_tuple()
            .all(self.connection())
            .await?;
        let mut by_case: HashMap<Uuid, Vec<DateTime<Utc>>> = HashMap::new();
        for (case, at) in rows {
            by_case.entry(case).or_default().push(at);
        }
        Ok(by_case)
    }

    /// The complainant contact times of the cases `ids`, a bounded number of ids
    /// per statement (SQLite takes at most 32,766 parameters).
    async fn complainant_contacts_of(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<DateTime<Utc>>>, StoreError> {
        const IDS_PER_STATEMENT: usize = 4_096;
        let mut by_case: HashMap<Uuid, Vec<DateTime<Utc>>> = HashMap::new();
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let rows = self
                .select_all(
                    contact_times::Entity::find()
                        .filter(contact_times::Column::CaseId.is_in(chunk.iter().copied()))
                        .filter(contacts::Column::PartyRole.is_in(contacted_roles())),
                )
                .await?;
            for row in rows {
                by_case.entry(row.case_id).or_default().push(row.contact_time);
            }
        }
        Ok(by_case)
    }

    /// The ids of the cases `reach` and `filter` select, as a subquery.
    pub(super) fn case_ids(reach: &ListReach, filter: &CaseFilter) -> SelectStatement {
        cases::Entity::find()
            .select_only()
            .column(cases::Column::Id)
            .filter(case_condition(reach, filter))
            .into_query()
    }
}

/// A contact's case, for joining.
fn contact_case() -> sea_orm::RelationDef {
    contacts::Entity::belongs_to(cases::Entity).from(contacts::Column::CaseId).to(cases::Column::Id).into()
}
