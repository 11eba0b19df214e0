//! bvctl: the operator's command line.
//!
//! Migrates the database, creates and lists projects and flows, issues bearer
//! tokens the ingress accepts, inspects and re-sends deliveries, and
//! measures the face engine on an operator's own people. Prints
//! JSON with `--json`, a readable line otherwise. Reads the same settings as
//! the services (`BV_CONFIG`, `BV__DATABASE__URL`, `BV__AUTH__JWT_SECRET`, …).
//! One module per command group; this one parses and dispatches.

mod deliveries;
mod engine;
mod flow;
mod keys;
mod migrate;
mod output;
mod project;
mod token;

use bv_runtime::settings::{SettingError, Validate};
use bv_runtime::{AuthSettings, DatabaseSettings, WebhookSettings};
use clap::{Parser, Subcommand};
use serde::Deserialize;

pub use token::issue_token;

#[derive(Parser, Debug)]
#[command(
    name = "bvctl",
    // `bvctl 0.1.0 (commit 162b491)`, like the services' `--version`.
    version = bv_runtime::build_info::VERSION_LINE,
    about = "Operate the biometric validation service"
)]
pub struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply pending database migrations.
    Migrate,
    /// Manage projects.
    #[command(subcommand)]
    Project(project::ProjectCmd),
    /// Manage project flows.
    #[command(subcommand)]
    Flow(flow::FlowCmd),
    /// Issue bearer tokens.
    #[command(subcommand)]
    Token(token::TokenCmd),
    /// Make signing keys for session tokens and signed results.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Inspect and re-send notifications (emails and webhooks).
    #[command(subcommand)]
    Deliveries(deliveries::DeliveriesCmd),
    /// Measure the face engine on your own people.
    #[command(subcommand)]
    Engine(engine::EngineCmd),
}

#[derive(Debug, Deserialize)]
struct Settings {
    database: DatabaseSettings,
    auth: AuthSettings,
    webhooks: WebhookSettings,
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), SettingError> {
        // `auth` is checked only by the command that needs it (token issue).
        self.database.validate()
    }
}

/// Runs the command line; the exit code is 0 on success, 1 on failure, 2 on
/// bad usage (clap's own errors: an unknown status, a malformed duration, …).
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("bvctl: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(output) => {
            println!("{output}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bvctl: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<String> {
    let settings: Settings = bv_runtime::settings::load(bv_runtime::settings::DEFAULTS)?;
    let json = cli.json;
    let d = &settings.database;
    let pool = bv_store::PoolOptions {
        connect_timeout: d.connect_timeout,
        statement_timeout: d.statement_timeout,
        ..bv_store::PoolOptions::new(2)
    };
    let db = || bv_store::connect(&d.url, &pool);
    let out = match cli.command {
        // The commands that need no database.
        Command::Token(cmd) => return token::run(cmd, &settings.auth, json),
        Command::Keys(cmd) => return keys::run(cmd, json),
        Command::Engine(cmd) => return engine::run(cmd, json),
        Command::Migrate => {
            let db = db().await?;
            let out = migrate::run(&db, json).await;
            let _ = db.close().await;
            out?
        }
        Command::Project(cmd) => {
            let db = db().await?;
            let out = project::run(cmd, &db, &settings.webhooks, json).await;
            let _ = db.close().await;
            out?
        }
        Command::Flow(cmd) => {
            let db = db().await?;
            let out = flow::run(cmd, &db, json).await;
            let _ = db.close().await;
            out?
        }
        Command::Deliveries(cmd) => {
            let db = db().await?;
            let out = deliveries::run(cmd, &db, json).await;
            let _ = db.close().await;
            out?
        }
    };
    Ok(out)
}
