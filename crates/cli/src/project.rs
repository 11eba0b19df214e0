//! `bvctl project …`: create, list, activate or deactivate projects, choose
//! who may embed their capture page, and rotate their webhook signing secrets.

use std::time::Duration;

use bv_contract::{EmbedOrigin, EngineKind, ProjectStatus, format_timestamp};
use bv_runtime::WebhookSettings;
use bv_store::entity::project;
use bv_store::projects::NewProject;
use bv_store::sea_orm::DatabaseConnection;
use clap::Subcommand;
use serde::Serialize;

use crate::output;

#[derive(Subcommand, Debug)]
pub enum ProjectCmd {
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
        #[arg(long, value_parser = http_url)]
        webhook_url: Option<String>,
        /// The engine deciding its validations: `face` (the built-in face
        /// engine) or `sandbox` (deterministic outcomes for integrators' tests).
        #[arg(long, default_value = "face")]
        engine: EngineKind,
        /// Keep captured images this many days for audit (default: never stored).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=3650))]
        keep_images_days: Option<i32>,
        /// An origin that may embed the capture page in an iframe
        /// (`https://app.example.com`); repeat for several. Default: none.
        #[arg(long = "embed-origin", value_name = "ORIGIN")]
        embed_origins: Vec<EmbedOrigin>,
    },
    /// Change a project's biometric settings and who may embed its capture page.
    Update {
        id: String,
        #[arg(long)]
        engine: Option<EngineKind>,
        /// Keep captured images this many days (0: stop keeping them).
        #[arg(long, value_parser = clap::value_parser!(i32).range(0..=3650))]
        keep_images_days: Option<i32>,
        /// The origins that may embed the capture page in an iframe, replacing
        /// the current ones (`https://app.example.com`, or `http://localhost:…`
        /// in development); repeat for several.
        #[arg(
            long = "embed-origin",
            value_name = "ORIGIN",
            conflicts_with = "no_embed"
        )]
        embed_origins: Vec<EmbedOrigin>,
        /// No origin may embed the capture page any more.
        #[arg(long)]
        no_embed: bool,
    },
    /// List projects.
    List {
        #[arg(long)]
        client: Option<String>,
    },
    /// Activate or deactivate a project; an inactive project takes no new
    /// validations.
    SetStatus { id: String, status: ProjectStatus },
    /// Replace a project's webhook signing secret; prints the new one. The old
    /// secret keeps signing alongside it for the overlap (`webhooks.secret_overlap`).
    RotateSecret {
        id: String,
        /// Overrides `webhooks.secret_overlap`, e.g. `1h`.
        #[arg(long, value_parser = output::duration)]
        overlap: Option<Duration>,
    },
}

/// A project as bvctl prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectView<'a> {
    id: &'a str,
    client: &'a str,
    name: &'a str,
    status: ProjectStatus,
    webhook_url: Option<&'a str>,
    engine: EngineKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_images_days: Option<i32>,
    /// Who may embed its capture page in an iframe.
    embed_origins: Vec<String>,
    created_at: String,
    /// Only when just created or rotated: shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_secret_expires_at: Option<String>,
}

fn view(p: &project::Model, with_secret: bool) -> ProjectView<'_> {
    ProjectView {
        id: &p.id,
        client: &p.client,
        name: &p.name,
        status: p.status,
        webhook_url: p.webhook_url.as_deref(),
        engine: p.engine,
        keep_images_days: p.keep_images_days,
        embed_origins: p.embed_origins().iter().map(|o| o.to_string()).collect(),
        created_at: format_timestamp(p.created_at),
        webhook_secret: with_secret.then_some(p.webhook_secret.as_str()),
        previous_secret_expires_at: None,
    }
}

fn http_url(value: &str) -> Result<String, String> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(value.to_owned())
        }
        _ => Err("must be an absolute http(s) URL".into()),
    }
}

pub async fn run(
    cmd: ProjectCmd,
    db: &DatabaseConnection,
    webhooks: &WebhookSettings,
    as_json: bool,
) -> anyhow::Result<String> {
    let missing = |id: &str| anyhow::anyhow!("no project `{id}`");
    Ok(match cmd {
        ProjectCmd::Create {
            client,
            name,
            id,
            webhook_url,
            engine,
            keep_images_days,
            embed_origins,
        } => {
            let new = NewProject {
                id,
                client,
                name,
                webhook_url,
                engine: Some(engine),
                keep_images_days,
                embed_origins,
            };
            let p = bv_store::projects::create(db, new).await?;
            output::one(as_json, &view(&p, true), || {
                format!(
                    "created project {} for client {}\nwebhook secret (shown once): {}",
                    p.id, p.client, p.webhook_secret
                )
            })
        }
        ProjectCmd::Update {
            id,
            engine,
            keep_images_days,
            embed_origins,
            no_embed,
        } => {
            let keep = keep_images_days.map(|days| (days > 0).then_some(days));
            let mut p = bv_store::projects::set_biometrics(db, &id, engine, keep)
                .await?
                .ok_or_else(|| missing(&id))?;
            if no_embed || !embed_origins.is_empty() {
                p = bv_store::projects::set_embed_origins(db, &id, &embed_origins)
                    .await?
                    .ok_or_else(|| missing(&id))?;
            }
            output::one(as_json, &view(&p, false), || {
                let keep = p
                    .keep_images_days
                    .map_or("images not kept".to_owned(), |d| {
                        format!("images kept {d} days")
                    });
                let origins = p.embed_origins();
                let embed = if origins.is_empty() {
                    "no site may embed its capture page".to_owned()
                } else {
                    let names: Vec<&str> = origins.iter().map(EmbedOrigin::as_str).collect();
                    format!("capture page embeddable by {}", names.join(", "))
                };
                format!("project {}: engine {}, {keep}, {embed}", p.id, p.engine)
            })
        }
        ProjectCmd::List { client } => {
            let rows = bv_store::projects::list(db, client.as_deref()).await?;
            let views: Vec<_> = rows.iter().map(|p| view(p, false)).collect();
            output::many(as_json, &views, |v| {
                format!(
                    "{}  {}  {}  {}  engine={}",
                    v.id, v.client, v.status, v.name, v.engine
                )
            })
        }
        ProjectCmd::SetStatus { id, status } => {
            let p = bv_store::projects::set_status(db, &id, status)
                .await?
                .ok_or_else(|| missing(&id))?;
            output::one(as_json, &view(&p, false), || {
                format!("project {} is now {}", p.id, p.status)
            })
        }
        ProjectCmd::RotateSecret { id, overlap } => {
            let overlap = overlap.unwrap_or(webhooks.secret_overlap);
            let p = bv_store::projects::rotate_secret(db, &id, overlap)
                .await?
                .ok_or_else(|| missing(&id))?;
            let until = p
                .previous_secret_expires_at
                .map(format_timestamp)
                .unwrap_or_default();
            let mut v = view(&p, true);
            v.previous_secret_expires_at = Some(until.clone());
            output::one(as_json, &v, || {
                format!(
                    "new webhook secret for {} (shown once): {}\nthe previous secret also signs until {until}",
                    p.id, p.webhook_secret
                )
            })
        }
    })
}
