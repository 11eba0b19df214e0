//! bvctl: the operator's command line.
//!
//! Migrates the database, creates and lists projects and flows, and issues
//! bearer tokens the ingress accepts. Prints JSON with `--json`, a readable
//! line otherwise. Reads the same settings as the services (`BV_CONFIG`,
//! `BV__DATABASE__URL`, `BV__AUTH__JWT_SECRET`, …).

use std::time::Duration;

use bv_migration::{Migrator, MigratorTrait};
use bv_runtime::settings::{SettingError, Validate};
use bv_runtime::{AuthSettings, DatabaseSettings, WebhookSettings};
use bv_store::flows::NewFlow;
use bv_store::projects::NewProject;
use clap::{Parser, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(
    name = "bvctl",
    version,
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
    Project(ProjectCmd),
    /// Manage project flows.
    #[command(subcommand)]
    Flow(FlowCmd),
    /// Issue bearer tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Inspect and re-send notifications (emails and webhooks).
    #[command(subcommand)]
    Deliveries(DeliveriesCmd),
}

#[derive(Subcommand, Debug)]
enum DeliveriesCmd {
    /// List deliveries, newest first.
    List {
        /// `pending`, `succeeded` or `failed`.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Send a delivery again now, with a fresh retry schedule and the same webhook-id.
    Redeliver { id: String },
}

#[derive(Subcommand, Debug)]
enum ProjectCmd {
    /// Create a project; prints its webhook signing secret (shown only here).
    Create {
        #[arg(long)]
        client: String,
        #[arg(long)]
        name: String,
        /// Choose the id (e.g. a Verifik `project_…` id); generated otherwise.
        #[arg(long)]
        id: Option<String>,
        /// Default webhook target for validations that give no `webhookUrl`.
        #[arg(long)]
        webhook_url: Option<String>,
    },
    /// List projects.
    List {
        #[arg(long)]
        client: Option<String>,
    },
    /// Activate or deactivate a project (`active` or `inactive`); an inactive
    /// project takes no new validations.
    SetStatus { id: String, status: String },
    /// Replace a project's webhook signing secret; prints the new one. The old
    /// secret keeps signing alongside it for the overlap (`webhooks.secret_overlap`).
    RotateSecret {
        id: String,
        /// Overrides `webhooks.secret_overlap`, e.g. `1h`.
        #[arg(long)]
        overlap: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum FlowCmd {
    /// Create a flow in a project.
    Create {
        #[arg(long)]
        project: String,
        /// `login` or `onboarding`.
        #[arg(long = "type")]
        kind: String,
        /// `draft`, `active` or `paused`.
        #[arg(long, default_value = "active")]
        status: String,
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// List flows.
    List {
        #[arg(long)]
        project: Option<String>,
    },
    /// Change a flow's status (`draft`, `active` or `paused`).
    SetStatus { id: String, status: String },
}

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// Print an HS256 JWT for a client, signed with `auth.jwt_secret`.
    Issue {
        #[arg(long)]
        client: String,
        /// Lifetime, e.g. `1h`, `30d`.
        #[arg(long, default_value = "30d")]
        ttl: String,
    },
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

/// Runs the command line; the exit code is 0 on success, 1 on failure, 2 on bad usage.
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
    if let Command::Token(TokenCmd::Issue { client, ttl }) = &cli.command {
        settings.auth.validate()?;
        let ttl = humantime::parse_duration(ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
        let token = issue_token(&settings.auth, client, ttl)?;
        return Ok(if cli.json {
            json!({"client": client, "token": token, "expiresIn": ttl.as_secs()}).to_string()
        } else {
            token
        });
    }

    let db = bv_store::connect(&settings.database.url, 2, false).await?;
    let out = match cli.command {
        Command::Migrate => {
            Migrator::up(&db, None).await?;
            let done = Migrator::get_applied_migrations(&db).await?.len();
            if cli.json {
                json!({"applied": done}).to_string()
            } else {
                format!("database is up to date ({done} migrations applied)")
            }
        }
        Command::Project(ProjectCmd::Create {
            client,
            name,
            id,
            webhook_url,
        }) => {
            if let Some(url) = &webhook_url {
                check_url("--webhook-url", url)?;
            }
            let p = bv_store::projects::create(
                &db,
                NewProject {
                    id,
                    client,
                    name,
                    webhook_url,
                },
            )
            .await?;
            let v = project_json(&p, true);
            if cli.json {
                v.to_string()
            } else {
                format!(
                    "created project {} for client {}\nwebhook secret (shown once): {}",
                    p.id, p.client, p.webhook_secret
                )
            }
        }
        Command::Project(ProjectCmd::List { client }) => {
            let rows = bv_store::projects::list(&db, client.as_deref()).await?;
            render(
                cli.json,
                rows.iter().map(|p| project_json(p, false)).collect(),
                |v| {
                    format!(
                        "{}  {}  {}  {}",
                        v["id"], v["client"], v["status"], v["name"]
                    )
                },
            )
        }
        Command::Flow(FlowCmd::Create {
            project,
            kind,
            status,
            id,
            name,
        }) => {
            if !bv_store::flows::TYPES.contains(&kind.as_str()) {
                anyhow::bail!("--type must be `login` or `onboarding`");
            }
            check_status(&status)?;
            if bv_store::projects::get(&db, &project).await?.is_none() {
                anyhow::bail!("no project `{project}`");
            }
            let f = bv_store::flows::create(
                &db,
                NewFlow {
                    id,
                    project,
                    kind,
                    status,
                    name,
                },
            )
            .await?;
            if cli.json {
                flow_json(&f).to_string()
            } else {
                format!(
                    "created {} flow {} ({}) in project {}",
                    f.kind, f.id, f.status, f.project
                )
            }
        }
        Command::Flow(FlowCmd::List { project }) => {
            let rows = bv_store::flows::list(&db, project.as_deref()).await?;
            render(cli.json, rows.iter().map(flow_json).collect(), |v| {
                format!(
                    "{}  {}  {}  {}",
                    v["id"], v["project"], v["type"], v["status"]
                )
            })
        }
        Command::Flow(FlowCmd::SetStatus { id, status }) => {
            check_status(&status)?;
            let f = bv_store::flows::set_status(&db, &id, &status)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no flow `{id}`"))?;
            if cli.json {
                flow_json(&f).to_string()
            } else {
                format!("flow {} is now {}", f.id, f.status)
            }
        }
        Command::Project(ProjectCmd::SetStatus { id, status }) => {
            if ![bv_store::projects::ACTIVE, bv_store::projects::INACTIVE]
                .contains(&status.as_str())
            {
                anyhow::bail!("the status must be `active` or `inactive`");
            }
            let p = bv_store::projects::set_status(&db, &id, &status)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no project `{id}`"))?;
            if cli.json {
                project_json(&p, false).to_string()
            } else {
                format!("project {} is now {}", p.id, p.status)
            }
        }
        Command::Project(ProjectCmd::RotateSecret { id, overlap }) => {
            let overlap = match overlap {
                Some(o) => {
                    humantime::parse_duration(&o).map_err(|e| anyhow::anyhow!("--overlap: {e}"))?
                }
                None => settings.webhooks.secret_overlap,
            };
            let p = bv_store::projects::rotate_secret(&db, &id, overlap)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no project `{id}`"))?;
            let until = p
                .previous_secret_expires_at
                .map(bv_contract::format_timestamp)
                .unwrap_or_default();
            if cli.json {
                let mut v = project_json(&p, true);
                v["previousSecretExpiresAt"] = json!(until);
                v.to_string()
            } else {
                format!(
                    "new webhook secret for {} (shown once): {}\nthe previous secret also signs until {until}",
                    p.id, p.webhook_secret
                )
            }
        }
        Command::Deliveries(DeliveriesCmd::List { status, limit }) => {
            if let Some(s) = &status
                && ![
                    bv_store::deliveries::PENDING,
                    bv_store::deliveries::SUCCEEDED,
                    bv_store::deliveries::FAILED,
                ]
                .contains(&s.as_str())
            {
                anyhow::bail!("--status must be `pending`, `succeeded` or `failed`");
            }
            let rows = bv_store::deliveries::list(&db, status.as_deref(), limit).await?;
            let mut out = Vec::with_capacity(rows.len());
            for d in &rows {
                let attempts = bv_store::deliveries::attempts_of(&db, d.id).await?;
                let mut v = bv_store::deliveries::to_api(d, &attempts);
                v["client"] = json!(d.client);
                out.push(v);
            }
            render(cli.json, out, |v| {
                format!(
                    "{}  {}  {}  {} attempts  {}  {}",
                    v["_id"],
                    v["channel"],
                    v["status"],
                    v["attempts"],
                    v["target"],
                    v["lastError"].as_str().unwrap_or("")
                )
            })
        }
        Command::Deliveries(DeliveriesCmd::Redeliver { id }) => {
            let id = uuid::Uuid::parse_str(&id)
                .map_err(|_| anyhow::anyhow!("`{id}` is not a delivery id"))?;
            let d = bv_store::deliveries::redeliver(&db, None, None, id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no delivery `{id}`"))?;
            if cli.json {
                bv_store::deliveries::to_api(&d, &[]).to_string()
            } else {
                format!("delivery {} will be sent again now (same webhook-id)", d.id)
            }
        }
        Command::Token(_) => unreachable!("handled above"),
    };
    let _ = db.close().await;
    Ok(out)
}

/// Signs a token for `client` that the ingress configured with `auth` accepts.
pub fn issue_token(auth: &AuthSettings, client: &str, ttl: Duration) -> anyhow::Result<String> {
    let secret = auth
        .jwt_secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| anyhow::anyhow!("token issue needs BV__AUTH__JWT_SECRET (HS256)"))?;
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::Map::new();
    claims.insert(auth.client_claim.clone(), json!(client));
    claims.insert("sub".into(), json!(client));
    claims.insert("iat".into(), json!(now));
    claims.insert(
        "exp".into(),
        json!(now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)),
    );
    if let Some(iss) = &auth.issuer {
        claims.insert("iss".into(), json!(iss));
    }
    if let Some(aud) = &auth.audience {
        claims.insert("aud".into(), json!(aud));
    }
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

fn check_status(status: &str) -> anyhow::Result<()> {
    if bv_store::flows::STATUSES.contains(&status) {
        Ok(())
    } else {
        anyhow::bail!("--status must be `draft`, `active` or `paused`")
    }
}

fn check_url(flag: &str, url: &str) -> anyhow::Result<()> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => anyhow::bail!("{flag} must be an absolute http(s) URL"),
    }
}

fn render(as_json: bool, rows: Vec<Value>, line: impl Fn(&Value) -> String) -> String {
    if as_json {
        Value::Array(rows).to_string()
    } else if rows.is_empty() {
        "(none)".into()
    } else {
        rows.iter().map(line).collect::<Vec<_>>().join("\n")
    }
}

fn project_json(p: &bv_store::entity::project::Model, with_secret: bool) -> Value {
    let mut v = json!({
        "id": p.id,
        "client": p.client,
        "name": p.name,
        "status": p.status,
        "webhookUrl": p.webhook_url,
        "createdAt": bv_contract::format_timestamp(p.created_at),
    });
    if with_secret {
        v["webhookSecret"] = json!(p.webhook_secret);
    }
    v
}

fn flow_json(f: &bv_store::entity::project_flow::Model) -> Value {
    json!({
        "id": f.id,
        "project": f.project,
        "type": f.kind,
        "status": f.status,
        "name": f.name,
        "createdAt": bv_contract::format_timestamp(f.created_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_carry_the_client_claim_and_expire() {
        let auth = AuthSettings {
            jwt_secret: Some("x".repeat(32)),
            jwt_public_key: None,
            client_claim: "client".into(),
            issuer: None,
            audience: None,
        };
        let token = issue_token(&auth, "client_1", Duration::from_secs(60)).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret("x".repeat(32).as_bytes()),
            &validation,
        )
        .unwrap();
        assert_eq!(data.claims["client"], "client_1");
        let exp = data.claims["exp"].as_i64().unwrap();
        assert!(exp > chrono::Utc::now().timestamp() + 50);
    }
}
