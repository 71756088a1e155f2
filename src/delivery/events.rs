//! Webhook events. An event is queued as one message per interested subscription, in the transaction of the
//! change it reports, so a rolled-back change never announces itself and a committed one always does.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::clock::new_id;
use crate::db::DbConn;
use crate::error::AppError;
use crate::repo::messages::{self, Message};

/// The event types subscribers can ask for.
pub const EVENT_TYPES: &[&str] = &[
    "promise.created",
    "promise.rescheduled",
    "promise.due",
    "promise.missed",
    "promise.kept",
    "promise.broken",
    "promise.handed_over",
    "prompt.fired",
    "interaction.created",
];

/// Queues `event_type` with `data` for every active subscription that wants it.
pub fn emit(conn: &mut DbConn, event_type: &str, data: Value, now: DateTime<Utc>) -> Result<(), AppError> {
    let subscriptions = messages::active_subscriptions(conn)?;
    for sub in subscriptions.iter().filter(|s| s.wants(event_type)) {
        let id = new_id("msg");
        let body = json!({
            "id": id,
            "type": event_type,
            "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
            "data": data,
        });
        queue(conn, id, "webhook", &sub.id, event_type, "", body.to_string(), now)?;
    }
    Ok(())
}

/// Queues an email.
pub fn email(
    conn: &mut DbConn,
    to: &str,
    subject: &str,
    body: &str,
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    queue(conn, new_id("msg"), "email", to, event_type, subject, body.to_string(), now)
}

#[expect(clippy::too_many_arguments, reason = "the columns of a new message")]
fn queue(
    conn: &mut DbConn,
    id: String,
    channel: &str,
    target: &str,
    event_type: &str,
    subject: &str,
    payload: String,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let now_ms = now.timestamp_millis();
    messages::insert(
        conn,
        &Message {
            id,
            channel: channel.into(),
            target: target.into(),
            event_type: event_type.into(),
            subject: subject.into(),
            payload,
            status: "pending".into(),
            attempts: 0,
            first_attempt_at: None,
            next_attempt_at: now_ms,
            claimed_by: None,
            claimed_until: None,
            last_status: None,
            last_error: None,
            delivered_at: None,
            created_at: now_ms,
            updated_at: now_ms,
        },
    )?;
    Ok(())
}
