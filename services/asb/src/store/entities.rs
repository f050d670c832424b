//! sea-orm entities for the ASB tables. Lists and small nested parts that are
//! never queried on their own (categories, vulnerabilities, the action plan,
//! review findings) are JSON text, which reads the same on SQLite and PostgreSQL;
//! whatever a queue, a standard or an access rule filters on has its own column.

macro_rules! entity {
    ($module:ident, $table:literal, { $($field:tt)* }) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                $($field)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

entity!(cases, "cases", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `ASB-{year}-{number}`, unique.
    pub reference: String,
    /// The landlord whose case it is: `organisations/{id}`.
    pub landlord_organisation: String,
    pub area: String,
    /// `new`, `open`, `closed`.
    pub state: String,
    /// JSON list of category codes.
    pub categories: String,
    pub hate_motivation: Option<String>,
    pub priority: Option<String>,
    pub route: Option<String>,
    pub first_response_secs: Option<i64>,
    pub risk: Option<String>,
    /// JSON list of vulnerability codes.
    pub vulnerabilities: String,
    pub priority_reason: Option<String>,
    pub triaged_by: Option<String>,
    pub triage_time: Option<DateTimeUtc>,
    pub assigned_officer: Option<String>,
    pub team: Option<String>,
    pub repeat_of: Option<Uuid>,
    /// JSON of the mediation decision, once made.
    pub mediation: Option<String>,
    /// JSON of the action plan, once agreed.
    pub action_plan: Option<String>,
    pub closure_reason: Option<String>,
    pub closure_outcome: Option<String>,
    pub close_time: Option<DateTimeUtc>,
    /// `satisfied`, `dissatisfied`, `no_answer`.
    pub satisfaction: Option<String>,
    pub signed_off: bool,
    /// When the first report was received: the standards count from it.
    pub receive_time: DateTimeUtc,
    pub open_time: DateTimeUtc,
    pub acknowledge_time: Option<DateTimeUtc>,
    pub first_response_time: Option<DateTimeUtc>,
    pub update_time: DateTimeUtc,
    pub version: i64,
});

/// Writes to a case are compare-and-set on its version, the number behind its etag.
pub const CASES_VERSIONED: persistence::Versioned<cases::Column> =
    persistence::Versioned { id: cases::Column::Id, version: cases::Column::Version };

entity!(reports, "reports", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub channel: String,
    pub receive_time: DateTimeUtc,
    pub incident_time: Option<DateTimeUtc>,
    pub description: String,
    pub area: String,
    pub uprn: Option<String>,
    pub location_description: Option<String>,
    /// JSON list of category codes, as reported.
    pub categories: String,
    pub hate_motivation: Option<String>,
    /// The organisation that took the report.
    pub organisation: String,
});

entity!(parties, "parties", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub report_id: Uuid,
    /// `complainant`, `alleged_perpetrator`, `victim`, `witness`.
    pub role: String,
    /// `customers/{id}` for a customer.
    pub customer: Option<String>,
    /// The customer's landlord when the report was filed (checked through profiles).
    pub customer_landlord: Option<String>,
    /// The matching key of someone outside the customer base.
    pub external_key: Option<String>,
    /// JSON of what was recorded of them: name, contact, postcode or description.
    pub details: String,
});

entity!(diary_entries, "diary_entries", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub occur_time: DateTimeUtc,
    pub text: String,
    pub reported_by: Option<String>,
    /// JSON list of evidence references.
    pub evidence: String,
    pub corrects: Option<Uuid>,
    pub author: String,
    pub create_time: DateTimeUtc,
});

// Read models: the few columns of a table that one hot read needs, so a queue
// decodes (and on SQLite, reads from an index alone) no more than it uses. They
// are never written through: the table's own entity above and below is.

entity!(queue_cases, "cases", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub reference: String,
    pub landlord_organisation: String,
    pub area: String,
    pub priority: Option<String>,
    pub first_response_secs: Option<i64>,
    pub assigned_officer: Option<String>,
    pub team: Option<String>,
    pub receive_time: DateTimeUtc,
    pub open_time: DateTimeUtc,
    pub acknowledge_time: Option<DateTimeUtc>,
    pub first_response_time: Option<DateTimeUtc>,
});

entity!(contact_times, "contacts", {
    /// Not the table's key: a read model needs one, and `contacts_by_case_role`
    /// covers these two columns (the id is not in it).
    #[sea_orm(primary_key, auto_increment = false)]
    pub case_id: Uuid,
    pub contact_time: DateTimeUtc,
});

entity!(contacts, "contacts", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub party_role: String,
    pub channel: String,
    pub contact_time: DateTimeUtc,
    pub summary: Option<String>,
    pub author: String,
});

entity!(interventions, "interventions", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub intervention_type: String,
    /// The type's kind when recorded: `referral` ones need an outcome to close.
    pub kind: String,
    pub start_date: Date,
    pub notes: Option<String>,
    pub outcome: Option<String>,
    pub outcome_date: Option<Date>,
    pub court_outcome: Option<String>,
    pub author: String,
});

entity!(reviews, "reviews", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    /// `quality` or `closure`.
    pub kind: String,
    /// JSON list of findings: item, met, action.
    pub findings: String,
    pub sign_off: bool,
    pub reviewer: String,
    pub review_time: DateTimeUtc,
});

entity!(sharing_decisions, "sharing_decisions", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    /// `organisations/{id}` the case is opened to.
    pub shared_with: String,
    /// JSON list of what is shared (`parties`, `reports`, `diary`).
    pub scope: String,
    pub reason: String,
    /// The information-sharing agreement it is made under.
    pub agreement: String,
    pub decided_by: String,
    /// The organisation of whoever decided.
    pub organisation: String,
    pub decide_time: DateTimeUtc,
});

entity!(time_entries, "time_entries", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub officer: String,
    pub work_date: Date,
    pub minutes: i32,
    pub create_time: DateTimeUtc,
});

entity!(diversionary_activities, "diversionary_activities", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub display_name: String,
    pub area: String,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub budget_pence: i64,
    pub participants: i32,
    /// The organisation that runs it.
    pub organisation: String,
    pub create_time: DateTimeUtc,
});

entity!(categories, "categories", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub display_name: String,
    pub priority: String,
    pub route: String,
    pub first_response_secs: Option<i64>,
    pub needs_motivation: bool,
    pub retired: bool,
    /// The number behind its etag.
    pub version: i64,
});

/// Edits to a category are compare-and-set on its version.
pub const CATEGORIES_VERSIONED: persistence::Versioned<categories::Column> =
    persistence::Versioned { id: categories::Column::Code, version: categories::Column::Version };

entity!(intervention_types, "intervention_types", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub display_name: String,
    pub kind: String,
    pub effective_from: Date,
    pub effective_to: Option<Date>,
    /// The number behind its etag.
    pub version: i64,
});

/// Edits to an intervention type are compare-and-set on its version.
pub const INTERVENTION_TYPES_VERSIONED: persistence::Versioned<intervention_types::Column> =
    persistence::Versioned {
        id: intervention_types::Column::Code,
        version: intervention_types::Column::Version,
    };

entity!(review_actions, "review_actions", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub case_id: Uuid,
    pub review_id: Uuid,
    pub action: String,
    /// Who is to do it: the case's officer unless the review named someone.
    pub owner: String,
    pub due_date: Date,
    pub create_time: DateTimeUtc,
});

entity!(service_secrets, "service_secrets", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub secret: String,
});

entity!(bank_holidays, "bank_holidays", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub holiday_date: Date,
    pub display_name: String,
});

/// Homes per landlord and year: NM01's denominator, kept by operators.
pub mod landlord_homes {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "landlord_homes")]
    pub struct Model {
        /// `organisations/{id}`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub landlord_organisation: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub year: i32,
        pub homes: i64,
        /// The credential that recorded it.
        pub updated_by: String,
        pub update_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A complainant (or victim) whose qualifying reports reached the community
/// trigger's threshold, as their latest report left it.
pub mod community_triggers {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "community_triggers")]
    pub struct Model {
        /// `customer` or `external`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub person_kind: String,
        /// `customers/{id}`, or the officer's key for someone outside the customer base.
        #[sea_orm(primary_key, auto_increment = false)]
        pub person: String,
        /// The case of their latest qualifying report.
        pub owning_case: Uuid,
        pub first_time: DateTimeUtc,
        pub reached_time: DateTimeUtc,
        pub reports: i32,
        /// Every case their qualifying reports are in: a JSON array of ids.
        pub cases: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The threshold `community_triggers` was counted by (one row; 0/0 before the
/// first count).
pub mod community_trigger_rule {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "community_trigger_rule")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub reports: i32,
        pub months: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
