//! Completing a validation (README, "Completing a validation"): engine and
//! image retention per project, liveness and attempt settings per flow, the
//! attempt counter and the person on a validation, and the tables of
//! challenges, attempts and enrolled persons. `completed` becomes Verifik's
//! `validated`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One column added to a table (SQLite takes one per ALTER).
async fn add(manager: &SchemaManager<'_>, table: &str, column: ColumnDef) -> Result<(), DbErr> {
    let mut column = column;
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new(table))
                .add_column(&mut column)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add(
            manager,
            "projects",
            string("engine").default("sandbox").to_owned(),
        )
        .await?;
        add(manager, "projects", integer_null("keep_images_days")).await?;
        add(
            manager,
            "project_flows",
            string("liveness").default("active").to_owned(),
        )
        .await?;
        add(manager, "project_flows", float_null("match_threshold")).await?;
        add(
            manager,
            "project_flows",
            integer("max_attempts").default(3).to_owned(),
        )
        .await?;
        add(
            manager,
            "biometric_validations",
            integer("attempts").default(0).to_owned(),
        )
        .await?;
        add(manager, "biometric_validations", uuid_null("person_id")).await?;
        add(
            manager,
            "biometric_validations",
            boolean_null("person_enrolled"),
        )
        .await?;
        add(
            manager,
            "biometric_validations",
            uuid_null("decided_attempt"),
        )
        .await?;

        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE biometric_validations SET status = 'validated' WHERE status = 'completed'",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("challenges")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("validation_id"))
                    .col(text("steps"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("challenges_validation_fk")
                            .from("challenges", "validation_id")
                            .to("biometric_validations", "id"),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("validation_attempts")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(uuid("validation_id"))
                    .col(uuid_null("challenge_id"))
                    .col(string("os"))
                    .col(string("decision"))
                    .col(text("reasons"))
                    .col(float_null("liveness_score"))
                    .col(float_null("match_score"))
                    .col(string("engine"))
                    .col(string("engine_version"))
                    .col(integer("duration_ms"))
                    .col(blob_null("images"))
                    .col(timestamp_with_time_zone_null("images_expire_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("validation_attempts_validation_fk")
                            .from("validation_attempts", "validation_id")
                            .to("biometric_validations", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        // A challenge is answered once, even by two racing workers.
        manager
            .create_index(
                Index::create()
                    .name("validation_attempts_challenge_idx")
                    .table("validation_attempts")
                    .col("challenge_id")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("validation_attempts_validation_idx")
                    .table("validation_attempts")
                    .col("validation_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("validation_attempts_images_idx")
                    .table("validation_attempts")
                    .col("images_expire_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("persons")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(string("project"))
                    .col(string("identifier"))
                    .col(string("model"))
                    .col(blob("template"))
                    .col(uuid("enrolled_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("persons_project_fk")
                            .from("persons", "project")
                            .to("projects", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        // One person per identifier in a project.
        manager
            .create_index(
                Index::create()
                    .name("persons_project_identifier_idx")
                    .table("persons")
                    .col("project")
                    .col("identifier")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["persons", "validation_attempts", "challenges"] {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(table))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE biometric_validations SET status = 'completed' WHERE status = 'validated'",
            )
            .await?;
        for (table, column) in [
            ("biometric_validations", "decided_attempt"),
            ("biometric_validations", "person_enrolled"),
            ("biometric_validations", "person_id"),
            ("biometric_validations", "attempts"),
            ("project_flows", "max_attempts"),
            ("project_flows", "match_threshold"),
            ("project_flows", "liveness"),
            ("projects", "keep_images_days"),
            ("projects", "engine"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
