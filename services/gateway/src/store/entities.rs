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

// The store's mapping between rows and the gateway's records.
mod mapping {
    use super::{calls, credentials, organisations};
    use crate::domain::records::{Call, Credential, Organisation};

    impl From<organisations::Model> for Organisation {
        fn from(row: organisations::Model) -> Self {
            let organisations::Model { id, display_name, kind, create_time } = row;
            Self { id, display_name, kind, create_time }
        }
    }

    impl From<Organisation> for organisations::Model {
        fn from(record: Organisation) -> Self {
            let Organisation { id, display_name, kind, create_time } = record;
            Self { id, display_name, kind, create_time }
        }
    }

    impl From<credentials::Model> for Credential {
        fn from(row: credentials::Model) -> Self {
            let credentials::Model {
                id,
                organisation_id,
                display_name,
                role,
                areas,
                rate_limit_per_minute,
                expire_time,
                secret_hash,
                previous_secret_hash,
                previous_secret_expire_time,
                rotate_time,
                revoke_time,
                create_time,
            } = row;
            Self {
                id,
                organisation_id,
                display_name,
                role,
                areas,
                rate_limit_per_minute,
                expire_time,
                secret_hash,
                previous_secret_hash,
                previous_secret_expire_time,
                rotate_time,
                revoke_time,
                create_time,
            }
        }
    }

    impl From<Credential> for credentials::Model {
        fn from(record: Credential) -> Self {
            let Credential {
                id,
                organisation_id,
                display_name,
                role,
                areas,
                rate_limit_per_minute,
                expire_time,
                secret_hash,
                previous_secret_hash,
                previous_secret_expire_time,
                rotate_time,
                revoke_time,
                create_time,
            } = record;
            Self {
                id,
                organisation_id,
                display_name,
                role,
                areas,
                rate_limit_per_minute,
                expire_time,
                secret_hash,
                previous_secret_hash,
                previous_secret_expire_time,
                rotate_time,
                revoke_time,
                create_time,
            }
        }
    }

    impl From<calls::Model> for Call {
        fn from(row: calls::Model) -> Self {
            let calls::Model {
                id,
                event_time,
                credential,
                organisation,
                role,
                method,
                resource,
                status,
                special_category,
                trace_id,
                caller_trace_id,
            } = row;
            Self {
                id,
                event_time,
                credential,
                organisation,
                role,
                method,
                resource,
                status,
                special_category,
                trace_id,
                caller_trace_id,
            }
        }
    }

    impl From<Call> for calls::ActiveModel {
        fn from(record: Call) -> Self {
            let Call {
                id,
                event_time,
                credential,
                organisation,
                role,
                method,
                resource,
                status,
                special_category,
                trace_id,
                caller_trace_id,
            } = record;
            sea_orm::IntoActiveModel::into_active_model(calls::Model {
                id,
                event_time,
                credential,
                organisation,
                role,
                method,
                resource,
                status,
                special_category,
                trace_id,
                caller_trace_id,
            })
        }
    }
}
