//! Face templates sealed at rest: the id of the key that sealed a person's
//! template, stored beside it (`biometrics.template_keys`). Rows written
//! before have none; the worker reads those only for the sandbox's model,
//! whose templates are not faces (crates/worker/src/biometrics/person.rs).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("persons")
                    .add_column(string_null("template_key"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("persons")
                    .drop_column("template_key")
                    .to_owned(),
            )
            .await
    }
}
