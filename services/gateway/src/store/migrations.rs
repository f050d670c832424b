//! The gateway's migrator, with its own bookkeeping table.

use sea_orm_migration::prelude::*;

mod m0001_create_gateway_tables;
mod m0002_add_caller_trace_id;

#[derive(Debug)]
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m0001_create_gateway_tables::Migration), Box::new(m0002_add_caller_trace_id::Migration)]
    }

    fn migration_table_name() -> DynIden {
        "gateway_migrations".into_iden()
    }
}
