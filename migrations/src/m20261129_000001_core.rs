//! Projects, their flows, and biometric validations.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("projects")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("client"))
                    .col(string("name"))
                    .col(string("status"))
                    .col(string_null("webhook_url"))
                    .col(string("webhook_secret"))
                    .col(string_null("previous_webhook_secret"))
                    .col(timestamp_with_time_zone_null("previous_secret_expires_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("projects_client_idx")
                    .table("projects")
                    .col("client")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("project_flows")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("project"))
                    .col(string("type"))
                    .col(string("status"))
                    .col(string_null("name"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("project_flows_project_fk")
                            .from("project_flows", "project")
                            .to("projects", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("project_flows_project_idx")
                    .table("project_flows")
                    .col("project")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("biometric_validations")
                    .if_not_exists()
                    .col(uuid("id").primary_key())
                    .col(string("client"))
                    .col(string("project"))
                    .col(string("project_flow"))
                    .col(string("status"))
                    .col(string("identifier"))
                    .col(string("type"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(text_null("redirect_url"))
                    .col(text_null("webhook_url"))
                    .col(boolean("requires_2fa"))
                    .col(string_null("ip_address"))
                    .col(boolean("send_via_email"))
                    .col(string_null("email"))
                    .col(string("language"))
                    .col(string("request_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("biometric_validations_project_fk")
                            .from("biometric_validations", "project")
                            .to("projects", "id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("biometric_validations_flow_fk")
                            .from("biometric_validations", "project_flow")
                            .to("project_flows", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("bv_client_created_idx", &["client", "created_at"][..]),
            ("bv_client_project_idx", &["client", "project"][..]),
            ("bv_status_expires_idx", &["status", "expires_at"][..]),
        ] {
            let mut index = Index::create();
            index
                .name(name)
                .table("biometric_validations")
                .if_not_exists();
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["biometric_validations", "project_flows", "projects"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
