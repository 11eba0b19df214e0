//! The bare baselines' one write: create commands' rows, a batch in one
//! multi-row `INSERT … SELECT … FROM UNNEST(…) ON CONFLICT (id) DO NOTHING`
//! into `biometric_validations` (the same columns, indexes and foreign keys
//! as bv-worker's, since it is the same migration). Used by `make bench`'s
//! bare consumer and by the bare create chain (`e2e-bare`).

use sea_orm::Value;
use serde_json::Value as Json;

pub const INSERT: &str = r#"
INSERT INTO biometric_validations (id, client, project, project_flow, status, identifier,
    type, expires_at, redirect_url, webhook_url, requires_2fa, ip_address, send_via_email,
    email, language, request_hash, attempts, created_at, updated_at)
SELECT v.id, v.client, v.project, v.project_flow, 'new', v.identifier, v.type,
    NULLIF(v.expires_at, 'epoch'::timestamptz), NULLIF(v.redirect_url, ''),
    NULLIF(v.webhook_url, ''), v.requires_2fa, NULLIF(v.ip_address, ''),
    v.send_via_email, NULLIF(v.email, ''), v.language, v.request_hash, 0, now(), now()
FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::timestamptz[], $8::text[], $9::text[], $10::bool[], $11::text[], $12::bool[],
    $13::text[], $14::text[], $15::text[])
    AS v(id, client, project, project_flow, identifier, type, expires_at, redirect_url,
        webhook_url, requires_2fa, ip_address, send_via_email, email, language, request_hash)
ON CONFLICT (id) DO NOTHING
"#;

/// Columns of one batch, as the statement takes them.
#[derive(Default)]
pub struct Columns {
    pub id: Vec<uuid::Uuid>,
    client: Vec<String>,
    project: Vec<String>,
    flow: Vec<String>,
    identifier: Vec<String>,
    kind: Vec<String>,
    /// The epoch where absent (arrays of parameters cannot hold NULLs).
    expires_at: Vec<chrono::DateTime<chrono::Utc>>,
    /// "" where absent, likewise.
    redirect_url: Vec<String>,
    webhook_url: Vec<String>,
    requires_2fa: Vec<bool>,
    ip_address: Vec<String>,
    send_via_email: Vec<bool>,
    email: Vec<String>,
    language: Vec<String>,
    request_hash: Vec<String>,
}

impl Columns {
    pub fn push(&mut self, id: uuid::Uuid, body: &Json) {
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        let opt = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        self.id.push(id);
        self.client.push(text("client"));
        self.project.push(text("project"));
        self.flow.push(text("projectFlow"));
        self.identifier.push(text("identifier"));
        self.kind.push(text("type"));
        self.expires_at.push(
            body["expiresAt"]
                .as_str()
                .and_then(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok())
                .unwrap_or_default(),
        );
        self.redirect_url.push(opt("redirectUrl"));
        self.webhook_url.push(opt("webhookUrl"));
        self.requires_2fa
            .push(body["requires2FA"].as_bool().unwrap_or(false));
        self.ip_address.push(opt("ipAddress"));
        self.send_via_email
            .push(body["sendViaEmail"].as_bool().unwrap_or(false));
        self.email.push(opt("email"));
        self.language
            .push(body["language"].as_str().unwrap_or("en").to_owned());
        self.request_hash.push(String::new());
    }

    /// A create command's delivery: its `message_id` as the row's id (a
    /// fresh one if it has none), its JSON body as the row.
    pub fn push_delivery(&mut self, delivery: &lapin::message::Delivery) -> serde_json::Result<()> {
        let id = delivery
            .properties
            .message_id()
            .as_ref()
            .and_then(|m| m.as_str().parse().ok())
            .unwrap_or_else(uuid::Uuid::now_v7);
        let body: Json = serde_json::from_slice(&delivery.data)?;
        self.push(id, &body);
        Ok(())
    }

    pub fn values(self) -> Vec<Value> {
        vec![
            self.id.into(),
            self.client.into(),
            self.project.into(),
            self.flow.into(),
            self.identifier.into(),
            self.kind.into(),
            self.expires_at.into(),
            self.redirect_url.into(),
            self.webhook_url.into(),
            self.requires_2fa.into(),
            self.ip_address.into(),
            self.send_via_email.into(),
            self.email.into(),
            self.language.into(),
            self.request_hash.into(),
        ]
    }
}

/// A channel of `conn` taking `prefetch` messages at a time from `queue`,
/// as consumer `tag`: the bare consumers' start.
pub async fn consumer(
    conn: &lapin::Connection,
    queue: &str,
    prefetch: u16,
    tag: &str,
) -> lapin::Result<(lapin::Channel, lapin::Consumer)> {
    let ch = conn.create_channel().await?;
    ch.basic_qos(prefetch, lapin::options::BasicQosOptions::default())
        .await?;
    let consumer = ch
        .basic_consume(
            queue.into(),
            tag.into(),
            lapin::options::BasicConsumeOptions::default(),
            lapin::types::FieldTable::default(),
        )
        .await?;
    Ok((ch, consumer))
}
