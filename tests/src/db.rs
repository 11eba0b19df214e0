//! A fresh PostgreSQL database per test, dropped with its connections, and
//! reading it back.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh PostgreSQL database, dropped (with its connections) on drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> anyhow::Result<Self> {
        let name = format!("bv_test_{}", Uuid::new_v4().simple());
        let admin = Database::connect(PG_ADMIN_URL).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        admin.close().await?;
        Ok(TestDb {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        run_blocking(async move {
            let admin = Database::connect(PG_ADMIN_URL).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
            admin.close().await?;
            Ok(())
        });
    }
}

/// Counts the rows of a table.
pub async fn count_rows(db: &DatabaseConnection, table: &str) -> u64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n") as u64
}

/// Runs cleanup on its own runtime and thread (Drop cannot await).
pub(crate) fn run_blocking(
    fut: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
) {
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // A slow broker or database must not hang the suite.
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), fut).await })
            .map_err(|_| anyhow::anyhow!("timed out after 30 s"))?
    });
    if let Ok(Err(err)) = handle.join() {
        eprintln!("test cleanup failed: {err:#}");
    }
}

/// A fresh database, migrated, holding the seed request's project (sandbox
/// engine) for `client` and its `login` flow with `settings`: what the load
/// tools (`make soak`, `make abuse`) run the services against.
pub async fn seeded(
    client: &str,
    name: &str,
    settings: bv_store::flows::FlowSettings,
) -> anyhow::Result<(TestDb, DatabaseConnection)> {
    let db = TestDb::create().await?;
    let conn = bv_store::connect(&db.url, &bv_store::PoolOptions::new(2)).await?;
    {
        use bv_migration::MigratorTrait;
        bv_migration::Migrator::up(&conn, None).await?;
    }
    let request = crate::seed_request();
    let project = request["project"].as_str().unwrap_or_default().to_owned();
    bv_store::projects::create(
        &conn,
        bv_store::projects::NewProject {
            id: Some(project.clone()),
            client: client.into(),
            name: name.into(),
            webhook_url: None,
            engine: Some(bv_contract::EngineKind::Sandbox),
            keep_images_days: None,
            embed_origins: Vec::new(),
        },
    )
    .await?;
    bv_store::flows::create(
        &conn,
        bv_store::flows::NewFlow {
            id: request["projectFlow"].as_str().map(str::to_owned),
            project,
            kind: bv_contract::FlowType::Login,
            status: bv_contract::FlowStatus::Active,
            name: None,
            settings,
        },
    )
    .await?;
    Ok((db, conn))
}
