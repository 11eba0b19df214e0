//! The delivery dispatcher: sends what the outbox holds.
//!
//! Loop: claim due deliveries with a lease (as many as there are free
//! slots, in one statement on PostgreSQL, and only once at least half the
//! slots are free while attempts are in flight, so a busy dispatcher claims
//! in batches rather than one row per finished attempt), load their
//! projects' signing secrets once per batch, send each outside any
//! transaction, and hand the outcome to the recorder, which records the
//! attempts that finished together in one transaction (one commit for up to
//! [`RECORD_BATCH`]) and moves each delivery on (succeeded, retry at a
//! computed time, or failed). An attempt's slot is held until its record is
//! committed. A new delivery is dispatched at once (the consumer wakes the
//! loop after its commit); otherwise the loop sleeps until the next delivery
//! is due, at most `poll_interval`. A crashed dispatcher's leases expire and
//! another takes the rows over.

pub mod email;
pub mod policy;
pub mod ssrf;
pub mod webhook;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use bv_contract::Channel;
use bv_store::deliveries::{self, Attempt, Next};
use bv_store::entity::delivery;
use bv_store::sea_orm::DatabaseConnection;
use chrono::Utc;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::{Instrument, field};

use crate::metrics::Metrics;
use crate::settings::Settings;
use bv_runtime::Shutdown;
use bv_runtime::retry::keep_alive;
use policy::{Policy, Verdict};

/// How often the backlog gauge is refreshed.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);
/// The most attempts recorded in one transaction.
pub const RECORD_BATCH: usize = 256;

/// One finished attempt on its way to the recorder, and where to say
/// whether its claim still held the lease.
struct Record {
    delivery: delivery::Model,
    attempt: Attempt,
    next: Next,
    done: oneshot::Sender<Result<bool, String>>,
}

/// A project's signing secrets (current first), by project id.
type Secrets = Arc<HashMap<String, Result<Vec<String>, String>>>;

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
    /// Webhook attempts in flight to one host:port at most.
    per_host: usize,
    hosts: Hosts,
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
            per_host: usize::from(settings.delivery.per_host_concurrency),
            hosts: Arc::default(),
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
        let (records, inbox) = mpsc::channel::<Record>(self.concurrency.max(1));
        let recorder = tokio::spawn(self.clone().record(inbox));
        let mut in_flight = JoinSet::new();
        let mut backlog_seen: Option<Instant> = None;
        // The hosts the last claim's rows were all for, crowded since, and
        // until when the next claim waits for them.
        let mut crowded: Option<(Vec<String>, Instant)> = None;
        // Claim again once this many slots are free (or nothing is in flight).
        let batch = self.concurrency.div_ceil(2).max(1);
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
            let free = slots.available_permits();
            if free < batch && !in_flight.is_empty() {
                // Busy: wait for attempts to finish rather than claim a row
                // per finished attempt.
                tokio::select! {
                    Some(_) = in_flight.join_next() => {}
                    _ = shutdown.wait() => {}
                }
                continue;
            }
            // The last claim's rows were all for hosts now crowded (one
            // receiver taking most webhooks): claiming again before those
            // hosts have half their places free would only claim their rows
            // to give them back. Wait until then, or a second at most, or
            // news of other deliveries.
            if let Some((hosts, until)) = &crowded
                && !in_flight.is_empty()
                && Instant::now() < *until
                && self.all_crowded(hosts)
            {
                tokio::select! {
                    Some(_) = in_flight.join_next() => {}
                    _ = self.wake.notified() => crowded = None,
                    _ = tokio::time::sleep_until((*until).into()) => crowded = None,
                    _ = shutdown.wait() => {}
                }
                continue;
            }
            // Those hosts have room now: claim what they can take (other
            // hosts' rows due first come with it, and end this).
            let limit = match crowded.take() {
                Some((hosts, _)) => free.min(self.room(&hosts).max(1)),
                None => free,
            };
            let step = bv_runtime::progress::busy(
                "dispatcher",
                "claiming due deliveries",
                self.db_timeout * 3 + Duration::from_secs(60),
            );
            let mut claimed = 0;
            if free > 0 {
                let claim = deliveries::claim_due(
                    &self.db,
                    &self.owner,
                    Utc::now(),
                    self.lease,
                    limit as u64,
                );
                match bv_store::bounded(self.db_timeout, claim).await {
                    Ok(rows) => {
                        claimed = rows.len();
                        // Secrets only for the rows sent now; busy hosts' rows go back.
                        let mut sending = Vec::with_capacity(rows.len());
                        let mut deferred = Vec::new();
                        let mut token = None;
                        let keys: Vec<Option<String>> = rows.iter().map(host_key).collect();
                        for (row, key) in rows.into_iter().zip(keys.iter().cloned()) {
                            match self.host_slot(key) {
                                Some(host) => sending.push((row, host)),
                                None => {
                                    token = row.lease_owner.clone();
                                    deferred.push(row.id);
                                }
                            }
                        }
                        // Every row for webhook hosts that are now crowded:
                        // the next claim waits for them (above).
                        let webhooks: Option<Vec<String>> = keys.into_iter().collect();
                        if let Some(mut keys) = webhooks.filter(|k| !k.is_empty()) {
                            keys.sort_unstable();
                            keys.dedup();
                            if self.all_crowded(&keys) {
                                crowded = Some((keys, Instant::now() + DEFER_FOR));
                            }
                        }
                        let secrets = self.secrets(sending.iter().map(|(row, _)| row)).await;
                        for (row, host) in sending {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                break;
                            };
                            in_flight.spawn(self.clone().attempt(
                                row,
                                secrets.clone(),
                                records.clone(),
                                (permit, host),
                            ));
                        }
                        // After the sends are under way: giving rows back
                        // need not hold them up.
                        if let Some(token) = token {
                            self.defer(deferred, &token).await;
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "claiming deliveries failed"),
                }
            }
            drop(step);
            if free > 0 && claimed == limit {
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
        drop(records);
        let _ = recorder.await;
        let _ = listening.await;
        tracing::info!("delivery dispatcher stopped");
    }

    /// Records finished attempts as they come, those that arrive together
    /// (up to [`RECORD_BATCH`]) in one transaction; ends when every sender
    /// is gone.
    async fn record(self: Arc<Self>, mut inbox: mpsc::Receiver<Record>) {
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        while inbox.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            let _busy = bv_runtime::progress::busy(
                "dispatcher",
                format!("recording {} attempts", batch.len()),
                self.db_timeout + Duration::from_secs(60),
            );
            let records = std::mem::take(&mut batch);
            let attempts = records
                .iter()
                .map(|r| (&r.delivery, r.attempt.clone(), r.next.clone()))
                .collect();
            let written = bv_store::bounded(
                self.db_timeout,
                deliveries::record_attempts(&self.db, &self.owner, attempts),
            )
            .await;
            match written {
                Ok(held) => {
                    for (record, held) in records.into_iter().zip(held) {
                        let _ = record.done.send(Ok(held));
                    }
                }
                Err(err) => {
                    let err = err.to_string();
                    for record in records {
                        let _ = record.done.send(Err(err.clone()));
                    }
                }
            }
        }
    }

    /// A place among the attempts in flight to a delivery's host ([`host_key`]),
    /// or `None` when the host already has `per_host` (emails, without a
    /// host, are not limited: one SMTP relay takes them all).
    fn host_slot(&self, key: Option<String>) -> Option<HostSlot> {
        let Some(key) = key else {
            return Some(HostSlot::none());
        };
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let busy = hosts.entry(key.clone()).or_insert(0);
        if *busy >= self.per_host {
            return None;
        }
        *busy += 1;
        Some(HostSlot(Some((self.hosts.clone(), key))))
    }

    /// The places free among the attempts in flight to each of `hosts`.
    fn rooms(&self, hosts: &[String]) -> Vec<usize> {
        let busy = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        hosts
            .iter()
            .map(|key| {
                self.per_host
                    .saturating_sub(busy.get(key).copied().unwrap_or(0))
            })
            .collect()
    }

    /// The places free among the attempts in flight to `hosts`, together.
    fn room(&self, hosts: &[String]) -> usize {
        self.rooms(hosts).into_iter().sum()
    }

    /// Whether every one of `hosts` has fewer than half its places free.
    fn all_crowded(&self, hosts: &[String]) -> bool {
        let half = self.per_host.div_ceil(2);
        self.rooms(hosts).into_iter().all(|room| room < half)
    }

    /// Gives claimed deliveries of busy hosts back, due again in a second.
    async fn defer(&self, ids: Vec<uuid::Uuid>, token: &str) {
        if ids.is_empty() {
            return;
        }
        let count = ids.len();
        let until = Utc::now() + chrono::Duration::from_std(DEFER_FOR).unwrap_or_default();
        let deferred = deliveries::defer(&self.db, ids, token, until);
        match bv_store::bounded(self.db_timeout, deferred).await {
            Ok(()) => tracing::debug!(count, "deliveries to busy hosts deferred by a second"),
            // Their leases run out and they are claimed again: nothing lost.
            Err(err) => {
                tracing::warn!(error = %err, count, "cannot defer deliveries to busy hosts")
            }
        }
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

    async fn attempt(
        self: Arc<Self>,
        d: delivery::Model,
        secrets: Secrets,
        records: mpsc::Sender<Record>,
        _slot: (OwnedSemaphorePermit, HostSlot),
    ) {
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
        self.attempt_inner(d, &secrets, records)
            .instrument(span)
            .await;
    }

    async fn attempt_inner(
        &self,
        d: delivery::Model,
        secrets: &Secrets,
        records: mpsc::Sender<Record>,
    ) {
        let _busy = bv_runtime::progress::busy(
            "dispatcher",
            format!("delivering {} {}", d.channel, d.id),
            self.lease + self.db_timeout + Duration::from_secs(60),
        );
        let started_at = Utc::now();
        let clock = Instant::now();
        // Never outlive the lease: past it, another claim may be sending too.
        let budget = self.lease.saturating_sub(self.lease / 4);
        let result = match tokio::time::timeout(budget, self.send(&d, secrets)).await {
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
        let id = d.id;
        let (done, recorded) = oneshot::channel();
        let record = Record {
            delivery: d,
            attempt,
            next,
            done,
        };
        let recorded = match records.send(record).await {
            Ok(()) => recorded
                .await
                .unwrap_or_else(|_| Err("the recorder stopped".into())),
            Err(_) => Err("the recorder stopped".into()),
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(delivery = %id, "lease lost during the attempt; another dispatcher owns it now")
            }
            // The lease runs out and the delivery is attempted again: at least once.
            Err(err) => {
                tracing::error!(delivery = %id, error = %err, "cannot record the attempt")
            }
        }
    }

    /// One attempt on the delivery's channel.
    async fn send(&self, d: &delivery::Model, secrets: &Secrets) -> AttemptResult {
        match d.channel {
            Channel::Webhook => match secrets.get(&d.project) {
                Some(Ok(secrets)) => {
                    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
                    self.webhook.send(d, &secrets).await
                }
                Some(Err(err)) => {
                    AttemptResult::retry(format!("cannot load the signing secret: {err}"), None)
                }
                None => AttemptResult::retry(
                    format!("cannot load the signing secret of project {}", d.project),
                    None,
                ),
            },
            Channel::Email => self.email.send(d).await,
        }
    }

    /// The signing secrets of the claimed deliveries' projects, read once
    /// per claim: the current one, and the previous one while its overlap
    /// window lasts.
    async fn secrets<'a>(&self, claimed: impl Iterator<Item = &'a delivery::Model>) -> Secrets {
        let mut ids: Vec<&str> = claimed
            .filter(|d| d.channel == Channel::Webhook)
            .map(|d| d.project.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut secrets = HashMap::with_capacity(ids.len());
        if ids.is_empty() {
            return Arc::new(secrets);
        }
        let found = bv_store::bounded(
            self.db_timeout,
            bv_store::projects::get_many(&self.db, &ids),
        )
        .await;
        let now = Utc::now();
        match found {
            Ok(projects) => {
                for project in projects {
                    let mut keys = vec![project.webhook_secret];
                    if let (Some(previous), Some(until)) = (
                        project.previous_webhook_secret,
                        project.previous_secret_expires_at,
                    ) && until > now
                    {
                        keys.push(previous);
                    }
                    secrets.insert(project.id, Ok(keys));
                }
                for id in ids {
                    secrets
                        .entry(id.to_owned())
                        .or_insert_with(|| Err(format!("project {id} not found")));
                }
            }
            Err(err) => {
                for id in ids {
                    secrets.insert(id.to_owned(), Err(err.to_string()));
                }
            }
        }
        Arc::new(secrets)
    }
}

/// One attempt's place among those in flight to its host; given back on
/// drop.
struct HostSlot(Option<(Hosts, String)>);

/// Webhook attempts in flight, by host:port.
type Hosts = Arc<std::sync::Mutex<HashMap<String, usize>>>;

/// How long the claimed deliveries of a host at its limit are given back
/// for.
const DEFER_FOR: Duration = Duration::from_secs(1);

/// The `host:port` a webhook goes to (the per-host limit's key); `None` for
/// an email (not limited: one SMTP relay takes them all).
fn host_key(d: &delivery::Model) -> Option<String> {
    match d.channel {
        Channel::Email => None,
        Channel::Webhook => Some(
            url::Url::parse(&d.target)
                .ok()
                .and_then(|u| {
                    Some(format!(
                        "{}:{}",
                        u.host_str()?.to_ascii_lowercase(),
                        u.port_or_known_default()?
                    ))
                })
                .unwrap_or_else(|| d.target.clone()),
        ),
    }
}

impl HostSlot {
    fn none() -> HostSlot {
        HostSlot(None)
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        if let Some((hosts, key)) = self.0.take() {
            let mut hosts = hosts.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(busy) = hosts.get_mut(&key) {
                *busy = busy.saturating_sub(1);
                if *busy == 0 {
                    hosts.remove(&key);
                }
            }
        }
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
