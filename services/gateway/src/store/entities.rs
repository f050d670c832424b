//! sea-orm entities for the gateway's tables.

pub mod organisations {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "organisations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub display_name: String,
        pub kind: String,
        pub create_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod credentials {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "credentials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub organisation_id: String,
        pub display_name: String,
        pub role: String,
        /// JSON list of area codes, or NULL for no restriction.
        pub areas: Option<String>,
        pub rate_limit_per_minute: i32,
        pub expire_time: Option<DateTimeUtc>,
        pub secret_hash: String,
        pub previous_secret_hash: Option<String>,
        pub previous_secret_expire_time: Option<DateTimeUtc>,
        pub rotate_time: Option<DateTimeUtc>,
        pub revoke_time: Option<DateTimeUtc>,
        pub create_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod calls {
    use sea_orm::entity::prelude::*;

    /// One call through the gateway.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "calls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub event_time: DateTimeUtc,
        pub credential: String,
        pub organisation: String,
        pub role: String,
        pub method: String,
        pub resource: String,
        pub status: String,
        pub special_category: bool,
        /// The gateway's own trace of the call.
        pub trace_id: String,
        /// The trace the caller sent, if any, kept beside the gateway's.
        pub caller_trace_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
