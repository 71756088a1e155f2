//! The one apply path: a change the domain decided is written here and nowhere else. In the caller's
//! transaction it checks the version read, writes the row with the next version, appends the typed ledger
//! events (which move the rollups), replans, retires or reassigns the timers, and queues the outbound event of
//! every ledger event that announces one, each carrying its details.

use crate::db::Tx;
use crate::domain::promise::{Change, LedgerEvent, Timers};
use crate::error::AppError;
use crate::repo::customers::Customer;
use crate::repo::ledger;
use crate::repo::promises::Promise;
use crate::repo::subscriptions::Subscription;
use crate::service::events;
use crate::service::timing;

use super::Ctx;

/// Where the outbound events' subscriptions come from: read in the transaction, or already read by the caller
/// (the scheduler reads them once per batch).
#[derive(Clone, Copy)]
pub enum Outbound<'a> {
    /// Read the active subscriptions.
    Read,
    /// These.
    Known(&'a [Subscription]),
}

/// Answers 409 when the caller read another version than the stored one (RFC 9110 would say 412 for an
/// `If-Match`; the API's answer for a version in the body is 409, and both say which version is current).
pub fn check_version(promise: &Promise, expected: Option<i32>) -> Result<(), AppError> {
    match expected {
        Some(v) if v != promise.version => Err(AppError::Conflict {
            detail: format!(
                "promise `{}` is at version {}, not {v}; read it again and retry",
                promise.id, promise.version
            ),
            extra: Some(serde_json::json!({ "current_version": promise.version })),
        }),
        _ => Ok(()),
    }
}

/// The row a change makes of `before`.
fn changed_row(before: &Promise, change: &Change) -> Promise {
    let mut row = before.clone();
    if let Some(status) = change.status {
        row.status = status.as_str().into();
    }
    if let Some(due) = &change.due {
        row.due_at = due.due_at.timestamp_millis();
        row.due_local = due.due_local.clone();
        row.time_zone = due.time_zone.clone();
        row.disambiguation = due.disambiguation.clone();
        row.due_offset_seconds = due.offset_seconds;
    }
    if let Some(late_since) = change.late_since {
        row.late_since = late_since.map(|t| t.timestamp_millis());
    }
    if let Some(r) = &change.resolution {
        row.kept_at = Some(r.kept_at.timestamp_millis());
        row.kept_on_time = Some(r.timeliness == crate::domain::promise::Timeliness::OnTime);
        row.resolution_interaction_id = r.evidence.clone();
        row.resolution_note = r.note.clone();
    }
    if let Some(note) = &change.note {
        row.resolution_note = Some(note.clone());
    }
    if let Some(owner) = &change.owner {
        row.owner_agent_id = owner.clone();
    }
    if let Some(requested) = change.customer_requested {
        row.customer_requested = requested;
    }
    if change.counts_reschedule {
        row.reschedule_count += 1;
    }
    row
}

/// Writes `change` to `before` (read in this transaction) for `actor` (`None`: the system), and answers the
/// promise as it now is.
pub fn apply(
    conn: &mut Tx<'_>,
    ctx: &Ctx,
    outbound: Outbound<'_>,
    before: &Promise,
    customer: &Customer,
    change: Change,
    actor: Option<&str>,
) -> Result<Promise, AppError> {
    let now_ms = ctx.now_ms();
    let mut row = changed_row(before, &change);
    let announced: Vec<LedgerEvent> = change.events.iter().filter(|e| e.webhook_type().is_some()).cloned().collect();
    ledger::save(conn, before, &mut row, now_ms, actor, change.events)?;
    match change.timers {
        Timers::Keep => {}
        Timers::Replan => timing::schedule(conn, &row, &ctx.tolerances, now_ms)?,
        Timers::Retire => timing::retire(conn, &row.id)?,
        Timers::Reassign => timing::reassign(conn, &row.id, &row.owner_agent_id, now_ms)?,
    }
    for event in &announced {
        announce(conn, ctx, outbound, &row, customer, event)?;
    }
    Ok(row)
}

/// Records an event that leaves the row as it is (an acknowledged prompt), with its outbound event.
pub fn record(
    conn: &mut Tx<'_>,
    ctx: &Ctx,
    promise: &Promise,
    customer: &Customer,
    event: LedgerEvent,
    actor: Option<&str>,
) -> Result<(), AppError> {
    let announced = event.webhook_type().is_some().then(|| event.clone());
    ledger::append(conn, promise, event, actor, ctx.now_ms())?;
    if let Some(event) = announced {
        announce(conn, ctx, Outbound::Read, promise, customer, &event)?;
    }
    Ok(())
}

/// Writes a new promise: the row, its `created` event (at the row's `created_at`, the moment it was made), its
/// timers (planned from now), its outbound event, and makes its owner the customer's shopkeeper when they have none.
pub fn make(
    conn: &mut Tx<'_>,
    ctx: &Ctx,
    promise: &Promise,
    customer: &Customer,
    created: LedgerEvent,
    actor: &str,
) -> Result<(), AppError> {
    let now_ms = ctx.now_ms();
    crate::repo::promises::insert(conn, promise)?;
    let announced = created.clone();
    ledger::append(conn, promise, created, Some(actor), promise.created_at)?;
    timing::schedule_new(conn, promise, &ctx.tolerances, now_ms)?;
    announce(conn, ctx, Outbound::Read, promise, customer, &announced)?;
    if customer.owner_agent_id.is_none() {
        crate::repo::customers::adopt(conn, &customer.id, &promise.owner_agent_id, now_ms)?;
    }
    Ok(())
}

/// Queues the outbound event of one ledger event, when some subscription wants it. The payload is built only
/// then: most events have no subscriber, and rendering the texts is a measurable share of a write.
fn announce(
    conn: &mut Tx<'_>,
    ctx: &Ctx,
    outbound: Outbound<'_>,
    promise: &Promise,
    customer: &Customer,
    event: &LedgerEvent,
) -> Result<(), AppError> {
    let Some(event_type) = event.webhook_type() else { return Ok(()) };
    let payload = || events::promise_payload(promise, customer, &ctx.views, Some(event));
    match outbound {
        Outbound::Read => events::emit(conn, event_type, ctx.now, payload),
        Outbound::Known(subscriptions) => {
            if events::wanted(subscriptions, event_type) {
                crate::repo::sends::insert_all(
                    conn,
                    &events::webhooks(subscriptions, event_type, &payload()?, ctx.now),
                )?;
            }
            Ok(())
        }
    }
}
