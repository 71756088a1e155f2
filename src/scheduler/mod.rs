//! The scheduler (DESIGN.md section 6): sleeps until the earliest pending timer or until a write adds an earlier one,
//! claims due timers with a lease in one statement, fires each inside the same transaction that records it
//! (so the ledger never holds two `prompted` events for one timer), and publishes the prompts live after the
//! commit. Timers that fire late because the service was down say so, and only the latest occurrence of a
//! recurrence is prompted.

pub mod batch;
pub mod card;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use diesel::connection::SimpleConnection;
use serde_json::json;

use self::batch::Batch;
use self::card::{build, Circumstances, History};
use crate::channels::live::{Hub, LivePrompt};
use crate::clock::{from_ms, new_id, Clock};
use crate::db::{Db, DbConn, Tx};
use crate::domain::promise::event::Fired as FiredEvent;
use crate::domain::promise::{lifecycle, LedgerEvent};
use crate::domain::schedule::{lateness, route, Purpose};
use crate::domain::vocab::{PromiseKind, PromiseStatus};
use crate::error::AppError;
use crate::repo::customers::Customer;
use crate::repo::ledger;
use crate::repo::promises::Promise;
use crate::repo::prompts::{self, Prompt};
use crate::repo::sends::{self, OutboundSend};
use crate::repo::timers::{self, Timer};
use crate::service::apply::{self, Outbound};
use crate::service::events::{self, prompt_json_with_card};
use crate::service::planning::{current_of, next_due};
use crate::service::Ctx;
use crate::settings::Tolerances;
use crate::views::Views;

pub use crate::settings::SchedulerConfig;

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Timers processed.
    pub fired: usize,
    /// Prompts created.
    pub prompts: usize,
}

/// What firing one timer writes, gathered so that a batch's rows go in a few multi-row statements.
#[derive(Default)]
struct Fired {
    timer_id: String,
    /// What `timers.last_error` records (none when it prompted).
    note: Option<String>,
    /// The promise as it was fired (its ledger events' metric facts).
    promise: Option<Promise>,
    prompts: Vec<Prompt>,
    events: Vec<LedgerEvent>,
    messages: Vec<OutboundSend>,
    escalation: Option<Timer>,
    live: Vec<LivePrompt>,
}

impl Fired {
    /// A timer that produces nothing but its note.
    fn noted(d: &Timer, note: String) -> Self {
        Self { timer_id: d.id.clone(), note: Some(note), ..Self::default() }
    }
}

/// What a timer comes to.
enum Step {
    /// Rows to write with the rest of the batch.
    Write(Fired),
    /// A promise to judge (missed, broken) at once.
    Judge(Promise, Customer, Purpose),
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
}

/// The scheduler is the job over the timers: it fires what is due, batch by batch.
impl crate::jobs::Job for Scheduler {
    const NAME: &'static str = "scheduler";
    const ALARM: crate::jobs::Alarm = crate::jobs::Alarm::Timers;

    fn db(&self) -> &Db {
        &self.db
    }

    fn clock(&self) -> &Clock {
        &self.clock
    }

    async fn next_due(&self) -> Result<Option<i64>, AppError> {
        self.db.read(|conn| Ok(timers::next_pending_at(conn)?)).await
    }

    async fn run_due(&self) -> Result<usize, AppError> {
        self.run_once().await.map(|report| report.fired)
    }
}

impl Scheduler {
    /// A scheduler identified as `instance` in leases.
    pub fn new(
        db: Db,
        clock: Clock,
        hub: Hub,
        views: Arc<Views>,
        tolerances: Tolerances,
        config: SchedulerConfig,
        instance: String,
    ) -> Self {
        Self { db, clock, hub, views, tolerances, config, instance }
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
            if (fired as i64) < self.config.batch_size {
                return Ok(report);
            }
        }
    }

    fn fire_batch(&self, conn: &mut Tx<'_>, now: DateTime<Utc>) -> Result<(usize, Vec<LivePrompt>), AppError> {
        let now_ms = now.timestamp_millis();
        let lease_until = (now + self.config.lease).timestamp_millis();
        let mut claimed = timers::claim_due(conn, &self.instance, now_ms, lease_until, self.config.batch_size)?;
        if claimed.is_empty() {
            // What was due was claimed by another instance first: nothing to load.
            return Ok((0, Vec::new()));
        }
        // Within one instant: remind, prompt, escalate, then judge (missed), then close (broken).
        let rank = |d: &Timer| match Purpose::parse(&d.purpose) {
            Some(Purpose::Lead) => 0,
            Some(Purpose::Due) => 1,
            Some(Purpose::Escalation) => 2,
            Some(Purpose::Overdue) => 3,
            Some(Purpose::Expiry) | None => 4,
        };
        claimed.sort_by_key(|d| (d.next_attempt_at, rank(d)));
        let mut batch = Batch::load(conn, &claimed, now_ms)?;
        let mut gathered = Vec::new();
        let mut live = Vec::new();
        for timer in &claimed {
            match self.plan(conn, &mut batch, timer, now) {
                Ok(Step::Write(fired)) => gathered.push(fired),
                Ok(Step::Judge(promise, customer, purpose)) => {
                    // Judging writes the promise at once: what was gathered goes first, so the ledger keeps the
                    // order in which things happened.
                    live.extend(self.write_gathered(conn, std::mem::take(&mut gathered), now_ms)?);
                    self.judge_one(conn, &mut batch, timer, promise, &customer, purpose, now)?;
                }
                Err(e) => {
                    tracing::error!(timer = %timer.id, error = %e, "timer failed; set aside");
                    gathered.push(Fired::noted(timer, format!("failed: {e}")));
                }
            }
        }
        live.extend(self.write_gathered(conn, gathered, now_ms)?);
        Ok((claimed.len(), live))
    }

    /// Writes what the gathered timers produced in a few multi-row statements. Should that fail, they are
    /// written again one by one, each in its own savepoint, so one bad row is set aside with its error instead of
    /// blocking the queue.
    fn write_gathered(
        &self,
        conn: &mut Tx<'_>,
        gathered: Vec<Fired>,
        now_ms: i64,
    ) -> Result<Vec<LivePrompt>, AppError> {
        if gathered.is_empty() {
            return Ok(Vec::new());
        }
        conn.batch_execute("SAVEPOINT fire_many")?;
        match self.write_rows(conn, &gathered, now_ms) {
            Ok(()) => {
                conn.batch_execute("RELEASE fire_many")?;
                return Ok(gathered.into_iter().flat_map(|f| f.live).collect());
            }
            Err(e) => {
                conn.batch_execute("ROLLBACK TO fire_many; RELEASE fire_many")?;
                tracing::warn!(error = %e, timers = gathered.len(), "writing a batch failed; writing one by one");
            }
        }
        let mut live = Vec::new();
        for fired in gathered {
            conn.batch_execute("SAVEPOINT fire_one")?;
            match self.write_rows(conn, std::slice::from_ref(&fired), now_ms) {
                Ok(()) => {
                    conn.batch_execute("RELEASE fire_one")?;
                    live.extend(fired.live);
                }
                Err(e) => {
                    conn.batch_execute("ROLLBACK TO fire_one; RELEASE fire_one")?;
                    tracing::error!(timer = %fired.timer_id, error = %e, "timer failed; set aside");
                    timers::mark_done(conn, &fired.timer_id, now_ms, Some(&format!("failed: {e}")))?;
                }
            }
        }
        Ok(live)
    }

    fn write_rows(&self, conn: &mut Tx<'_>, gathered: &[Fired], now_ms: i64) -> Result<(), AppError> {
        let prompts: Vec<Prompt> = gathered.iter().flat_map(|f| f.prompts.iter().cloned()).collect();
        prompts::insert_all(conn, &prompts)?;
        let events = gathered
            .iter()
            .filter_map(|f| f.promise.as_ref().map(|p| (p, &f.events)))
            .flat_map(|(p, events)| events.iter().map(move |event| (p, event.clone())))
            .collect();
        ledger::append_all(conn, events, now_ms)?;
        let messages: Vec<OutboundSend> = gathered.iter().flat_map(|f| f.messages.iter().cloned()).collect();
        sends::insert_all(conn, &messages)?;
        let escalations: Vec<Timer> = gathered.iter().filter_map(|f| f.escalation.clone()).collect();
        timers::insert_all(conn, &escalations)?;
        crate::channels::relay::announce_all(conn, &self.instance, prompts.iter().map(|p| p.id.as_str()))?;
        let mut by_note: Vec<(Option<&str>, Vec<String>)> = Vec::new();
        for fired in gathered {
            let note = fired.note.as_deref();
            match by_note.iter_mut().find(|(n, _)| *n == note) {
                Some((_, ids)) => ids.push(fired.timer_id.clone()),
                None => by_note.push((note, vec![fired.timer_id.clone()])),
            }
        }
        for (note, ids) in by_note {
            timers::mark_all_done(conn, &ids, now_ms, note)?;
        }
        Ok(())
    }

    /// What a timer comes to, from the batch's data alone: the rows of its prompts, or a promise to judge.
    fn plan(&self, conn: &mut DbConn, batch: &mut Batch, d: &Timer, now: DateTime<Utc>) -> Result<Step, AppError> {
        let Some(promise) = batch.promise(&d.promise_id).cloned() else {
            return Ok(Step::Write(Fired::noted(d, "promise not found".into())));
        };
        let Some(purpose) = Purpose::parse(&d.purpose) else {
            return Ok(Step::Write(Fired::noted(d, format!("unknown purpose {}", d.purpose))));
        };
        let status = promise.status.parse::<PromiseStatus>().map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?;
        // Only the promise's current occurrence matters; anything else was overtaken by a reschedule or a keep.
        if !status.is_active() || promise.due_at != d.occurrence_at {
            return Ok(Step::Write(Fired::noted(d, "stale: the promise moved on".into())));
        }
        let customer = batch
            .customer(&promise.customer_id)
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("customer of {} missing", promise.id)))?;
        let late = lateness(from_ms(d.next_attempt_at), now);
        let misfire = late > self.config.misfire_after;
        match purpose {
            Purpose::Lead if promise.due_at <= now.timestamp_millis() => {
                Ok(Step::Write(Fired::noted(d, "coalesced into the due prompt".into())))
            }
            Purpose::Escalation if batch.acknowledged(&promise.id, d.occurrence_at) => {
                Ok(Step::Write(Fired::noted(d, "acknowledged in time".into())))
            }
            Purpose::Lead | Purpose::Due | Purpose::Escalation => {
                let fired = self.prompt(conn, batch, d, promise, &customer, purpose, late, misfire, now)?;
                Ok(Step::Write(fired))
            }
            Purpose::Overdue | Purpose::Expiry => Ok(Step::Judge(promise, customer, purpose)),
        }
    }

    /// Judges a promise (missed, broken) in a savepoint of its own, writing at once: these are rare next to
    /// prompts, and what they change (the promise, its timers) later timers of the batch must see.
    #[expect(clippy::too_many_arguments, reason = "the timer, what it is about and the batch it belongs to")]
    fn judge_one(
        &self,
        conn: &mut Tx<'_>,
        batch: &mut Batch,
        d: &Timer,
        promise: Promise,
        customer: &Customer,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let now_ms = now.timestamp_millis();
        conn.batch_execute("SAVEPOINT fire_one")?;
        let judged = match purpose {
            Purpose::Overdue => self.overdue(conn, batch, promise, customer, now),
            _ => self.expire(conn, batch, promise, customer, now),
        };
        match judged {
            Ok((note, changed)) => {
                timers::mark_done(conn, &d.id, now_ms, Some(&note))?;
                conn.batch_execute("RELEASE fire_one")?;
                batch.promise_changed(changed);
            }
            Err(e) => {
                conn.batch_execute("ROLLBACK TO fire_one; RELEASE fire_one")?;
                tracing::error!(timer = %d.id, error = %e, "timer failed; set aside");
                timers::mark_done(conn, &d.id, now_ms, Some(&format!("failed: {e}")))?;
            }
        }
        Ok(())
    }

    #[expect(clippy::too_many_arguments, reason = "what a prompt is about, in one place")]
    fn prompt(
        &self,
        conn: &mut DbConn,
        batch: &mut Batch,
        d: &Timer,
        promise: Promise,
        customer: &Customer,
        purpose: Purpose,
        late: Duration,
        misfire: bool,
        now: DateTime<Utc>,
    ) -> Result<Fired, AppError> {
        let now_ms = now.timestamp_millis();
        batch.ensure_active(conn, &customer.id)?;
        // The card speaks of the customer's clock: a zone that does not read fails this timer, naming the row.
        let zone = crate::repo::stored::zone("customer", &customer.id, &customer.time_zone)?;
        let batch = &*batch;
        let owner = batch
            .agent(&promise.owner_agent_id)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("owner of {} missing", promise.id)))?;
        let team = customer.team_id.as_deref().or(owner.team_id.as_deref());
        let managers: &[String] = team.map(|t| batch.managers_of(t)).unwrap_or_default();
        let routing = if purpose == Purpose::Escalation {
            crate::domain::schedule::Routing {
                recipients: if managers.is_empty() { vec![owner.id.clone()] } else { managers.to_vec() },
                away: None,
            }
        } else {
            let away = batch.absence_of(&owner.id).map(|a| (a.stand_in_agent_id.as_deref(), a.note.as_str()));
            route(&owner.id, &owner.name, away, managers)
        };
        let mut fired = Fired { timer_id: d.id.clone(), ..Fired::default() };
        // One routing hand-over per occurrence in the ledger: lead reminders go to the same stand-in with the same
        // note, but recording each would count one hand-over several times.
        if let (Some(away), Purpose::Due) = (&routing.away, purpose) {
            let routed = lifecycle::route(&owner.id, &routing.recipients, &away.note, from_ms(d.occurrence_at));
            // The integrator's mirror hears of it like of any hand-over, with `routing: true` in its details.
            if events::wanted(&batch.subscriptions, "promise.handed_over") {
                let data = events::promise_payload(&promise, customer, &self.views, Some(&routed))?;
                fired.messages.extend(events::webhooks(&batch.subscriptions, "promise.handed_over", &data, now));
            }
            fired.events.push(routed);
        }
        let mut circumstances = Circumstances {
            late: (late > Duration::seconds(59)).then_some(late),
            misfire,
            handover_note: None,
            lead: (purpose == Purpose::Lead).then(|| from_ms(promise.due_at) - from_ms(d.next_attempt_at)),
        };
        let history = History {
            made_by: batch.agent(&promise.made_by_agent_id).map(|a| a.name.as_str()).unwrap_or_default(),
            reschedules: batch.reschedules_of(&promise.id),
            interactions: batch.interactions_of(&customer.id),
            active: batch.active(&customer.id),
        };
        let email = self.config.email && purpose != Purpose::Lead;
        let templates: &[&str] = if email { &["card", "subject"] } else { &["card"] };
        for recipient_id in &routing.recipients {
            let Some(recipient) = batch.agent(recipient_id) else { continue };
            // The hand-over note is read by the recipient, in the recipient's language.
            circumstances.handover_note = match &routing.away {
                Some(away) => {
                    Some(self.views.render(&recipient.locale, "handover", &json!(away)).map_err(AppError::Internal)?)
                }
                None => None,
            };
            let context = build(history, &promise, customer, zone, recipient, purpose, &circumstances, now);
            let (mut texts, context) =
                self.views.render_all(&recipient.locale, templates, context).map_err(AppError::Internal)?;
            let subject = if email { texts.pop() } else { None };
            let body = texts.pop().unwrap_or_default();
            let prompt = Prompt {
                id: new_id("pmt"),
                timer_id: d.id.clone(),
                promise_id: promise.id.clone(),
                agent_id: recipient.id.clone(),
                purpose: purpose.as_str().into(),
                occurrence_at: d.occurrence_at,
                scheduled_for: d.next_attempt_at,
                fired_at: now_ms,
                late_by_ms: late.num_milliseconds(),
                handover_note: circumstances.handover_note.clone(),
                body,
                card: context.to_string(),
                acknowledged_at: None,
                created_at: now_ms,
                updated_at: now_ms,
            };
            let event = FiredEvent {
                purpose: purpose.as_str().into(),
                occurrence: from_ms(d.occurrence_at),
                timer_id: d.id.clone(),
                prompt_id: prompt.id.clone(),
                recipient: recipient.id.clone(),
                late_by_ms: prompt.late_by_ms,
                misfire,
            };
            fired.events.push(match purpose {
                Purpose::Lead => LedgerEvent::Reminded(event),
                Purpose::Escalation => LedgerEvent::Escalated(event),
                _ => LedgerEvent::Prompted(event),
            });
            let json = prompt_json_with_card(&prompt, context);
            fired.messages.extend(events::webhooks(&batch.subscriptions, "prompt.fired", &json, now));
            if let Some(subject) = subject {
                fired.messages.push(events::email_message(
                    &recipient.email,
                    subject.trim(),
                    &prompt.body,
                    "prompt.fired",
                    now,
                ));
            }
            fired.live.push(LivePrompt { agent_id: recipient.id.clone(), json: Arc::new(json) });
            fired.prompts.push(prompt);
        }
        if purpose == Purpose::Due {
            // The payload renders a template: only worth it when someone wants it.
            if events::wanted(&batch.subscriptions, "promise.due") {
                let data = events::promise_payload(&promise, customer, &self.views, None)?;
                fired.messages.extend(events::webhooks(&batch.subscriptions, "promise.due", &data, now));
            }
            if promise.kind != PromiseKind::Deadline.as_str() {
                fired.escalation = Some(self.escalation(d, &promise, now));
            }
        }
        fired.promise = Some(promise);
        Ok(fired)
    }

    /// The escalation check of a due prompt, fired if nobody acknowledged it by then.
    fn escalation(&self, d: &Timer, promise: &Promise, now: DateTime<Utc>) -> Timer {
        let now_ms = now.timestamp_millis();
        Timer {
            id: new_id("tmr"),
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
            fired_at: None,
            last_error: None,
            created_at: now_ms,
            updated_at: now_ms,
        }
    }

    /// Due + grace passed without a keep: the promise (or, for an update, this occurrence) is missed. An update
    /// moves straight to its next occurrence after now, so a long outage yields one missed event, not one per
    /// skipped occurrence.
    fn overdue(
        &self,
        conn: &mut Tx<'_>,
        batch: &Batch,
        promise: Promise,
        customer: &Customer,
        now: DateTime<Utc>,
    ) -> Result<(String, Promise), AppError> {
        let current = current_of(&promise, &self.tolerances)?;
        let next = if current.judged.kind == PromiseKind::Update { next_due(&promise, now)? } else { None };
        let change = lifecycle::miss(&current, next);
        let changed = self.apply(conn, batch, &promise, customer, change, now)?;
        Ok(("missed".into(), changed))
    }

    /// Still not kept long after due: broken.
    fn expire(
        &self,
        conn: &mut Tx<'_>,
        batch: &Batch,
        promise: Promise,
        customer: &Customer,
        now: DateTime<Utc>,
    ) -> Result<(String, Promise), AppError> {
        let change = lifecycle::expire(&current_of(&promise, &self.tolerances)?);
        let changed = self.apply(conn, batch, &promise, customer, change, now)?;
        Ok(("broken".into(), changed))
    }

    /// A judgement through the one apply path, announced to the subscriptions the batch read once.
    fn apply(
        &self,
        conn: &mut Tx<'_>,
        batch: &Batch,
        promise: &Promise,
        customer: &Customer,
        change: crate::domain::promise::Change,
        now: DateTime<Utc>,
    ) -> Result<Promise, AppError> {
        let ctx = Ctx { tolerances: self.tolerances.clone(), views: self.views.clone(), now };
        apply::apply(conn, &ctx, Outbound::Known(&batch.subscriptions), promise, customer, change, None)
    }
}
