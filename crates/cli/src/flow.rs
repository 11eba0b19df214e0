//! `bvctl flow …`: create and list a project's flows, and change their status.

use bv_contract::{FlowStatus, FlowType, LivenessMode, format_timestamp};
use bv_store::entity::project_flow;
use bv_store::flows::{FlowSettings, NewFlow};
use bv_store::sea_orm::DatabaseConnection;
use clap::Subcommand;
use serde::Serialize;

use crate::output;

#[derive(Subcommand, Debug)]
pub enum FlowCmd {
    /// Create a flow in a project.
    Create {
        #[arg(long)]
        project: String,
        #[arg(long = "type")]
        kind: FlowType,
        #[arg(long, default_value = "active")]
        status: FlowStatus,
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// How liveness is checked: `active` (a challenge of head poses),
        /// `passive` (each capture) or `none`.
        #[arg(long, default_value = "active")]
        liveness: LivenessMode,
        /// Match score (0–1) a face needs; the engine's default when unset.
        #[arg(long, value_parser = threshold)]
        match_threshold: Option<f32>,
        /// Failed attempts that end a validation as `failed`.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=20))]
        max_attempts: i32,
    },
    /// Change a flow's biometric settings.
    Update {
        id: String,
        #[arg(long)]
        liveness: Option<LivenessMode>,
        /// Match score (0–1) a face needs; `default` for the engine's.
        #[arg(long, value_parser = threshold_or_default)]
        match_threshold: Option<Threshold>,
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=20))]
        max_attempts: Option<i32>,
    },
    /// List flows.
    List {
        #[arg(long)]
        project: Option<String>,
    },
    /// Change a flow's status.
    SetStatus { id: String, status: FlowStatus },
}

/// A flow as bvctl prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlowView<'a> {
    id: &'a str,
    project: &'a str,
    #[serde(rename = "type")]
    kind: FlowType,
    status: FlowStatus,
    name: Option<&'a str>,
    liveness: LivenessMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    match_threshold: Option<f32>,
    max_attempts: i32,
    created_at: String,
}

/// A match threshold, or the engine's default.
#[derive(Clone, Copy, Debug)]
pub enum Threshold {
    Value(f32),
    Default,
}

fn threshold(value: &str) -> Result<f32, String> {
    match value.parse::<f32>() {
        Ok(t) if (0.0..=1.0).contains(&t) => Ok(t),
        _ => Err("must be a number between 0 and 1".into()),
    }
}

fn threshold_or_default(value: &str) -> Result<Threshold, String> {
    if value == "default" {
        return Ok(Threshold::Default);
    }
    threshold(value).map(Threshold::Value)
}

fn view(f: &project_flow::Model) -> FlowView<'_> {
    FlowView {
        id: &f.id,
        project: &f.project,
        kind: f.kind,
        status: f.status,
        name: f.name.as_deref(),
        liveness: f.liveness,
        match_threshold: f.match_threshold,
        max_attempts: f.max_attempts,
        created_at: format_timestamp(f.created_at),
    }
}

pub async fn run(cmd: FlowCmd, db: &DatabaseConnection, as_json: bool) -> anyhow::Result<String> {
    Ok(match cmd {
        FlowCmd::Create {
            project,
            kind,
            status,
            id,
            name,
            liveness,
            match_threshold,
            max_attempts,
        } => {
            if bv_store::projects::get(db, &project).await?.is_none() {
                anyhow::bail!("no project `{project}`");
            }
            let new = NewFlow {
                id,
                project,
                kind,
                status,
                name,
                settings: FlowSettings {
                    liveness,
                    match_threshold,
                    max_attempts,
                },
            };
            let f = bv_store::flows::create(db, new).await?;
            output::one(as_json, &view(&f), || {
                format!(
                    "created {} flow {} ({}) in project {}",
                    f.kind, f.id, f.status, f.project
                )
            })
        }
        FlowCmd::Update {
            id,
            liveness,
            match_threshold,
            max_attempts,
        } => {
            let threshold = match_threshold.map(|t| match t {
                Threshold::Value(v) => Some(v),
                Threshold::Default => None,
            });
            let f = bv_store::flows::set_settings(db, &id, liveness, threshold, max_attempts)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no flow `{id}`"))?;
            output::one(as_json, &view(&f), || {
                format!(
                    "flow {}: liveness {}, match threshold {}, {} attempts",
                    f.id,
                    f.liveness,
                    f.match_threshold
                        .map_or("engine default".to_owned(), |t| t.to_string()),
                    f.max_attempts
                )
            })
        }
        FlowCmd::List { project } => {
            let rows = bv_store::flows::list(db, project.as_deref()).await?;
            let views: Vec<_> = rows.iter().map(view).collect();
            output::many(as_json, &views, |v| {
                format!(
                    "{}  {}  {}  {}  liveness={} attempts={}",
                    v.id, v.project, v.kind, v.status, v.liveness, v.max_attempts
                )
            })
        }
        FlowCmd::SetStatus { id, status } => {
            let f = bv_store::flows::set_status(db, &id, status)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no flow `{id}`"))?;
            output::one(as_json, &view(&f), || {
                format!("flow {} is now {}", f.id, f.status)
            })
        }
    })
}
