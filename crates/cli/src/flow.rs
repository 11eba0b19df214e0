//! `bvctl flow …`: create and list a project's flows, and change their status.

use bv_contract::{FlowStatus, FlowType, format_timestamp};
use bv_store::entity::project_flow;
use bv_store::flows::NewFlow;
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
    created_at: String,
}

fn view(f: &project_flow::Model) -> FlowView<'_> {
    FlowView {
        id: &f.id,
        project: &f.project,
        kind: f.kind,
        status: f.status,
        name: f.name.as_deref(),
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
            };
            let f = bv_store::flows::create(db, new).await?;
            output::one(as_json, &view(&f), || {
                format!(
                    "created {} flow {} ({}) in project {}",
                    f.kind, f.id, f.status, f.project
                )
            })
        }
        FlowCmd::List { project } => {
            let rows = bv_store::flows::list(db, project.as_deref()).await?;
            let views: Vec<_> = rows.iter().map(view).collect();
            output::many(as_json, &views, |v| {
                format!("{}  {}  {}  {}", v.id, v.project, v.kind, v.status)
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
