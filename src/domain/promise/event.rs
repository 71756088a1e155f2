//! The promise ledger's events (DESIGN.md section 3), one typed variant per kind, written and read through the
//! same type: the `kind` column holds the tag and `data` the payload with its format version `v`. The metrics,
//! the card and the webhooks read these types, never the stored JSON by key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::judging::Timeliness;
use crate::domain::due::Warning;
use crate::domain::vocab::{EventKind, Initiator, PromiseKind};

/// The payload format written now. Version 1 is also what rows written before the version existed hold.
pub const LEDGER_FORMAT: u64 = 1;

/// One entry of a promise's ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum LedgerEvent {
    /// The promise was made.
    Created(Created),
    /// Its due time moved.
    Rescheduled(Rescheduled),
    /// A lead reminder fired.
    Reminded(Fired),
    /// The due prompt fired.
    Prompted(Fired),
    /// The prompted agent saw the prompt.
    Acknowledged(Acknowledged),
    /// Another agent answers for it (explicitly, or routed to a stand-in at fire time).
    HandedOver(HandedOver),
    /// Kept (for good, or one occurrence of an update).
    Kept(Kept),
    /// Due + grace passed without a keep.
    Missed(Missed),
    /// Broken.
    Broken(Broken),
    /// Withdrawn.
    Cancelled(Cancelled),
    /// Nobody acknowledged the due prompt in time; the managers were told.
    Escalated(Fired),
    /// Its instant was derived again after a time-zone database change.
    Recomputed(Recomputed),
}

/// A stored event that does not read as its kind: an error naming the row, never a silent default.
#[derive(Debug, thiserror::Error)]
#[error("ledger event {row} ({kind}) is not readable: {reason}")]
pub struct CorruptEvent {
    /// The row's id.
    pub row: String,
    /// The row's kind column.
    pub kind: String,
    /// What is wrong with it.
    pub reason: String,
}

impl LedgerEvent {
    /// The ledger kind.
    pub fn kind(&self) -> EventKind {
        match self {
            LedgerEvent::Created(_) => EventKind::Created,
            LedgerEvent::Rescheduled(_) => EventKind::Rescheduled,
            LedgerEvent::Reminded(_) => EventKind::Reminded,
            LedgerEvent::Prompted(_) => EventKind::Prompted,
            LedgerEvent::Acknowledged(_) => EventKind::Acknowledged,
            LedgerEvent::HandedOver(_) => EventKind::HandedOver,
            LedgerEvent::Kept(_) => EventKind::Kept,
            LedgerEvent::Missed(_) => EventKind::Missed,
            LedgerEvent::Broken(_) => EventKind::Broken,
            LedgerEvent::Cancelled(_) => EventKind::Cancelled,
            LedgerEvent::Escalated(_) => EventKind::Escalated,
            LedgerEvent::Recomputed(_) => EventKind::Recomputed,
        }
    }

    /// The payload as stored in `data`, with its format version.
    pub fn data(&self) -> Value {
        let mut tagged = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut data = tagged.get_mut("data").map(Value::take).unwrap_or_else(|| Value::Object(Default::default()));
        if let Some(map) = data.as_object_mut() {
            map.insert("v".into(), Value::from(LEDGER_FORMAT));
        }
        data
    }

    /// Reads a stored event back: `row` names it in the error when its kind or data do not read.
    pub fn read(row: &str, kind: &str, data: &str) -> Result<LedgerEvent, CorruptEvent> {
        let corrupt = |reason: String| CorruptEvent { row: row.to_string(), kind: kind.to_string(), reason };
        let mut data: Value = serde_json::from_str(data).map_err(|e| corrupt(e.to_string()))?;
        let version = data.get("v").and_then(Value::as_u64).unwrap_or(1);
        if version > LEDGER_FORMAT {
            return Err(corrupt(format!("format {version} is newer than this build reads ({LEDGER_FORMAT})")));
        }
        if let Some(map) = data.as_object_mut() {
            map.remove("v");
        }
        serde_json::from_value(serde_json::json!({ "kind": kind, "data": data })).map_err(|e| corrupt(e.to_string()))
    }

    /// The key of the obligation the event acted on, for the events whose metric effect the row does not show.
    pub fn obligation(&self) -> Option<&Obligation> {
        match self {
            LedgerEvent::Rescheduled(e) => e.obligation.as_ref(),
            LedgerEvent::HandedOver(e) => e.obligation.as_ref(),
            LedgerEvent::Kept(e) => e.obligation.as_ref(),
            LedgerEvent::Missed(e) => e.obligation.as_ref(),
            _ => None,
        }
    }

    /// Records the obligation the event acted on (the ledger does it as it writes), for the events whose metric
    /// effect the promise row does not show: reschedules, hand-overs, keeps and misses. The key is built only for
    /// those; a batch of prompts would otherwise build and drop one per event.
    pub fn annotate(&mut self, obligation: impl FnOnce() -> Obligation) {
        let slot = match self {
            LedgerEvent::Rescheduled(e) => &mut e.obligation,
            LedgerEvent::HandedOver(e) => &mut e.obligation,
            LedgerEvent::Kept(e) => &mut e.obligation,
            LedgerEvent::Missed(e) => &mut e.obligation,
            _ => return,
        };
        *slot = Some(obligation());
    }

    /// The webhook event type this ledger event announces, if any. A prompt's `prompt.fired` and a due time's
    /// `promise.due` are sent by the scheduler with the rendered card; a recomputation announces itself as a
    /// move (`promise.rescheduled` carries no `initiated_by` then).
    pub fn webhook_type(&self) -> Option<&'static str> {
        Some(match self {
            LedgerEvent::Created(_) => "promise.created",
            LedgerEvent::Rescheduled(_) | LedgerEvent::Recomputed(_) => "promise.rescheduled",
            LedgerEvent::Acknowledged(_) => "prompt.acknowledged",
            LedgerEvent::HandedOver(_) => "promise.handed_over",
            LedgerEvent::Kept(_) => "promise.kept",
            LedgerEvent::Missed(_) => "promise.missed",
            LedgerEvent::Broken(_) => "promise.broken",
            LedgerEvent::Cancelled(_) => "promise.cancelled",
            LedgerEvent::Reminded(_) | LedgerEvent::Prompted(_) | LedgerEvent::Escalated(_) => return None,
        })
    }

    /// The details a webhook carries for this event: its payload, without the metrics' bookkeeping.
    pub fn details(&self) -> Value {
        let mut data = self.data();
        if let Some(map) = data.as_object_mut() {
            map.remove("v");
            map.remove("obligation");
        }
        data
    }
}

/// The key of the obligation an event acted on, as it was before the change (see `domain::metrics`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Obligation {
    /// Day number of the customer-local due date.
    pub day: Option<i32>,
    /// Who answered for it.
    pub agent_id: String,
    /// The passed due time an agent had moved, ms.
    pub late_since: Option<i64>,
    /// Its due instant, ms.
    pub due_at: i64,
}

/// A due time as the ledger records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueTime {
    /// UTC instant.
    pub due_at: DateTime<Utc>,
    /// Customer wall clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_local: Option<String>,
    /// Its zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// UTC offset, seconds (recomputations record it: it is what changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_seconds: Option<i32>,
}

/// `created`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Created {
    /// callback | deadline | update.
    pub kind: PromiseKind,
    /// What the customer was told.
    pub title: String,
    /// UTC instant.
    pub due_at: DateTime<Utc>,
    /// Customer wall clock.
    pub due_local: String,
    /// Its zone.
    pub time_zone: String,
    /// The customer asked for this time.
    pub customer_requested: bool,
    /// Outside the contact window, at the customer's request.
    #[serde(default)]
    pub outside_contact_window: bool,
    /// The customer is do-not-call and asked to be contacted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub do_not_call_overridden: bool,
    /// Owner.
    pub owner_agent_id: String,
    /// What the agent was told when saving.
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

/// `rescheduled`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rescheduled {
    /// The due time before.
    pub from: DueTime,
    /// The due time after.
    pub to: DueTime,
    /// Why.
    pub reason: String,
    /// Who asked.
    pub initiated_by: Initiator,
    /// The move came after the old due time.
    #[serde(default)]
    pub after_due: bool,
    /// It counts against the agent as late.
    #[serde(default)]
    pub counts_as_late: bool,
    /// What the agent was told when saving.
    #[serde(default)]
    pub warnings: Vec<Warning>,
    /// Metrics bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obligation: Option<Obligation>,
}

/// `reminded`, `prompted`, `escalated`: a prompt fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fired {
    /// lead | due | escalation.
    pub purpose: String,
    /// The occurrence it was about.
    pub occurrence: DateTime<Utc>,
    /// The timer that fired. Rows written before timers had their own name say `delivery_id`.
    #[serde(alias = "delivery_id")]
    pub timer_id: String,
    /// The prompt written.
    pub prompt_id: String,
    /// Who was prompted.
    pub recipient: String,
    /// How late it fired.
    pub late_by_ms: i64,
    /// The service was down at the due time.
    #[serde(default)]
    pub misfire: bool,
}

/// `acknowledged`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledged {
    /// The prompt seen.
    pub prompt_id: String,
    /// Its purpose.
    pub purpose: String,
    /// The occurrence it was about.
    pub occurrence: DateTime<Utc>,
}

/// `handed_over`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandedOver {
    /// The owner before.
    pub from: String,
    /// Who takes it (a routed prompt may go to several managers).
    #[serde(deserialize_with = "one_or_many")]
    pub to: Vec<String>,
    /// Context for whoever takes it.
    pub note: String,
    /// Routed at fire time because the owner was away (the owner does not change).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub routing: bool,
    /// The occurrence a routing was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<DateTime<Utc>>,
    /// Metrics bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obligation: Option<Obligation>,
}

/// `kept`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// On time or late.
    pub timeliness: Timeliness,
    /// When it was kept (the evidence's time).
    pub kept_at: DateTime<Utc>,
    /// The interaction that is the evidence.
    #[serde(default)]
    pub evidence_interaction_id: Option<String>,
    /// What the agent wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Kept by the owner's recorded stand-in.
    #[serde(default)]
    pub by_stand_in: bool,
    /// The occurrence kept (updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<DateTime<Utc>>,
    /// The promise is kept for good (false: an update moved on to its next occurrence).
    #[serde(rename = "final", default = "yes")]
    pub is_final: bool,
    /// Metrics bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obligation: Option<Obligation>,
}

/// `missed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missed {
    /// The occurrence missed.
    pub occurrence: DateTime<Utc>,
    /// The grace that passed (callbacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<i64>,
    /// Updates: false when the promise moved on to its next occurrence (the missed one cannot be kept any more).
    #[serde(rename = "final", default, skip_serializing_if = "Option::is_none")]
    pub is_final: Option<bool>,
    /// Metrics bookkeeping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub obligation: Option<Obligation>,
}

/// Why a promise is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokenReason {
    /// A contact promise still not attempted 24 h after due.
    NeverAttempted,
    /// A deadline still open 7 days after due.
    DeadlinePassed,
    /// The agent withdrew it without the customer's agreement.
    CancelledWithoutCustomerAgreement,
}

/// `broken`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broken {
    /// Why.
    pub reason: BrokenReason,
}

/// `cancelled`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancelled {
    /// Why.
    pub reason: String,
    /// Who asked: the customer (cancelled) or the agent (broken too).
    pub initiated_by: Initiator,
}

/// `recomputed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recomputed {
    /// The instant before.
    pub from: DueTime,
    /// The instant after.
    pub to: DueTime,
    /// The wall-clock time, unchanged.
    pub due_local: String,
    /// Its zone.
    pub time_zone: String,
    /// The tzdata versions.
    pub tzdata: TzdataChange,
}

/// Which time-zone database versions a recomputation went between.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TzdataChange {
    /// The version the instant was derived with.
    pub from: Option<String>,
    /// The version now.
    pub to: String,
}

fn yes() -> bool {
    true
}

/// A hand-over's `to` is one agent, or the managers a routed prompt went to.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 17, h, 0, 0).unwrap()
    }

    fn due(h: u32) -> DueTime {
        DueTime {
            due_at: at(h),
            due_local: Some(format!("2026-03-17T{:02}:00:00", h + 1)),
            time_zone: Some("Europe/Madrid".into()),
            offset_seconds: None,
        }
    }

    fn obligation() -> Obligation {
        Obligation { day: Some(20_529), agent_id: "agt_marta".into(), late_since: None, due_at: 1 }
    }

    /// One event of every kind DESIGN.md section 3 lists.
    pub(crate) fn one_of_each() -> Vec<LedgerEvent> {
        let fired = Fired {
            purpose: "due".into(),
            occurrence: at(10),
            timer_id: "tmr_1".into(),
            prompt_id: "pmt_1".into(),
            recipient: "agt_marta".into(),
            late_by_ms: 3,
            misfire: false,
        };
        vec![
            LedgerEvent::Created(Created {
                kind: PromiseKind::Callback,
                title: "Te llamo mañana a las 11".into(),
                due_at: at(10),
                due_local: "2026-03-17T11:00:00".into(),
                time_zone: "Europe/Madrid".into(),
                customer_requested: false,
                outside_contact_window: false,
                do_not_call_overridden: true,
                owner_agent_id: "agt_marta".into(),
                warnings: vec![],
            }),
            LedgerEvent::Rescheduled(Rescheduled {
                from: due(10),
                to: due(12),
                reason: "no estaba en casa".into(),
                initiated_by: Initiator::Customer,
                after_due: true,
                counts_as_late: false,
                warnings: vec![],
                obligation: Some(obligation()),
            }),
            LedgerEvent::Reminded(Fired { purpose: "lead".into(), ..fired.clone() }),
            LedgerEvent::Prompted(fired.clone()),
            LedgerEvent::Acknowledged(Acknowledged {
                prompt_id: "pmt_1".into(),
                purpose: "due".into(),
                occurrence: at(10),
            }),
            LedgerEvent::HandedOver(HandedOver {
                from: "agt_marta".into(),
                to: vec!["agt_jorge".into()],
                note: "prefiere mañanas".into(),
                routing: false,
                occurrence: None,
                obligation: Some(obligation()),
            }),
            LedgerEvent::Kept(Kept {
                timeliness: Timeliness::OnTime,
                kept_at: at(12),
                evidence_interaction_id: Some("int_1".into()),
                note: None,
                by_stand_in: true,
                occurrence: Some(at(12)),
                is_final: false,
                obligation: Some(obligation()),
            }),
            LedgerEvent::Missed(Missed {
                occurrence: at(12),
                grace_seconds: Some(900),
                is_final: None,
                obligation: Some(obligation()),
            }),
            LedgerEvent::Broken(Broken { reason: BrokenReason::CancelledWithoutCustomerAgreement }),
            LedgerEvent::Cancelled(Cancelled { reason: "ya no lo necesita".into(), initiated_by: Initiator::Agent }),
            LedgerEvent::Escalated(Fired { purpose: "escalation".into(), ..fired }),
            LedgerEvent::Recomputed(Recomputed {
                from: DueTime { offset_seconds: Some(3600), due_local: None, time_zone: None, due_at: at(10) },
                to: DueTime { offset_seconds: Some(7200), due_local: None, time_zone: None, due_at: at(9) },
                due_local: "2026-03-17T11:00:00".into(),
                time_zone: "Europe/Madrid".into(),
                tzdata: TzdataChange { from: Some("2025b".into()), to: "2026a".into() },
            }),
        ]
    }

    #[test]
    fn every_kind_reads_back_as_written() {
        let events = one_of_each();
        let kinds: Vec<EventKind> = events.iter().map(LedgerEvent::kind).collect();
        assert_eq!(kinds, EventKind::ALL, "one event of every kind, in the vocabulary's order");
        for event in events {
            let data = event.data();
            assert_eq!(data["v"], LEDGER_FORMAT);
            let back = LedgerEvent::read("7", event.kind().as_str(), &data.to_string()).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn rows_written_before_the_types_still_read() {
        // The shapes the handlers wrote with json! before this module existed.
        let kept = r#"{"timeliness":"late","kept_at":"2026-03-17T11:20:00Z","kept_at_ms":1773746400000,
            "evidence_interaction_id":"int_1","note":null,"final":true}"#;
        let LedgerEvent::Kept(k) = LedgerEvent::read("1", "kept", kept).unwrap() else { panic!("not a keep") };
        assert_eq!(k.timeliness, Timeliness::Late);
        assert!(k.is_final);
        let routed = r#"{"from":"agt_1","to":["agt_2","agt_3"],"note":"away","routing":true,
            "occurrence":"2026-03-17T10:00:00Z"}"#;
        let LedgerEvent::HandedOver(h) = LedgerEvent::read("2", "handed_over", routed).unwrap() else { panic!() };
        assert_eq!(h.to, ["agt_2", "agt_3"]);
        let explicit = r#"{"from":"agt_1","to":"agt_2","note":"n"}"#;
        let LedgerEvent::HandedOver(h) = LedgerEvent::read("3", "handed_over", explicit).unwrap() else { panic!() };
        assert_eq!((h.to, h.routing), (vec!["agt_2".to_string()], false));
        // Before the `timers` table had its name, a prompt named the row that fired it `delivery_id`.
        let prompted = r#"{"purpose":"due","occurrence":"2026-03-17T10:00:00Z","delivery_id":"dlv_9",
            "prompt_id":"pmt_9","recipient":"agt_1","late_by_ms":0,"misfire":false,"v":1}"#;
        let LedgerEvent::Prompted(p) = LedgerEvent::read("4", "prompted", prompted).unwrap() else { panic!() };
        assert_eq!(p.timer_id, "dlv_9");
        assert_eq!(LedgerEvent::Prompted(p).data()["timer_id"], "dlv_9");
    }

    #[test]
    fn a_corrupt_row_is_an_error_naming_it() {
        let err = LedgerEvent::read("42", "kept", r#"{"timeliness":"sometime"}"#).unwrap_err();
        assert_eq!(err.row, "42");
        assert!(err.to_string().contains("ledger event 42 (kept)"), "{err}");
        assert!(LedgerEvent::read("43", "teleported", "{}").is_err());
        assert!(LedgerEvent::read("44", "broken", r#"{"reason":"never_attempted","v":99}"#).is_err());
    }

    #[test]
    fn webhook_details_leave_out_the_bookkeeping() {
        for event in one_of_each() {
            let details = event.details();
            assert!(details.get("obligation").is_none() && details.get("v").is_none(), "{details}");
        }
        let cancel = LedgerEvent::Cancelled(Cancelled { reason: "r".into(), initiated_by: Initiator::Customer });
        assert_eq!(cancel.webhook_type(), Some("promise.cancelled"));
        assert_eq!(cancel.details()["initiated_by"], "customer");
    }
}
