//! Webhook events. An event is queued as one message per interested subscription, in the transaction of the
//! change it reports, so a rolled-back change never announces itself and a committed one always does.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::clock::{from_ms, new_id};
use crate::db::Tx;
use crate::domain::promise::LedgerEvent;
use crate::domain::time::format_offset;
use crate::error::AppError;
use crate::repo::customers::Customer;
use crate::repo::promises::Promise;
use crate::repo::prompts::Prompt;
use crate::repo::sends::{self, OutboundSend};
use crate::repo::subscriptions::{self, Subscription};
use crate::views::{spoken_datetime, Views};

/// The event types subscribers can ask for.
pub const EVENT_TYPES: &[&str] = &[
    "promise.created",
    "promise.rescheduled",
    "promise.due",
    "promise.missed",
    "promise.kept",
    "promise.broken",
    "promise.cancelled",
    "promise.handed_over",
    "prompt.fired",
    "prompt.acknowledged",
    "interaction.created",
];

/// A promise as webhook payloads carry it: ids, instants, the customer's local rendering of the due time (in
/// the promise's own zone, which the customer agreed it in), and, when `event` is given, what happened
/// (`event`, `details`: from/to and reason of a move, kept_at and on_time of a keep, hand-over from/to and note,
/// the reason of a break). The customer-facing confirmation ("we will call you...") comes only with the events
/// it is true of: made, moved, due.
pub fn promise_payload(
    promise: &Promise,
    customer: &Customer,
    views: &Views,
    event: Option<&LedgerEvent>,
) -> Result<Value, AppError> {
    let zone = crate::repo::stored::zone("promise", &promise.id, &promise.time_zone)?;
    let due_text = spoken_datetime(from_ms(promise.due_at), zone, &customer.locale);
    let confirms = match event {
        None => true,
        Some(e) => matches!(e, LedgerEvent::Created(_) | LedgerEvent::Rescheduled(_) | LedgerEvent::Recomputed(_)),
    };
    let mut payload = json!({
        "promise": {
            "id": promise.id, "status": promise.status, "kind": promise.kind, "title": promise.title,
            "customer_id": promise.customer_id, "owner_agent_id": promise.owner_agent_id,
            "due_at": from_ms(promise.due_at).to_rfc3339_opts(SecondsFormat::AutoSi, true),
            "due_local": promise.due_local,
            "time_zone": promise.time_zone, "due_local_offset": format_offset(promise.due_offset_seconds),
            "version": promise.version,
        },
        "customer": { "id": customer.id, "name": customer.name, "time_zone": customer.time_zone, "locale": customer.locale },
        "due_local_text": due_text,
    });
    if confirms {
        let confirmation = views
            .render(
                &customer.locale,
                "confirmation",
                &json!({ "is_deadline": promise.kind == "deadline", "due_text": due_text }),
            )
            .map(|t| t.trim().to_string())
            .unwrap_or_default();
        payload["confirmation"] = json!(confirmation);
    }
    if let Some(event) = event {
        payload["event"] = json!(event.kind().as_str());
        payload["details"] = event.details();
    }
    Ok(payload)
}

/// The prompt as the API and the live stream show it.
pub fn prompt_json(prompt: &Prompt) -> serde_json::Value {
    prompt_json_with_card(prompt, serde_json::from_str::<serde_json::Value>(&prompt.card).unwrap_or_default())
}

/// [`prompt_json`] with the card's data at hand, so a prompt just fired need not parse back what it serialised.
pub fn prompt_json_with_card(prompt: &Prompt, card: serde_json::Value) -> serde_json::Value {
    use crate::clock::rfc3339 as instant;
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
        "card": card,
        "acknowledged_at": prompt.acknowledged_at.map(instant),
    })
}

/// Queues `event_type` with `data` for every active subscription that wants it.
///
/// `data` is built only when a subscription wants the event: most events have no subscriber, and building a
/// payload (a rendered confirmation, the spoken due time) is a measurable share of a write.
pub fn emit(
    conn: &mut Tx<'_>,
    event_type: &str,
    now: DateTime<Utc>,
    data: impl FnOnce() -> Result<Value, AppError>,
) -> Result<(), AppError> {
    let subscriptions = subscriptions::active(conn)?;
    if !wanted(&subscriptions, event_type) {
        return Ok(());
    }
    let data = data()?;
    for message in webhooks(&subscriptions, event_type, &data, now) {
        sends::insert(conn, &message)?;
    }
    Ok(())
}

/// Whether any of `subscriptions` wants `event_type`: when none does, the event's data need not be built.
pub fn wanted(subscriptions: &[Subscription], event_type: &str) -> bool {
    subscriptions.iter().any(|s| s.wants(event_type))
}

/// The webhook messages of `event_type` for those of `subscriptions` that want it, for the caller to insert
/// (the scheduler inserts a whole batch's in one statement).
pub fn webhooks(
    subscriptions: &[Subscription],
    event_type: &str,
    data: &Value,
    now: DateTime<Utc>,
) -> Vec<OutboundSend> {
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
    conn: &mut Tx<'_>,
    to: &str,
    subject: &str,
    body: &str,
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    sends::insert(conn, &email_message(to, subject, body, event_type, now))?;
    Ok(())
}

/// An email message, for the caller to insert.
pub fn email_message(to: &str, subject: &str, body: &str, event_type: &str, now: DateTime<Utc>) -> OutboundSend {
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
) -> OutboundSend {
    let now_ms = now.timestamp_millis();
    OutboundSend {
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

/// An interaction as `interaction.created` carries it, with the promises it kept.
pub fn interaction_payload(i: &crate::repo::interactions::Interaction, kept: &[&str]) -> Value {
    json!({
        "id": i.id, "customer_id": i.customer_id, "agent_id": i.agent_id, "channel": i.channel,
        "direction": i.direction, "outcome": i.outcome, "summary": i.summary,
        "occurred_at": from_ms(i.occurred_at).to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "promise_id": i.promise_id, "kept_promise_ids": kept,
    })
}
