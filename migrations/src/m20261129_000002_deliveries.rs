//! The notification outbox: one row per email or webhook to deliver, written
//! in the validation's transaction, and the history of every attempt.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("deliveries")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("validation_id"))
                    .col(string("client"))
                    .col(string("project"))
                    .col(string("channel"))
                    .col(text("target"))
                    .col(string("event_type"))
                    .col(text("payload"))
                    .col(string("language"))
                    .col(string("status"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("schedule_started_at"))
                    .col(integer("schedule_attempts"))
                    .col(timestamp_with_time_zone_null("next_attempt_at"))
                    .col(string_null("lease_owner"))
                    .col(timestamp_with_time_zone_null("lease_expires_at"))
                    .col(text_null("last_error"))
                    .col(integer_null("last_status"))
                    .col(string_null("trace_parent"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("deliveries_validation_fk")
                            .from("deliveries", "validation_id")
                            .to("biometric_validations", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("deliveries_due_idx", &["status", "next_attempt_at"][..]),
            ("deliveries_validation_idx", &["validation_id"][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table("deliveries").if_not_exists();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("delivery_attempts")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("delivery_id"))
                    .col(integer("attempt"))
                    .col(timestamp_with_time_zone("started_at"))
                    .col(big_integer("duration_ms"))
                    .col(string("outcome"))
                    .col(integer_null("response_status"))
                    .col(text_null("response_body"))
                    .col(text_null("error"))
                    .col(string("worker"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("delivery_attempts_delivery_fk")
                            .from("delivery_attempts", "delivery_id")
                            .to("deliveries", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("delivery_attempts_delivery_idx")
                    .table("delivery_attempts")
                    .col("delivery_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["delivery_attempts", "deliveries"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
