//! What the rules need to know about stored rows: a promise as the lifecycle reads it, a due time planned
//! against the customer's window and the owner's shift and absences, who made a contact, an update's next
//! occurrence.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;

use crate::clock::from_ms;
use crate::db::DbConn;
use crate::domain::due::{
    describe_local, plan_due, AwayPeriod, CustomerTime, DueInput, DuePlan, DueRefusal, OwnerTime,
};
use crate::domain::promise::event::DueTime;
use crate::domain::promise::{Current, Judged, Judging, Keeper, NewDue};
use crate::domain::time::HolidayCalendar;
use crate::domain::vocab::PromiseKind;
use crate::error::{AppError, FieldError};
use crate::repo::agents::{self, Agent};
use crate::repo::customers::Customer;
use crate::repo::promises::Promise;
use crate::repo::stored;
use crate::settings::Tolerances;

/// A stored promise as the lifecycle reads it.
pub fn current_of(promise: &Promise, tolerances: &Tolerances) -> Result<Current, AppError> {
    let kind = stored::kind(promise)?;
    let status = stored::status(promise)?;
    let due_at = from_ms(promise.due_at);
    Ok(Current {
        judged: Judged {
            kind,
            due_at,
            made_at: from_ms(promise.created_at),
            judging: Judging::of(kind, Duration::seconds(promise.grace_seconds), tolerances.callback_early),
            late_since: promise.late_since.map(from_ms),
        },
        status,
        owner: promise.owner_agent_id.clone(),
        due: DueTime {
            due_at,
            due_local: Some(promise.due_local.clone()),
            time_zone: Some(promise.time_zone.clone()),
            offset_seconds: None,
        },
    })
}

/// A planned due time as the lifecycle moves to it.
pub fn new_due(plan: &DuePlan) -> NewDue {
    NewDue {
        due_at: plan.due_at,
        due_local: plan.due_local.format("%Y-%m-%dT%H:%M:%S").to_string(),
        time_zone: plan.zone.name().into(),
        disambiguation: plan.disambiguation.as_str().into(),
        offset_seconds: plan.offset_seconds,
    }
}

/// An update's next occurrence strictly after `after`, as a due time to move to; `None` when the promise has
/// no recurrence or it has ended.
pub fn next_due(promise: &Promise, after: DateTime<Utc>) -> Result<Option<NewDue>, AppError> {
    Ok(crate::service::timing::next_occurrence(promise, after)?.map(|next| NewDue {
        due_at: next.resolved.instant,
        due_local: next.resolved.local.format("%Y-%m-%dT%H:%M:%S").to_string(),
        time_zone: promise.time_zone.clone(),
        disambiguation: promise.disambiguation.clone(),
        offset_seconds: next.resolved.offset_seconds,
    }))
}

/// Who `agent_id` is to `promise` at `at_ms`: its owner, the stand-in recorded on the owner's absence then, or
/// anyone else.
pub fn keeper_of(conn: &mut DbConn, promise: &Promise, agent_id: Option<&str>, at_ms: i64) -> Result<Keeper, AppError> {
    let Some(agent_id) = agent_id else { return Ok(Keeper::Other) };
    if agent_id == promise.owner_agent_id {
        return Ok(Keeper::Owner);
    }
    let stand_in = agents::absence_at(conn, &promise.owner_agent_id, at_ms)?
        .and_then(|a| a.stand_in_agent_id)
        .is_some_and(|s| s == agent_id);
    Ok(if stand_in { Keeper::StandIn } else { Keeper::Other })
}

/// Away periods of an agent from now on, with stand-in names, for the due planner.
pub fn away_periods(conn: &mut DbConn, agent_id: &str, now_ms: i64) -> Result<Vec<AwayPeriod>, AppError> {
    let mut out = Vec::new();
    for a in agents::absences_of(conn, agent_id, now_ms)? {
        let stand_in = match &a.stand_in_agent_id {
            Some(s) => agents::find(conn, s)?.map(|s| s.name),
            None => None,
        };
        out.push(AwayPeriod { starts_at: from_ms(a.starts_at), ends_at: from_ms(a.ends_at), stand_in });
    }
    Ok(out)
}

/// Turns a refused due time into a 422 carrying the nearest allowed slots, in UTC and in the customer's clock.
pub fn refusal_error(refusal: DueRefusal, customer_zone: chrono_tz::Tz) -> AppError {
    let extra = refusal.nearest.map(|n| {
        let slot = |at: Option<DateTime<Utc>>| {
            at.map(|t| {
                json!({ "at": t.to_rfc3339_opts(SecondsFormat::AutoSi, true), "local": describe_local(t, customer_zone) })
            })
        };
        json!({ "nearest_slots": { "before": slot(n.before), "after": slot(n.after) } })
    });
    AppError::Unprocessable {
        detail: refusal.message.clone(),
        errors: vec![FieldError::new(refusal.field, refusal.code, refusal.message)],
        extra,
    }
}

/// Plans a due time against the customer's window and the owner's shift and absences.
pub fn plan_for(
    conn: &mut DbConn,
    input: &DueInput,
    kind: PromiseKind,
    customer: &Customer,
    owner: &Agent,
    now: DateTime<Utc>,
) -> Result<DuePlan, AppError> {
    let customer_zone = stored::zone("customer", &customer.id, &customer.time_zone)?;
    let owner_zone = stored::zone("agent", &owner.id, &owner.time_zone)?;
    let window = stored::window("customer", &customer.id, "contact_window", &customer.contact_window)?;
    let shift = stored::window("agent", &owner.id, "shift", &owner.shift)?;
    let away = away_periods(conn, &owner.id, now.timestamp_millis())?;
    let holidays = customer.region.as_deref().and_then(HolidayCalendar::for_region);
    let customer_time =
        CustomerTime { zone: customer_zone, window: &window, do_not_call: customer.do_not_call, holidays };
    let owner_time = OwnerTime { zone: owner_zone, shift: &shift, away: &away };
    plan_due(input, kind, &customer_time, &owner_time, now).map_err(|r| refusal_error(r, customer_zone))
}
