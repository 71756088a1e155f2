//! The shopkeeper's card (DESIGN.md section 7): everything the agent needs at the moment of the call, gathered
//! for the prompt template, plus the customer-facing rendering of a promise for webhook payloads.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::batch::{ActivePromises, OTHER_PROMISES_SHOWN};
use crate::clock::from_ms;
use crate::domain::brief::opening_line;
use crate::domain::promise::LedgerEvent;
use crate::domain::schedule::{describe_delay, Purpose};
use crate::domain::time::{format_offset, local_offset_at, Tz};
use crate::domain::vocab::PromiseStatus;
use crate::repo::agents::Agent;
use crate::repo::customers::Customer;
use crate::repo::interactions::LatestInteraction;
use crate::repo::promises::{Promise, PromiseEvent};
use crate::views::spoken_datetime;

/// How a prompt came to be, beyond the promise itself.
#[derive(Clone, Debug, Default)]
pub struct Circumstances {
    /// How late the prompt fires, when it is.
    pub late: Option<Duration>,
    /// It is late because the service was not running.
    pub misfire: bool,
    /// Why this agent and not the owner.
    pub handover_note: Option<String>,
    /// For a lead reminder: how long before due.
    pub lead: Option<Duration>,
}

fn kind_text(kind: &str, spanish: bool) -> &'static str {
    match (kind, spanish) {
        ("deadline", true) => "respuesta antes de la fecha acordada",
        ("deadline", false) => "answer by the agreed date",
        ("update", true) => "actualización",
        ("update", false) => "update",
        (_, true) => "llamada",
        (_, false) => "call",
    }
}

/// What a card says beyond the promise, the customer and the recipient, read for the whole batch at once.
#[derive(Clone, Copy, Debug)]
pub struct History<'a> {
    /// The name of the agent who made the promise.
    pub made_by: &'a str,
    /// The promise's `rescheduled` events, oldest first.
    pub reschedules: &'a [PromiseEvent],
    /// The customer's latest interactions, newest first.
    pub interactions: &'a [LatestInteraction],
    /// The customer's soonest active promises and their count.
    pub active: &'a ActivePromises,
}

/// The template context of a prompt for `recipient`. The customer's other open promises are capped at
/// [`OTHER_PROMISES_SHOWN`], the soonest first; `other_promises_more` counts the rest.
#[expect(clippy::too_many_arguments, reason = "the card is about all of these at once")]
pub fn build(
    history: History<'_>,
    promise: &Promise,
    customer: &Customer,
    zone: Tz,
    recipient: &Agent,
    purpose: Purpose,
    circumstances: &Circumstances,
    now: DateTime<Utc>,
) -> Value {
    let locale = recipient.locale.as_str();
    let spanish = crate::views::language(locale) == "es";
    let when = |ms: i64| spoken_datetime(from_ms(ms), zone, locale);
    let reschedules: Vec<Value> = history
        .reschedules
        .iter()
        .filter_map(|e| match LedgerEvent::read(&e.id.to_string(), &e.kind, &e.data) {
            Ok(LedgerEvent::Rescheduled(r)) => Some(json!({
                "at": when(e.occurred_at),
                "from": r.from.due_local.unwrap_or_default().replace('T', " "),
                "to": r.to.due_local.unwrap_or_default().replace('T', " "),
                "reason": r.reason,
                "initiated_by": r.initiated_by.as_str(),
            })),
            // The prompt still fires (a promise is never lost for a bad history row); the row is named in the log.
            Ok(_) => None,
            Err(corrupt) => {
                tracing::error!(error = %corrupt, "a reschedule left out of the card");
                None
            }
        })
        .collect();
    let interactions: Vec<Value> = history
        .interactions
        .iter()
        .map(|i| {
            json!({
                "when": from_ms(i.occurred_at).with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string(),
                "channel": i.channel, "direction": i.direction, "outcome": i.outcome, "summary": i.summary,
            })
        })
        .collect();
    let other_promises: Vec<Value> = history
        .active
        .soonest
        .iter()
        .filter(|p| p.id != promise.id)
        .take(OTHER_PROMISES_SHOWN)
        .map(|p| json!({ "title": p.title, "due_text": when(p.due_at) }))
        .collect();
    // The count includes this promise whenever it is active, which it is when it prompts.
    let own = promise.status.parse::<PromiseStatus>().is_ok_and(PromiseStatus::is_active);
    let other_promises_more = (history.active.count - i64::from(own) - other_promises.len() as i64).max(0);
    let facts: Vec<String> = serde_json::from_str(&customer.facts).unwrap_or_default();
    let local_now = now.with_timezone(&zone);
    json!({
        "purpose": purpose.as_str(),
        "is_lead": purpose == Purpose::Lead,
        "is_due": purpose == Purpose::Due,
        "is_escalation": purpose == Purpose::Escalation,
        "lead_text": circumstances.lead.map(describe_delay).unwrap_or_default(),
        "kind_text": kind_text(&promise.kind, spanish),
        "late": circumstances.late.map(|l| json!({ "text": describe_delay(l), "minutes": l.num_minutes() })),
        "misfire": circumstances.misfire,
        "handover_note": circumstances.handover_note,
        "agent_name": recipient.name,
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "phone": customer.phone.clone().unwrap_or_default(),
            "local_now": local_now.format("%H:%M").to_string(),
            "zone": zone.name(),
            "offset": format_offset(local_offset_at(now, zone)),
        },
        "promise": {
            "id": promise.id,
            "title": promise.title,
            "kind": promise.kind,
            "due_text": when(promise.due_at),
            "made_by": history.made_by,
            "made_text": when(promise.created_at),
            "reschedule_count": promise.reschedule_count,
            "reschedules": reschedules,
        },
        "interactions": interactions,
        "other_promises": other_promises,
        "other_promises_more": other_promises_more,
        "facts": facts,
        "notes": customer.notes,
        "opening": opening_line(&customer.locale, &customer.name, &recipient.name, true),
    })
}
