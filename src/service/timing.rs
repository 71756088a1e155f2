//! Keeping a promise's timers in step with the promise, in the same transaction as the change: creating or
//! rescheduling writes the occurrence's timers, keeping or cancelling retires them, a hand-over points them
//! at the new owner.

use chrono::Duration;

use crate::clock::{from_ms, new_id};
use crate::db::Tx;
use crate::domain::schedule::{plan, Timing};
use crate::domain::vocab::PromiseKind;
use crate::error::AppError;
use crate::repo::promises::Promise;
use crate::repo::timers::{self, Timer};
use crate::settings::Tolerances;

/// The timing facts of a stored promise.
pub fn timing_of(promise: &Promise, tolerances: &Tolerances) -> Result<Timing, AppError> {
    let kind = crate::repo::stored::kind(promise)?;
    let leads = crate::repo::stored::leads(promise)?;
    Ok(Timing {
        kind,
        due_at: from_ms(promise.due_at),
        grace: Duration::seconds(promise.grace_seconds),
        leads: leads.into_iter().map(Duration::seconds).collect(),
        broken_after: match kind {
            PromiseKind::Callback => Some(tolerances.callback_broken_after),
            PromiseKind::Deadline => Some(tolerances.deadline_broken_after),
            PromiseKind::Update => None,
        },
    })
}

/// The first occurrence of an update promise's recurrence strictly after `after`, in its zone; `None` when it has no
/// recurrence or the recurrence has ended.
pub fn next_occurrence(
    promise: &Promise,
    after: chrono::DateTime<chrono::Utc>,
) -> Result<Option<crate::domain::time::Occurrence>, AppError> {
    let Some(expression) = promise.recurrence_cron.as_deref() else { return Ok(None) };
    let internal = |e: crate::domain::time::TimeError| AppError::Internal(anyhow::anyhow!(e));
    let zone = crate::domain::time::parse_zone(&promise.time_zone).map_err(internal)?;
    let rule = crate::domain::time::Recurrence::parse(expression).map_err(internal)?;
    let how = promise.disambiguation.parse().map_err(|e: crate::domain::time::TimeError| {
        crate::repo::stored::corrupt("promise", &promise.id, "disambiguation", e)
    })?;
    Ok(rule.next_after(after, zone, how, promise.recurrence_until.map(from_ms)))
}

/// Replaces the promise's pending timers with those of its current occurrence (none when it is closed).
///
/// Timers already made for the same occurrence (delivered or failed) are kept, and not planned again.
pub fn schedule(conn: &mut Tx<'_>, promise: &Promise, tolerances: &Tolerances, now_ms: i64) -> Result<(), AppError> {
    timers::retire_pending(conn, &promise.id)?;
    timers::insert_all(conn, &planned(promise, tolerances, now_ms)?)?;
    Ok(())
}

/// Writes the timers of a promise that has none yet (one just made): [`schedule`] without retiring pending
/// ones or looking for earlier ones, two statements wasted on the creation path.
pub fn schedule_new(
    conn: &mut Tx<'_>,
    promise: &Promise,
    tolerances: &Tolerances,
    now_ms: i64,
) -> Result<(), AppError> {
    timers::insert_fresh(conn, &planned(promise, tolerances, now_ms)?)?;
    Ok(())
}

/// The timers of the promise's current occurrence; none when it is closed.
fn planned(promise: &Promise, tolerances: &Tolerances, now_ms: i64) -> Result<Vec<Timer>, AppError> {
    if !crate::repo::stored::status(promise)?.is_active() {
        return Ok(Vec::new());
    }
    Ok(plan(&timing_of(promise, tolerances)?, from_ms(now_ms))
        .into_iter()
        .map(|p| Timer {
            id: new_id("tmr"),
            promise_id: promise.id.clone(),
            occurrence_at: p.occurrence_at.timestamp_millis(),
            purpose: p.purpose.as_str().into(),
            recipient: promise.owner_agent_id.clone(),
            channel: "inbox".into(),
            payload: None,
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: p.fire_at.timestamp_millis(),
            claimed_by: None,
            claimed_until: None,
            fired_at: None,
            last_error: None,
            created_at: now_ms,
            updated_at: now_ms,
        })
        .collect())
}

/// Retires a closed promise's pending timers.
pub fn retire(conn: &mut Tx<'_>, promise_id: &str) -> Result<(), AppError> {
    timers::retire_pending(conn, promise_id)?;
    Ok(())
}

/// Points pending timers at a new owner after a hand-over.
pub fn reassign(conn: &mut Tx<'_>, promise_id: &str, owner_id: &str, now_ms: i64) -> Result<(), AppError> {
    timers::reassign_pending(conn, promise_id, owner_id, now_ms)?;
    Ok(())
}
