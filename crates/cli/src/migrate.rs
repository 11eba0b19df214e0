//! `bvctl migrate`: apply pending database migrations.

use bv_migration::{Migrator, MigratorTrait};
use bv_store::sea_orm::DatabaseConnection;
use serde_json::json;

pub async fn run(db: &DatabaseConnection, as_json: bool) -> anyhow::Result<String> {
    Migrator::up(db, None).await?;
    let done = Migrator::get_applied_migrations(db).await?.len();
    Ok(super::output::one(
        as_json,
        &json!({"applied": done}),
        || format!("database is up to date ({done} migrations applied)"),
    ))
}
