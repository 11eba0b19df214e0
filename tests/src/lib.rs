//! Test harness: a real ingress and worker against real RabbitMQ and PostgreSQL.
//!
//! Every [`TestApp`] gets its own PostgreSQL database and its own AMQP name
//! prefix, created here and dropped when the app is dropped, so tests run in
//! parallel without sharing state. The worker runs in-process (or, for crash
//! tests, as a separate `bv-worker` process the test can SIGKILL).

pub mod otlp;

use std::sync::OnceLock;
use std::time::Duration;

use bv_contract::amqp::{CREATE_MESSAGE_TYPE, CREATE_ROUTING_KEY, Names};
use bv_runtime::Shutdown;
use bv_runtime::settings::{DEFAULTS, load_from};
use bv_store::flows::NewFlow;
use bv_store::projects::NewProject;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeleteOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use uuid::Uuid;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-characters-long";

/// Spans recorded by every test in this process (see [`spans`]).
static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();

/// Installs logging and an in-memory span exporter once per process.
pub fn init_telemetry() -> &'static InMemorySpanExporter {
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let settings = bv_runtime::TelemetrySettings {
            otlp_endpoint: None,
            log_format: "text".into(),
            log_level: "warn".into(),
        };
        if let Ok(telemetry) = bv_runtime::telemetry::install("bv-test", &settings, provider) {
            // Kept for the life of the test process.
            std::mem::forget(telemetry);
        }
        exporter
    })
}

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

/// A fresh AMQP name prefix; its exchanges and queues are deleted on drop.
pub struct TestPrefix {
    pub prefix: String,
}

impl TestPrefix {
    pub fn new() -> Self {
        TestPrefix {
            prefix: format!("t{}", Uuid::new_v4().simple()),
        }
    }

    pub fn names(&self) -> Names {
        Names::new(&self.prefix)
    }
}

impl Default for TestPrefix {
    fn default() -> Self {
        TestPrefix::new()
    }
}

impl Drop for TestPrefix {
    fn drop(&mut self) {
        let names = self.names();
        run_blocking(async move {
            let conn = amqp_connect().await?;
            let ch = conn.create_channel().await?;
            for q in [
                &names.create_queue,
                &names.create_dead_queue,
                &names.redeliver_queue,
                &names.redeliver_dead_queue,
            ] {
                let _ = ch
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
            for e in [&names.commands_exchange, &names.dead_exchange] {
                let _ = ch
                    .exchange_delete(e.as_str().into(), ExchangeDeleteOptions::default())
                    .await;
            }
            let _ = conn.close(200, "bye".into()).await;
            Ok(())
        });
    }
}

/// Runs cleanup on its own runtime and thread (Drop cannot await).
fn run_blocking(fut: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static) {
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

/// Settings overrides shared by the ingress and the worker of one test.
pub fn overrides(db_url: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("database.url", db_url.to_owned()),
        ("database.max_connections", "5".into()),
        ("database.migrate_on_start", "false".into()),
        ("amqp.url", AMQP_URL.into()),
        ("amqp.prefix", prefix.to_owned()),
        ("auth.jwt_secret", JWT_SECRET.into()),
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
        let test_db = TestDb::create().await.expect("create test database");
        let prefix = TestPrefix::new();
        let mut overrides = overrides(&test_db.url, &prefix.prefix);
        overrides.extend(options.settings.iter().cloned());

        let db = bv_store::connect(&test_db.url, 5, false)
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

    /// Consumers attached to this app's command queue.
    pub async fn consumers(&self) -> u32 {
        let Ok(conn) = amqp_connect().await else {
            return 0;
        };
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
            Ok::<_, lapin::Error>(q.consumer_count())
        }
        .await;
        let _ = conn.close(200, "bye".into()).await;
        result.unwrap_or(0)
    }

    pub fn token(&self, client: &str) -> String {
        token(client, 3600)
    }

    /// Creates an active project and an active flow of `flow_type` for `client`.
    pub async fn seed(&self, client: &str, project: &str, flow: &str, flow_type: &str) {
        self.seed_project(client, project).await;
        self.seed_flow(project, flow, flow_type, "active").await;
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
        req.send().await.expect("POST")
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
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

/// Publishes one command with confirms (a new connection each call).
pub async fn publish_raw(
    names: &Names,
    message_id: Option<&str>,
    body: &[u8],
) -> anyhow::Result<()> {
    let conn = amqp_connect().await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_type(CREATE_MESSAGE_TYPE.into());
    if let Some(id) = message_id {
        props = props.with_message_id(id.into());
    }
    ch.basic_publish(
        names.commands_exchange.as_str().into(),
        CREATE_ROUTING_KEY.into(),
        BasicPublishOptions::default(),
        body,
        props,
    )
    .await?
    .await?;
    let _ = conn.close(200, "bye".into()).await;
    Ok(())
}

/// A token for `client`, valid `ttl_secs` from now (negative: already expired).
pub fn token(client: &str, ttl_secs: i64) -> String {
    token_signed(client, ttl_secs, JWT_SECRET)
}

pub fn token_signed(client: &str, ttl_secs: i64, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"client": client, "iat": now, "exp": now + ttl_secs}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign token")
}

/// The seed's request example, with `expiresAt` moved into the future.
pub fn seed_request() -> Value {
    json!({
        "project": "project_123456789",
        "projectFlow": "flow_123456789",
        "identifier": "user@example.com",
        "type": "validation",
        "expiresAt": "2099-01-15T11:30:00Z",
        "redirectUrl": "https://example.com/success",
        "webhookUrl": "https://example.com/webhook",
        "requires2FA": false,
        "ipAddress": "192.168.1.1",
        "sendViaEmail": true,
        "email": "user@example.com",
        "language": "en"
    })
}

/// Fetches every 25 ms until `done` holds for what came back or `limit`
/// passes; returns the last value fetched.
pub async fn poll<T, F, Fut>(limit: Duration, mut fetch: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let value = fetch().await;
        if done(&value) || tokio::time::Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `check` until it returns true (`true`) or `limit` passes (`false`).
pub async fn eventually<F, Fut>(limit: Duration, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    poll(limit, check, |ok| *ok).await
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

/// Connects to the test broker, failing after 10 s instead of hanging.
pub async fn amqp_connect() -> anyhow::Result<Connection> {
    let connect = Connection::connect(AMQP_URL, ConnectionProperties::default());
    Ok(tokio::time::timeout(Duration::from_secs(10), connect).await??)
}

/// A port on 127.0.0.1 with nothing listening (yet): connections are refused.
///
/// Chosen below Linux's ephemeral range (32768–60999), so no other test's
/// `bind(0)` and no outgoing connection can take it meanwhile (an outgoing
/// connection whose source port equals its destination connects to itself).
pub fn reserve_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 500) as u16 * 20;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed) % 10_000;
        let port = 20_000 + (start - 20_000 + offset) % 10_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// How the test receiver answers one request.
#[derive(Clone, Debug)]
pub enum Behavior {
    Status(u16),
    /// A status with a `Retry-After` header (seconds).
    RetryAfter(u16, u64),
    /// Answers 200 only after this long (past the worker's timeout).
    Hang(Duration),
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: std::time::Instant,
    pub headers: std::collections::HashMap<String, String>,
    pub body: String,
    /// The answer it was given (a hung request counts as its status, though
    /// the worker had given up on it).
    pub behavior: Behavior,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn succeeded(&self) -> bool {
        matches!(self.behavior, Behavior::Status(s) if (200..300).contains(&s))
    }
}

#[derive(Default)]
struct ReceiverState {
    script: std::collections::VecDeque<Behavior>,
    default: Option<Behavior>,
    received: Vec<Received>,
}

/// The integrator's webhook endpoint: a real axum server on 127.0.0.1 that
/// records every request and answers from a script (then with a default).
pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<ReceiverState>>,
    task: tokio::task::JoinHandle<()>,
}

use std::sync::{Arc, Mutex};

impl Receiver {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Listens on `port` (0 for any).
    pub async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind receiver");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let shared = state.clone();
        let app =
            axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
                let state = shared.clone();
                async move {
                    let behavior = {
                        let mut s = state.lock().unwrap();
                        let behavior = s
                            .script
                            .pop_front()
                            .or_else(|| s.default.clone())
                            .unwrap_or(Behavior::Status(200));
                        s.received.push(Received {
                            at: std::time::Instant::now(),
                            headers: headers
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                                .collect(),
                            body,
                            behavior: behavior.clone(),
                        });
                        behavior
                    };
                    use axum::response::IntoResponse;
                    let code = |s: u16| axum::http::StatusCode::from_u16(s).unwrap();
                    match behavior {
                        Behavior::Status(s) => (code(s), "recorded").into_response(),
                        Behavior::RetryAfter(s, secs) => {
                            (code(s), [("retry-after", secs.to_string())], "later").into_response()
                        }
                        Behavior::Hang(d) => {
                            tokio::time::sleep(d).await;
                            (code(200), "too late").into_response()
                        }
                    }
                }
            });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { port, state, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers the next requests with these, in order.
    pub fn script(&self, behaviors: impl IntoIterator<Item = Behavior>) {
        self.state.lock().unwrap().script.extend(behaviors);
    }

    /// Answers with this once the script is used up.
    pub fn set_default(&self, behavior: Behavior) {
        self.state.lock().unwrap().default = Some(behavior);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits until `n` requests have arrived; returns them.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        poll(limit, || async { self.received() }, |got| got.len() >= n).await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A real SMTP server process (aiosmtpd, `tests/smtp/smtp_sink.py`) writing
/// what it accepts, decoded, into its own folder.
pub struct SmtpServer {
    pub port: u16,
    dir: std::path::PathBuf,
    _child: tokio::process::Child,
}

impl SmtpServer {
    pub async fn start_on(port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("bv-test-smtp-{}", Uuid::new_v4().simple()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp/smtp_sink.py");
        let child = tokio::process::Command::new("python3")
            .arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP server (python3 with aiosmtpd)");
        for _ in 0..200 {
            let probe = tokio::net::TcpStream::connect(("127.0.0.1", port));
            if matches!(
                tokio::time::timeout(Duration::from_secs(1), probe).await,
                Ok(Ok(_))
            ) {
                return SmtpServer {
                    port,
                    dir,
                    _child: child,
                };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the SMTP server did not start on port {port}");
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Value> {
        poll(limit, || async { self.messages() }, |got| got.len() >= n).await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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

    /// Creates a validation over HTTP for `client`, expecting `201`; its `_id`.
    pub async fn create(&self, client: &str, body: &Value) -> String {
        let response = self.post(&self.token(client), body).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        body["data"]["_id"].as_str().expect("_id").to_owned()
    }
}

/// A worker's answer to a command: its `x-bv-outcome` header and body.
#[derive(Debug)]
pub struct Answer {
    /// `created`, `replayed` or `rejected` (the header).
    pub outcome: String,
    pub body: Value,
}

/// Publishes a create command with `reply_to` (direct reply-to) and waits up
/// to 10 s for the worker's answer.
pub async fn request_reply(names: &Names, message_id: &str, body: &[u8]) -> anyhow::Result<Answer> {
    use bv_contract::amqp::{DIRECT_REPLY_TO, REPLY_OUTCOME_HEADER};
    use futures::StreamExt;
    let conn = amqp_connect().await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut replies = ch
        .basic_consume(
            DIRECT_REPLY_TO.into(),
            "".into(),
            lapin::options::BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_type(CREATE_MESSAGE_TYPE.into())
        .with_message_id(message_id.into())
        .with_reply_to(DIRECT_REPLY_TO.into())
        .with_correlation_id(message_id.into());
    ch.basic_publish(
        names.commands_exchange.as_str().into(),
        CREATE_ROUTING_KEY.into(),
        BasicPublishOptions::default(),
        body,
        props,
    )
    .await?
    .await?;
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no reply"))??;
    let headers = reply.properties.headers().as_ref();
    let answer = Answer {
        outcome: bv_runtime::amqp::header_str(headers, REPLY_OUTCOME_HEADER).unwrap_or_default(),
        body: serde_json::from_slice(&reply.data)?,
    };
    let _ = conn.close(200, "bye".into()).await;
    Ok(answer)
}
