//! The embedded default: SQLite instead of PostgreSQL, end to end.

use std::time::Duration;

use bv_e2e::{TestPrefix, eventually, overrides, seed_request, token};
use bv_runtime::Shutdown;
use bv_runtime::settings::{DEFAULTS, load_from};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn create_read_list_and_deliver_on_sqlite() {
    bv_e2e::init_telemetry();
    let dir = std::env::temp_dir().join(format!("bv-sqlite-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/bv.db", dir.display());
    let prefix = TestPrefix::new();
    let mut settings = overrides(&url, &prefix.prefix);
    settings.extend(bv_e2e::dispatch_settings());
    settings.push(("database.migrate_on_start", "true".into()));
    settings.push(("email.file_dir", dir.join("mail").display().to_string()));

    let shutdown = Shutdown::new();
    let worker: bv_worker::Settings = load_from(DEFAULTS, None, Some(&settings)).unwrap();
    let worker = tokio::spawn(bv_worker::run(worker, shutdown.clone()));
    // The worker creates the file and migrates; then the operator seeds.
    let db = bv_store::connect(&url, &bv_store::PoolOptions::new(1))
        .await
        .unwrap();
    // Every migration applied, not only the first table (a flake: the seed
    // once ran between the `projects` and the `project_flows` table).
    assert!(
        eventually(Duration::from_secs(10), || async {
            use bv_migration::MigratorTrait;
            bv_migration::Migrator::get_pending_migrations(&db)
                .await
                .is_ok_and(|pending| pending.is_empty())
        })
        .await
    );
    bv_store::projects::create(
        &db,
        bv_store::projects::NewProject {
            id: Some("project_123456789".into()),
            client: "c1".into(),
            name: "embedded".into(),
            webhook_url: None,
            engine: Some(bv_contract::EngineKind::Sandbox),
            keep_images_days: None,
            embed_origins: Vec::new(),
        },
    )
    .await
    .unwrap();
    bv_store::flows::create(
        &db,
        bv_store::flows::NewFlow {
            id: Some("flow_123456789".into()),
            project: "project_123456789".into(),
            kind: bv_contract::FlowType::Login,
            status: bv_contract::FlowStatus::Active,
            name: None,
            settings: Default::default(),
        },
    )
    .await
    .unwrap();

    let ingress: bv_ingress::Settings = load_from(DEFAULTS, None, Some(&settings)).unwrap();
    let app = bv_ingress::Application::build(ingress, shutdown.clone())
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let ingress = tokio::spawn(app.run());
    let http = reqwest::Client::new();
    let t = token("c1", 600);
    assert!(
        eventually(Duration::from_secs(10), || async {
            http.get(format!("{base}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await
    );

    let mut body = seed_request();
    body.as_object_mut().unwrap().remove("webhookUrl");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let response = http
            .post(format!("{base}/v2/biometric-validations"))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        ids.push(created["data"]["_id"].as_str().unwrap().to_owned());
    }
    let got: Value = http
        .get(format!("{base}/v2/biometric-validations/{}", ids[0]))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"]["status"], "new");
    let listed: Value = http
        .get(format!(
            "{base}/v2/biometric-validations?sort=createdAt&where%3E_createdAt=2020-01-01T00:00:00Z"
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["pagination"]["total"], 3);
    let order: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, ids.iter().map(String::as_str).collect::<Vec<_>>());

    // The dispatcher claims and sends on SQLite too: three emails as .eml files.
    let mail = dir.join("mail");
    assert!(
        eventually(Duration::from_secs(10), || async {
            std::fs::read_dir(&mail).map(|d| d.count()).unwrap_or(0) == 3
        })
        .await
    );

    shutdown.trigger();
    let _ = ingress.await;
    let _ = worker.await;
    let _ = db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
