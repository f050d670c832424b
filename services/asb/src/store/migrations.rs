//! The ASB service's migrator: the shared tables first, then its own. Its
//! bookkeeping table is its own too, so services sharing one PostgreSQL database
//! never see each other's migration history.

use sea_orm_migration::prelude::*;

mod m0003_create_cases;
mod m0004_seed_reference_data;
mod m0005_create_reviews;
mod m0006_create_sharing_decisions;
mod m0007_create_time_entries;
mod m0008_create_diversionary_activities;
mod m0009_quality_and_reference_upkeep;
mod m0010_create_landlord_homes;
mod m0011_index_queue_and_standards;
mod m0012_create_community_triggers;

#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(persistence::shared_migrations::CreateAuditEvents),
            Box::new(persistence::shared_migrations::CreateIdempotencyKeys),
            Box::new(persistence::shared_migrations::AddIdempotencyRequestDigest),
            Box::new(m0003_create_cases::Migration),
            Box::new(m0004_seed_reference_data::Migration),
            Box::new(m0005_create_reviews::Migration),
            Box::new(m0006_create_sharing_decisions::Migration),
            Box::new(m0007_create_time_entries::Migration),
            Box::new(m0008_create_diversionary_activities::Migration),
            Box::new(m0009_quality_and_reference_upkeep::Migration),
            Box::new(m0010_create_landlord_homes::Migration),
            Box::new(m0011_index_queue_and_standards::Migration),
            Box::new(m0012_create_community_triggers::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "asb_migrations".into_iden()
    }
}
