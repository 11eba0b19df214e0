//! The origins allowed to embed a project's capture page in an iframe
//! (`bvctl project update --embed-origin`): space-separated serialised
//! origins (`https://app.example.com`), which become the page's
//! `frame-ancestors` and the only targets of its `postMessage` events.
//! None: the page may not be framed at all.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("projects")
                    .add_column(text_null("embed_origins"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("projects")
                    .drop_column("embed_origins")
                    .to_owned(),
            )
            .await
    }
}
