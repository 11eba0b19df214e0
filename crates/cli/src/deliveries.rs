//! `bvctl deliveries …`: list notifications across clients and re-send one,
//! through the same store function as the API's redeliver command.

use bv_contract::{DeliveryStatus, DeliveryView};
use bv_store::deliveries::Scope;
use bv_store::sea_orm::DatabaseConnection;
use clap::Subcommand;
use serde::Serialize;

use crate::output;

#[derive(Subcommand, Debug)]
pub enum DeliveriesCmd {
    /// List deliveries, newest first.
    List {
        #[arg(long)]
        status: Option<DeliveryStatus>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Send a delivery again now, with a fresh retry schedule and the same webhook-id.
    Redeliver {
        #[arg(value_parser = delivery_id)]
        id: uuid::Uuid,
    },
}

/// A delivery as the operator sees it: the API's view plus its client.
#[derive(Serialize)]
struct OperatorView {
    client: String,
    #[serde(flatten)]
    view: DeliveryView,
}

fn delivery_id(value: &str) -> Result<uuid::Uuid, String> {
    uuid::Uuid::parse_str(value).map_err(|_| format!("`{value}` is not a delivery id"))
}

pub async fn run(
    cmd: DeliveriesCmd,
    db: &DatabaseConnection,
    as_json: bool,
) -> anyhow::Result<String> {
    Ok(match cmd {
        DeliveriesCmd::List { status, limit } => {
            let rows = bv_store::deliveries::list(db, status, limit).await?;
            let mut views = Vec::with_capacity(rows.len());
            for d in &rows {
                let attempts = bv_store::deliveries::attempts_of(db, d.id).await?;
                views.push(OperatorView {
                    client: d.client.clone(),
                    view: bv_store::deliveries::to_view(d, &attempts),
                });
            }
            output::many(as_json, &views, |v| {
                let d = &v.view;
                format!(
                    "{}  {}  {}  {} attempts  {}  {}",
                    d.id,
                    d.channel,
                    d.status,
                    d.attempts,
                    d.target,
                    d.last_error.as_deref().unwrap_or("")
                )
            })
        }
        DeliveriesCmd::Redeliver { id } => {
            let d = bv_store::deliveries::redeliver(db, Scope::Operator, id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no delivery `{id}`"))?;
            output::one(as_json, &d, || {
                format!("delivery {} will be sent again now (same webhook-id)", d.id)
            })
        }
    })
}
