//! sea-orm entities for the profiles tables. Nested parts of a customer that are
//! never queried on their own are JSON text, which reads the same on SQLite and
//! PostgreSQL; anything the service filters, counts or erases has its own column.

pub mod customers {
    use persistence::{ScopeColumns, UniqueKey, Versioned};
    use sea_orm::entity::prelude::*;

    /// A landlord's own reference names one customer.
    pub const LANDLORD_REFERENCE: UniqueKey = UniqueKey {
        name: "customers_landlord_reference",
        table: "customers",
        columns: &["landlord_organisation", "external_reference"],
    };

    /// Who owns a customer and where, for scoped lookups.
    pub const SCOPE: ScopeColumns<Column> =
        ScopeColumns { organisation: Column::LandlordOrganisation, area: Column::Area };

    /// Writes are compare-and-set on the version behind the etag.
    pub const VERSIONED: Versioned<Column> = Versioned { id: Column::Id, version: Column::Version };

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub landlord_organisation: Option<String>,
        pub external_reference: Option<String>,
        pub title: Option<String>,
        pub given_name: String,
        pub family_name: String,
        pub preferred_name: Option<String>,
        /// Lower-cased " given family preferred", for word-prefix search.
        pub name_key: String,
        pub date_of_birth: Option<Date>,
        pub email: Option<String>,
        pub phone: Option<String>,
        pub mobile: Option<String>,
        pub preferred_contact_channel: Option<String>,
        pub preferred_language: Option<String>,
        pub communication_needs: String,
        pub accessibility_needs: String,
        pub household: String,
        pub tenure: String,
        pub uprn: Option<String>,
        pub address: String,
        pub postcode: Option<String>,
        /// Upper-cased postcode without spaces, for prefix search.
        pub postcode_key: Option<String>,
        pub area: Option<String>,
        pub vulnerabilities: String,
        pub involvement_interests: String,
        pub contact_consent: bool,
        pub consent_time: Option<DateTimeUtc>,
        pub equality_lawful_basis: Option<String>,
        pub eq_ethnicity: String,
        pub eq_disability: String,
        pub eq_sex: String,
        pub eq_gender_identity: String,
        pub eq_age_band: String,
        pub eq_religion: String,
        pub eq_sexual_orientation: String,
        pub eq_caring_responsibilities: String,
        pub state: String,
        pub create_time: DateTimeUtc,
        pub update_time: DateTimeUtc,
        pub delete_time: Option<DateTimeUtc>,
        pub version: i64,
        /// The `Customer` message without its equality answers, as written
        /// (`crate::encoding`); `None` on rows written before encodings were kept.
        pub encoded: Option<Vec<u8>>,
        /// The equality answers as the message's field 21.
        pub encoded_equality: Option<Vec<u8>>,
        /// Whether any equality answer is held.
        pub equality_recorded: bool,
        /// `crate::encoding::FORMAT` of the encodings.
        pub encoding_format: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod tenure_periods {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenure_periods")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub customer_id: Uuid,
        pub tenure: String,
        pub landlord_organisation: Option<String>,
        pub start_date: Date,
        pub end_date: Option<Date>,
        pub reason: Option<String>,
        pub record_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod reference_values {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reference_values")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub set_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub code: String,
        pub display_name: String,
        pub retired: bool,
        pub create_time: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod erasures {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "erasures")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: Uuid,
        pub reason: String,
        pub erase_time: DateTimeUtc,
        pub organisation: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
