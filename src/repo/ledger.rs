//! Applying a change to a promise: the new row is written only if nobody changed it since it was read
//! (`version`), always together with its ledger events and the metric rollups they move, in the caller's
//! transaction.

use crate::db::Tx;
use crate::domain::metrics;
use crate::domain::promise::LedgerEvent;
use crate::error::AppError;
use crate::repo::metrics as rollups;
use crate::repo::promises::{self, NewPromiseEvent, Promise};

fn row<'a>(promise: &'a Promise, event: &LedgerEvent, actor: Option<&'a str>, at_ms: i64) -> NewPromiseEvent<'a> {
    NewPromiseEvent {
        promise_id: &promise.id,
        customer_id: &promise.customer_id,
        kind: event.kind().as_str(),
        actor_agent_id: actor,
        occurred_at: at_ms,
        data: event.data().to_string(),
        created_at: at_ms,
        updated_at: at_ms,
    }
}

/// Appends one event for `promise` without changing the row (the row as it is now; for `created`, just
/// inserted).
pub fn append(
    conn: &mut Tx<'_>,
    promise: &Promise,
    mut event: LedgerEvent,
    actor: Option<&str>,
    at_ms: i64,
) -> Result<(), AppError> {
    let facts = rollups::facts(promise);
    event.annotate(|| metrics::annotate(&facts));
    promises::append_event(conn, &row(promise, &event, actor, at_ms))?;
    let created = matches!(event, LedgerEvent::Created(_));
    let before = (!created).then_some(&facts);
    rollups::apply(conn, &metrics::change(before, &facts, std::slice::from_ref(&event)))?;
    Ok(())
}

/// [`append`] for several events of several promises, in the order given: one multi-row INSERT for the events
/// and one pass over the rollups for all their effects (the scheduler records a batch of prompts this way).
pub fn append_all(conn: &mut Tx<'_>, events: Vec<(&Promise, LedgerEvent)>, at_ms: i64) -> Result<(), AppError> {
    let mut rows = Vec::with_capacity(events.len());
    let mut deltas = Vec::new();
    for (promise, mut event) in events {
        let facts = rollups::facts(promise);
        event.annotate(|| metrics::annotate(&facts));
        let before = (!matches!(event, LedgerEvent::Created(_))).then_some(&facts);
        deltas.extend(metrics::change(before, &facts, std::slice::from_ref(&event)));
        rows.push(row(promise, &event, None, at_ms));
    }
    promises::append_events(conn, &rows)?;
    rollups::apply(conn, &metrics::coalesce(deltas))?;
    Ok(())
}

/// Saves `changed` (a changed copy of `before`) with the next version and appends `events`. Answers 409 when
/// another writer got there first.
///
/// Also keeps `accountable_agent_id`: a new due time (reschedule, next occurrence) belongs to the owner; a
/// hand-over moves it only while the due time has not passed, so a miss stays with whoever missed it.
pub fn save(
    conn: &mut Tx<'_>,
    before: &Promise,
    changed: &mut Promise,
    now_ms: i64,
    actor: Option<&str>,
    events: Vec<LedgerEvent>,
) -> Result<(), AppError> {
    let read_version = before.version;
    let moved = changed.due_local != before.due_local || changed.time_zone != before.time_zone;
    if moved || (changed.owner_agent_id != before.owner_agent_id && now_ms <= before.due_at) {
        changed.accountable_agent_id = changed.owner_agent_id.clone();
    }
    changed.version = read_version + 1;
    changed.updated_at = now_ms;
    if !promises::replace_if_version(conn, changed, read_version)? {
        return Err(AppError::Conflict {
            detail: format!("promise `{}` was changed by someone else; read it again and retry", changed.id),
            extra: Some(serde_json::json!({ "current_version": read_version + 1 })),
        });
    }
    let before_facts = rollups::facts(before);
    let mut written = Vec::with_capacity(events.len());
    for mut event in events {
        event.annotate(|| metrics::annotate(&before_facts));
        promises::append_event(conn, &row(changed, &event, actor, now_ms))?;
        written.push(event);
    }
    rollups::apply(conn, &metrics::change(Some(&before_facts), &rollups::facts(changed), &written))?;
    Ok(())
}
