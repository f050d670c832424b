//! The profiles service's migrator: the shared tables first, then its own, one
//! migration per file. Its bookkeeping table is its own too, so services sharing
//! one PostgreSQL database never see each other's migration history.

use sea_orm_migration::prelude::*;

mod m0003_create_reference_values;
mod m0004_create_customers;
mod m0005_seed_reference_values;
mod m0007_keep_customer_encodings;

#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(persistence::shared_migrations::CreateAuditEvents),
            Box::new(persistence::shared_migrations::CreateIdempotencyKeys),
            Box::new(m0003_create_reference_values::Migration),
            Box::new(m0004_create_customers::Migration),
            Box::new(m0005_seed_reference_values::Migration),
            Box::new(persistence::shared_migrations::AddIdempotencyRequestDigest),
            Box::new(m0007_keep_customer_encodings::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        "profiles_migrations".into_iden()
    }
}
