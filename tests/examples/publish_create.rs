//! Publishing a create command straight to RabbitMQ, as an upstream service
//! would (no ingress involved). See docs/asyncapi.yaml for the contract.
//!
//! ```text
//! cargo run -p bv-e2e --example publish_create -- \
//!     --client client_123456789 --project project_123456789 --flow flow_123456789
//! ```
//!
//! With `--no-reply` it publishes and returns once the broker confirms;
//! otherwise it waits for the worker's answer on RabbitMQ's direct reply-to
//! and prints it (the same body the HTTP API returns).

use std::time::Duration;

use bv_contract::amqp::{CREATE_MESSAGE_TYPE, CREATE_ROUTING_KEY, DIRECT_REPLY_TO, Names};
use clap::Parser;
use futures::StreamExt;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::json;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    #[arg(long, default_value = "bv")]
    prefix: String,
    #[arg(long)]
    client: String,
    #[arg(long)]
    project: String,
    #[arg(long)]
    flow: String,
    #[arg(long, default_value = "user@example.com")]
    identifier: String,
    /// Do not wait for the worker's answer.
    #[arg(long)]
    no_reply: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let names = Names::new(&args.prefix);
    let conn = Connection::connect(&args.amqp_url, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;

    // The body: the seed's request fields plus the client it is created for.
    let body = json!({
        "client": args.client,
        "project": args.project,
        "projectFlow": args.flow,
        "identifier": args.identifier,
        "type": "validation",
        "expiresAt": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339(),
        "language": "en"
    });
    // message_id is the validation's _id and its idempotency key: publishing
    // again with the same id never creates a second validation.
    let id = uuid::Uuid::now_v7().to_string();
    let mut props = BasicProperties::default()
        .with_message_id(id.as_str().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_type(CREATE_MESSAGE_TYPE.into())
        .with_timestamp(chrono::Utc::now().timestamp() as u64);

    let mut replies = None;
    if !args.no_reply {
        // Direct reply-to: consume the pseudo-queue before publishing on the same channel.
        replies = Some(bv_runtime::amqp::consume_replies(&channel).await?);
        props = props
            .with_reply_to(DIRECT_REPLY_TO.into())
            .with_correlation_id(id.as_str().into());
    }

    let confirm = channel
        .basic_publish(
            names.commands_exchange.as_str().into(),
            CREATE_ROUTING_KEY.into(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            &serde_json::to_vec(&body)?,
            props,
        )
        .await?
        .await?;
    anyhow::ensure!(confirm.is_ack(), "the broker did not confirm the command");
    println!("published {id}");

    if let Some(mut replies) = replies {
        match tokio::time::timeout(Duration::from_secs(10), replies.next()).await {
            Ok(Some(Ok(reply))) => println!("{}", String::from_utf8_lossy(&reply.data)),
            _ => println!("no answer within 10s (is bv-worker running?)"),
        }
    }
    conn.close(200, "bye".into()).await?;
    Ok(())
}
