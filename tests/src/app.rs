//! The app under test: a real ingress (and usually worker) with its own
//! database and AMQP prefix, how it is started ([`Options`]), and one typed
//! helper per endpoint the tests call. Every answer those helpers get is
//! checked against the API document ([`crate::openapi::checked`]): one the
//! document does not describe fails the test.

use std::time::Duration;

use bv_runtime::Shutdown;
use bv_runtime::settings::{DEFAULTS, load_from};
use bv_store::flows::NewFlow;
use bv_store::projects::NewProject;
use lapin::types::FieldTable;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use uuid::Uuid;

use crate::broker::AMQP_URL;
use crate::{
    JWT_SECRET, SIGNING_KEYS, TEMPLATE_KEYS, TestDb, TestPrefix, amqp_connect, count_rows,
    init_telemetry, poll, publish_raw, token,
};

/// Settings overrides shared by the ingress and the worker of one test.
pub fn overrides(db_url: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("database.url", db_url.to_owned()),
        ("database.max_connections", "5".into()),
        ("database.migrate_on_start", "false".into()),
        ("amqp.url", AMQP_URL.into()),
        ("amqp.prefix", prefix.to_owned()),
        ("auth.jwt_secret", JWT_SECRET.into()),
        ("biometrics.signing_keys", SIGNING_KEYS.into()),
        ("biometrics.template_keys", TEMPLATE_KEYS.into()),
        // The checkout's models (scripts/models.sh), checked at every
        // worker's start but loaded only by the tests that use the face
        // engine: each test is a process of its own under nextest.
        (
            "biometrics.models_dir",
            bv_face_engine::fixtures::models_dir().display().to_string(),
        ),
        ("biometrics.preload_models", "false".into()),
        ("http.addr", "127.0.0.1:0".into()),
        ("worker.http_addr", "127.0.0.1:0".into()),
        ("worker.db_retry_max", "10s".into()),
        ("telemetry.log_level", "warn".into()),
        // Dispatch only where a test asks for it (see `Options::dispatching`):
        // the seed's webhookUrl points at example.com, never to be contacted.
        ("worker.dispatch", "false".into()),
    ]
}

/// How a [`TestApp`] is started.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Do not start the in-process worker.
    pub no_worker: bool,
    /// Extra settings (dotted key, value).
    pub settings: Vec<(&'static str, String)>,
}

/// A running ingress (and usually worker) with its own database and prefix.
pub struct TestApp {
    pub base_url: String,
    pub db: DatabaseConnection,
    pub http: reqwest::Client,
    pub overrides: Vec<(&'static str, String)>,
    shutdown: Shutdown,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    // Dropped last: the servers stop before their database and queues go.
    pub prefix: TestPrefix,
    pub test_db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        init_telemetry();
        crate::watchdog::arm();
        let test_db = TestDb::create().await.expect("create test database");
        let prefix = TestPrefix::new();
        let mut overrides = overrides(&test_db.url, &prefix.prefix);
        overrides.extend(options.settings.iter().cloned());

        let db = bv_store::connect(&test_db.url, &bv_store::PoolOptions::new(5))
            .await
            .expect("connect test database");
        use bv_migration::MigratorTrait;
        bv_migration::Migrator::up(&db, None)
            .await
            .expect("migrate");

        let shutdown = Shutdown::new();
        let mut tasks = Vec::new();
        let ingress_settings: bv_ingress::Settings =
            load_from(DEFAULTS, None, Some(&overrides)).expect("ingress settings");
        let app = bv_ingress::Application::build(ingress_settings, shutdown.clone())
            .await
            .expect("build ingress");
        let base_url = format!("http://{}", app.local_addr().expect("addr"));
        tasks.push(tokio::spawn(async move {
            let _ = app.run().await;
        }));
        if !options.no_worker {
            let worker_settings: bv_worker::Settings =
                load_from(DEFAULTS, None, Some(&overrides)).expect("worker settings");
            let worker_shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(err) = bv_worker::run(worker_settings, worker_shutdown).await {
                    eprintln!("worker failed: {err:#}");
                }
            }));
        }
        let app = TestApp {
            base_url,
            db,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // A server that stops answering fails the test instead of hanging it.
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            overrides,
            shutdown,
            tasks,
            prefix,
            test_db,
        };
        app.wait_ready(!options.no_worker).await;
        app
    }

    /// Waits until the ingress is connected to RabbitMQ (and, with a worker,
    /// until the queue has a consumer).
    async fn wait_ready(&self, with_worker: bool) {
        for _ in 0..200 {
            let ready = self
                .http
                .get(format!("{}/readyz", self.base_url))
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready && (!with_worker || self.consumers().await > 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the app did not become ready");
    }

    /// Consumers attached to this app's command queue (0 when the broker
    /// cannot say within 5 s).
    ///
    /// Bounded: once, in a clean-clone CI run, a test hung until nextest's
    /// limit with every thread idle after lapin reported a channel-close
    /// collision ("invalid channel state: Closing (channel.close)") that no
    /// service's connection answered with a reconnect; this probe was that
    /// test's only unbounded wait on the broker. Now a probe that does not
    /// answer gives up, says so, and the caller asks again on a new connection.
    pub async fn consumers(&self) -> u32 {
        let probe = async {
            let conn = amqp_connect().await?;
            let result = async {
                let ch = conn.create_channel().await?;
                let q = ch
                    .queue_declare(
                        self.prefix.names().create_queue.as_str().into(),
                        lapin::options::QueueDeclareOptions {
                            passive: true,
                            ..Default::default()
                        },
                        FieldTable::default(),
                    )
                    .await?;
                // Closed here, not by its drop racing the connection's close.
                ch.close(200, "bye".into()).await?;
                Ok::<_, lapin::Error>(q.consumer_count())
            }
            .await;
            let _ = conn.close(200, "bye".into()).await;
            Ok::<_, anyhow::Error>(result?)
        };
        match tokio::time::timeout(Duration::from_secs(5), probe).await {
            Ok(Ok(count)) => count,
            Ok(Err(_)) => 0,
            Err(_) => {
                eprintln!("the broker did not answer the consumer probe within 5 s; asking again");
                0
            }
        }
    }

    pub fn token(&self, client: &str) -> String {
        token(client, 3600)
    }

    /// Creates an active project and an active flow of `flow_type` for `client`.
    pub async fn seed(&self, client: &str, project: &str, flow: &str, flow_type: &str) {
        self.seed_project(client, project).await;
        self.seed_flow(project, flow, flow_type, "active").await;
    }

    /// Makes `flow`'s liveness `passive`: Verifik's single-image body, one
    /// capture per attempt, no challenge.
    pub async fn make_passive(&self, flow: &str) {
        bv_store::flows::set_settings(
            &self.db,
            flow,
            Some(bv_contract::LivenessMode::Passive),
            None,
            None,
        )
        .await
        .expect("update the flow")
        .expect("the flow exists");
    }

    pub async fn seed_project(
        &self,
        client: &str,
        project: &str,
    ) -> bv_store::entity::project::Model {
        bv_store::projects::create(
            &self.db,
            NewProject {
                id: Some(project.into()),
                client: client.into(),
                name: format!("{project} of {client}"),
                webhook_url: None,
                engine: Some(bv_contract::EngineKind::Sandbox),
                keep_images_days: None,
                embed_origins: Vec::new(),
            },
        )
        .await
        .expect("seed project")
    }

    pub async fn seed_flow(&self, project: &str, flow: &str, flow_type: &str, status: &str) {
        bv_store::flows::create(
            &self.db,
            NewFlow {
                id: Some(flow.into()),
                project: project.into(),
                kind: flow_type.parse().expect("a flow type"),
                status: status.parse().expect("a flow status"),
                name: None,
                settings: Default::default(),
            },
        )
        .await
        .expect("seed flow");
    }

    pub async fn post(&self, token: &str, body: &Value) -> reqwest::Response {
        self.post_with(token, body, &[]).await
    }

    pub async fn post_with(
        &self,
        token: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/v2/biometric-validations", self.base_url))
            .bearer_auth(token)
            .json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        crate::openapi::checked("POST", req.send().await.expect("POST")).await
    }

    /// `GET path` with `token`; the answer is checked against the API
    /// document (see [`crate::openapi`]), as are those of the other helpers.
    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        crate::openapi::checked("GET", response).await
    }

    /// Rows in `biometric_validations`.
    pub async fn count(&self) -> u64 {
        count_rows(&self.db, "biometric_validations").await
    }

    /// Publishes a create command straight to the exchange, as an upstream
    /// service would, and waits for the broker's confirm.
    pub async fn publish_raw(&self, message_id: Option<&str>, body: &[u8]) {
        publish_raw(&self.prefix.names(), message_id, body)
            .await
            .expect("publish");
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
        for task in &self.tasks {
            task.abort();
        }
        // The mail folder `dispatch_settings` made for this app.
        let temp = std::env::temp_dir();
        for (key, value) in &self.overrides {
            let dir = std::path::Path::new(value);
            if *key == "email.file_dir" && dir.starts_with(&temp) {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

impl Options {
    /// An app whose worker dispatches, on a schedule shortened for tests:
    /// retries from 200 ms doubling to 2 s, giving up after a minute; 1 s
    /// request timeout; loopback allow-listed (test receivers live there);
    /// email written to a fresh folder unless a test points it at SMTP.
    pub fn dispatching() -> Self {
        Options {
            no_worker: false,
            settings: dispatch_settings(),
        }
    }

    /// Without the in-process worker (a test runs its own, or none).
    pub fn without_worker(mut self) -> Self {
        self.no_worker = true;
        self
    }

    /// Adds or replaces a setting.
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.settings.retain(|(k, _)| *k != key);
        self.settings.push((key, value.into()));
        self
    }
}

/// The settings of [`Options::dispatching`].
pub fn dispatch_settings() -> Vec<(&'static str, String)> {
    let mail_dir = std::env::temp_dir().join(format!("bv-test-mail-{}", Uuid::new_v4().simple()));
    vec![
        ("worker.dispatch", "true".into()),
        ("webhooks.allowed_cidrs", "127.0.0.0/8".into()),
        ("delivery.initial_delay", "200ms".into()),
        ("delivery.factor", "2".into()),
        ("delivery.max_delay", "2s".into()),
        ("delivery.max_age", "1m".into()),
        ("delivery.timeout", "1s".into()),
        ("delivery.lease", "5s".into()),
        ("delivery.poll_interval", "200ms".into()),
        ("email.transport", "file".into()),
        ("email.file_dir", mail_dir.display().to_string()),
        ("links.base_url", "https://verify.example.com/bv".into()),
    ]
}

impl TestApp {
    /// The deliveries of one validation, as the API lists them.
    pub async fn deliveries(&self, client: &str, id: &str) -> Vec<Value> {
        let response = self
            .get(
                &self.token(client),
                &format!("/v2/biometric-validations/{id}/deliveries"),
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until every delivery of a validation has left `pending`.
    pub async fn settled_deliveries(&self, client: &str, id: &str, limit: Duration) -> Vec<Value> {
        let settled =
            |rows: &Vec<Value>| !rows.is_empty() && rows.iter().all(|d| d["status"] != "pending");
        poll(limit, || self.deliveries(client, id), settled).await
    }

    /// `POST …/{validation}/deliveries/{delivery}/redeliver` as `client`.
    pub async fn redeliver(
        &self,
        client: &str,
        validation: &str,
        delivery: &str,
    ) -> reqwest::Response {
        let response = self
            .http
            .post(format!(
                "{}/v2/biometric-validations/{validation}/deliveries/{delivery}/redeliver",
                self.base_url
            ))
            .bearer_auth(self.token(client))
            .send()
            .await
            .expect("POST redeliver");
        crate::openapi::checked("POST", response).await
    }

    /// Creates a validation over HTTP for `client`, expecting `201`; its `_id`.
    pub async fn create(&self, client: &str, body: &Value) -> String {
        let response = self.post(&self.token(client), body).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        body["data"]["_id"].as_str().expect("_id").to_owned()
    }
}
