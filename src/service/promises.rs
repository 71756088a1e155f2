//! The use cases of a promise: make, reschedule, keep, cancel, hand over. Each reads what it needs, checks
//! access, asks `domain::promise::lifecycle` for the change, and writes it through [`super::apply`].

use chrono::{DateTime, Duration, Utc};

use super::access::{team_agent, visible_customer, visible_promise};
use super::apply::{self, Outbound};
use super::planning::{current_of, new_due, plan_for};
use super::Ctx;
use crate::auth::Caller;
use crate::clock::new_id;
use crate::db::{DbConn, Tx};
use crate::domain::due::{DueInput, DuePlan, Warning};
use crate::domain::promise::judging::{default_grace, Contact};
use crate::domain::promise::lifecycle::{self, Keep, Make, Reschedule};
use crate::domain::promise::{check_action, Action, Current, LedgerEvent, Refusal};
use crate::domain::time::{parse_zone, Recurrence};
use crate::domain::vocab::{Direction, Initiator, PromiseKind, PromiseStatus, Role};
use crate::error::AppError;
use crate::repo::customers::Customer;
use crate::repo::interactions;
use crate::repo::promises::Promise;
use crate::repo::stored;

/// A refusal of the lifecycle as an answer: a status that forbids it is 409 with the current status; the rest
/// name the field at fault.
pub fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::Illegal(e) => AppError::Conflict {
            detail: e.to_string(),
            extra: Some(serde_json::json!({ "current_status": e.current.as_str() })),
        },
        Refusal::SameOwner => AppError::invalid("to_agent_id", "same_owner", refusal.to_string()),
        Refusal::Evidence(reason) => AppError::invalid("interaction_id", reason.code(), refusal.to_string()),
    }
}

/// The promise a change is asked of, checked in the order the answers promise: not found (or another team's),
/// not allowed (not its owner, a manager or an admin), closed (409 with the status, whatever else was asked),
/// then stale (409 with the version).
fn to_change(
    conn: &mut DbConn,
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    action: Action,
    version: Option<i32>,
) -> Result<(Promise, Customer, Current), AppError> {
    let (promise, customer) = visible_promise(conn, caller, id)?;
    caller.check_promise_actor(&promise.owner_agent_id, customer.team_id.as_deref())?;
    let current = current_of(&promise, &ctx.tolerances)?;
    check_action(current.status, action).map_err(|e| refused(Refusal::Illegal(e)))?;
    apply::check_version(&promise, version)?;
    Ok((promise, customer, current))
}

/// A new promise, as the request asked for it (already parsed and checked field by field).
#[derive(Clone, Debug)]
pub struct NewPromise {
    /// The customer.
    pub customer_id: String,
    /// Its kind.
    pub kind: PromiseKind,
    /// What the customer was told.
    pub title: String,
    /// Internal details.
    pub details: String,
    /// The due time as asked.
    pub due: DueInput,
    /// For updates.
    pub recurrence: Option<Recurrence>,
    /// When the recurrence ends.
    pub until: Option<DateTime<Utc>>,
    /// Tolerance after due (default by kind).
    pub grace: Option<Duration>,
    /// Lead reminders (default by kind).
    pub lead: Option<Vec<Duration>>,
    /// Owner (default: the caller).
    pub owner_agent_id: Option<String>,
    /// The interaction in which it was made.
    pub made_in_interaction_id: Option<String>,
}

/// A promise planned and ready to write.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The row.
    pub promise: Promise,
    /// Its customer.
    pub customer: Customer,
    /// Its `created` event.
    pub created: LedgerEvent,
    /// What the agent should know.
    pub warnings: Vec<Warning>,
}

/// Make, read phase: checks who may make it for whom, resolves its due time in the customer's clock against
/// the contact window and the owner's shift, and builds the row. Nothing is written: the caller writes it with
/// [`make`] on the writer (the reads run beside it on a read connection).
pub fn prepare(conn: &mut DbConn, ctx: &Ctx, caller: &Caller, input: NewPromise) -> Result<Prepared, AppError> {
    let now = ctx.now;
    let customer = visible_customer(conn, caller, &input.customer_id)?;
    let owner_id = input.owner_agent_id.clone().unwrap_or_else(|| caller.agent_id.clone());
    let owner = team_agent(conn, "owner_agent_id", &owner_id, customer.team_id.as_deref())?;
    if owner.id != caller.agent_id {
        caller.require(Role::Manager).map_err(|_| {
            AppError::Forbidden("only managers and admins make promises on another agent's behalf".into())
        })?;
    }
    if let Some(interaction) = &input.made_in_interaction_id {
        if interactions::find(conn, interaction)?.filter(|i| i.customer_id == customer.id).is_none() {
            return Err(AppError::invalid(
                "made_in_interaction_id",
                "unknown_interaction",
                format!("interaction `{interaction}` does not exist for this customer"),
            ));
        }
    }
    let mut due = input.due.clone();
    if let (Some(rule), true) =
        (&input.recurrence, due.due_local.is_none() && due.within.is_none() && due.within_business_days.is_none())
    {
        // An update with no explicit first time starts at the recurrence's next occurrence.
        let zone = match &due.time_zone {
            Some(name) => parse_zone(name).map_err(|e| AppError::invalid("time_zone", e.code(), e.to_string()))?,
            None => stored::zone("customer", &customer.id, &customer.time_zone)?,
        };
        let first = rule.next_after(now, zone, Default::default(), input.until).ok_or_else(|| {
            AppError::invalid("recurrence.cron", "no_occurrence", "the recurrence has no occurrence before its end")
        })?;
        due.due_local = Some(first.local.format("%Y-%m-%dT%H:%M:%S").to_string());
    }
    let kind = input.kind;
    let plan = plan_for(conn, &due, kind, &customer, &owner, now)?;
    let grace = input.grace.unwrap_or_else(|| default_grace(kind, ctx.tolerances.callback_grace));
    let lead = match input.lead {
        Some(lead) => lead,
        None if kind == PromiseKind::Deadline => {
            // DESIGN.md section 5: a deadline is also recalled on the morning of its due day, customer time.
            let mut lead = ctx.tolerances.deadline_lead.clone();
            lead.extend(morning_reminder(&plan));
            lead
        }
        None => ctx.tolerances.callback_lead.clone(),
    };
    let now_ms = ctx.now_ms();
    let to = new_due(&plan);
    let created = lifecycle::make(Make {
        kind,
        title: &input.title,
        due: &to,
        customer_requested: due.customer_requested,
        outside_contact_window: plan.outside_window_by_request,
        do_not_call_overridden: plan.do_not_call_by_request,
        owner: &owner.id,
        warnings: &plan.warnings,
    });
    let promise = Promise {
        id: new_id("prm"),
        customer_id: customer.id.clone(),
        owner_agent_id: owner.id.clone(),
        made_by_agent_id: caller.agent_id.clone(),
        kind: kind.as_str().into(),
        title: input.title,
        details: input.details,
        due_local: to.due_local,
        time_zone: to.time_zone,
        disambiguation: to.disambiguation,
        due_at: to.due_at.timestamp_millis(),
        due_offset_seconds: to.offset_seconds,
        window_end_at: None,
        grace_seconds: grace.num_seconds(),
        lead_seconds: serde_json::to_string(&lead.iter().map(|d| d.num_seconds()).collect::<Vec<_>>())
            .map_err(|e| AppError::Internal(e.into()))?,
        recurrence_cron: input.recurrence.as_ref().map(|r| r.expression().to_string()),
        recurrence_until: input.until.map(|u| u.timestamp_millis()),
        status: PromiseStatus::Open.as_str().into(),
        kept_at: None,
        kept_on_time: None,
        resolution_interaction_id: None,
        resolution_note: None,
        made_in_interaction_id: input.made_in_interaction_id,
        customer_requested: due.customer_requested,
        reschedule_count: 0,
        version: 1,
        created_at: now_ms,
        updated_at: now_ms,
        accountable_agent_id: owner.id.clone(),
        team_id: customer.team_id.clone(),
        late_since: None,
    };
    Ok(Prepared { promise, customer, created, warnings: plan.warnings })
}

/// Make, write phase: the prepared promise with its `created` event, timers and outbound event.
pub fn make(conn: &mut Tx<'_>, ctx: &Ctx, caller: &Caller, prepared: Prepared) -> Result<Promise, AppError> {
    apply::make(conn, ctx, &prepared.promise, &prepared.customer, prepared.created, &caller.agent_id)?;
    Ok(prepared.promise)
}

/// How long before a deadline 09:00 on its due day (customer time) is, when the deadline is later that day.
fn morning_reminder(plan: &DuePlan) -> Option<Duration> {
    let morning = plan.due_local.date().and_hms_opt(9, 0, 0)?;
    let at = crate::domain::time::resolve_local(morning, plan.zone, Default::default()).ok()?.instant;
    (at < plan.due_at).then(|| plan.due_at - at)
}

/// What a reschedule asks for.
#[derive(Clone, Debug)]
pub struct RescheduleInput {
    /// The new due time.
    pub due: DueInput,
    /// Why.
    pub reason: String,
    /// Who asked.
    pub initiated_by: Initiator,
    /// The version read.
    pub version: Option<i32>,
}

/// Reschedule: the new due time planned as for a new promise; the old one stays in the ledger.
pub fn reschedule(
    conn: &mut Tx<'_>,
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    input: RescheduleInput,
) -> Result<(Promise, Vec<Warning>), AppError> {
    let (promise, customer, current) = to_change(conn, ctx, caller, id, Action::Reschedule, input.version)?;
    let owner = crate::repo::agents::find(conn, &promise.owner_agent_id)?
        .ok_or_else(|| AppError::not_found("agent", &promise.owner_agent_id))?;
    let plan = plan_for(conn, &input.due, stored::kind(&promise)?, &customer, &owner, ctx.now)?;
    let warnings = plan.warnings.clone();
    let change = lifecycle::reschedule(
        &current,
        Reschedule {
            to: new_due(&plan),
            reason: input.reason,
            initiated_by: input.initiated_by,
            customer_requested: input.due.customer_requested,
            warnings: plan.warnings,
        },
        ctx.now,
    )
    .map_err(refused)?;
    let changed = apply::apply(conn, ctx, Outbound::Read, &promise, &customer, change, Some(&caller.agent_id))?;
    Ok((changed, warnings))
}

/// What an explicit keep brings.
#[derive(Clone, Debug, Default)]
pub struct KeepInput {
    /// What was done.
    pub note: Option<String>,
    /// The interaction that is the evidence.
    pub interaction_id: Option<String>,
    /// The version read.
    pub version: Option<i32>,
}

/// Keep: kept for good, judged at the evidence's time (or now).
pub fn keep(conn: &mut Tx<'_>, ctx: &Ctx, caller: &Caller, id: &str, input: KeepInput) -> Result<Promise, AppError> {
    let (promise, customer, current) = to_change(conn, ctx, caller, id, Action::Keep, input.version)?;
    let evidence = match &input.interaction_id {
        None => None,
        Some(iid) => {
            let interaction =
                interactions::find(conn, iid)?.filter(|i| i.customer_id == promise.customer_id).ok_or_else(|| {
                    AppError::invalid(
                        "interaction_id",
                        "unknown_interaction",
                        format!("interaction `{iid}` does not exist for this customer"),
                    )
                })?;
            let keeper =
                super::planning::keeper_of(conn, &promise, interaction.agent_id.as_deref(), interaction.occurred_at)?;
            let contact = Contact {
                same_customer: true,
                outbound: interaction.direction == Direction::Outbound.as_str(),
                keeper,
                occurred_at: crate::clock::from_ms(interaction.occurred_at),
            };
            Some((interaction.id, contact))
        }
    };
    let change = lifecycle::keep(&current, Keep { note: input.note, evidence }, ctx.now).map_err(refused)?;
    apply::apply(conn, ctx, Outbound::Read, &promise, &customer, change, Some(&caller.agent_id))
}

/// What a cancel brings.
#[derive(Clone, Debug)]
pub struct CancelInput {
    /// Why.
    pub reason: String,
    /// Who asked: the customer (cancelled) or the agent (broken).
    pub initiated_by: Initiator,
    /// The version read.
    pub version: Option<i32>,
}

/// Cancel: cancelled with the customer's agreement, broken without it.
pub fn cancel(
    conn: &mut Tx<'_>,
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    input: CancelInput,
) -> Result<Promise, AppError> {
    let CancelInput { reason, initiated_by, version } = input;
    let (promise, customer, current) = to_change(conn, ctx, caller, id, Action::Cancel, version)?;
    let change = lifecycle::cancel(&current, reason, initiated_by).map_err(refused)?;
    apply::apply(conn, ctx, Outbound::Read, &promise, &customer, change, Some(&caller.agent_id))
}

/// What a hand-over brings.
#[derive(Clone, Debug)]
pub struct HandoverInput {
    /// The new owner.
    pub to_agent_id: String,
    /// Context for the new owner.
    pub note: String,
    /// The version read.
    pub version: Option<i32>,
}

/// Hand over: to an active agent of the customer's team, with a note that travels with the promise.
pub fn hand_over(
    conn: &mut Tx<'_>,
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    input: HandoverInput,
) -> Result<Promise, AppError> {
    let HandoverInput { to_agent_id, note, version } = input;
    let (promise, customer, current) = to_change(conn, ctx, caller, id, Action::HandOver, version)?;
    let target = team_agent(conn, "to_agent_id", &to_agent_id, customer.team_id.as_deref())?;
    let change = lifecycle::hand_over(&current, &target.id, note).map_err(refused)?;
    apply::apply(conn, ctx, Outbound::Read, &promise, &customer, change, Some(&caller.agent_id))
}

/// The `created` event of a promise row a bulk loader writes directly (the benches, the scale tests): the same
/// typed event [`make`] records, from the row alone.
pub fn created_event_of(promise: &Promise) -> Result<LedgerEvent, AppError> {
    let due = stored_due(promise);
    Ok(lifecycle::make(Make {
        kind: stored::kind(promise)?,
        title: &promise.title,
        due: &due,
        customer_requested: promise.customer_requested,
        outside_contact_window: false,
        do_not_call_overridden: false,
        owner: &promise.owner_agent_id,
        warnings: &[],
    }))
}

/// A stored row's due time, as the lifecycle names it.
fn stored_due(promise: &Promise) -> crate::domain::promise::NewDue {
    crate::domain::promise::NewDue {
        due_at: crate::clock::from_ms(promise.due_at),
        due_local: promise.due_local.clone(),
        time_zone: promise.time_zone.clone(),
        disambiguation: promise.disambiguation.clone(),
        offset_seconds: promise.due_offset_seconds,
    }
}
