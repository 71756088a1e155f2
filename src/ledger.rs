//! Applying a change to a promise: the new row is written only if nobody changed it since it was read
//! (`version`), and always together with its ledger event, in the caller's transaction.

use serde_json::Value;

use crate::db::DbConn;
use crate::domain::vocab::EventKind;
use crate::error::AppError;
use crate::repo::promises::{self, NewPromiseEvent, Promise};

/// Appends one event for `promise` (the row as it is after the change).
pub fn append(
    conn: &mut DbConn,
    promise: &Promise,
    kind: EventKind,
    actor: Option<&str>,
    at_ms: i64,
    data: Value,
) -> Result<(), AppError> {
    promises::append_event(
        conn,
        &NewPromiseEvent {
            promise_id: &promise.id,
            customer_id: &promise.customer_id,
            kind: kind.as_str(),
            actor_agent_id: actor,
            occurred_at: at_ms,
            data: data.to_string(),
            created_at: at_ms,
            updated_at: at_ms,
        },
    )?;
    Ok(())
}

/// Saves `changed` (whose `version` was read as `read_version`) with the next version and appends `events`.
/// Answers 409 when another writer got there first.
pub fn save(
    conn: &mut DbConn,
    changed: &mut Promise,
    read_version: i32,
    now_ms: i64,
    actor: Option<&str>,
    events: Vec<(EventKind, Value)>,
) -> Result<(), AppError> {
    changed.version = read_version + 1;
    changed.updated_at = now_ms;
    if !promises::replace_if_version(conn, changed, read_version)? {
        return Err(AppError::Conflict {
            detail: format!("promise `{}` was changed by someone else; read it again and retry", changed.id),
            extra: Some(serde_json::json!({ "current_version": read_version + 1 })),
        });
    }
    for (kind, data) in events {
        append(conn, changed, kind, actor, now_ms, data)?;
    }
    Ok(())
}
