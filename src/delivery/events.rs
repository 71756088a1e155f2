//! Webhook events. An event is queued as one message per interested subscription, in the transaction of the
//! change it reports, so a rolled-back change never announces itself and a committed one always does.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::clock::new_id;
use crate::db::DbConn;
use crate::error::AppError;
use crate::repo::messages::{self, Message, Subscription};

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
///
/// `data` is built only when a subscription wants the event: most events have no subscriber, and building a
/// payload (a rendered confirmation, the spoken due time) is a measurable share of a write.
pub fn emit(
    conn: &mut DbConn,
    event_type: &str,
    now: DateTime<Utc>,
    data: impl FnOnce() -> Value,
) -> Result<(), AppError> {
    let subscriptions = messages::active_subscriptions(conn)?;
    if !wanted(&subscriptions, event_type) {
        return Ok(());
    }
    let data = data();
    for message in webhooks(&subscriptions, event_type, &data, now) {
        messages::insert(conn, &message)?;
    }
    Ok(())
}

/// Whether any of `subscriptions` wants `event_type`: when none does, the event's data need not be built.
pub fn wanted(subscriptions: &[Subscription], event_type: &str) -> bool {
    subscriptions.iter().any(|s| s.wants(event_type))
}

/// The webhook messages of `event_type` for those of `subscriptions` that want it, for the caller to insert
/// (the scheduler inserts a whole batch's in one statement).
pub fn webhooks(subscriptions: &[Subscription], event_type: &str, data: &Value, now: DateTime<Utc>) -> Vec<Message> {
    let timestamp = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    subscriptions
        .iter()
        .filter(|s| s.wants(event_type))
        .map(|sub| {
            let id = new_id("msg");
            let body = json!({ "id": id, "type": event_type, "timestamp": timestamp, "data": data });
            message(id, "webhook", &sub.id, event_type, "", body.to_string(), now)
        })
        .collect()
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
    messages::insert(conn, &email_message(to, subject, body, event_type, now))?;
    Ok(())
}

/// An email message, for the caller to insert.
pub fn email_message(to: &str, subject: &str, body: &str, event_type: &str, now: DateTime<Utc>) -> Message {
    message(new_id("msg"), "email", to, event_type, subject, body.to_string(), now)
}

fn message(
    id: String,
    channel: &str,
    target: &str,
    event_type: &str,
    subject: &str,
    payload: String,
    now: DateTime<Utc>,
) -> Message {
    let now_ms = now.timestamp_millis();
    Message {
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
    }
}
