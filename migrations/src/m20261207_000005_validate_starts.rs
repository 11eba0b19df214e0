//! How often a validate command was started without an outcome: a command
//! that stops its worker (killed while decoding, say) is redelivered by the
//! broker, and counting its starts lets the next worker refuse it instead of
//! dying again (crates/worker/src/biometrics/validate.rs). Rows are written
//! only for redelivered commands and swept after a day.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("validate_starts")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(integer("starts"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        // A new challenge retires its validation's open ones; the sweep
        // deletes the expired ones.
        for (name, column) in [
            ("challenges_validation_idx", "validation_id"),
            ("challenges_expires_idx", "expires_at"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("challenges")
                        .col(column)
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["challenges_validation_idx", "challenges_expires_idx"] {
            manager
                .drop_index(Index::drop().name(name).table("challenges").to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table("validate_starts").to_owned())
            .await
    }
}
