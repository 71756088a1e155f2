//! The scheduler (DESIGN.md section 6): sleeps until the earliest pending delivery or until a write nudges it,
//! claims due deliveries with a lease in one statement, fires each inside the same transaction that records it
//! (so the ledger never holds two `prompted` events for one delivery), and publishes the prompts live after the
//! commit. Deliveries that fire late because the service was down say so, and only the latest occurrence of a
//! recurrence is prompted.

pub mod card;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use diesel::connection::SimpleConnection;
use serde_json::json;
use tokio::sync::Notify;

use self::card::{build, promise_event_data, Circumstances};
use crate::clock::{from_ms, new_id, Clock};
use crate::db::{Db, DbConn};
use crate::delivery::events;
use crate::delivery::hub::{Hub, LivePrompt};
use crate::domain::schedule::{lateness, route, Purpose};
use crate::domain::vocab::{EventKind, PromiseKind, PromiseStatus};
use crate::error::AppError;
use crate::ledger;
use crate::outbox;
use crate::repo::agents;
use crate::repo::customers::{self, Customer};
use crate::repo::deliveries::{self, Delivery};
use crate::repo::promises::{self, Promise};
use crate::repo::prompts::{self, Prompt};
use crate::settings::Tolerances;
use crate::views::Views;

/// Scheduler tuning.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Escalate a due prompt nobody acknowledged after this long.
    pub escalate_after: Duration,
    /// A firing later than this is a misfire (the service was not running).
    pub misfire_after: Duration,
    /// How long a claim holds before another instance may take the work.
    pub lease: Duration,
    /// Deliveries per transaction.
    pub batch_size: i64,
    /// Whether due prompts are also emailed to the agent.
    pub email: bool,
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Deliveries processed.
    pub fired: usize,
    /// Prompts created.
    pub prompts: usize,
}

/// Everything the scheduler needs.
#[derive(Clone)]
pub struct Scheduler {
    db: Db,
    clock: Clock,
    hub: Hub,
    views: Arc<Views>,
    tolerances: Tolerances,
    config: SchedulerConfig,
    instance: String,
    sender_wake: Arc<Notify>,
}

/// The prompt as the API and the live stream show it.
pub fn prompt_json(prompt: &Prompt) -> serde_json::Value {
    use crate::routes::api::instant;
    json!({
        "id": prompt.id,
        "promise_id": prompt.promise_id,
        "agent_id": prompt.agent_id,
        "purpose": prompt.purpose,
        "occurrence_at": instant(prompt.occurrence_at),
        "scheduled_for": instant(prompt.scheduled_for),
        "fired_at": instant(prompt.fired_at),
        "late_by_ms": prompt.late_by_ms,
        "handover_note": prompt.handover_note,
        "body": prompt.body,
        "card": serde_json::from_str::<serde_json::Value>(&prompt.card).unwrap_or_default(),
        "acknowledged_at": prompt.acknowledged_at.map(instant),
    })
}

impl Scheduler {
    /// A scheduler identified as `instance` in leases.
    #[expect(clippy::too_many_arguments, reason = "the scheduler's collaborators, wired once at start")]
    pub fn new(
        db: Db,
        clock: Clock,
        hub: Hub,
        views: Arc<Views>,
        tolerances: Tolerances,
        config: SchedulerConfig,
        instance: String,
        sender_wake: Arc<Notify>,
    ) -> Self {
        Self { db, clock, hub, views, tolerances, config, instance, sender_wake }
    }

    /// Fires everything due at the clock's now, batch by batch; the hook tests call instead of sleeping.
    pub async fn run_once(&self) -> Result<RunReport, AppError> {
        let mut report = RunReport::default();
        loop {
            let this = self.clone();
            // "Now" is read when the write runs, not before it waits in SQLite's writer queue: a stale instant would
            // leave out what fell due meanwhile.
            let (fired, live) = self.db.write(move |conn| this.fire_batch(conn, this.clock.now())).await?;
            report.fired += fired;
            report.prompts += live.len();
            for prompt in live {
                self.hub.publish(prompt);
            }
            if fired > 0 {
                self.sender_wake.notify_one();
            }
            if (fired as i64) < self.config.batch_size {
                return Ok(report);
            }
        }
    }

    /// Runs until the process stops: fire, then sleep until the next pending delivery or a nudge.
    pub async fn run(self, wake: Arc<Notify>) {
        loop {
            let pass_started = self.clock.now().timestamp_millis();
            let fired = match self.run_once().await {
                Ok(report) => report.fired,
                Err(e) => {
                    tracing::error!(error = %e, "scheduler pass failed; retrying shortly");
                    tokio::time::sleep(StdDuration::from_millis(500)).await;
                    0
                }
            };
            let next = self.db.read(|conn| Ok(deliveries::next_pending_at(conn)?)).await.ok().flatten();
            // The cap bounds how long a delivery written by another process (the CLI, another node) waits.
            let wait = self.clock.sleep_before(next, StdDuration::from_secs(30));
            if wait.is_zero() {
                // Due work that was already due when this pass began and that it could not claim is leased by
                // another instance: wait a moment for the lease instead of spinning. Work that fell due during the
                // pass is fired at once.
                if fired == 0 && next.is_some_and(|at| at <= pass_started) {
                    tokio::time::sleep(StdDuration::from_millis(100)).await;
                }
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = wake.notified() => {}
            }
        }
    }

    fn fire_batch(&self, conn: &mut DbConn, now: DateTime<Utc>) -> Result<(usize, Vec<LivePrompt>), AppError> {
        let now_ms = now.timestamp_millis();
        let lease_until = (now + self.config.lease).timestamp_millis();
        let mut claimed = deliveries::claim_due(conn, &self.instance, now_ms, lease_until, self.config.batch_size)?;
        // Within one instant: remind, prompt, escalate, then judge (missed), then close (broken).
        let rank = |d: &Delivery| match Purpose::parse(&d.purpose) {
            Some(Purpose::Lead) => 0,
            Some(Purpose::Due) => 1,
            Some(Purpose::Escalation) => 2,
            Some(Purpose::Overdue) => 3,
            Some(Purpose::Expiry) | None => 4,
        };
        claimed.sort_by_key(|d| (d.next_attempt_at, rank(d)));
        let mut live = Vec::new();
        for delivery in &claimed {
            // A savepoint per delivery: one bad row is set aside with its error instead of blocking the queue.
            conn.batch_execute("SAVEPOINT fire_one")?;
            match self.fire(conn, delivery, now) {
                Ok((note, prompts)) => {
                    deliveries::mark_done(conn, &delivery.id, now_ms, note.as_deref())?;
                    conn.batch_execute("RELEASE fire_one")?;
                    live.extend(prompts);
                }
                Err(e) => {
                    conn.batch_execute("ROLLBACK TO fire_one; RELEASE fire_one")?;
                    tracing::error!(delivery = %delivery.id, error = %e, "delivery failed; set aside");
                    deliveries::mark_done(conn, &delivery.id, now_ms, Some(&format!("failed: {e}")))?;
                }
            }
        }
        Ok((claimed.len(), live))
    }

    fn fire(
        &self,
        conn: &mut DbConn,
        d: &Delivery,
        now: DateTime<Utc>,
    ) -> Result<(Option<String>, Vec<LivePrompt>), AppError> {
        let Some(promise) = promises::find(conn, &d.promise_id)? else {
            return Ok((Some("promise not found".into()), Vec::new()));
        };
        let Some(purpose) = Purpose::parse(&d.purpose) else {
            return Ok((Some(format!("unknown purpose {}", d.purpose)), Vec::new()));
        };
        let status = promise.status.parse::<PromiseStatus>().map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
        // Only the promise's current occurrence matters; anything else was overtaken by a reschedule or a keep.
        if !status.is_active() || promise.due_at != d.occurrence_at {
            return Ok((Some("stale: the promise moved on".into()), Vec::new()));
        }
        let customer = customers::find(conn, &promise.customer_id)?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("customer of {} missing", promise.id)))?;
        let late = lateness(from_ms(d.next_attempt_at), now);
        let misfire = late > self.config.misfire_after;
        match purpose {
            Purpose::Lead if promise.due_at <= now.timestamp_millis() => {
                Ok((Some("coalesced into the due prompt".into()), Vec::new()))
            }
            Purpose::Lead | Purpose::Due => self.prompt(conn, d, &promise, &customer, purpose, late, misfire, now),
            Purpose::Escalation => {
                if prompts::occurrence_acknowledged(conn, &promise.id, d.occurrence_at)? {
                    return Ok((Some("acknowledged in time".into()), Vec::new()));
                }
                self.prompt(conn, d, &promise, &customer, purpose, late, misfire, now)
            }
            Purpose::Overdue => self.overdue(conn, promise, &customer, now).map(|note| (Some(note), Vec::new())),
            Purpose::Expiry => self.expire(conn, promise, &customer, now).map(|note| (Some(note), Vec::new())),
        }
    }

    #[expect(clippy::too_many_arguments, reason = "what a prompt is about, in one place")]
    fn prompt(
        &self,
        conn: &mut DbConn,
        d: &Delivery,
        promise: &Promise,
        customer: &Customer,
        purpose: Purpose,
        late: Duration,
        misfire: bool,
        now: DateTime<Utc>,
    ) -> Result<(Option<String>, Vec<LivePrompt>), AppError> {
        let now_ms = now.timestamp_millis();
        let owner = agents::find(conn, &promise.owner_agent_id)?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("owner of {} missing", promise.id)))?;
        let team = customer.team_id.clone().or_else(|| owner.team_id.clone());
        let managers: Vec<String> = match &team {
            Some(t) => agents::managers_of(conn, t)?.into_iter().map(|a| a.id).collect(),
            None => Vec::new(),
        };
        let routing = if purpose == Purpose::Escalation {
            crate::domain::schedule::Routing {
                recipients: if managers.is_empty() { vec![owner.id.clone()] } else { managers.clone() },
                handover_note: None,
            }
        } else {
            let absence = agents::absence_at(conn, &owner.id, now_ms)?;
            let away = absence.as_ref().map(|a| (a.stand_in_agent_id.as_deref(), a.note.as_str()));
            route(&owner.id, &owner.name, away, &managers)
        };
        // One routing hand-over per occurrence in the ledger: lead reminders go to the same stand-in with the same
        // note, but recording each would count one hand-over several times.
        if let (Some(note), Purpose::Due) = (&routing.handover_note, purpose) {
            let data = json!({ "from": owner.id, "to": routing.recipients, "note": note, "routing": true,
                               "occurrence": crate::routes::api::instant(d.occurrence_at) });
            ledger::append(conn, promise, EventKind::HandedOver, None, now_ms, data)?;
        }
        let circumstances = Circumstances {
            late: (late > Duration::seconds(59)).then_some(late),
            misfire,
            handover_note: routing.handover_note.clone(),
            lead: (purpose == Purpose::Lead).then(|| from_ms(promise.due_at) - from_ms(d.next_attempt_at)),
        };
        let mut live = Vec::new();
        for recipient_id in &routing.recipients {
            let Some(recipient) = agents::find(conn, recipient_id)? else { continue };
            let context = build(conn, promise, customer, &recipient, purpose, &circumstances, now)?;
            let body = self.views.render(&recipient.locale, "card", &context).map_err(AppError::Internal)?;
            let prompt = Prompt {
                id: new_id("pmt"),
                delivery_id: d.id.clone(),
                promise_id: promise.id.clone(),
                agent_id: recipient.id.clone(),
                purpose: purpose.as_str().into(),
                occurrence_at: d.occurrence_at,
                scheduled_for: d.next_attempt_at,
                fired_at: now_ms,
                late_by_ms: late.num_milliseconds(),
                handover_note: routing.handover_note.clone(),
                body,
                card: context.to_string(),
                acknowledged_at: None,
                created_at: now_ms,
                updated_at: now_ms,
            };
            prompts::insert(conn, &prompt)?;
            let kind = match purpose {
                Purpose::Lead => EventKind::Reminded,
                Purpose::Escalation => EventKind::Escalated,
                _ => EventKind::Prompted,
            };
            let data = json!({
                "purpose": purpose.as_str(), "occurrence": crate::routes::api::instant(d.occurrence_at),
                "delivery_id": d.id, "prompt_id": prompt.id, "recipient": recipient.id,
                "late_by_ms": prompt.late_by_ms, "misfire": misfire,
            });
            ledger::append(conn, promise, kind, None, now_ms, data)?;
            let json = prompt_json(&prompt);
            events::emit(conn, "prompt.fired", json.clone(), now)?;
            if self.config.email && purpose != Purpose::Lead {
                let subject = self.views.render(&recipient.locale, "subject", &context).map_err(AppError::Internal)?;
                events::email(conn, &recipient.email, subject.trim(), &prompt.body, "prompt.fired", now)?;
            }
            crate::delivery::relay::announce(conn, &self.instance, &prompt.id)?;
            live.push(LivePrompt { agent_id: recipient.id.clone(), json: Arc::new(json) });
        }
        if purpose == Purpose::Due {
            events::emit(conn, "promise.due", promise_event_data(promise, customer, &self.views), now)?;
            if promise.kind != PromiseKind::Deadline.as_str() {
                self.schedule_escalation(conn, d, promise, now)?;
            }
        }
        Ok((None, live))
    }

    fn schedule_escalation(
        &self,
        conn: &mut DbConn,
        d: &Delivery,
        promise: &Promise,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let now_ms = now.timestamp_millis();
        let row = Delivery {
            id: new_id("dlv"),
            promise_id: promise.id.clone(),
            occurrence_at: d.occurrence_at,
            purpose: Purpose::Escalation.as_str().into(),
            recipient: promise.owner_agent_id.clone(),
            channel: "inbox".into(),
            payload: None,
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: (now + self.config.escalate_after).timestamp_millis(),
            claimed_by: None,
            claimed_until: None,
            delivered_at: None,
            last_error: None,
            created_at: now_ms,
            updated_at: now_ms,
        };
        deliveries::insert_all(conn, &[row])?;
        Ok(())
    }

    /// Due + grace passed without a keep: the promise (or, for an update, this occurrence) is missed. An update
    /// moves straight to its next occurrence after now, so a long outage yields one missed event, not one per
    /// skipped occurrence.
    fn overdue(
        &self,
        conn: &mut DbConn,
        promise: Promise,
        customer: &Customer,
        now: DateTime<Utc>,
    ) -> Result<String, AppError> {
        let now_ms = now.timestamp_millis();
        let occurrence = crate::routes::api::instant(promise.due_at);
        let mut changed = promise.clone();
        if promise.kind == PromiseKind::Update.as_str() {
            let next = outbox::next_occurrence(&promise, now)?;
            let data = json!({ "occurrence": occurrence, "final": next.is_none() });
            match next {
                Some(next) => {
                    changed.due_at = next.resolved.instant.timestamp_millis();
                    changed.due_local = next.resolved.local.format("%Y-%m-%dT%H:%M:%S").to_string();
                    changed.due_offset_seconds = next.resolved.offset_seconds;
                    changed.late_since = None;
                }
                None => changed.status = PromiseStatus::Missed.as_str().into(),
            }
            let moved_on = changed.due_at != promise.due_at;
            ledger::save(conn, &promise, &mut changed, now_ms, None, vec![(EventKind::Missed, data)])?;
            // Only a new occurrence gets deliveries; rescheduling the last one would re-insert this very overdue
            // check in the past and fire it again on every pass.
            if moved_on {
                outbox::schedule(conn, &changed, &self.tolerances, now_ms)?;
            }
        } else {
            changed.status = PromiseStatus::Missed.as_str().into();
            let data = json!({ "occurrence": occurrence, "grace_seconds": promise.grace_seconds });
            ledger::save(conn, &promise, &mut changed, now_ms, None, vec![(EventKind::Missed, data)])?;
        }
        events::emit(conn, "promise.missed", promise_event_data(&changed, customer, &self.views), now)?;
        Ok("missed".into())
    }

    /// Still not kept long after due: broken.
    fn expire(
        &self,
        conn: &mut DbConn,
        promise: Promise,
        customer: &Customer,
        now: DateTime<Utc>,
    ) -> Result<String, AppError> {
        let now_ms = now.timestamp_millis();
        let mut changed = promise.clone();
        changed.status = PromiseStatus::Broken.as_str().into();
        let reason = if promise.kind == PromiseKind::Deadline.as_str() { "deadline_passed" } else { "never_attempted" };
        ledger::save(
            conn,
            &promise,
            &mut changed,
            now_ms,
            None,
            vec![(EventKind::Broken, json!({ "reason": reason }))],
        )?;
        outbox::retire(conn, &changed.id)?;
        events::emit(conn, "promise.broken", promise_event_data(&changed, customer, &self.views), now)?;
        Ok("broken".into())
    }
}
