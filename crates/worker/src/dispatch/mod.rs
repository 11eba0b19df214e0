//! The delivery dispatcher: sends what the outbox holds.
//!
//! Loop: claim due deliveries with a lease (as many as there are free
//! slots), send each outside any transaction, record the attempt and move the
//! delivery on (succeeded, retry at a computed time, or failed). A new
//! delivery is dispatched at once (the consumer wakes the loop after its
//! commit); otherwise the loop sleeps until the next delivery is due, at most
//! `poll_interval`. A crashed dispatcher's leases expire and another takes
//! the rows over.

pub mod email;
pub mod policy;
pub mod ssrf;
pub mod webhook;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bv_contract::Channel;
use bv_store::deliveries::{self, Attempt, Next};
use bv_store::entity::delivery;
use bv_store::sea_orm::{DatabaseConnection, DbErr};
use chrono::Utc;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{Instrument, field};

use crate::metrics::Metrics;
use crate::settings::Settings;
use bv_runtime::Shutdown;
use bv_runtime::retry::keep_alive;
use policy::{Policy, Verdict};

/// How often the backlog gauge is refreshed.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// What one attempt produced.
#[derive(Clone, Debug)]
pub struct AttemptResult {
    pub verdict: Verdict,
    /// HTTP status, or SMTP reply code.
    pub status: Option<u16>,
    /// The response body (truncated) or SMTP reply text.
    pub body: Option<String>,
    pub error: Option<String>,
}

impl AttemptResult {
    pub fn give_up(error: String) -> Self {
        AttemptResult {
            verdict: Verdict::GiveUp,
            status: None,
            body: None,
            error: Some(error),
        }
    }

    pub fn retry(error: String, retry_after: Option<Duration>) -> Self {
        AttemptResult {
            verdict: Verdict::Retry { retry_after },
            status: None,
            body: None,
            error: Some(error),
        }
    }
}

pub struct Dispatcher {
    db: DatabaseConnection,
    /// This process's lease owner name.
    owner: String,
    policy: Policy,
    webhook: webhook::WebhookSender,
    email: email::EmailSender,
    lease: Duration,
    poll_interval: Duration,
    concurrency: usize,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    /// For the `LISTEN` connection that hears redeliveries made elsewhere.
    database_url: String,
    /// The longest one database step may take.
    db_timeout: Duration,
}

impl Dispatcher {
    pub fn new(
        db: DatabaseConnection,
        settings: &Settings,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
        sessions: Arc<bv_runtime::session::Sessions>,
    ) -> anyhow::Result<Self> {
        let guard = ssrf::Guard::new(settings.webhooks.allowed_cidrs.clone());
        Ok(Dispatcher {
            db,
            owner: format!(
                "{}-{}-{}",
                hostname(),
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            policy: Policy::new(settings.delivery.clone()),
            webhook: webhook::WebhookSender::new(guard, settings.delivery.timeout)?,
            email: email::EmailSender::new(&settings.email, sessions, settings.delivery.timeout)?,
            lease: settings.delivery.lease,
            poll_interval: settings.delivery.poll_interval,
            concurrency: usize::from(settings.delivery.concurrency),
            wake,
            metrics,
            database_url: settings.database.url.clone(),
            db_timeout: settings.database.work_timeout(),
        })
    }

    /// Runs until shutdown, then lets in-flight attempts finish.
    pub async fn run(self: Arc<Self>, shutdown: Shutdown) {
        tracing::info!(owner = %self.owner, "delivery dispatcher started");
        let listening = tokio::spawn(listen_for_due(
            self.database_url.clone(),
            self.wake.clone(),
            shutdown.clone(),
        ));
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let mut in_flight = JoinSet::new();
        let mut backlog_seen: Option<Instant> = None;
        while !shutdown.is_triggered() {
            // The backlog gauge, refreshed every few seconds, busy or idle.
            if backlog_seen.is_none_or(|at| at.elapsed() >= BACKLOG_EVERY) {
                if let Ok(backlog) =
                    bv_store::bounded(self.db_timeout, deliveries::backlog(&self.db)).await
                {
                    self.metrics
                        .backlog
                        .set(i64::try_from(backlog).unwrap_or(i64::MAX));
                }
                backlog_seen = Some(Instant::now());
            }
            while in_flight.try_join_next().is_some() {}
            let step = bv_runtime::progress::busy(
                "dispatcher",
                "claiming due deliveries",
                self.db_timeout * 3 + Duration::from_secs(60),
            );
            let free = slots.available_permits();
            let mut claimed = 0;
            if free > 0 {
                let claim = deliveries::claim_due(
                    &self.db,
                    &self.owner,
                    Utc::now(),
                    self.lease,
                    free as u64,
                );
                match bv_store::bounded(self.db_timeout, claim).await {
                    Ok(rows) => {
                        claimed = rows.len();
                        for row in rows {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                break;
                            };
                            in_flight.spawn(self.clone().attempt(row, permit));
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "claiming deliveries failed"),
                }
            }
            drop(step);
            if free > 0 && claimed == free {
                continue; // there may be more due right now
            }
            let wait = self.idle_wait().await;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = shutdown.wait() => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
        let _ = listening.await;
        tracing::info!("delivery dispatcher stopped");
    }

    /// How long to sleep when nothing could be claimed: until the next
    /// delivery is due (or a lease runs out), at most `poll_interval`.
    async fn idle_wait(&self) -> Duration {
        let floor = Duration::from_millis(20);
        let next = deliveries::next_claimable(&self.db, Utc::now());
        match bv_store::bounded(self.db_timeout, next).await {
            Ok(Some(at)) => (at - Utc::now())
                .to_std()
                .unwrap_or(floor)
                .clamp(floor, self.poll_interval),
            _ => self.poll_interval,
        }
    }

    async fn attempt(self: Arc<Self>, d: delivery::Model, _slot: OwnedSemaphorePermit) {
        let span = tracing::info_span!(
            "bv.delivery.attempt",
            otel.name = format!("deliver {}", d.channel),
            otel.kind = "client",
            bv.delivery.id = %d.id,
            bv.delivery.channel = %d.channel,
            bv.delivery.attempt = d.attempts + 1,
            bv.validation.id = %d.validation_id,
            bv.delivery.outcome = field::Empty,
            http.request.method = field::Empty,
            url.full = field::Empty,
            server.address = field::Empty,
            server.port = field::Empty,
            http.response.status_code = field::Empty,
            error.type = field::Empty,
            trace_id = field::Empty,
        );
        if d.channel == Channel::Webhook
            && let Ok(url) = url::Url::parse(&d.target)
        {
            span.record("http.request.method", "POST");
            span.record("url.full", webhook::redacted(&url).as_str());
            span.record("server.address", url.host_str().unwrap_or(""));
            if let Some(port) = url.port_or_known_default() {
                span.record("server.port", port);
            }
        }
        if let Some(parent) = &d.trace_parent {
            bv_runtime::propagation::set_parent_from_traceparent(&span, parent);
        }
        bv_runtime::propagation::record_trace_id(&span);
        self.attempt_inner(d).instrument(span).await;
    }

    async fn attempt_inner(&self, d: delivery::Model) {
        let _busy = bv_runtime::progress::busy(
            "dispatcher",
            format!("delivering {} {}", d.channel, d.id),
            self.lease + self.db_timeout + Duration::from_secs(60),
        );
        let started_at = Utc::now();
        let clock = Instant::now();
        // Never outlive the lease: past it, another claim may be sending too.
        let budget = self.lease.saturating_sub(self.lease / 4);
        let result = match tokio::time::timeout(budget, self.send(&d)).await {
            Ok(result) => result,
            Err(_) => {
                AttemptResult::retry(format!("the attempt took longer than {budget:?}"), None)
            }
        };
        let duration = clock.elapsed();
        let attempt_no = u32::try_from(d.schedule_attempts + 1).unwrap_or(u32::MAX);
        let next = self.policy.decide(
            &result.verdict,
            attempt_no,
            d.schedule_started_at,
            Utc::now(),
        );
        let outcome = next.outcome();
        let span = tracing::Span::current();
        span.record("bv.delivery.outcome", outcome.as_str());
        if let Some(status) = result.status {
            span.record("http.response.status_code", status);
        }
        if let Some(error) = &result.error {
            span.record("error.type", error.as_str());
        }
        self.metrics.attempt(d.channel, outcome, duration);
        match &next {
            Next::Succeeded => {
                tracing::info!(delivery = %d.id, channel = %d.channel, ?duration, "delivered")
            }
            Next::RetryAt(at) => tracing::warn!(
                delivery = %d.id, channel = %d.channel, error = result.error.as_deref().unwrap_or(""),
                next_attempt_at = %at, "delivery failed; will retry"
            ),
            Next::Failed => tracing::error!(
                delivery = %d.id, channel = %d.channel, error = result.error.as_deref().unwrap_or(""),
                "delivery failed for good; redeliver it with the API or `bvctl deliveries redeliver`"
            ),
        }
        let attempt = Attempt {
            started_at,
            duration,
            response_status: result.status,
            response_body: result.body,
            error: result.error,
        };
        let record = deliveries::record_attempt(&self.db, &d, &self.owner, attempt, &next);
        match bv_store::bounded(self.db_timeout, record).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(delivery = %d.id, "lease lost during the attempt; another dispatcher owns it now")
            }
            // The lease runs out and the delivery is attempted again: at least once.
            Err(err) => {
                tracing::error!(delivery = %d.id, error = %err, "cannot record the attempt")
            }
        }
    }

    /// One attempt on the delivery's channel.
    async fn send(&self, d: &delivery::Model) -> AttemptResult {
        match d.channel {
            Channel::Webhook => match self.secrets(d).await {
                Ok(secrets) => {
                    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
                    self.webhook.send(d, &secrets).await
                }
                Err(err) => {
                    AttemptResult::retry(format!("cannot load the signing secret: {err}"), None)
                }
            },
            Channel::Email => self.email.send(d).await,
        }
    }

    /// The project's signing secrets: the current one, and the previous one
    /// while its overlap window lasts.
    async fn secrets(&self, d: &delivery::Model) -> Result<Vec<String>, DbErr> {
        let project = bv_store::bounded(
            self.db_timeout,
            bv_store::projects::get(&self.db, &d.project),
        )
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("project {}", d.project)))?;
        let mut secrets = vec![project.webhook_secret];
        if let (Some(previous), Some(until)) = (
            project.previous_webhook_secret,
            project.previous_secret_expires_at,
        ) && until > Utc::now()
        {
            secrets.push(previous);
        }
        Ok(secrets)
    }
}

/// Wakes the dispatcher whenever any process re-arms a delivery (`bvctl
/// deliveries redeliver`, another worker's redeliver command); PostgreSQL
/// only, reconnecting while the database is away.
async fn listen_for_due(url: String, wake: Arc<Notify>, shutdown: Shutdown) {
    keep_alive("listening for redeliveries", &shutdown, || async {
        let Some(mut listener) = deliveries::DueListener::connect(&url).await? else {
            shutdown.wait().await;
            return Ok(());
        };
        loop {
            tokio::select! {
                heard = listener.next() => {
                    heard?;
                    wake.notify_one();
                }
                _ = shutdown.wait() => return Ok(()),
            }
        }
    })
    .await;
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned())
}
