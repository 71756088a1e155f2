//! The sender loop: claims due webhook and email sends with a lease, sends them, and records the outcome.
//! At-least-once: a send whose sender died mid-send is claimed again when its lease expires, and the receiver
//! recognises the repeat by its stable `webhook-id`. Failures back off exponentially with jitter for about 24 h,
//! then the send is dead and visible in the API for redelivery.

use std::time::Duration as StdDuration;

use chrono::Duration;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::webhook::{headers, RetryPolicy};
use crate::clock::{from_ms, Clock};
use crate::db::Db;
use crate::error::AppError;
use crate::repo::sends::{self, OutboundSend};
use crate::repo::subscriptions;
use crate::settings::SmtpTarget;

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Sent and accepted.
    pub delivered: usize,
    /// Failed, to be retried.
    pub retried: usize,
    /// Failed for the last time.
    pub dead: usize,
}

/// Attempts the queued sends.
#[derive(Clone)]
pub struct Sender {
    db: Db,
    clock: Clock,
    http: reqwest::Client,
    smtp: Option<SmtpTarget>,
    instance: String,
    policy: RetryPolicy,
    lease: Duration,
}

impl Sender {
    /// A sender identified as `instance` in leases.
    pub fn new(db: Db, clock: Clock, smtp: Option<SmtpTarget>, instance: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(StdDuration::from_secs(10))
            .user_agent(concat!("Tendero/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Self { db, clock, http, smtp, instance, policy: RetryPolicy::default(), lease: Duration::seconds(60) }
    }

    /// Attempts every send due now; returns what happened.
    pub async fn run_once(&self) -> Result<SendReport, AppError> {
        let mut report = SendReport::default();
        loop {
            let (instance, clock, lease) = (self.instance.clone(), self.clock.clone(), self.lease);
            // "Now" is read when the write runs, not before it waits in SQLite's writer queue.
            let batch = self
                .db
                .write(move |conn| {
                    let now = clock.now();
                    let (now_ms, lease_until) = (now.timestamp_millis(), (now + lease).timestamp_millis());
                    Ok(sends::claim_due(conn, &instance, now_ms, lease_until, 64)?)
                })
                .await?;
            if batch.is_empty() {
                return Ok(report);
            }
            let outcomes = futures_util::future::join_all(batch.iter().map(|m| self.send(m))).await;
            for (send, outcome) in batch.into_iter().zip(outcomes) {
                self.record(send, outcome, &mut report).await?;
            }
        }
    }

    async fn send(&self, send: &OutboundSend) -> Result<Option<i32>, (Option<i32>, String)> {
        match send.channel.as_str() {
            "webhook" => self.send_webhook(send).await,
            "email" => self.send_email(send).await.map(|_| None).map_err(|e| (None, e)),
            other => Err((None, format!("unknown channel {other}"))),
        }
    }

    async fn send_webhook(&self, send: &OutboundSend) -> Result<Option<i32>, (Option<i32>, String)> {
        let target = send.target.clone();
        let subscription = self
            .db
            .read(move |conn| Ok(subscriptions::find(conn, &target)?))
            .await
            .map_err(|e| (None, e.to_string()))?
            .filter(|s| s.active)
            .ok_or_else(|| (None, "the subscription was deleted".to_string()))?;
        let timestamp = self.clock.now().timestamp();
        let body = send.payload.clone().into_bytes();
        let signed = headers(&subscription.secret, &send.id, timestamp, &body).map_err(|e| (None, e.to_string()))?;
        let mut request = self.http.post(&subscription.url).header("content-type", "application/json");
        for (name, value) in signed {
            request = request.header(name, value);
        }
        match request.body(body).send().await {
            Ok(response) if response.status().is_success() => Ok(Some(i32::from(response.status().as_u16()))),
            Ok(response) => {
                let status = i32::from(response.status().as_u16());
                Err((Some(status), format!("the receiver answered {status}")))
            }
            Err(e) => Err((None, format!("could not reach the receiver: {e}"))),
        }
    }

    async fn send_email(&self, send: &OutboundSend) -> Result<(), String> {
        let smtp = self.smtp.as_ref().ok_or("email is not configured (email.smtp_url)")?;
        let email = lettre::Message::builder()
            .from(smtp.from.parse().map_err(|e| format!("from: {e}"))?)
            .to(send.target.parse().map_err(|e| format!("to `{}`: {e}", send.target))?)
            .subject(send.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(send.payload.clone())
            .map_err(|e| format!("building the email: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .timeout(Some(StdDuration::from_secs(10)))
            .build();
        transport.send(email).await.map(|_| ()).map_err(|e| format!("SMTP: {e}"))
    }

    async fn record(
        &self,
        send: OutboundSend,
        outcome: Result<Option<i32>, (Option<i32>, String)>,
        report: &mut SendReport,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let now_ms = now.timestamp_millis();
        let (ok, status, error, next) = match outcome {
            Ok(status) => {
                report.delivered += 1;
                (true, status, None, None)
            }
            Err((status, error)) => {
                let elapsed = now - from_ms(send.first_attempt_at.unwrap_or(now_ms));
                let attempts = u32::try_from(send.attempts + 1).unwrap_or(u32::MAX);
                let next = self
                    .policy
                    .next_delay(attempts, elapsed, &mut rand::thread_rng())
                    .map(|d| (now + d).timestamp_millis());
                if next.is_some() {
                    report.retried += 1;
                } else {
                    report.dead += 1;
                }
                tracing::warn!(send_id = %send.id, channel = %send.channel, %error, "send not delivered");
                (false, status, Some(error), next)
            }
        };
        self.db
            .write(move |conn| Ok(sends::record_attempt(conn, &send.id, now_ms, ok, status, error.as_deref(), next)?))
            .await
    }
}

/// The sender is the job over the outbound sends.
impl crate::jobs::Job for Sender {
    const NAME: &'static str = "sender";
    const ALARM: crate::jobs::Alarm = crate::jobs::Alarm::Sends;

    fn db(&self) -> &Db {
        &self.db
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }

    async fn next_due(&self) -> Result<Option<i64>, AppError> {
        self.db.read(|conn| Ok(sends::next_pending_at(conn)?)).await
    }

    async fn run_due(&self) -> Result<usize, AppError> {
        self.run_once().await.map(|r| r.delivered + r.retried + r.dead)
    }
}
