//! Schema migrations (sea-orm-migration), for PostgreSQL and SQLite.
//!
//! Run by `bvctl migrate`, and by `bv-worker` at start when
//! `database.migrate_on_start` is set.

pub use sea_orm_migration::prelude::*;

mod m20261129_000001_core;
mod m20261129_000002_deliveries;
mod m20261130_000003_biometrics;
mod m20261130_000004_template_keys;
mod m20261207_000005_validate_starts;
mod m20261207_000006_embed_origins;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_core::Migration),
            Box::new(m20261129_000002_deliveries::Migration),
            Box::new(m20261130_000003_biometrics::Migration),
            Box::new(m20261130_000004_template_keys::Migration),
            Box::new(m20261207_000005_validate_starts::Migration),
            Box::new(m20261207_000006_embed_origins::Migration),
        ]
    }
}
